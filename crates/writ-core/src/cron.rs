//! Cron schedules for recurring work such as access-review campaigns.
//!
//! A [`Cron`] is a standard five-field cron expression, always read in UTC:
//!
//! ```text
//! minute  hour  day-of-month  month  day-of-week
//! 0-59    0-23  1-31          1-12   0-7 (0 and 7 are Sunday)
//! ```
//!
//! Each field is `*`, a number, a range `a-b`, a stepped `*/n` or `a-b/n`, or a
//! comma-separated list of those. Months may be written `JAN`-`DEC` and weekdays
//! `SUN`-`SAT`, in any case. A single number with a step (`5/10`) is refused, because
//! cron implementations disagree on what it means. The macros `@yearly` (or
//! `@annually`), `@quarterly` (`0 0 1 1,4,7,10 *`), `@monthly`, `@weekly`, `@daily`
//! and `@hourly` stand for their usual expansions.
//!
//! Day-of-month and day-of-week follow Vixie cron: when both fields are restricted,
//! a day matches if *either* matches (`0 0 13 * FRI` runs on every 13th and on every
//! Friday); when either field is unrestricted, both must match. As in Vixie cron, a
//! field counts as unrestricted when its text begins with `*`, so `*/2` is
//! unrestricted for this rule.
//!
//! A schedule keeps the text it was parsed from (trimmed, runs of whitespace collapsed
//! to one space); that text is its [`Display`](fmt::Display) form and its serde form,
//! so a configuration round-trips unchanged.
//!
//! [`Cron::next_after`] and [`Cron::last_at_or_before`] skip months and days that
//! cannot match, and look at most about five years away before giving up, so an
//! impossible schedule such as `0 0 30 2 *` yields `None` instead of looping.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::Timestamp;

const MS_PER_MINUTE: i64 = 60_000;
const MINUTES_PER_DAY: i64 = 1_440;
/// The Julian day number of 1970-01-01.
const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
/// How far [`Cron::next_after`] and [`Cron::last_at_or_before`] search: five years.
const SEARCH_DAYS: i64 = 5 * 366;

const MONTH_NAMES: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAY_NAMES: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const MACROS: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@quarterly", "0 0 1 1,4,7,10 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A parsed five-field cron schedule, evaluated in UTC. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    /// The day-of-month field began with `*`.
    dom_star: bool,
    /// The day-of-week field began with `*`.
    dow_star: bool,
}

/// What one field accepts.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    /// Names accepted for values, and the value of the first name.
    names: &'static [&'static str],
    first_name_value: u32,
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    first_name_value: 0,
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    first_name_value: 0,
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    first_name_value: 0,
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: MONTH_NAMES,
    first_name_value: 1,
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: DAY_NAMES,
    first_name_value: 0,
};

impl Cron {
    /// Parses a five-field expression or a macro such as `@quarterly`.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let normalised = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let expanded = expand_macro(&normalised)?;
        let fields: Vec<&str> = expanded.split(' ').filter(|f| !f.is_empty()).collect();
        let [minute, hour, dom, month, dow] = fields[..] else {
            return Err(format!(
                "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got {}",
                fields.len()
            ));
        };
        Ok(Cron {
            minutes: parse_field(minute, &MINUTE)?,
            hours: parse_field(hour, &HOUR)?,
            days_of_month: parse_field(dom, &DAY_OF_MONTH)?,
            months: parse_field(month, &MONTH)?,
            days_of_week: fold_sunday(parse_field(dow, &DAY_OF_WEEK)?),
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
            text: normalised,
        })
    }

    /// The normalised text this schedule was parsed from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first matching minute strictly after `after`, or `None` if nothing matches
    /// within about five years.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        let start = after.0.div_euclid(MS_PER_MINUTE).checked_add(1)?;
        let (mut date, mut from) = split_minute(start)?;
        let limit = julian(date) + SEARCH_DAYS;
        while julian(date) <= limit {
            if !self.month_matches(date) {
                date = first_of_next_month(date)?;
                from = (0, 0);
                continue;
            }
            if self.day_matches(date)
                && let Some((h, m)) = self.first_time_from(from)
            {
                return join_minute(date, h, m);
            }
            date = date.next_day()?;
            from = (0, 0);
        }
        None
    }

    /// The most recent occurrence at or before `t` that is strictly after
    /// `not_before`, or `None` if there is none (or none within about five years of
    /// `t`).
    ///
    /// A scheduler calls this with `t` = now and `not_before` = the last occurrence
    /// it launched, to find the occurrence due now without replaying a backlog.
    pub fn last_at_or_before(&self, t: Timestamp, not_before: Timestamp) -> Option<Timestamp> {
        if t <= not_before {
            return None;
        }
        let (mut date, mut upto) = split_minute(t.0.div_euclid(MS_PER_MINUTE))?;
        let floor_day =
            not_before.0.div_euclid(MS_PER_MINUTE * MINUTES_PER_DAY) + UNIX_EPOCH_JULIAN_DAY;
        let limit = floor_day.max(julian(date) - SEARCH_DAYS);
        while julian(date) >= limit {
            if !self.month_matches(date) {
                date = first_of_month(date)?.previous_day()?;
                upto = (23, 59);
                continue;
            }
            if self.day_matches(date)
                && let Some((h, m)) = self.last_time_upto(upto)
            {
                let found = join_minute(date, h, m)?;
                return (found > not_before).then_some(found);
            }
            date = date.previous_day()?;
            upto = (23, 59);
        }
        None
    }

    /// Occurrences strictly after `from` and at or before `to`, in order.
    pub fn occurrences_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = Timestamp> + '_ {
        std::iter::successors(self.next_after(from), move |t| self.next_after(*t))
            .take_while(move |t| *t <= to)
    }

    fn month_matches(&self, date: Date) -> bool {
        has_bit(self.months, u8::from(date.month()).into())
    }

    /// Vixie's rule: either day field may match when both are restricted.
    fn day_matches(&self, date: Date) -> bool {
        let dom = has_bit(self.days_of_month, date.day().into());
        let dow = has_bit(
            self.days_of_week,
            date.weekday().number_days_from_sunday().into(),
        );
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The earliest matching (hour, minute) at or after `(h0, m0)` on one day.
    fn first_time_from(&self, (h0, m0): (u32, u32)) -> Option<(u32, u32)> {
        let h = next_bit(self.hours, h0)?;
        let from_minute = if h == h0 { m0 } else { 0 };
        if let Some(m) = next_bit(self.minutes, from_minute) {
            return Some((h, m));
        }
        let h = next_bit(self.hours, h + 1)?;
        Some((h, next_bit(self.minutes, 0)?))
    }

    /// The latest matching (hour, minute) at or before `(h0, m0)` on one day.
    fn last_time_upto(&self, (h0, m0): (u32, u32)) -> Option<(u32, u32)> {
        let h = prev_bit(self.hours, h0)?;
        let upto_minute = if h == h0 { m0 } else { 59 };
        if let Some(m) = prev_bit(self.minutes, upto_minute) {
            return Some((h, m));
        }
        let h = prev_bit(self.hours, h.checked_sub(1)?)?;
        Some((h, prev_bit(self.minutes, 59)?))
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Cron {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cron::parse(s)
    }
}

impl TryFrom<String> for Cron {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        Cron::parse(&text)
    }
}

impl From<Cron> for String {
    fn from(cron: Cron) -> String {
        cron.text
    }
}

/// Replaces a `@macro` with its five fields; leaves anything else alone.
fn expand_macro(text: &str) -> Result<&str, String> {
    if !text.starts_with('@') {
        return Ok(text);
    }
    let lower = text.to_ascii_lowercase();
    MACROS
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, fields)| *fields)
        .ok_or_else(|| {
            format!(
                "unknown cron macro `{text}` (use @yearly, @annually, @quarterly, @monthly, @weekly, @daily or @hourly)"
            )
        })
}

/// Parses one field into a bit set of the values it allows.
fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, String> {
    let mut set = 0u64;
    for item in text.split(',') {
        if item.is_empty() {
            return Err(format!(
                "cron field `{}` has an empty list item in `{text}`",
                spec.name
            ));
        }
        set |= parse_item(item, spec)?;
    }
    Ok(set)
}

/// Parses one list item: `*`, `a`, `a-b`, `*/n` or `a-b/n`.
fn parse_item(item: &str, spec: &FieldSpec) -> Result<u64, String> {
    let (base, step) = match item.split_once('/') {
        Some((base, step)) => (base, Some(parse_step(item, step, spec)?)),
        None => (item, None),
    };
    let (lo, hi) = if base == "*" {
        (spec.min, spec.max)
    } else if let Some((a, b)) = base.split_once('-') {
        parse_range(base, a, b, spec)?
    } else if step.is_some() {
        return Err(format!(
            "cron field `{}` step in `{item}` needs `*` or a range before it",
            spec.name
        ));
    } else {
        let v = parse_value(base, spec)?;
        (v, v)
    };
    let step = step.unwrap_or(1);
    Ok((lo..=hi).step_by(step).fold(0u64, |set, v| set | (1 << v)))
}

fn parse_step(item: &str, step: &str, spec: &FieldSpec) -> Result<usize, String> {
    if step.is_empty() {
        return Err(format!(
            "cron field `{}` step in `{item}` is empty",
            spec.name
        ));
    }
    if !step.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "cron field `{}` step `{step}` is not a number",
            spec.name
        ));
    }
    match step.parse::<usize>() {
        Ok(0) => Err(format!(
            "cron field `{}` step in `{item}` must be at least 1",
            spec.name
        )),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "cron field `{}` step `{step}` is too large",
            spec.name
        )),
    }
}

fn parse_range(base: &str, a: &str, b: &str, spec: &FieldSpec) -> Result<(u32, u32), String> {
    if a.is_empty() || b.is_empty() {
        return Err(format!(
            "cron field `{}` range `{base}` is missing a bound",
            spec.name
        ));
    }
    let (lo, hi) = (parse_value(a, spec)?, parse_value(b, spec)?);
    if lo > hi {
        return Err(format!(
            "cron field `{}` range `{base}` is reversed",
            spec.name
        ));
    }
    Ok((lo, hi))
}

/// A number in the field's range, or (for month and day-of-week) a three-letter name.
fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    if let Some(i) = spec
        .names
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
    {
        // The name tables are tiny, so the index always fits.
        return Ok(spec.first_name_value + i as u32);
    }
    let out_of_range = || {
        format!(
            "cron field `{}` value `{text}` is out of range {}-{}",
            spec.name, spec.min, spec.max
        )
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        let names = match spec.names {
            [first, .., last] => format!(" or a name {first}-{last}"),
            _ => String::new(),
        };
        return Err(format!(
            "cron field `{}` value `{text}` is not a number{names}",
            spec.name
        ));
    }
    let v: u32 = text.parse().map_err(|_| out_of_range())?;
    if v < spec.min || v > spec.max {
        return Err(out_of_range());
    }
    Ok(v)
}

/// Day-of-week 7 is Sunday, the same as 0.
fn fold_sunday(set: u64) -> u64 {
    if has_bit(set, 7) {
        (set | 1) & !(1 << 7)
    } else {
        set
    }
}

fn has_bit(set: u64, bit: u32) -> bool {
    bit < 64 && set & (1 << bit) != 0
}

/// The lowest set bit at or above `from`.
fn next_bit(set: u64, from: u32) -> Option<u32> {
    let masked = set.checked_shr(from)?.checked_shl(from)?;
    (masked != 0).then(|| masked.trailing_zeros())
}

/// The highest set bit at or below `upto`.
fn prev_bit(set: u64, upto: u32) -> Option<u32> {
    let spare = 63u32.saturating_sub(upto);
    let masked = (set << spare) >> spare;
    (masked != 0).then(|| 63 - masked.leading_zeros())
}

fn julian(date: Date) -> i64 {
    date.to_julian_day().into()
}

/// Splits minutes since the epoch into a UTC date and (hour, minute).
fn split_minute(minute: i64) -> Option<(Date, (u32, u32))> {
    let day = minute.div_euclid(MINUTES_PER_DAY);
    let of_day = minute.rem_euclid(MINUTES_PER_DAY);
    let jd = i32::try_from(day.checked_add(UNIX_EPOCH_JULIAN_DAY)?).ok()?;
    let date = Date::from_julian_day(jd).ok()?;
    let hm = (
        u32::try_from(of_day / 60).ok()?,
        u32::try_from(of_day % 60).ok()?,
    );
    Some((date, hm))
}

/// The timestamp of `hour:minute` UTC on `date`.
fn join_minute(date: Date, hour: u32, minute: u32) -> Option<Timestamp> {
    let day = julian(date) - UNIX_EPOCH_JULIAN_DAY;
    let minutes = day
        .checked_mul(MINUTES_PER_DAY)?
        .checked_add(i64::from(hour * 60 + minute))?;
    minutes.checked_mul(MS_PER_MINUTE).map(Timestamp)
}

fn first_of_month(date: Date) -> Option<Date> {
    Date::from_calendar_date(date.year(), date.month(), 1).ok()
}

fn first_of_next_month(date: Date) -> Option<Date> {
    let year = match date.month() {
        Month::December => date.year().checked_add(1)?,
        _ => date.year(),
    };
    Date::from_calendar_date(year, date.month().next(), 1).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(text: &str) -> Timestamp {
        Timestamp::parse_rfc3339(text).unwrap()
    }

    fn cron(text: &str) -> Cron {
        Cron::parse(text).unwrap()
    }

    fn next(c: &Cron, after: &str) -> String {
        c.next_after(ts(after)).unwrap().to_rfc3339()
    }

    fn bits(values: &[u32]) -> u64 {
        values.iter().fold(0, |s, v| s | (1 << v))
    }

    fn err(text: &str) -> String {
        Cron::parse(text).unwrap_err()
    }

    #[test]
    fn epoch_julian_day_matches_time() {
        let epoch = time::OffsetDateTime::UNIX_EPOCH.date();
        assert_eq!(julian(epoch), UNIX_EPOCH_JULIAN_DAY);
    }

    #[test]
    fn parses_each_field_form() {
        let c = cron("*/15 9-17 1,15 JAN-mar/2 mon-FRI");
        assert_eq!(c.minutes, bits(&[0, 15, 30, 45]));
        assert_eq!(c.hours, bits(&[9, 10, 11, 12, 13, 14, 15, 16, 17]));
        assert_eq!(c.days_of_month, bits(&[1, 15]));
        assert_eq!(c.months, bits(&[1, 3]));
        assert_eq!(c.days_of_week, bits(&[1, 2, 3, 4, 5]));
        assert!(!c.dom_star && !c.dow_star);

        let c = cron("5 0-23/6 * * 7");
        assert_eq!(c.minutes, bits(&[5]));
        assert_eq!(c.hours, bits(&[0, 6, 12, 18]));
        assert_eq!(c.days_of_month, bits(&(1..=31).collect::<Vec<_>>()));
        assert_eq!(c.days_of_week, bits(&[0]), "7 is Sunday");
        assert!(c.dom_star && !c.dow_star);

        let c = cron("0 0 * * 5-7");
        assert_eq!(c.days_of_week, bits(&[0, 5, 6]));
        let c = cron("0 0 * * */2");
        assert_eq!(c.days_of_week, bits(&[0, 2, 4, 6]));
        assert!(c.dow_star);
    }

    #[test]
    fn parses_macros() {
        for (name, fields) in MACROS {
            let m = cron(name);
            let f = cron(fields);
            assert_eq!(m.to_string(), *name);
            assert_eq!(
                (
                    m.minutes,
                    m.hours,
                    m.days_of_month,
                    m.months,
                    m.days_of_week
                ),
                (
                    f.minutes,
                    f.hours,
                    f.days_of_month,
                    f.months,
                    f.days_of_week
                ),
                "{name}"
            );
            assert_eq!((m.dom_star, m.dow_star), (f.dom_star, f.dow_star));
        }
        assert_eq!(cron("@Quarterly").months, bits(&[1, 4, 7, 10]));
    }

    #[test]
    fn keeps_normalised_text() {
        let c = cron("  0   0\t1  1,4,7,10 *  ");
        assert_eq!(c.to_string(), "0 0 1 1,4,7,10 *");
        assert_eq!(c.as_str(), "0 0 1 1,4,7,10 *");
        assert_eq!("@daily".parse::<Cron>().unwrap(), cron("@daily"));
    }

    #[test]
    fn reports_each_error() {
        let cases = [
            (
                "0 0 1",
                "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 3",
            ),
            (
                "",
                "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 0",
            ),
            (
                "0 0 1 1 * *",
                "cron expression needs 5 fields (minute hour day-of-month month day-of-week), got 6",
            ),
            (
                "0 25 * * *",
                "cron field `hour` value `25` is out of range 0-23",
            ),
            (
                "60 0 * * *",
                "cron field `minute` value `60` is out of range 0-59",
            ),
            (
                "0 0 0 * *",
                "cron field `day-of-month` value `0` is out of range 1-31",
            ),
            (
                "0 0 * 13 *",
                "cron field `month` value `13` is out of range 1-12",
            ),
            (
                "0 0 * * 8",
                "cron field `day-of-week` value `8` is out of range 0-7",
            ),
            (
                "0 99999999999 * * *",
                "cron field `hour` value `99999999999` is out of range 0-23",
            ),
            ("x 0 * * *", "cron field `minute` value `x` is not a number"),
            (
                "0 0 * FOO *",
                "cron field `month` value `FOO` is not a number or a name JAN-DEC",
            ),
            (
                "0 0 * * MON-FUN",
                "cron field `day-of-week` value `FUN` is not a number or a name SUN-SAT",
            ),
            ("*/ 0 * * *", "cron field `minute` step in `*/` is empty"),
            (
                "*/0 0 * * *",
                "cron field `minute` step in `*/0` must be at least 1",
            ),
            (
                "*/x 0 * * *",
                "cron field `minute` step `x` is not a number",
            ),
            (
                "5/10 0 * * *",
                "cron field `minute` step in `5/10` needs `*` or a range before it",
            ),
            ("0 17-9 * * *", "cron field `hour` range `17-9` is reversed"),
            (
                "0 0 * * SAT-SUN",
                "cron field `day-of-week` range `SAT-SUN` is reversed",
            ),
            (
                "0 9- * * *",
                "cron field `hour` range `9-` is missing a bound",
            ),
            (
                "1, 0 * * *",
                "cron field `minute` has an empty list item in `1,`",
            ),
            (
                "1,,2 0 * * *",
                "cron field `minute` has an empty list item in `1,,2`",
            ),
            (
                ",1 0 * * *",
                "cron field `minute` has an empty list item in `,1`",
            ),
            (
                "@fortnightly",
                "unknown cron macro `@fortnightly` (use @yearly, @annually, @quarterly, @monthly, @weekly, @daily or @hourly)",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(err(text), message, "{text:?}");
        }
        assert!(Cron::parse("@daily extra").is_err());
        assert!(Cron::parse("-1 0 * * *").is_err());
    }

    #[test]
    fn quarterly_crosses_the_year_boundary() {
        let c = cron("@quarterly");
        let mut t = ts("2026-08-15T12:00:00Z");
        let mut seen = Vec::new();
        for _ in 0..4 {
            t = c.next_after(t).unwrap();
            seen.push(t.to_rfc3339());
        }
        assert_eq!(
            seen,
            [
                "2026-10-01T00:00:00.000Z",
                "2027-01-01T00:00:00.000Z",
                "2027-04-01T00:00:00.000Z",
                "2027-07-01T00:00:00.000Z",
            ]
        );
    }

    #[test]
    fn next_is_strictly_after() {
        let c = cron("@daily");
        assert_eq!(next(&c, "2026-03-01T00:00:00Z"), "2026-03-02T00:00:00.000Z");
        assert_eq!(
            next(&c, "2026-02-28T23:59:59.999Z"),
            "2026-03-01T00:00:00.000Z"
        );
        assert_eq!(
            next(&cron("@hourly"), "1969-12-31T23:30:00Z"),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn every_fifteen_minutes() {
        let c = cron("*/15 * * * *");
        assert_eq!(next(&c, "2026-05-05T10:07:00Z"), "2026-05-05T10:15:00.000Z");
        assert_eq!(next(&c, "2026-05-05T10:15:00Z"), "2026-05-05T10:30:00.000Z");
        assert_eq!(next(&c, "2026-12-31T23:50:00Z"), "2027-01-01T00:00:00.000Z");
        let all: Vec<_> = c
            .occurrences_between(ts("2026-05-05T10:00:00Z"), ts("2026-05-05T11:00:00Z"))
            .map(Timestamp::to_rfc3339)
            .collect();
        assert_eq!(
            all,
            [
                "2026-05-05T10:15:00.000Z",
                "2026-05-05T10:30:00.000Z",
                "2026-05-05T10:45:00.000Z",
                "2026-05-05T11:00:00.000Z",
            ]
        );
    }

    #[test]
    fn hours_and_minutes_roll_over() {
        let c = cron("30 9,17 * * MON-FRI");
        // Friday evening, after the last run: next is Monday morning.
        assert_eq!(next(&c, "2026-05-08T17:30:00Z"), "2026-05-11T09:30:00.000Z");
        assert_eq!(next(&c, "2026-05-11T09:45:00Z"), "2026-05-11T17:30:00.000Z");
    }

    #[test]
    fn day_of_month_or_day_of_week_when_both_restricted() {
        let c = cron("0 0 13 * FRI");
        let days: Vec<_> = c
            .occurrences_between(ts("2026-03-01T00:00:00Z"), ts("2026-03-31T00:00:00Z"))
            .map(Timestamp::to_rfc3339)
            .collect();
        // Fridays in March 2026 are the 6th, 13th, 20th and 27th; the 13th counts once.
        assert_eq!(
            days,
            [
                "2026-03-06T00:00:00.000Z",
                "2026-03-13T00:00:00.000Z",
                "2026-03-20T00:00:00.000Z",
                "2026-03-27T00:00:00.000Z",
            ]
        );
        assert_eq!(next(&c, "2026-03-28T00:00:00Z"), "2026-04-03T00:00:00.000Z");
        assert_eq!(
            next(&c, "2026-04-10T00:00:00Z"),
            "2026-04-13T00:00:00.000Z",
            "a Monday the 13th matches by day-of-month"
        );
    }

    #[test]
    fn day_of_month_and_day_of_week_when_one_is_star() {
        // Friday the 13th needs both, so write day-of-month as `*`-led: only Fridays.
        let fridays = cron("0 0 * * FRI");
        assert_eq!(
            next(&fridays, "2026-03-06T00:00:00Z"),
            "2026-03-13T00:00:00.000Z"
        );
        // `*/2` counts as unrestricted (Vixie): odd days that are also Fridays.
        let c = cron("0 0 */2 * FRI");
        assert_eq!(next(&c, "2026-03-01T00:00:00Z"), "2026-03-13T00:00:00.000Z");
        assert_eq!(next(&c, "2026-03-13T00:00:00Z"), "2026-03-27T00:00:00.000Z");
    }

    #[test]
    fn leap_day_waits_for_a_leap_year() {
        let c = cron("0 0 29 2 *");
        assert_eq!(next(&c, "2026-01-01T00:00:00Z"), "2028-02-29T00:00:00.000Z");
        assert_eq!(
            c.last_at_or_before(ts("2027-06-01T00:00:00Z"), ts("2020-01-01T00:00:00Z"))
                .map(Timestamp::to_rfc3339)
                .as_deref(),
            Some("2024-02-29T00:00:00.000Z")
        );
    }

    #[test]
    fn impossible_date_never_matches() {
        let c = cron("0 0 30 2 *");
        assert_eq!(c.next_after(ts("2026-01-01T00:00:00Z")), None);
        assert_eq!(
            c.last_at_or_before(ts("2026-01-01T00:00:00Z"), Timestamp(i64::MIN)),
            None
        );
        assert_eq!(cron("0 0 31 4,6,9,11 *").next_after(Timestamp(0)), None);
    }

    #[test]
    fn extreme_timestamps_do_not_panic() {
        let c = cron("* * * * *");
        assert_eq!(c.next_after(Timestamp(i64::MAX)), None);
        assert_eq!(c.next_after(Timestamp(i64::MIN)), None);
        assert_eq!(c.last_at_or_before(Timestamp(i64::MAX), Timestamp(0)), None);
    }

    #[test]
    fn last_at_or_before_finds_the_due_occurrence() {
        let c = cron("@quarterly");
        let now = ts("2026-05-20T08:00:00Z");
        let last = |not_before: &str| {
            c.last_at_or_before(now, ts(not_before))
                .map(Timestamp::to_rfc3339)
        };
        // Launched years ago: only the latest occurrence is due, not the backlog.
        assert_eq!(
            last("2022-01-01T00:00:00Z").as_deref(),
            Some("2026-04-01T00:00:00.000Z")
        );
        // Already launched the April run: nothing is due.
        assert_eq!(last("2026-04-01T00:00:00Z"), None);
        // Exactly at an occurrence counts as at-or-before.
        assert_eq!(
            c.last_at_or_before(ts("2026-07-01T00:00:00Z"), ts("2026-04-01T00:00:00Z"))
                .map(Timestamp::to_rfc3339)
                .as_deref(),
            Some("2026-07-01T00:00:00.000Z")
        );
        // Across a year boundary.
        assert_eq!(
            c.last_at_or_before(ts("2027-02-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"))
                .map(Timestamp::to_rfc3339)
                .as_deref(),
            Some("2027-01-01T00:00:00.000Z")
        );
        assert_eq!(c.last_at_or_before(now, now), None);
    }

    #[test]
    fn last_at_or_before_within_a_day() {
        let c = cron("*/15 9-17 * * *");
        let at = |t: &str| {
            c.last_at_or_before(ts(t), Timestamp(0))
                .map(Timestamp::to_rfc3339)
        };
        assert_eq!(
            at("2026-05-05T10:14:59Z").as_deref(),
            Some("2026-05-05T10:00:00.000Z")
        );
        assert_eq!(
            at("2026-05-05T08:59:00Z").as_deref(),
            Some("2026-05-04T17:45:00.000Z")
        );
        assert_eq!(
            at("2026-05-05T12:00:30Z").as_deref(),
            Some("2026-05-05T12:00:00.000Z")
        );
    }

    #[test]
    fn serde_round_trips_as_a_string() {
        for text in ["@quarterly", "*/15 9-17 1,15 JAN-mar/2 mon-FRI"] {
            let c = cron(text);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            let back: Cron = serde_json::from_str(&json).unwrap();
            assert_eq!(back, c);
        }
        let spaced: Cron = serde_json::from_str("\" 0  0 1 * * \"").unwrap();
        assert_eq!(serde_json::to_string(&spaced).unwrap(), "\"0 0 1 * *\"");
        let bad = serde_json::from_str::<Cron>("\"0 25 * * *\"").unwrap_err();
        assert!(
            bad.to_string().contains("cron field `hour` value `25`"),
            "{bad}"
        );
    }
}
