//! Wire types of access reviews: campaigns, items, decisions and the auditor's report.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::{Campaign, Timestamp};
use writ_store::{ItemRow, ReportLine, ReviewReport};

use super::ts;

/// Which live grants a campaign reviews; empty lists do not filter.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<String>,
    /// `<system>/<entitlement>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    /// `low`, `medium`, `high`, `critical`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<String>,
    /// `human` or `nhi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub departments: Vec<String>,
    /// Also every live grant past its review date, whatever the filters say.
    #[serde(default)]
    pub include_overdue: bool,
}

/// A new campaign. Its population is snapshotted when it is created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaign {
    pub name: String,
    #[serde(default, deserialize_with = "super::object")]
    pub scope: ScopeBody,
    /// `manager`, `nhi_owner`, `entitlement_owner`, `system_owner` or `group:<name>`.
    pub reviewers: String,
    /// Reviews what the strategy cannot give to an independent reviewer, and overdue items.
    pub fallback: String,
    /// RFC 3339 date-time: decisions are due by then.
    pub due_at: String,
    /// RFC 3339 date-time: the deadline action applies to what is still open.
    pub final_at: String,
    /// Remind reviewers this long before the due date (`3d`, `PT12H`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_before: Option<String>,
    /// `revoke` or `keep` (keep the access and escalate). Required: no default.
    pub on_deadline: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    pub owner: String,
    pub launched_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    pub scope: ScopeBody,
    pub reviewers: String,
    pub fallback: String,
    pub due_at: String,
    pub final_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_before: Option<String>,
    pub on_deadline: String,
    /// Items snapshotted at launch (grants in scope).
    pub population: u64,
    /// Live grants in Writ at launch, in scope or not.
    pub live_grants_at_launch: u64,
    /// SHA-256 over the sorted grant ids of the population.
    pub population_digest: String,
    pub open: u64,
    pub certified: u64,
    pub revoked: u64,
    pub kept: u64,
    pub reminded: bool,
    pub escalated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

impl From<&Campaign> for CampaignView {
    fn from(c: &Campaign) -> Self {
        let s = &c.spec;
        CampaignView {
            id: c.id.to_string(),
            name: s.name.clone(),
            owner: c.owner.clone(),
            launched_at: ts(c.launched_at),
            schedule: c
                .schedule
                .as_ref()
                .map(|o| format!("{} @ {}", o.schedule, ts(o.at))),
            scope: ScopeBody {
                systems: s.scope.systems.iter().map(|x| x.to_string()).collect(),
                entitlements: s.scope.entitlements.iter().map(|x| x.to_string()).collect(),
                tiers: s.scope.tiers.iter().map(|x| x.to_string()).collect(),
                kind: s.scope.kind.map(|k| {
                    match k {
                        writ_core::SubjectKind::Human => "human",
                        writ_core::SubjectKind::Nhi => "nhi",
                    }
                    .to_owned()
                }),
                departments: s.scope.departments.iter().cloned().collect(),
                include_overdue: s.scope.include_overdue,
            },
            reviewers: s.reviewers.to_string(),
            fallback: s.fallback.to_string(),
            due_at: ts(s.due_at),
            final_at: ts(s.final_at),
            remind_before: s.remind_before.map(|d| d.to_string()),
            on_deadline: s.on_deadline.as_str().to_owned(),
            population: c.population,
            live_grants_at_launch: c.live_grants,
            population_digest: c.digest.clone(),
            open: c.open,
            certified: c.certified,
            revoked: c.revoked,
            kept: c.kept,
            reminded: c.reminded,
            escalated: c.escalated,
            closed_at: c.closed_at.map(ts),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignView>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One review item, with what the reviewer needs to decide it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemView {
    pub item: u32,
    pub grant: String,
    pub beneficiary: String,
    pub entitlement: String,
    /// The grant's status now.
    pub grant_status: String,
    pub review_by: String,
    pub request: String,
    /// Who may decide it: an identity, `group:<name>`, or `-` (nobody independent).
    pub reviewer: String,
    /// Why that reviewer: the strategy, or `fallback:<reason>`.
    pub basis: String,
    /// `open`, `certified`, `revoked` or `kept`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_basis: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub bulk: bool,
    pub defaulted: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassigned: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior_decision: Option<String>,
    /// Ledger entry that opened the item.
    pub opened_entry: u64,
    /// Ledger entry of the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_entry: Option<u64>,
    /// Context for the reviewer (shown for item lists, not in reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ItemContext>,
}

/// What the reviewer sees beside an item.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemContext {
    pub granted_at: String,
    pub expires_at: String,
    pub requester: String,
    pub justification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    /// `<approver> (<authority>)` per approval step.
    pub approvers: Vec<String>,
    /// The beneficiary's other live access.
    pub other_access: Vec<String>,
    /// Separation-of-duties conflicts this access forms with the beneficiary's other
    /// live access: `<rule>: <entitlement> (grant …)`, per the policy in force.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sod_conflicts: Vec<String>,
    pub risk: String,
    pub privileged: bool,
}

impl From<&ItemRow> for ItemView {
    fn from(r: &ItemRow) -> Self {
        let i = &r.item;
        ItemView {
            item: i.item,
            grant: i.grant.to_string(),
            beneficiary: r.beneficiary.to_string(),
            entitlement: r.entitlement.to_string(),
            grant_status: r.grant_status.clone(),
            review_by: ts(r.review_by),
            request: r.request.to_string(),
            reviewer: i.reviewer.to_string(),
            basis: i.basis.clone(),
            status: i.status.as_str().to_owned(),
            decided_by: i.decided_by.clone(),
            decided_at: i.decided_at.map(ts),
            decision_basis: r.decision_basis.clone(),
            reason: r.reason.clone(),
            bulk: i.bulk,
            defaulted: i.defaulted,
            reassigned: r.reassigned_why.clone(),
            prior_decision: r.prior.clone(),
            opened_entry: r.opened_seq,
            decided_entry: r.decided_seq,
            context: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemList {
    pub items: Vec<ItemView>,
    /// The cursor of the next page, when there may be more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Certify or revoke one or more items (more than one is recorded as a bulk decision).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecisionBody {
    pub items: Vec<u32>,
    /// `certify` or `revoke`.
    #[schema(pattern = r"^(certify|revoke)$")]
    pub decision: String,
    /// Required to revoke, and to certify high or critical access.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RereviewBody {
    /// The flagged reviewer whose certifications go back for review.
    #[schema(pattern = r"^[a-z0-9][a-z0-9._-]{0,63}$")]
    pub reviewer: String,
}

/// A notification record (reminder, escalation, kept at the deadline).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NoticeView {
    pub entry: u64,
    pub at: String,
    pub to: String,
    pub notice: String,
    pub items: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlagView {
    pub entry: u64,
    pub reviewer: String,
    pub rule: String,
    pub decisions: u32,
    pub certified: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median_gap_ms: Option<i64>,
}

/// One line of the report: an item, its grant's provenance, its decision and what
/// followed, with the ledger entries that prove each.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReportLineView {
    #[serde(flatten)]
    pub item: ItemView,
    pub requester: String,
    pub approvers: Vec<String>,
    pub justification: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_review: Option<String>,
    /// `on_time`, `late`, `defaulted` or `open`.
    pub timeliness: String,
    /// For a revocation: `revoked` (the decision), `deprovisioned` (the target
    /// confirmed), or `revoking` (waiting for the target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_through: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_entry: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprovisioned_entry: Option<u64>,
}

/// How the population at launch compares with the grant table.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PopulationCheck {
    pub live_grants_at_launch: u64,
    pub in_scope: u64,
    pub out_of_scope: u64,
    /// Items in the report; equals `in_scope` when nothing is missing.
    pub items: u64,
    pub digest: String,
    /// SHA-256 over the sorted grant ids of the report's items.
    pub items_digest: String,
    pub reconciled: bool,
}

/// The reviewers: who decided, on what authority, how much.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewerView {
    pub reviewer: String,
    /// The bases they were assigned on (`manager`, `fallback:self-review`, …).
    pub authority: Vec<String>,
    pub assigned: u64,
    pub certified: u64,
    pub revoked: u64,
    pub open: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReviewReportView {
    pub campaign: CampaignView,
    /// Ledger entry of the launch, and of the closing (once closed).
    pub launched_entry: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_entry: Option<u64>,
    pub population: PopulationCheck,
    pub reviewers: Vec<ReviewerView>,
    pub timeliness: Timeliness,
    pub lines: Vec<ReportLineView>,
    pub notices: Vec<NoticeView>,
    pub flags: Vec<FlagView>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct Timeliness {
    pub on_time: u64,
    pub late: u64,
    pub defaulted: u64,
    pub open: u64,
}

fn timeliness(line: &ReportLine, due: Timestamp) -> &'static str {
    let i = &line.row.item;
    match i.decided_at {
        None => "open",
        Some(_) if i.defaulted => "defaulted",
        Some(t) if t <= due => "on_time",
        Some(_) => "late",
    }
}

impl From<&ReviewReport> for ReviewReportView {
    fn from(r: &ReviewReport) -> Self {
        let c = &r.campaign;
        let mut t = Timeliness::default();
        let mut reviewers: std::collections::BTreeMap<String, ReviewerView> = Default::default();
        let lines: Vec<ReportLineView> = r
            .lines
            .iter()
            .map(|l| {
                let when = timeliness(l, c.spec.due_at);
                match when {
                    "open" => t.open += 1,
                    "defaulted" => t.defaulted += 1,
                    "on_time" => t.on_time += 1,
                    _ => t.late += 1,
                }
                let i = &l.row.item;
                let who = i
                    .decided_by
                    .clone()
                    .unwrap_or_else(|| i.reviewer.to_string());
                let v = reviewers
                    .entry(who.clone())
                    .or_insert_with(|| ReviewerView {
                        reviewer: who,
                        authority: vec![],
                        assigned: 0,
                        certified: 0,
                        revoked: 0,
                        open: 0,
                    });
                v.assigned += 1;
                match i.status {
                    writ_core::ItemStatus::Certified => v.certified += 1,
                    writ_core::ItemStatus::Revoked => v.revoked += 1,
                    writ_core::ItemStatus::Open => v.open += 1,
                    writ_core::ItemStatus::Kept => {}
                }
                let authority = l.row.decision_basis.clone().unwrap_or(i.basis.clone());
                if !v.authority.contains(&authority) {
                    v.authority.push(authority);
                }
                let follow_through = (i.status == writ_core::ItemStatus::Revoked).then(|| {
                    if l.deprovisioned_seq.is_some() {
                        "deprovisioned"
                    } else if l.row.grant_status == "revoking" {
                        "revoking"
                    } else {
                        "revoked"
                    }
                    .to_owned()
                });
                ReportLineView {
                    item: ItemView::from(&l.row),
                    requester: l.requester.to_string(),
                    approvers: l
                        .approvers
                        .iter()
                        .map(|(n, basis)| format!("{n} ({basis})"))
                        .collect(),
                    justification: l.justification.clone(),
                    ticket: l.ticket.clone(),
                    last_review: l.last_review.map(ts),
                    timeliness: when.to_owned(),
                    follow_through,
                    revoked_entry: l.revoked_seq,
                    deprovisioned_entry: l.deprovisioned_seq,
                }
            })
            .collect();
        let items_digest = writ_core::population_digest(r.lines.iter().map(|l| &l.row.item.grant));
        ReviewReportView {
            campaign: CampaignView::from(c),
            launched_entry: r.launched_seq,
            closed_entry: r.closed_seq,
            population: PopulationCheck {
                live_grants_at_launch: c.live_grants,
                in_scope: c.population,
                out_of_scope: c.live_grants.saturating_sub(c.population),
                items: lines.len() as u64,
                reconciled: lines.len() as u64 == c.population && items_digest == c.digest,
                digest: c.digest.clone(),
                items_digest,
            },
            reviewers: reviewers.into_values().collect(),
            timeliness: t,
            lines,
            notices: r
                .notices
                .iter()
                .map(|n| NoticeView {
                    entry: n.seq,
                    at: ts(n.at),
                    to: n.to.clone(),
                    notice: n.notice.clone(),
                    items: n.items,
                })
                .collect(),
            flags: r
                .flags
                .iter()
                .map(|f| FlagView {
                    entry: f.seq,
                    reviewer: f.reviewer.to_string(),
                    rule: f.rule.clone(),
                    decisions: f.decisions,
                    certified: f.certified,
                    median_gap_ms: f.median_gap_ms,
                })
                .collect(),
        }
    }
}

/// The columns of the CSV report, one line per item.
pub const REPORT_CSV_HEADER: &[&str] = &[
    "item",
    "grant",
    "beneficiary",
    "entitlement",
    "requester",
    "approvers",
    "ticket",
    "last_review",
    "reviewer",
    "reviewer_basis",
    "status",
    "decided_by",
    "decided_at",
    "decision_basis",
    "reason",
    "bulk",
    "timeliness",
    "follow_through",
    "opened_entry",
    "decided_entry",
    "revoked_entry",
    "deprovisioned_entry",
];

fn csv_field(s: &str) -> String {
    // Quote everything that could break a line or a column, and defuse cells that a
    // spreadsheet would read as a formula.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

impl ReviewReportView {
    /// RFC 4180 CSV, one line per item, with its ledger entry references.
    pub fn to_csv(&self) -> String {
        let mut out = REPORT_CSV_HEADER.join(",");
        out.push_str("\r\n");
        let opt = |v: &Option<String>| v.clone().unwrap_or_default();
        let num = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        for l in &self.lines {
            let i = &l.item;
            let cells = [
                i.item.to_string(),
                i.grant.clone(),
                i.beneficiary.clone(),
                i.entitlement.clone(),
                l.requester.clone(),
                l.approvers.join("; "),
                opt(&l.ticket),
                opt(&l.last_review),
                i.reviewer.clone(),
                i.basis.clone(),
                i.status.clone(),
                opt(&i.decided_by),
                opt(&i.decided_at),
                opt(&i.decision_basis),
                opt(&i.reason),
                i.bulk.to_string(),
                l.timeliness.clone(),
                opt(&l.follow_through),
                i.opened_entry.to_string(),
                num(i.decided_entry),
                num(l.revoked_entry),
                num(l.deprovisioned_entry),
            ];
            let row: Vec<String> = cells.iter().map(|c| csv_field(c)).collect();
            out.push_str(&row.join(","));
            out.push_str("\r\n");
        }
        out
    }
}
