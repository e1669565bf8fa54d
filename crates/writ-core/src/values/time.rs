//! Instants and durations as integers: milliseconds since the Unix epoch, seconds.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An instant, in whole milliseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    /// `self + d`, saturating at the far future.
    pub fn plus(self, d: DurationSpec) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add((d.seconds() as i64).saturating_mul(1000)),
        )
    }

    /// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-29T10:00:00.000Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => {
                let (y, mo, d) = (t.year(), u8::from(t.month()), t.day());
                let (h, mi, s, ms) = (t.hour(), t.minute(), t.second(), t.millisecond());
                format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
            }
            Err(_) => format!("@{}ms", self.0),
        }
    }

    /// Parses an RFC 3339 date-time (any offset) into a timestamp.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map_err(|_| format!("`{text}` is not an RFC 3339 date-time"))?;
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(ms)
            .map(Timestamp)
            .map_err(|_| format!("`{text}` is out of range"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// A positive length of time in whole seconds.
///
/// Parsed from ISO 8601 (`PT8H`, `P7D`, `P1DT12H`, `P2W`) or short form (`8h`, `7d`,
/// `30m`, `2w`, `90s`). Months and years are refused: their length depends on the
/// calendar, and an approver must know exactly how long access lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct DurationSpec(u64);

/// Reads whole seconds (the canonical form) or a duration string such as `"30d"`
/// (convenient in configuration files). Always writes whole seconds.
impl<'de> Deserialize<'de> for DurationSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = DurationSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("whole seconds or a duration such as `PT8H` or `30d`")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<DurationSpec, E> {
                DurationSpec::from_seconds(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<DurationSpec, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("duration must be positive"))
                    .and_then(|v| DurationSpec::from_seconds(v).map_err(E::custom))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DurationSpec, E> {
                DurationSpec::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

/// Ten years: nothing in Writ is granted or reviewed on a longer horizon.
const MAX_SECONDS: u64 = 10 * 366 * 86_400;

impl DurationSpec {
    pub fn from_seconds(seconds: u64) -> Result<Self, String> {
        if seconds == 0 {
            return Err("duration must be longer than zero".into());
        }
        if seconds > MAX_SECONDS {
            return Err(format!("duration of {seconds} s exceeds ten years"));
        }
        Ok(DurationSpec(seconds))
    }

    pub const fn hours(h: u64) -> Self {
        DurationSpec(h * 3600)
    }

    pub const fn days(d: u64) -> Self {
        DurationSpec(d * 86_400)
    }

    pub fn seconds(self) -> u64 {
        self.0
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "`{text}` is not a duration: use ISO 8601 such as `PT8H` or `P7D`, or a short form such as `8h`, `7d`, `30m`"
            )
        };
        if t.is_empty() {
            return Err("duration is empty: use ISO 8601 such as `PT8H`, or `8h`".into());
        }
        let seconds = if let Some(rest) = t.strip_prefix('P').or_else(|| t.strip_prefix('p')) {
            parse_iso(rest).ok_or_else(bad)?
        } else {
            parse_short(t).ok_or_else(bad)?
        };
        Self::from_seconds(seconds).map_err(|e| format!("`{text}`: {e}"))
    }

    /// The ISO 8601 form, largest units first: `P7D`, `PT8H`, `P1DT2H30M`.
    pub fn to_iso8601(self) -> String {
        let mut s = self.0;
        let days = s / 86_400;
        s %= 86_400;
        let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
        let mut out = String::from("P");
        if days > 0 {
            out.push_str(&format!("{days}D"));
        }
        if h > 0 || m > 0 || sec > 0 {
            out.push('T');
            if h > 0 {
                out.push_str(&format!("{h}H"));
            }
            if m > 0 {
                out.push_str(&format!("{m}M"));
            }
            if sec > 0 {
                out.push_str(&format!("{sec}S"));
            }
        }
        out
    }
}

impl fmt::Display for DurationSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso8601())
    }
}

fn unit_seconds(unit: char, in_time: bool) -> Option<u64> {
    match (unit.to_ascii_uppercase(), in_time) {
        ('W', false) => Some(7 * 86_400),
        ('D', false) => Some(86_400),
        ('H', true) => Some(3600),
        ('M', true) => Some(60),
        ('S', true) => Some(1),
        _ => None,
    }
}

fn parse_iso(rest: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    let mut last_rank = 0u8;
    let mut timed = false;
    for c in rest.chars() {
        if c == 'T' || c == 't' {
            if in_time || !number.is_empty() {
                return None;
            }
            in_time = true;
            continue;
        }
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let per = unit_seconds(c, in_time)?;
        // Units must come largest first and only once.
        let rank = match (c.to_ascii_uppercase(), in_time) {
            ('W', _) => 1,
            ('D', _) => 2,
            ('H', _) => 3,
            ('M', _) => 4,
            _ => 5,
        };
        if rank <= last_rank || number.is_empty() {
            return None;
        }
        last_rank = rank;
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(per)?)?;
        number.clear();
        any = true;
        timed |= in_time;
    }
    // `P1DT`: a time designator must be followed by a time part.
    if !number.is_empty() || !any || in_time != timed {
        return None;
    }
    Some(total)
}

fn parse_short(t: &str) -> Option<u64> {
    let unit = t.chars().last()?;
    let digits = &t[..t.len() - unit.len_utf8()];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    let per = match unit {
        'w' => 7 * 86_400,
        'd' => 86_400,
        'h' => 3600,
        'm' => 60,
        's' => 1,
        _ => return None,
    };
    n.checked_mul(per)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_and_short_forms() {
        for (text, secs) in [
            ("PT8H", 8 * 3600),
            ("P7D", 7 * 86_400),
            ("P1DT12H", 36 * 3600),
            ("PT30M", 1800),
            ("P2W", 14 * 86_400),
            ("PT1H30M15S", 5415),
            ("8h", 8 * 3600),
            ("7d", 7 * 86_400),
            ("30m", 1800),
            ("2w", 14 * 86_400),
            ("90s", 90),
        ] {
            assert_eq!(DurationSpec::parse(text).unwrap().seconds(), secs, "{text}");
        }
    }

    #[test]
    fn refuses_malformed_and_calendar_units() {
        for text in [
            "", "P", "PT", "8", "h", "8x", "P1M", "P1Y", "PT8H8H", "PT1M1H", "P-1D", "1.5h",
            "PT0S", "0h", "P99999W", "P1DT", "P1DT1D",
        ] {
            assert!(
                DurationSpec::parse(text).is_err(),
                "{text} should be refused"
            );
        }
    }

    #[test]
    fn iso_round_trip() {
        for text in ["PT8H", "P7D", "P1DT2H30M", "PT45S"] {
            assert_eq!(DurationSpec::parse(text).unwrap().to_iso8601(), text);
        }
    }

    #[test]
    fn timestamps_format_as_utc() {
        assert_eq!(Timestamp(0).to_rfc3339(), "1970-01-01T00:00:00.000Z");
        let t = Timestamp::parse_rfc3339("2026-11-29T10:00:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-29T09:00:00.000Z");
    }
}
