//! The review types: campaigns, their scope and items, and what the store loads for
//! a review command.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::grants::Grant;
use crate::organisation::Org;
use crate::values::{
    Actor, CampaignId, DurationSpec, EntitlementRef, GrantId, Name, Refusal, RequestId, RiskTier,
    Timestamp,
};

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
                        crate::values::truncate(other, 60)
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
                crate::values::truncate(other, 40)
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
                crate::values::IdentityKind::Human(h) => h.department.as_ref(),
                crate::values::IdentityKind::Nhi(_) => None,
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
/// A live grant with what independence needs: who asked for it and who approved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReviewSubject {
    pub grant: GrantId,
    pub request: RequestId,
    pub beneficiary: Name,
    pub entitlement: EntitlementRef,
    pub review_by: Timestamp,
    pub requester: Name,
    /// Everyone who decided it: each approver and, for a delegate's decision, the
    /// delegator whose authority was used.
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

/// Who acts: a person, or the campaign's own policy (the scheduler).
pub fn is_scheduler(actor: &Actor) -> bool {
    matches!(actor, Actor::System(_))
}

/// Most items one decision may name (bulk decisions).
pub const MAX_BULK: usize = 1_000;

/// The campaign a review command is about, as the store loaded it.
pub(crate) fn campaign_of<'a>(r: &'a ReviewCtx, id: &CampaignId) -> Result<&'a Campaign, Refusal> {
    r.campaign
        .as_ref()
        .ok_or_else(|| Refusal::not_found("unknown-campaign", format!("no campaign `{id}`")))
}
