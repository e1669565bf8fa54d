//! `writ review …` end to end: the real binary against `writ demo` — an admin launches
//! a campaign, the (independent) reviewer sees and revokes their item, the auditor
//! reads the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

mod support;

use support::{Demo, ok};

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: not JSON:\n{out}"))
}

/// A date-time `days` from the server's (real) clock.
fn in_days(days: i64) -> String {
    (OffsetDateTime::now_utc() + Duration::days(days))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// alice asks for corp-ldap/vpn-users, her manager priya approves: the grant's id.
fn vpn_grant(demo: &Demo, data: &Path) -> String {
    let created = json(&ok(&demo.writ(
        data,
        &[
            "--as",
            "alice",
            "--json",
            "request",
            "create",
            "--entitlement",
            "corp-ldap/vpn-users",
            "--duration",
            "30d",
            "--justification",
            "remote on-call for the billing project",
        ],
    )));
    let id = created["id"].as_str().unwrap();
    let done = json(&ok(
        &demo.writ(data, &["--as", "priya", "--json", "request", "approve", id])
    ));
    assert_eq!(done["status"], "approved", "{done}");
    done["grant"].as_str().unwrap().to_owned()
}

/// Splits one RFC 4180 CSV line into its fields.
fn csv_fields(line: &str) -> Vec<String> {
    let (mut fields, mut cur, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    fields.push(cur);
    fields
}

/// Asserts a refusal: non-zero exit, one line on stderr containing `what`.
fn refused(out: &std::process::Output, what: &str) {
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(what), "{stderr}");
}

#[test]
fn launch_review_decide_and_report_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("writ-data");
    let demo = Demo::start(&data);
    let writ = |args: &[&str]| demo.writ(&data, args);

    let grant = vpn_grant(&demo, &data);
    let live: Vec<serde_json::Value> =
        json(&ok(&writ(&["--as", "olivia", "--json", "grant", "list"])))["grants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["status"] == "active")
            .cloned()
            .collect();
    let on_ldap = live
        .iter()
        .filter(|g| g["entitlement"].as_str().unwrap().starts_with("corp-ldap/"))
        .count() as u64;
    assert!(on_ldap >= 1, "{live:?}");

    let (due, last) = (in_days(14), in_days(21));
    let launch = |on_deadline: &str| {
        writ(&[
            "--as",
            "ada",
            "review",
            "launch",
            "--name",
            "Q3 directory review",
            "--reviewers",
            "manager",
            "--fallback",
            "sam",
            "--due",
            &due,
            "--final",
            &last,
            "--on-deadline",
            on_deadline,
            "--remind-before",
            "3d",
            "--system",
            "corp-ldap",
        ])
    };

    // Bad input: one line, non-zero, and no campaign.
    refused(&launch("maybe"), "unknown deadline action `maybe`");
    let none = ok(&writ(&["--as", "ada", "review", "list"]));
    assert_eq!(none, "No campaigns.\n");

    let launched = ok(&launch("keep"));
    let id = launched
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .to_owned();
    assert!(launched.starts_with("Campaign "), "{launched}");
    assert!(
        launched.contains(&format!(
            "population      {on_ldap} item(s) of {} live grant(s) at launch",
            live.len()
        )),
        "{launched}"
    );
    let shown = json(&ok(&writ(&[
        "--as", "ada", "--json", "review", "show", &id,
    ])));
    assert_eq!(shown["population"], on_ldap);
    assert!(launched.contains(shown["population_digest"].as_str().unwrap()));
    assert!(ok(&writ(&["--as", "ada", "review", "list", "--open"])).contains(&id));

    // priya is alice's manager, but she approved the grant: reviewers are independent
    // of the access they review, so the item goes to the fallback, sam — and priya,
    // with no item in the campaign, is told it does not exist.
    let priyas = writ(&["--as", "priya", "--json", "review", "items", &id]);
    assert!(!priyas.status.success());
    let said = String::from_utf8_lossy(&priyas.stderr);
    assert!(said.contains("HTTP 404"), "{said}");
    let mine = json(&ok(&writ(&[
        "--as", "sam", "--json", "review", "items", &id,
    ])));
    let item = mine["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["grant"] == grant.as_str())
        .unwrap_or_else(|| panic!("{mine}"))
        .clone();
    assert_eq!(item["reviewer"], "sam");
    assert_eq!(item["basis"], "fallback:approver");
    assert_eq!(item["status"], "open");
    let n = item["item"].as_u64().unwrap().to_string();
    let table = ok(&writ(&["--as", "sam", "review", "items", &id]));
    for text in [
        "alice",
        "corp-ldap/vpn-users",
        &grant,
        "fallback:approver",
        "requested by alice: remote on-call for the billing project",
        "approved by priya (manager of `alice`",
        "risk low",
        "other access: ",
    ] {
        assert!(table.contains(text), "{text} missing from\n{table}");
    }

    // Refusals are one line, exit non-zero, and change nothing.
    refused(
        &writ(&[
            "--as", "priya", "review", "decide", &id, &n, "--revoke", "--reason", "gone",
        ]),
        "reviewers are independent of the access they review",
    );
    refused(
        &writ(&[
            "--as", "sam", "review", "decide", &id, "999", "--revoke", "--reason", "gone",
        ]),
        "has no item 999",
    );
    // clap insists on exactly one of --certify / --revoke.
    for flags in [&["--certify", "--revoke"][..], &[]] {
        let mut args = vec!["--as", "sam", "review", "decide", &id, &n];
        args.extend_from_slice(flags);
        assert!(!writ(&args).status.success(), "{flags:?}");
    }
    let still_open = json(&ok(&writ(&[
        "--as", "sam", "--json", "review", "items", &id, "--status", "open",
    ])));
    assert!(
        still_open["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["grant"] == grant.as_str()),
        "{still_open}"
    );
    let unchanged = json(&ok(&writ(&[
        "--as", "ada", "--json", "review", "show", &id,
    ])));
    assert_eq!(unchanged["open"], on_ldap, "{unchanged}");

    let decided = ok(&writ(&[
        "--as",
        "sam",
        "review",
        "decide",
        &id,
        &n,
        "--revoke",
        "--reason",
        "left the project",
    ]));
    assert!(
        decided.contains("revoked") && decided.contains("sam"),
        "{decided}"
    );
    let g = json(&ok(&writ(&[
        "--as", "alice", "--json", "grant", "show", &grant,
    ])));
    assert_ne!(g["status"], "active", "{g}");

    // The auditor's report, three ways.
    let csv = ok(&writ(&[
        "--as", "olivia", "review", "report", &id, "--format", "csv",
    ]));
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("item,grant,beneficiary,entitlement,requester,"),
        "{csv}"
    );
    let header = csv_fields(csv.lines().next().unwrap());
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let line = csv_fields(
        rows.find(|l| l.contains(&grant))
            .unwrap_or_else(|| panic!("{csv}")),
    );
    assert_eq!(line[col("status")], "revoked", "{csv}");
    assert_eq!(line[col("decided_by")], "sam", "{csv}");
    assert_eq!(line[col("reason")], "left the project", "{csv}");
    let decided_entry: u64 = line[col("decided_entry")].parse().unwrap();
    assert!(decided_entry > line[col("opened_entry")].parse::<u64>().unwrap());

    let report = json(&ok(&writ(&[
        "--as", "olivia", "review", "report", &id, "--format", "json",
    ])));
    assert_eq!(report["population"]["reconciled"], true, "{report}");
    assert_eq!(report["campaign"]["revoked"], 1);
    let l = report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["grant"] == grant.as_str())
        .unwrap();
    assert_eq!(l["decided_entry"], decided_entry);
    assert_eq!(l["follow_through"], "revoked");

    let table = ok(&writ(&["--as", "olivia", "review", "report", &id]));
    for text in [
        "Population check",
        "reconciled             yes",
        "Timeliness: 1 on time",
        "left the project",
        &format!("decided {decided_entry}"),
    ] {
        assert!(table.contains(text), "{text} missing from\n{table}");
    }
    // Reviewers do not read the report; nothing else needs to be checked here.
    refused(
        &writ(&["--as", "priya", "review", "report", &id]),
        "HTTP 403",
    );
    let overdue = ok(&writ(&["--as", "olivia", "review", "overdue"]));
    assert_eq!(overdue, "No grants past their review date.\n");
}
