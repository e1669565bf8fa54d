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

use crate::values::Timestamp;

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
mod tests;
