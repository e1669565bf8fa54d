//! `writ review …`: access-review campaigns from the shell — launch one, work through
//! your items, decide them, and read the auditor's report.

use std::fmt::Write;

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use comfy_table::Table;
use writ::client::Client;
use writ_server::wire::{
    CampaignView, ItemContext, ItemView, NewCampaign, ReportLineView, ReviewDecisionBody,
    ReviewReportView, ScopeBody,
};

use crate::output;

#[derive(Debug, Subcommand)]
pub enum ReviewCmd {
    /// Launch a campaign (admins): its population, one item per live grant in scope, is
    /// snapshotted now.
    Launch(Box<LaunchArgs>),
    /// List campaigns you oversee or have items in.
    List {
        /// Only campaigns not yet closed.
        #[arg(long)]
        open: bool,
    },
    /// Show one campaign and its counts.
    Show { campaign: String },
    /// A campaign's items with what a reviewer decides on (default: your own items).
    Items {
        campaign: String,
        /// Every item, not only yours (admins, auditors, the campaign's owner).
        #[arg(long)]
        all: bool,
        /// `open`, `certified`, `revoked` or `kept`.
        #[arg(long)]
        status: Option<String>,
    },
    /// Certify or revoke items (several at once are recorded as a bulk decision).
    #[command(group(ArgGroup::new("decision").required(true).args(["certify", "revoke"])))]
    Decide {
        campaign: String,
        /// Item numbers, as `writ review items` shows them.
        #[arg(required = true)]
        items: Vec<u32>,
        /// Keep the access.
        #[arg(long)]
        certify: bool,
        /// Take the access away (needs --reason).
        #[arg(long)]
        revoke: bool,
        /// Required to revoke, and to certify high or critical access.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Send a flagged reviewer's certifications back for review by the fallback.
    Rereview { campaign: String, reviewer: String },
    /// The auditor's report: population check, reviewers, every decision and what
    /// followed, with ledger entries.
    Report {
        campaign: String,
        /// `table` (default; `--json` means json), `csv` (exactly as the server renders
        /// it) or `json`.
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
    },
    /// Live grants past their review date (admins, auditors).
    Overdue,
}

#[derive(Debug, Args)]
pub struct LaunchArgs {
    #[arg(long)]
    name: String,
    /// `manager`, `nhi_owner`, `entitlement_owner`, `system_owner` or `group:<name>`.
    #[arg(long)]
    reviewers: String,
    /// Reviews what the strategy cannot give to an independent reviewer, and overdue items.
    #[arg(long)]
    fallback: String,
    /// RFC 3339 date-time: decisions are due by then.
    #[arg(long)]
    due: String,
    /// RFC 3339 date-time: the deadline action applies to what is still open.
    #[arg(long = "final")]
    final_at: String,
    /// `revoke` or `keep` (keep the access and escalate). No default: choose.
    #[arg(long)]
    on_deadline: String,
    /// Remind reviewers this long before the due date (`3d`, `PT12H`).
    #[arg(long)]
    remind_before: Option<String>,
    /// Only grants on this system (repeatable).
    #[arg(long = "system")]
    systems: Vec<String>,
    /// Only this `<system>/<entitlement>` (repeatable).
    #[arg(long = "entitlement")]
    entitlements: Vec<String>,
    /// Only this risk tier: `low`, `medium`, `high`, `critical` (repeatable).
    #[arg(long = "tier")]
    tiers: Vec<String>,
    /// Only `human` or `nhi` beneficiaries.
    #[arg(long)]
    kind: Option<String>,
    /// Only beneficiaries in this department (repeatable).
    #[arg(long = "department")]
    departments: Vec<String>,
    /// Also every live grant past its review date, whatever the filters say.
    #[arg(long)]
    include_overdue: bool,
    /// Retry safely: the same key returns the first result.
    #[arg(long)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

pub async fn run(client: &Client, cmd: &ReviewCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        ReviewCmd::Launch(a) => {
            let body = NewCampaign {
                name: a.name.clone(),
                scope: ScopeBody {
                    systems: a.systems.clone(),
                    entitlements: a.entitlements.clone(),
                    tiers: a.tiers.clone(),
                    kind: a.kind.clone(),
                    departments: a.departments.clone(),
                    include_overdue: a.include_overdue,
                },
                reviewers: a.reviewers.clone(),
                fallback: a.fallback.clone(),
                due_at: a.due.clone(),
                final_at: a.final_at.clone(),
                remind_before: a.remind_before.clone(),
                on_deadline: a.on_deadline.clone(),
            };
            let c = client
                .launch_campaign(&body, a.idempotency_key.as_deref())
                .await?;
            output::print(json, &c, || campaign(&c))
        }
        ReviewCmd::List { open } => {
            let list = client.campaigns(*open).await?;
            output::print(json, &list, || campaigns(&list.campaigns))
        }
        ReviewCmd::Show { campaign: id } => {
            let c = client.campaign(id).await?;
            output::print(json, &c, || campaign(&c))
        }
        ReviewCmd::Items {
            campaign,
            all,
            status,
        } => {
            let list = client
                .review_items(campaign, Some(!all), status.as_deref())
                .await?;
            output::print(json, &list, || items(&list.items, *all))
        }
        ReviewCmd::Decide {
            campaign,
            items,
            certify,
            revoke: _,
            reason,
        } => {
            let body = ReviewDecisionBody {
                items: items.clone(),
                decision: if *certify { "certify" } else { "revoke" }.to_owned(),
                reason: reason.clone(),
            };
            let list = client.decide_review(campaign, &body).await?;
            output::print(json, &list, || decided(&list.items))
        }
        ReviewCmd::Rereview {
            campaign: id,
            reviewer,
        } => {
            let c = client.require_rereview(id, reviewer).await?;
            output::print(json, &c, || {
                format!(
                    "Sent {reviewer}'s certifications in {} back for review by {}.\n{}",
                    c.id,
                    c.fallback,
                    campaign(&c)
                )
            })
        }
        ReviewCmd::Report { campaign, format } => {
            let format = format.unwrap_or(if json {
                ReportFormat::Json
            } else {
                ReportFormat::Table
            });
            if format == ReportFormat::Csv {
                print!("{}", client.review_report_csv(campaign).await?);
                return Ok(());
            }
            let r = client.review_report(campaign).await?;
            output::print(format == ReportFormat::Json, &r, || report(&r))
        }
        ReviewCmd::Overdue => {
            let list = client.overdue_reviews().await?;
            output::print(json, &list, || {
                if list.grants.is_empty() {
                    "No grants past their review date.\n".into()
                } else {
                    output::grants(&list.grants)
                }
            })
        }
    }
}

fn or_dash(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("-")
}

fn state(c: &CampaignView) -> String {
    match &c.closed_at {
        Some(at) => format!("closed {at}"),
        None => "open".into(),
    }
}

fn scope(s: &ScopeBody) -> String {
    let mut parts = Vec::new();
    let mut list = |what: &str, v: &[String]| {
        if !v.is_empty() {
            parts.push(format!("{what} {}", v.join(", ")));
        }
    };
    list("systems", &s.systems);
    list("entitlements", &s.entitlements);
    list("tiers", &s.tiers);
    list("departments", &s.departments);
    if let Some(k) = &s.kind {
        parts.push(format!("kind {k}"));
    }
    if parts.is_empty() {
        parts.push("every live grant".into());
    }
    if s.include_overdue {
        parts.push("plus every grant past its review date".into());
    }
    parts.join("; ")
}

pub fn campaign(c: &CampaignView) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Campaign {} \"{}\"  [{}]", c.id, c.name, state(c));
    let _ = writeln!(s, "  owner           {}", c.owner);
    let _ = writeln!(s, "  launched        {}", c.launched_at);
    if let Some(sch) = &c.schedule {
        let _ = writeln!(s, "  schedule        {sch}");
    }
    let _ = writeln!(s, "  scope           {}", scope(&c.scope));
    let _ = writeln!(
        s,
        "  reviewers       {}, fallback {}",
        c.reviewers, c.fallback
    );
    let _ = writeln!(s, "  due             {}", c.due_at);
    let _ = writeln!(
        s,
        "  final           {} (then {} what is still open)",
        c.final_at, c.on_deadline
    );
    if let Some(r) = &c.remind_before {
        let _ = writeln!(
            s,
            "  remind          {r} before the due date{}",
            if c.reminded { " (sent)" } else { "" }
        );
    }
    let _ = writeln!(
        s,
        "  population      {} item(s) of {} live grant(s) at launch",
        c.population, c.live_grants_at_launch
    );
    let _ = writeln!(s, "  digest          {}", c.population_digest);
    let _ = writeln!(
        s,
        "  items           {} open, {} certified, {} revoked, {} kept{}",
        c.open,
        c.certified,
        c.revoked,
        c.kept,
        if c.escalated { " (escalated)" } else { "" }
    );
    s
}

pub fn campaigns(list: &[CampaignView]) -> String {
    if list.is_empty() {
        return "No campaigns.\n".into();
    }
    let mut t = output::table(&[
        "id",
        "name",
        "state",
        "owner",
        "reviewers",
        "due",
        "final",
        "population",
        "open",
        "certified",
        "revoked",
        "kept",
    ]);
    for c in list {
        t.add_row(vec![
            c.id.clone(),
            c.name.clone(),
            state(c),
            c.owner.clone(),
            c.reviewers.clone(),
            c.due_at.clone(),
            format!("{} ({})", c.final_at, c.on_deadline),
            c.population.to_string(),
            c.open.to_string(),
            c.certified.to_string(),
            c.revoked.to_string(),
            c.kept.to_string(),
        ]);
    }
    format!("{t}\n")
}

/// What a reviewer needs beside an item, one fact a line.
fn context(c: &ItemContext) -> String {
    let mut s = format!("requested by {}", c.requester);
    if let Some(t) = &c.ticket {
        let _ = write!(s, " ({t})");
    }
    let _ = write!(s, ": {}", c.justification);
    if c.approvers.is_empty() {
        s.push_str("\napproved by nobody on record");
    }
    for a in &c.approvers {
        let _ = write!(s, "\napproved by {a}");
    }
    let _ = write!(s, "\ngranted {}, expires {}", c.granted_at, c.expires_at);
    let _ = write!(
        s,
        "\nother access: {}",
        if c.other_access.is_empty() {
            "none".to_owned()
        } else {
            c.other_access.join(", ")
        }
    );
    let _ = write!(
        s,
        "\nrisk {}{}",
        c.risk,
        if c.privileged { ", privileged" } else { "" }
    );
    s
}

fn status(i: &ItemView) -> String {
    let mut s = i.status.clone();
    if let Some(by) = &i.decided_by {
        let _ = write!(s, "\nby {by}");
    }
    if let Some(at) = &i.decided_at {
        let _ = write!(s, "\nat {at}");
    }
    if i.bulk {
        s.push_str("\n(bulk)");
    }
    if i.defaulted {
        s.push_str("\n(deadline)");
    }
    if let Some(r) = &i.reason {
        let _ = write!(s, "\nreason: {r}");
    }
    s
}

pub fn items(list: &[ItemView], all: bool) -> String {
    if list.is_empty() {
        return if all {
            "No items.\n".into()
        } else {
            "No items for you to review (`--all` lists every item).\n".into()
        };
    }
    let mut t = output::table(&[
        "item",
        "beneficiary",
        "entitlement",
        "reviewer",
        "basis",
        "status",
        "context",
    ]);
    for i in list {
        let mut basis = i.basis.clone();
        if let Some(r) = &i.reassigned {
            let _ = write!(basis, "\nreassigned: {r}");
        }
        if let Some(p) = &i.prior_decision {
            let _ = write!(basis, "\nprior decision: {p}");
        }
        t.add_row(vec![
            i.item.to_string(),
            i.beneficiary.clone(),
            format!("{}\n{} ({})", i.entitlement, i.grant, i.grant_status),
            i.reviewer.clone(),
            basis,
            status(i),
            i.context.as_ref().map(context).unwrap_or_default(),
        ]);
    }
    format!("{t}\n")
}

fn decided(list: &[ItemView]) -> String {
    let mut t = output::table(&[
        "item",
        "beneficiary",
        "entitlement",
        "status",
        "decided by",
        "authority",
        "entry",
    ]);
    for i in list {
        t.add_row(vec![
            i.item.to_string(),
            i.beneficiary.clone(),
            i.entitlement.clone(),
            i.status.clone(),
            or_dash(&i.decided_by).to_owned(),
            or_dash(&i.decision_basis).to_owned(),
            i.decided_entry.map(|n| n.to_string()).unwrap_or_default(),
        ]);
    }
    format!("{t}\n")
}

fn entries(l: &ReportLineView) -> String {
    let mut s = format!("opened {}", l.item.opened_entry);
    for (what, n) in [
        ("decided", l.item.decided_entry),
        ("revoked", l.revoked_entry),
        ("deprovisioned", l.deprovisioned_entry),
    ] {
        if let Some(n) = n {
            let _ = write!(s, "\n{what} {n}");
        }
    }
    s
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn reviewers_table(r: &ReviewReportView) -> Table {
    let mut t = output::table(&[
        "reviewer",
        "authority",
        "assigned",
        "certified",
        "revoked",
        "open",
    ]);
    for v in &r.reviewers {
        t.add_row(vec![
            v.reviewer.clone(),
            v.authority.join("\n"),
            v.assigned.to_string(),
            v.certified.to_string(),
            v.revoked.to_string(),
            v.open.to_string(),
        ]);
    }
    t
}

fn lines_table(r: &ReviewReportView) -> Table {
    let mut t = output::table(&[
        "item",
        "beneficiary",
        "entitlement",
        "reviewer",
        "status",
        "decided by / at",
        "reason",
        "timeliness",
        "follow-through",
        "ledger entries",
    ]);
    for l in &r.lines {
        let i = &l.item;
        let decided = match (&i.decided_by, &i.decided_at) {
            (None, None) => "-".to_owned(),
            (by, at) => format!("{}\n{}", or_dash(by), or_dash(at)),
        };
        t.add_row(vec![
            i.item.to_string(),
            i.beneficiary.clone(),
            format!("{}\n{}", i.entitlement, i.grant),
            format!("{}\n{}", i.reviewer, i.basis),
            format!("{}{}", i.status, if i.bulk { " (bulk)" } else { "" }),
            decided,
            or_dash(&i.reason).to_owned(),
            l.timeliness.clone(),
            or_dash(&l.follow_through).to_owned(),
            entries(l),
        ]);
    }
    t
}

pub fn report(r: &ReviewReportView) -> String {
    let c = &r.campaign;
    let p = &r.population;
    let mut s = String::new();
    let _ = writeln!(s, "Review report for {} \"{}\"", c.id, c.name);
    let _ = writeln!(s, "  owner           {}", c.owner);
    let _ = writeln!(
        s,
        "  launched        {} (entry {})",
        c.launched_at, r.launched_entry
    );
    match (&c.closed_at, r.closed_entry) {
        (Some(at), Some(e)) => {
            let _ = writeln!(s, "  closed          {at} (entry {e})");
        }
        (Some(at), None) => {
            let _ = writeln!(s, "  closed          {at}");
        }
        _ => {
            let _ = writeln!(s, "  closed          not yet");
        }
    }
    let _ = writeln!(s, "  scope           {}", scope(&c.scope));
    let _ = writeln!(
        s,
        "  reviewers       {}, fallback {}",
        c.reviewers, c.fallback
    );
    let _ = writeln!(
        s,
        "  due / final     {} / {} (then {})",
        c.due_at, c.final_at, c.on_deadline
    );
    let _ = writeln!(s, "Population check");
    let _ = writeln!(s, "  live grants at launch  {}", p.live_grants_at_launch);
    let _ = writeln!(s, "  in scope               {}", p.in_scope);
    let _ = writeln!(s, "  out of scope           {}", p.out_of_scope);
    let _ = writeln!(s, "  items in this report   {}", p.items);
    let _ = writeln!(s, "  population digest      {}", p.digest);
    let _ = writeln!(s, "  items digest           {}", p.items_digest);
    let _ = writeln!(s, "  reconciled             {}", yes_no(p.reconciled));
    let t = &r.timeliness;
    let _ = writeln!(
        s,
        "Timeliness: {} on time, {} late, {} defaulted at the deadline, {} open",
        t.on_time, t.late, t.defaulted, t.open
    );
    if r.reviewers.is_empty() {
        let _ = writeln!(s, "Reviewers: none");
    } else {
        let _ = writeln!(s, "Reviewers:\n{}", reviewers_table(r));
    }
    if r.flags.is_empty() {
        let _ = writeln!(s, "Flags: none");
    } else {
        let mut f = output::table(&[
            "entry",
            "reviewer",
            "rule",
            "decisions",
            "certified",
            "median gap",
        ]);
        for x in &r.flags {
            f.add_row(vec![
                x.entry.to_string(),
                x.reviewer.clone(),
                x.rule.clone(),
                x.decisions.to_string(),
                x.certified.to_string(),
                x.median_gap_ms
                    .map(|ms| format!("{ms} ms"))
                    .unwrap_or_default(),
            ]);
        }
        let _ = writeln!(s, "Flags:\n{f}");
    }
    if r.notices.is_empty() {
        let _ = writeln!(s, "Notices: none");
    } else {
        let mut n = output::table(&["entry", "at", "to", "notice", "items"]);
        for x in &r.notices {
            n.add_row(vec![
                x.entry.to_string(),
                x.at.clone(),
                x.to.clone(),
                x.notice.clone(),
                x.items.to_string(),
            ]);
        }
        let _ = writeln!(s, "Notices:\n{n}");
    }
    if r.lines.is_empty() {
        let _ = writeln!(s, "Items: none");
    } else {
        let _ = writeln!(s, "Items:\n{}", lines_table(r));
    }
    s
}
