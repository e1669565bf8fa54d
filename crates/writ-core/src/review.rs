//! Access reviews: campaigns that re-attest live grants and enforce their outcome.
//!
//! A campaign snapshots its population when it is launched: one review item per live
//! grant in scope, each assigned to a reviewer chosen by the campaign's strategy and
//! independent of the access it reviews (never the beneficiary, the requester or an
//! approver of the grant; otherwise the fallback reviewer). A reviewer certifies an
//! item (the grant's `review_by` moves forward) or revokes it (the grant is revoked
//! through the same path as any revocation, so a connected target deprovisions it).
//! The scheduler reminds, escalates overdue items to the fallback reviewer, applies
//! the campaign's explicit deadline action at the final deadline, and flags reviewers
//! whose decisions look like rubber-stamping.
//!
//! Everything here is pure: the store loads a [`ReviewCtx`] for the command, and
//! [`decide`](crate::decide) turns it into events.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::catalog::RiskTier;
use crate::command::Actor;
use crate::decide::{Ctx, require_admin, writer};
use crate::event::Event;
use crate::grant::Grant;
use crate::identity::{Identity, IdentityKind};
use crate::ids::{CampaignId, GrantId, IdGen, RequestId};
use crate::names::{EntitlementRef, Name, Reason};
use crate::org::Org;
use crate::refusal::Refusal;
use crate::time::{DurationSpec, Timestamp};

/// Items per `review_items_opened` event: keeps each ledger leaf around 200 KB.
pub const ITEMS_PER_EVENT: usize = 2_000;

/// Who reviews an item, by default.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ReviewerStrategy {
    /// The beneficiary's manager; for an NHI, its owner.
    Manager,
    /// The NHI's owner; for a person, their manager.
    NhiOwner,
    EntitlementOwner,
    SystemOwner,
    /// Any active member of the group who is independent of the item.
    Group(String),
}

impl fmt::Display for ReviewerStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReviewerStrategy::Manager => f.write_str("manager"),
            ReviewerStrategy::NhiOwner => f.write_str("nhi_owner"),
            ReviewerStrategy::EntitlementOwner => f.write_str("entitlement_owner"),
            ReviewerStrategy::SystemOwner => f.write_str("system_owner"),
            ReviewerStrategy::Group(g) => write!(f, "group:{g}"),
        }
    }
}

impl TryFrom<String> for ReviewerStrategy {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ReviewerStrategy::parse(&s)
    }
}

impl From<ReviewerStrategy> for String {
    fn from(s: ReviewerStrategy) -> String {
        s.to_string()
    }
}

impl ReviewerStrategy {
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "manager" => ReviewerStrategy::Manager,
            "nhi_owner" => ReviewerStrategy::NhiOwner,
            "entitlement_owner" => ReviewerStrategy::EntitlementOwner,
            "system_owner" => ReviewerStrategy::SystemOwner,
            other => match other.strip_prefix("group:") {
                Some(g) => ReviewerStrategy::Group(Name::parse(g)?.to_string()),
                None => {
                    return Err(format!(
                        "unknown reviewer strategy `{}` (expected manager, nhi_owner, entitlement_owner, system_owner or group:<name>)",
                        crate::names::truncate(other, 60)
                    ));
                }
            },
        })
    }
}

/// What happens to an item nobody decided by the campaign's final deadline. Chosen
/// explicitly for every campaign: there is no default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineAction {
    /// Revoke the access.
    Revoke,
    /// Keep the access, record the item as defaulted, and escalate to the fallback.
    Keep,
}

impl DeadlineAction {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineAction::Revoke => "revoke",
            DeadlineAction::Keep => "keep",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "revoke" => Ok(DeadlineAction::Revoke),
            "keep" => Ok(DeadlineAction::Keep),
            other => Err(format!(
                "unknown deadline action `{}` (expected revoke or keep)",
                crate::names::truncate(other, 40)
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    Human,
    Nhi,
}

/// Which live grants a campaign reviews. Empty sets do not filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub systems: BTreeSet<Name>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub entitlements: BTreeSet<EntitlementRef>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tiers: BTreeSet<RiskTier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<SubjectKind>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub departments: BTreeSet<String>,
    /// Only this beneficiary's grants (micro-reviews).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beneficiary: Option<Name>,
    /// Also every grant past its `review_by`, whatever the filters above say.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_overdue: bool,
}

impl Scope {
    /// Whether a live grant belongs to the population, judged on the organisation data
    /// at launch.
    pub fn contains(&self, org: &Org, c: &ReviewSubject, now: Timestamp) -> bool {
        if self.include_overdue && c.review_by <= now {
            return true;
        }
        if self
            .beneficiary
            .as_ref()
            .is_some_and(|b| b != &c.beneficiary)
        {
            return false;
        }
        if !self.systems.is_empty() && !self.systems.contains(&c.entitlement.system) {
            return false;
        }
        if !self.entitlements.is_empty() && !self.entitlements.contains(&c.entitlement) {
            return false;
        }
        if !self.tiers.is_empty() {
            match org.entitlement(&c.entitlement) {
                Some(e) if self.tiers.contains(&e.risk) => {}
                _ => return false,
            }
        }
        let who = org.identity(&c.beneficiary);
        if let Some(kind) = self.kind {
            let is_human = who.is_some_and(|i| i.is_human());
            if is_human != (kind == SubjectKind::Human) {
                return false;
            }
        }
        if !self.departments.is_empty() {
            let dept = who.and_then(|i| match &i.kind {
                crate::identity::IdentityKind::Human(h) => h.department.as_ref(),
                crate::identity::IdentityKind::Nhi(_) => None,
            });
            if !dept.is_some_and(|d| self.departments.contains(d)) {
                return false;
            }
        }
        true
    }
}

/// What an admin decides when creating a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignSpec {
    pub name: String,
    #[serde(default)]
    pub scope: Scope,
    pub reviewers: ReviewerStrategy,
    /// Reviews what the strategy cannot give to an independent reviewer, and what is
    /// overdue.
    pub fallback: Name,
    /// Decisions are due by then; open items escalate to the fallback afterwards.
    pub due_at: Timestamp,
    /// The deadline action applies to whatever is still open at this time.
    pub final_at: Timestamp,
    /// Reviewers with open items are reminded this long before `due_at`.
    pub remind_before: Option<DurationSpec>,
    pub on_deadline: DeadlineAction,
}

/// A recurring schedule's occurrence that launched a campaign; each launches once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    pub schedule: Name,
    pub at: Timestamp,
}

/// Who may decide an item.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Assignee {
    Identity(Name),
    /// Any active, independent member of the group.
    Group(String),
    /// No independent reviewer exists (even the fallback is conflicted): the deadline
    /// action decides it, and the report says so.
    Nobody,
}

impl fmt::Display for Assignee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Assignee::Identity(n) => f.write_str(n.as_str()),
            Assignee::Group(g) => write!(f, "group:{g}"),
            Assignee::Nobody => f.write_str("-"),
        }
    }
}

impl TryFrom<String> for Assignee {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        if s == "-" {
            return Ok(Assignee::Nobody);
        }
        match s.strip_prefix("group:") {
            Some(g) => Ok(Assignee::Group(Name::parse(g)?.to_string())),
            None => Ok(Assignee::Identity(Name::parse(&s)?)),
        }
    }
}

impl From<Assignee> for String {
    fn from(a: Assignee) -> String {
        a.to_string()
    }
}

/// One item as the launch assigns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemOpened {
    pub item: u32,
    pub grant: GrantId,
    pub reviewer: Assignee,
    /// Why this reviewer: `manager`, `nhi_owner`, `entitlement_owner`,
    /// `system_owner`, `group`, or `fallback:<reason>`.
    pub basis: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Certify,
    Revoke,
    /// Kept by the campaign's deadline action; nobody decided.
    Keep,
}

impl ReviewDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Certify => "certify",
            ReviewDecision::Revoke => "revoke",
            ReviewDecision::Keep => "keep",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    Open,
    Certified,
    Revoked,
    Kept,
}

impl ItemStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemStatus::Open => "open",
            ItemStatus::Certified => "certified",
            ItemStatus::Revoked => "revoked",
            ItemStatus::Kept => "kept",
        }
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "open" => Ok(ItemStatus::Open),
            "certified" => Ok(ItemStatus::Certified),
            "revoked" => Ok(ItemStatus::Revoked),
            "kept" => Ok(ItemStatus::Kept),
            other => Err(format!("unknown item status `{other}`")),
        }
    }
}

/// Rubber-stamp thresholds, from the server's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RubberStampRules {
    /// Flag a reviewer who certified more than this many items …
    pub fast_min_items: u32,
    /// … with a median gap between consecutive decisions under this many ms.
    pub fast_median_ms: i64,
    /// Flag a reviewer who certified everything over at least this many decisions.
    pub always_certify_min_items: u32,
}

impl Default for RubberStampRules {
    fn default() -> Self {
        RubberStampRules {
            fast_min_items: 50,
            fast_median_ms: 5_000,
            always_certify_min_items: 20,
        }
    }
}

/// A campaign as it stands after the events applied to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: CampaignId,
    pub spec: CampaignSpec,
    pub owner: String,
    pub launched_at: Timestamp,
    pub schedule: Option<Occurrence>,
    pub population: u64,
    pub live_grants: u64,
    pub digest: String,
    pub open: u64,
    pub certified: u64,
    pub revoked: u64,
    pub kept: u64,
    pub reminded: bool,
    pub escalated: bool,
    pub closed_at: Option<Timestamp>,
}

impl Campaign {
    pub fn is_closed(&self) -> bool {
        self.closed_at.is_some()
    }

    /// The campaign as `CampaignLaunched` creates it.
    pub fn launched(rec: &crate::event::Recorded) -> Option<Campaign> {
        match &rec.event {
            Event::CampaignLaunched {
                campaign,
                spec,
                schedule,
                population,
                live_grants,
                digest,
            } => Some(Campaign {
                id: campaign.clone(),
                spec: spec.clone(),
                owner: rec.actor.to_string(),
                launched_at: rec.at,
                schedule: schedule.clone(),
                population: *population,
                live_grants: *live_grants,
                digest: digest.clone(),
                open: *population,
                certified: 0,
                revoked: 0,
                kept: 0,
                reminded: false,
                escalated: false,
                closed_at: None,
            }),
            _ => None,
        }
    }

    pub fn apply(&mut self, rec: &crate::event::Recorded) {
        match &rec.event {
            Event::ReviewDecided {
                campaign, decision, ..
            } if campaign == &self.id => {
                self.open = self.open.saturating_sub(1);
                match decision {
                    ReviewDecision::Certify => self.certified += 1,
                    ReviewDecision::Revoke => self.revoked += 1,
                    ReviewDecision::Keep => self.kept += 1,
                }
            }
            // Reopened items were certified; they are decided afresh.
            Event::ReviewItemsReassigned {
                campaign,
                items,
                reopen: true,
                ..
            } if campaign == &self.id => {
                self.open += items.len() as u64;
                self.certified = self.certified.saturating_sub(items.len() as u64);
                self.closed_at = None;
            }
            Event::ReviewNotified {
                campaign, notice, ..
            } if campaign == &self.id => match notice.as_str() {
                "reminder" => self.reminded = true,
                "escalation" => self.escalated = true,
                _ => {}
            },
            Event::CampaignClosed { campaign, .. } if campaign == &self.id => {
                self.closed_at = Some(rec.at);
            }
            _ => {}
        }
    }
}

/// One review item as it stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewItem {
    pub campaign: CampaignId,
    pub item: u32,
    pub grant: GrantId,
    pub reviewer: Assignee,
    pub basis: String,
    pub status: ItemStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<Timestamp>,
    pub bulk: bool,
    pub defaulted: bool,
}

impl ReviewItem {
    pub fn opened(campaign: &CampaignId, o: &ItemOpened) -> ReviewItem {
        ReviewItem {
            campaign: campaign.clone(),
            item: o.item,
            grant: o.grant.clone(),
            reviewer: o.reviewer.clone(),
            basis: o.basis.clone(),
            status: ItemStatus::Open,
            decided_by: None,
            decided_at: None,
            bulk: false,
            defaulted: false,
        }
    }
}

/// A live grant with what independence needs: who asked for it and who approved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewSubject {
    pub grant: GrantId,
    pub request: RequestId,
    pub beneficiary: Name,
    pub entitlement: EntitlementRef,
    pub review_by: Timestamp,
    pub requester: Name,
    pub approvers: Vec<Name>,
}

impl ReviewSubject {
    /// Whether `who` took part in this access: its beneficiary, requester or approver.
    pub fn involves(&self, who: &Name) -> Option<&'static str> {
        if &self.beneficiary == who {
            Some("self-review")
        } else if &self.requester == who {
            Some("requester")
        } else if self.approvers.contains(who) {
            Some("approver")
        } else {
            None
        }
    }
}

/// An item with its grant, for deciding it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemCtx {
    pub item: ReviewItem,
    pub grant: Grant,
    pub parties: ReviewSubject,
}

/// One decision, for rubber-stamp detection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionStat {
    pub reviewer: Name,
    pub at: Timestamp,
    pub decision: ReviewDecision,
}

/// What the store loads for a review command (see [`crate::Needs::review`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReviewCtx {
    pub campaign: Option<Campaign>,
    pub items: Vec<ItemCtx>,
    /// Every live grant the launch may take (or, for a micro-review, the identity's).
    pub population: Vec<ReviewSubject>,
    /// Every live grant in Writ at launch, for the population count reconciliation.
    pub live_grants: u64,
    /// The schedule occurrence of the command was already launched.
    pub occurrence_launched: bool,
    pub decisions: Vec<DecisionStat>,
    pub flagged: BTreeSet<Name>,
}

/// What the store must load for a review command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReviewNeeds {
    /// Every live grant, and whether the occurrence (if any) already launched.
    Population { occurrence: Option<Occurrence> },
    /// The beneficiary's live grants (a micro-review on a manager change).
    Beneficiary(Name),
    /// The campaign and the named items.
    Items {
        campaign: CampaignId,
        items: Vec<u32>,
    },
    /// The campaign and all its open items.
    Open(CampaignId),
    /// The campaign, its decisions and flags.
    Decisions(CampaignId),
    /// The campaign, the items `reviewer` certified, and the flags.
    CertifiedBy {
        campaign: CampaignId,
        reviewer: Name,
    },
}

/// The reviewer the strategy gives, before independence.
fn strategy_reviewer(
    org: &Org,
    strategy: &ReviewerStrategy,
    c: &ReviewSubject,
) -> Option<(Assignee, &'static str)> {
    let who = org.identity(&c.beneficiary)?;
    let person = |n: Option<&Name>, basis| n.map(|n| (Assignee::Identity(n.clone()), basis));
    match strategy {
        ReviewerStrategy::Manager | ReviewerStrategy::NhiOwner => {
            if who.is_human() {
                person(who.manager(), "manager")
            } else {
                person(who.owner(), "nhi_owner")
            }
        }
        ReviewerStrategy::EntitlementOwner => person(
            org.entitlement(&c.entitlement)
                .and_then(|e| e.owner.as_ref()),
            "entitlement_owner",
        ),
        ReviewerStrategy::SystemOwner => person(
            org.system(&c.entitlement.system).map(|s| &s.owner),
            "system_owner",
        ),
        ReviewerStrategy::Group(g) => Some((Assignee::Group(g.clone()), "group")),
    }
}

/// Whether `assignee` can review `c` independently, or why not.
fn independent(org: &Org, assignee: &Assignee, c: &ReviewSubject) -> Result<(), String> {
    match assignee {
        Assignee::Identity(n) => {
            if let Some(why) = c.involves(n) {
                return Err(why.to_owned());
            }
            match org.identity(n) {
                Some(i) if i.is_active() && i.is_human() => Ok(()),
                _ => Err("reviewer-inactive".to_owned()),
            }
        }
        Assignee::Group(g) => {
            let any = org
                .members_of(g)
                .any(|m| m.is_active() && m.is_human() && c.involves(&m.name).is_none());
            if any {
                Ok(())
            } else {
                Err("group-conflicted".to_owned())
            }
        }
        Assignee::Nobody => Err("no-reviewer".to_owned()),
    }
}

/// Assigns one item: the strategy's reviewer if independent, else the fallback,
/// else nobody.
pub fn assign(org: &Org, spec: &CampaignSpec, c: &ReviewSubject) -> (Assignee, String) {
    let why = match strategy_reviewer(org, &spec.reviewers, c) {
        Some((a, basis)) => match independent(org, &a, c) {
            Ok(()) => return (a, basis.to_owned()),
            Err(why) => why,
        },
        None => "no-reviewer".to_owned(),
    };
    let fallback = Assignee::Identity(spec.fallback.clone());
    match independent(org, &fallback, c) {
        Ok(()) => (fallback, format!("fallback:{why}")),
        Err(_) => (Assignee::Nobody, format!("unassigned:{why}")),
    }
}

/// Whether `actor` may decide `item`: its assigned reviewer (or an independent member
/// of its group), or — for items with nobody assigned — nobody but the deadline.
pub fn may_decide(org: &Org, actor: &Name, item: &ItemCtx) -> Result<String, String> {
    if let Some(why) = item.parties.involves(actor) {
        return Err(format!(
            "`{actor}` may not review item {} ({why}): reviewers are independent of the access they review",
            item.item.item
        ));
    }
    match &item.item.reviewer {
        Assignee::Identity(n) if n == actor => Ok(format!(
            "assigned reviewer ({}) of campaign {}",
            item.item.basis, item.item.campaign
        )),
        Assignee::Group(g) if org.identity(actor).is_some_and(|i| i.groups.contains(g)) => {
            Ok(format!(
                "member of group `{g}`, reviewers of campaign {}",
                item.item.campaign
            ))
        }
        other => Err(format!(
            "item {} of campaign {} is assigned to `{other}`, not `{actor}`",
            item.item.item, item.item.campaign
        )),
    }
}

/// Digest of the population: SHA-256 over the sorted grant ids, one per line.
pub fn population_digest<'a>(grants: impl Iterator<Item = &'a GrantId>) -> String {
    use sha2::{Digest, Sha256};
    let mut ids: Vec<&str> = grants.map(GrantId::as_str).collect();
    ids.sort_unstable();
    let mut h = Sha256::new();
    for id in ids {
        h.update(id.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The events of a launch: the campaign, then its items in chunks, then (for an empty
/// population) its closing.
pub fn launch_events(
    org: &Org,
    spec: &CampaignSpec,
    schedule: Option<Occurrence>,
    ctx: &ReviewCtx,
    now: Timestamp,
    ids: &mut dyn IdGen,
) -> Vec<Event> {
    let campaign = CampaignId::generate(ids);
    let in_scope: Vec<&ReviewSubject> = ctx
        .population
        .iter()
        .filter(|c| spec.scope.contains(org, c, now))
        .collect();
    let digest = population_digest(in_scope.iter().map(|c| &c.grant));
    let mut events = Vec::with_capacity(2 + in_scope.len() / ITEMS_PER_EVENT);
    events.push(Event::CampaignLaunched {
        campaign: campaign.clone(),
        spec: spec.clone(),
        schedule,
        population: in_scope.len() as u64,
        live_grants: ctx.live_grants,
        digest,
    });
    for (n, chunk) in in_scope.chunks(ITEMS_PER_EVENT).enumerate() {
        let items = chunk
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (reviewer, basis) = assign(org, spec, c);
                ItemOpened {
                    item: (n * ITEMS_PER_EVENT + i + 1) as u32,
                    grant: c.grant.clone(),
                    reviewer,
                    basis,
                }
            })
            .collect();
        events.push(Event::ReviewItemsOpened {
            campaign: campaign.clone(),
            items,
        });
    }
    if in_scope.is_empty() {
        events.push(Event::CampaignClosed {
            campaign,
            certified: 0,
            revoked: 0,
            kept: 0,
        });
    }
    events
}

/// The median of the gaps between a reviewer's consecutive decisions, in ms.
pub fn median_gap(times: &mut [Timestamp]) -> Option<i64> {
    times.sort_unstable();
    let mut gaps: Vec<i64> = times.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if gaps.is_empty() {
        return None;
    }
    gaps.sort_unstable();
    Some(gaps[gaps.len() / 2])
}

/// Reviewers whose decisions in this campaign meet a rubber-stamp rule, not yet
/// flagged: `(reviewer, rule, decisions, certified, median gap)`.
pub fn rubber_stamps(ctx: &ReviewCtx, rules: &RubberStampRules) -> Vec<Event> {
    let Some(campaign) = &ctx.campaign else {
        return vec![];
    };
    let mut by: BTreeMap<&Name, Vec<&DecisionStat>> = BTreeMap::new();
    for d in &ctx.decisions {
        by.entry(&d.reviewer).or_default().push(d);
    }
    let mut out = Vec::new();
    for (reviewer, ds) in by {
        if ctx.flagged.contains(reviewer) {
            continue;
        }
        let certified = ds
            .iter()
            .filter(|d| d.decision == ReviewDecision::Certify)
            .count() as u32;
        let mut times: Vec<Timestamp> = ds.iter().map(|d| d.at).collect();
        let median = median_gap(&mut times);
        let total = ds.len() as u32;
        let rule = if certified > rules.fast_min_items
            && median.is_some_and(|m| m < rules.fast_median_ms)
        {
            Some(format!(
                "certified {certified} items at a median of {} ms apart (rule: more than {} under {} ms)",
                median.unwrap_or(0),
                rules.fast_min_items,
                rules.fast_median_ms
            ))
        } else if total >= rules.always_certify_min_items && certified == total {
            Some(format!(
                "certified all {total} items and revoked none (rule: 100% certify over at least {})",
                rules.always_certify_min_items
            ))
        } else {
            None
        };
        if let Some(rule) = rule {
            out.push(Event::ReviewerFlagged {
                campaign: campaign.id.clone(),
                reviewer: reviewer.clone(),
                rule,
                decisions: total,
                certified,
                median_gap_ms: median,
            });
        }
    }
    out
}

/// Who acts: a person, or the campaign's own policy (the scheduler).
pub fn is_scheduler(actor: &Actor) -> bool {
    matches!(actor, Actor::System(_))
}

/// Most items one decision may name (bulk decisions).
pub const MAX_BULK: usize = 1_000;

fn campaign_of<'a>(r: &'a ReviewCtx, id: &CampaignId) -> Result<&'a Campaign, Refusal> {
    r.campaign
        .as_ref()
        .ok_or_else(|| Refusal::not_found("unknown-campaign", format!("no campaign `{id}`")))
}

fn invalid(code: &'static str, m: impl Into<String>) -> Refusal {
    Refusal::invalid(code, m)
}

/// Checks what an admin (or a schedule) asks for before anything is snapshotted.
fn validate_spec(ctx: &Ctx<'_>, spec: &CampaignSpec) -> Result<(), Refusal> {
    let n = spec.name.trim().chars().count();
    if n == 0 || n > 200 || spec.name.chars().any(char::is_control) {
        return Err(invalid(
            "invalid-campaign",
            "campaign name must be 1-200 characters without control characters",
        ));
    }
    match ctx.org.identity(&spec.fallback) {
        Some(f) if f.is_human() && f.is_active() => {}
        Some(_) => {
            return Err(invalid(
                "invalid-fallback",
                format!(
                    "fallback reviewer `{}` must be an active person",
                    spec.fallback
                ),
            ));
        }
        None => {
            return Err(invalid(
                "unknown-identity",
                format!("fallback reviewer `{}` is not an identity", spec.fallback),
            ));
        }
    }
    if spec.due_at <= ctx.now {
        return Err(invalid("due-in-past", "the due date must be in the future"));
    }
    if spec.final_at < spec.due_at {
        return Err(invalid(
            "final-before-due",
            "the final deadline cannot come before the due date",
        ));
    }
    if spec.final_at > ctx.now.plus(DurationSpec::days(366)) {
        return Err(invalid(
            "deadline-too-far",
            "a campaign's final deadline is at most a year away",
        ));
    }
    if let ReviewerStrategy::Group(g) = &spec.reviewers
        && !ctx.org.members_of(g).any(|m| m.is_active() && m.is_human())
    {
        return Err(invalid(
            "empty-group",
            format!("reviewer group `{g}` has no active person in it"),
        ));
    }
    for s in &spec.scope.systems {
        if ctx.org.system(s).is_none() {
            return Err(invalid(
                "unknown-system",
                format!("scope names system `{s}`, which is not in the catalogue"),
            ));
        }
    }
    for e in &spec.scope.entitlements {
        if ctx.org.entitlement(e).is_none() {
            return Err(invalid(
                "unknown-entitlement",
                format!("scope names entitlement `{e}`, which is not in the catalogue"),
            ));
        }
    }
    if spec.scope.departments.iter().any(|d| d.trim().is_empty()) {
        return Err(invalid(
            "invalid-scope",
            "a scope department cannot be empty",
        ));
    }
    Ok(())
}

pub(crate) fn launch(
    ctx: &Ctx<'_>,
    actor: &Actor,
    spec: &CampaignSpec,
    schedule: &Option<Occurrence>,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    if schedule.is_some() {
        if !is_scheduler(actor) {
            return Err(Refusal::forbidden(
                "scheduler-only",
                "only Writ's scheduler launches a schedule's occurrence",
            ));
        }
    } else {
        require_admin(ctx, actor)?;
    }
    validate_spec(ctx, spec)?;
    if let Some(o) = schedule
        && ctx.review.occurrence_launched
    {
        return Err(Refusal::conflict(
            "occurrence-launched",
            format!(
                "schedule `{}` already launched its occurrence of {}",
                o.schedule, o.at
            ),
        ));
    }
    Ok(launch_events(
        ctx.org,
        spec,
        schedule.clone(),
        ctx.review,
        ctx.now,
        ids,
    ))
}

/// The grant's next review date once certified.
fn next_review(ctx: &Ctx<'_>, grant: &Grant) -> Timestamp {
    grant.expires_at.min(ctx.now.plus(ctx.policy.review_period))
}

fn closing(c: &Campaign, decided: &[ReviewDecision]) -> Option<Event> {
    (c.open == decided.len() as u64).then(|| {
        let count = |d| decided.iter().filter(|x| **x == d).count() as u64;
        Event::CampaignClosed {
            campaign: c.id.clone(),
            certified: c.certified + count(ReviewDecision::Certify),
            revoked: c.revoked + count(ReviewDecision::Revoke),
            kept: c.kept + count(ReviewDecision::Keep),
        }
    })
}

pub(crate) fn decide_items(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
    items: &[u32],
    decision: ReviewDecision,
    reason: &Option<Reason>,
) -> Result<Vec<Event>, Refusal> {
    let who = writer(ctx, actor)?;
    let c = campaign_of(ctx.review, campaign)?;
    if c.is_closed() {
        return Err(Refusal::conflict(
            "campaign-closed",
            format!("campaign `{campaign}` is closed"),
        ));
    }
    if decision == ReviewDecision::Keep {
        return Err(invalid(
            "invalid-decision",
            "a reviewer certifies or revokes; only the deadline keeps access undecided",
        ));
    }
    if items.is_empty() || items.len() > MAX_BULK {
        return Err(invalid(
            "invalid-items",
            format!("name 1-{MAX_BULK} items to decide"),
        ));
    }
    if items.iter().collect::<BTreeSet<_>>().len() != items.len() {
        return Err(invalid("invalid-items", "an item is named twice"));
    }
    if decision == ReviewDecision::Revoke && reason.is_none() {
        return Err(invalid("reason-required", "a revocation needs a reason"));
    }
    let bulk = items.len() > 1;
    let mut events = Vec::with_capacity(items.len() * 2 + 1);
    let mut decided = Vec::with_capacity(items.len());
    for n in items {
        let it = ctx
            .review
            .items
            .iter()
            .find(|i| i.item.item == *n)
            .ok_or_else(|| {
                Refusal::not_found(
                    "unknown-item",
                    format!("campaign `{campaign}` has no item {n}"),
                )
            })?;
        if it.item.status != ItemStatus::Open {
            return Err(Refusal::conflict(
                "item-decided",
                format!(
                    "item {n} of campaign `{campaign}` is already {}",
                    it.item.status.as_str()
                ),
            ));
        }
        let basis = may_decide(ctx.org, &who.name, it)
            .map_err(|m| Refusal::forbidden("not-the-reviewer", m))?;
        let tier = ctx.org.entitlement(&it.grant.entitlement).map(|e| e.risk);
        if decision == ReviewDecision::Certify
            && reason.is_none()
            && matches!(tier, Some(RiskTier::High | RiskTier::Critical))
        {
            return Err(invalid(
                "reason-required",
                format!(
                    "item {n} is {} access: certifying it needs a reason",
                    tier.map(RiskTier::as_str).unwrap_or("high")
                ),
            ));
        }
        let live = it.grant.is_live();
        if decision == ReviewDecision::Certify && !live {
            return Err(Refusal::conflict(
                "grant-ended",
                format!(
                    "item {n}: grant `{}` is already {}; there is nothing to certify",
                    it.grant.id,
                    it.grant.status.as_str()
                ),
            ));
        }
        events.push(Event::ReviewDecided {
            campaign: campaign.clone(),
            item: *n,
            grant: it.grant.id.clone(),
            decision,
            reason: reason.clone(),
            bulk,
            defaulted: false,
            basis: basis.clone(),
            review_by: (decision == ReviewDecision::Certify).then(|| next_review(ctx, &it.grant)),
        });
        if decision == ReviewDecision::Revoke && live {
            events.push(Event::GrantRevoked {
                grant: it.grant.id.clone(),
                reason: reason.clone().unwrap_or_else(default_reason),
                basis: format!("review decision of `{}`: {basis}", who.name),
            });
        }
        decided.push(decision);
    }
    events.extend(closing(c, &decided));
    Ok(events)
}

fn default_reason() -> Reason {
    Reason::parse("revoked by access review").unwrap_or_else(|_| unreachable!("valid reason"))
}

pub(crate) fn run_deadlines(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
) -> Result<Vec<Event>, Refusal> {
    if !is_scheduler(actor) {
        return Err(Refusal::forbidden(
            "scheduler-only",
            "only Writ's scheduler applies a campaign's deadlines",
        ));
    }
    let c = campaign_of(ctx.review, campaign)?;
    if c.is_closed() {
        return Ok(vec![]);
    }
    let spec = &c.spec;
    let open: Vec<&ItemCtx> = ctx
        .review
        .items
        .iter()
        .filter(|i| i.item.status == ItemStatus::Open)
        .collect();
    let mut events = Vec::new();
    if ctx.now >= spec.final_at {
        let basis = format!(
            "deadline action `{}` of campaign {} (final deadline {} passed)",
            spec.on_deadline.as_str(),
            c.id,
            spec.final_at
        );
        let mut decided = Vec::with_capacity(open.len());
        for it in &open {
            let decision = match spec.on_deadline {
                DeadlineAction::Revoke => ReviewDecision::Revoke,
                DeadlineAction::Keep => ReviewDecision::Keep,
            };
            events.push(Event::ReviewDecided {
                campaign: c.id.clone(),
                item: it.item.item,
                grant: it.grant.id.clone(),
                decision,
                reason: None,
                bulk: false,
                defaulted: true,
                basis: basis.clone(),
                review_by: None,
            });
            if decision == ReviewDecision::Revoke && it.grant.is_live() {
                events.push(Event::GrantRevoked {
                    grant: it.grant.id.clone(),
                    reason: Reason::parse("access review not decided by its final deadline")
                        .unwrap_or_else(|_| default_reason()),
                    basis: basis.clone(),
                });
            }
            decided.push(decision);
        }
        if spec.on_deadline == DeadlineAction::Keep && !open.is_empty() {
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: Assignee::Identity(spec.fallback.clone()),
                notice: "kept-at-deadline".into(),
                items: open.len() as u64,
            });
        }
        let mut closed = c.clone();
        closed.open = open.len() as u64;
        events.extend(closing(&closed, &decided));
        return Ok(events);
    }
    if ctx.now >= spec.due_at {
        if !c.escalated {
            let fallback = Assignee::Identity(spec.fallback.clone());
            let moving: Vec<u32> = open
                .iter()
                .filter(|i| {
                    i.item.reviewer != fallback
                        && independent(ctx.org, &fallback, &i.parties).is_ok()
                })
                .map(|i| i.item.item)
                .collect();
            let n = moving.len() as u64;
            if !moving.is_empty() {
                events.push(Event::ReviewItemsReassigned {
                    campaign: c.id.clone(),
                    items: moving,
                    to: fallback.clone(),
                    why: format!("overdue: not decided by {}", spec.due_at),
                    reopen: false,
                });
            }
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: fallback,
                notice: "escalation".into(),
                items: n,
            });
        }
        return Ok(events);
    }
    let remind = spec
        .remind_before
        .is_some_and(|d| ctx.now.plus(d) >= spec.due_at);
    if remind && !c.reminded {
        let mut per: BTreeMap<&Assignee, u64> = BTreeMap::new();
        for it in &open {
            if it.item.reviewer != Assignee::Nobody {
                *per.entry(&it.item.reviewer).or_default() += 1;
            }
        }
        for (to, items) in per {
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: to.clone(),
                notice: "reminder".into(),
                items,
            });
        }
        if events.is_empty() {
            events.push(Event::ReviewNotified {
                campaign: c.id.clone(),
                to: Assignee::Nobody,
                notice: "reminder".into(),
                items: 0,
            });
        }
    }
    Ok(events)
}

pub(crate) fn flag_reviewers(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
    rules: &RubberStampRules,
) -> Result<Vec<Event>, Refusal> {
    if !is_scheduler(actor) {
        require_owner(ctx, actor, campaign_of(ctx.review, campaign)?)?;
    }
    campaign_of(ctx.review, campaign)?;
    Ok(rubber_stamps(ctx.review, rules))
}

/// The campaign's owner, or an admin.
fn require_owner(ctx: &Ctx<'_>, actor: &Actor, c: &Campaign) -> Result<(), Refusal> {
    if c.owner == actor.to_string() {
        writer(ctx, actor)?;
        return Ok(());
    }
    require_admin(ctx, actor).map_err(|_| {
        Refusal::forbidden(
            "not-campaign-owner",
            format!(
                "only the campaign's owner (`{}`) or an admin may do this",
                c.owner
            ),
        )
    })
}

pub(crate) fn require_rereview(
    ctx: &Ctx<'_>,
    actor: &Actor,
    campaign: &CampaignId,
    reviewer: &Name,
) -> Result<Vec<Event>, Refusal> {
    let c = campaign_of(ctx.review, campaign)?;
    require_owner(ctx, actor, c)?;
    if ctx.now >= c.spec.final_at {
        return Err(Refusal::conflict(
            "campaign-past-final",
            format!(
                "campaign `{campaign}` passed its final deadline ({}); review these grants in a new campaign",
                c.spec.final_at
            ),
        ));
    }
    if !ctx.review.flagged.contains(reviewer) {
        return Err(Refusal::conflict(
            "not-flagged",
            format!("`{reviewer}` is not flagged in campaign `{campaign}`"),
        ));
    }
    let fallback = Assignee::Identity(c.spec.fallback.clone());
    let (mut to_fallback, mut to_nobody) = (Vec::new(), Vec::new());
    for it in &ctx.review.items {
        let certified_by_them = it.item.status == ItemStatus::Certified
            && it.item.decided_by.as_deref() == Some(reviewer.as_str());
        if !certified_by_them || !it.grant.is_live() {
            continue;
        }
        if independent(ctx.org, &fallback, &it.parties).is_ok() && &c.spec.fallback != reviewer {
            to_fallback.push(it.item.item);
        } else {
            to_nobody.push(it.item.item);
        }
    }
    if to_fallback.is_empty() && to_nobody.is_empty() {
        return Err(Refusal::conflict(
            "nothing-to-rereview",
            format!("`{reviewer}` certified no live grant in campaign `{campaign}`"),
        ));
    }
    let why = format!("re-review: `{reviewer}` was flagged as a rubber-stamper");
    let mut events = Vec::new();
    for (items, to) in [(to_fallback, fallback), (to_nobody, Assignee::Nobody)] {
        if !items.is_empty() {
            events.push(Event::ReviewItemsReassigned {
                campaign: c.id.clone(),
                items,
                to,
                why: why.clone(),
                reopen: true,
            });
        }
    }
    Ok(events)
}

/// Whether upserting `new` opens a micro-review: the policy asks for them and an
/// active person's manager or department changes. The store loads the person's grants
/// only then.
pub fn micro_review_applies(org: &Org, policy: &crate::ApprovalPolicy, new: &Identity) -> bool {
    let Some(old) = org.identity(&new.name) else {
        return false;
    };
    let dept = |i: &Identity| match &i.kind {
        IdentityKind::Human(h) => h.department.clone(),
        IdentityKind::Nhi(_) => None,
    };
    policy.micro_review.is_some()
        && new.is_human()
        && new.is_active()
        && (old.manager() != new.manager() || dept(old) != dept(new))
}

/// A manager or department change opens a micro-review of the identity's live grants
/// for the new manager, when the policy asks for it.
pub(crate) fn micro_review(ctx: &Ctx<'_>, new: &Identity, ids: &mut dyn IdGen) -> Vec<Event> {
    let Some(policy) = &ctx.policy.micro_review else {
        return vec![];
    };
    if !micro_review_applies(ctx.org, ctx.policy, new) || ctx.review.population.is_empty() {
        return vec![];
    }
    let mut org = ctx.org.clone();
    org.apply(&Event::IdentityUpserted {
        identity: new.clone(),
    });
    let due_at = ctx.now.plus(policy.due_in);
    let spec = CampaignSpec {
        name: format!("micro-review: {} changed manager or department", new.name),
        scope: Scope {
            beneficiary: Some(new.name.clone()),
            ..Scope::default()
        },
        reviewers: ReviewerStrategy::Manager,
        fallback: policy.fallback.clone(),
        due_at,
        final_at: due_at.plus(policy.grace),
        remind_before: None,
        on_deadline: policy.on_deadline,
    };
    launch_events(&org, &spec, None, ctx.review, ctx.now, ids)
}

/// Micro-review settings of the approval policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MicroReviewPolicy {
    /// Reviews what the new manager cannot (or when there is none).
    pub fallback: Name,
    pub due_in: DurationSpec,
    /// After the due date, how long until the deadline action applies.
    pub grace: DurationSpec,
    pub on_deadline: DeadlineAction,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> Campaign {
        Campaign {
            id: CampaignId::parse("cmp_1").unwrap_or_else(|e| panic!("{e}")),
            spec: CampaignSpec {
                name: "t".into(),
                scope: Scope::default(),
                reviewers: ReviewerStrategy::Manager,
                fallback: name("sam"),
                due_at: Timestamp(10),
                final_at: Timestamp(20),
                remind_before: None,
                on_deadline: DeadlineAction::Keep,
            },
            owner: "ada".into(),
            launched_at: Timestamp(0),
            schedule: None,
            population: 0,
            live_grants: 0,
            digest: String::new(),
            open: 0,
            certified: 0,
            revoked: 0,
            kept: 0,
            reminded: false,
            escalated: false,
            closed_at: None,
        }
    }

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `n` decisions by `who`, `gap_ms` apart; the last `revokes` of them revoke.
    fn decisions(who: &str, n: usize, gap_ms: i64, revokes: usize) -> Vec<DecisionStat> {
        (0..n)
            .map(|i| DecisionStat {
                reviewer: name(who),
                at: Timestamp(i as i64 * gap_ms),
                decision: if i + revokes >= n {
                    ReviewDecision::Revoke
                } else {
                    ReviewDecision::Certify
                },
            })
            .collect()
    }

    fn flagged(ds: Vec<DecisionStat>, already: &[&str]) -> Vec<String> {
        let ctx = ReviewCtx {
            campaign: Some(campaign()),
            decisions: ds,
            flagged: already.iter().map(|a| name(a)).collect(),
            ..ReviewCtx::default()
        };
        rubber_stamps(&ctx, &RubberStampRules::default())
            .into_iter()
            .map(|e| match e {
                Event::ReviewerFlagged { reviewer, rule, .. } => format!("{reviewer}: {rule}"),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn fast_certifiers_are_flagged_past_the_count_and_under_the_median() {
        // 51 certifications a second apart, 10 revocations among them so the
        // always-certify rule stays out of it.
        let f = flagged(decisions("bob", 61, 1_000, 10), &[]);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].starts_with("bob: certified 51 items at a median of 1000 ms"),
            "{f:?}"
        );
        // Exactly 50 is not more than 50; 6 s apart is not fast.
        assert!(flagged(decisions("bob", 60, 1_000, 10), &[]).is_empty());
        assert!(flagged(decisions("bob", 61, 6_000, 10), &[]).is_empty());
        // Flagged once per campaign.
        assert!(flagged(decisions("bob", 61, 1_000, 10), &["bob"]).is_empty());
    }

    #[test]
    fn reviewers_who_never_revoke_are_flagged_from_the_minimum_count() {
        let f = flagged(decisions("carol", 20, 60_000, 0), &[]);
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("certified all 20 items"), "{f:?}");
        assert!(flagged(decisions("carol", 19, 60_000, 0), &[]).is_empty());
        assert!(flagged(decisions("carol", 20, 60_000, 1), &[]).is_empty());
        // Each reviewer on their own decisions.
        let mut both = decisions("carol", 20, 60_000, 0);
        both.extend(decisions("dan", 20, 60_000, 5));
        assert_eq!(flagged(both, &[]).len(), 1);
    }

    #[test]
    fn the_median_gap_ignores_order_and_needs_two_decisions() {
        assert_eq!(median_gap(&mut [Timestamp(5)]), None);
        let mut t = [Timestamp(100), Timestamp(0), Timestamp(10), Timestamp(30)];
        assert_eq!(median_gap(&mut t), Some(20));
    }

    #[test]
    fn strategies_and_assignees_round_trip_as_text() {
        for s in [
            "manager",
            "nhi_owner",
            "entitlement_owner",
            "system_owner",
            "group:sec",
        ] {
            assert_eq!(
                ReviewerStrategy::parse(s).map(|x| x.to_string()).as_deref(),
                Ok(s)
            );
        }
        assert!(ReviewerStrategy::parse("ceo").is_err());
        assert!(ReviewerStrategy::parse("group:").is_err());
        for a in ["sam", "group:security", "-"] {
            let parsed = Assignee::try_from(a.to_owned()).map(String::from);
            assert_eq!(parsed.as_deref(), Ok(a));
        }
        assert!(DeadlineAction::parse("maybe").is_err());
    }
}
