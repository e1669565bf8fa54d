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
