//! The approval policy on the wire: what is in force and why people may decide.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_core::authority::PolicyInfo;
use writ_core::{StepEligibility, Timestamp};

use super::{EligibleView, ExcludedView, RequestView, ts};

/// One Cedar policy of the set in force.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyInfoView {
    /// The policy's `@id`, or `<file>:<n>`.
    pub id: String,
    pub file: String,
    /// `permit` or `forbid`.
    pub effect: String,
    /// Its `@reason` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<&PolicyInfo> for PolicyInfoView {
    fn from(p: &PolicyInfo) -> Self {
        PolicyInfoView {
            id: p.id.clone(),
            file: p.file.clone(),
            effect: p.effect.clone(),
            reason: p.reason.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// SHA-256 of the canonical policy, recorded with every request and decision.
    pub version: String,
    /// The Cedar directory the server loads (absent: the shipped set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    pub policies: Vec<PolicyInfoView>,
    /// The whole policy: steps per tier, per-system overrides, the Cedar text.
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PolicyReloaded {
    /// False when the directory held the policy already in force.
    pub changed: bool,
    pub previous: String,
    pub version: String,
    pub policies: Vec<PolicyInfoView>,
}

/// One step of a request, explained.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExplainStep {
    pub index: u32,
    pub role: String,
    /// `open`, `approved` or `denied`.
    pub state: String,
    /// For a decided step: who decided, under which policies and facts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decided_under: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decided_facts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_policy_version: Option<String>,
    /// Who the policy in force lets decide this step now, and why.
    pub eligible_now: Vec<EligibleView>,
    /// Who a policy permits but a rule no policy can change excludes.
    pub excluded_now: Vec<ExcludedView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExplainView {
    pub request: String,
    pub status: String,
    /// The policy the request was submitted under.
    pub submitted_under: String,
    /// The policy in force now, which `eligible_now` is worked out with.
    pub policy_version: String,
    pub at: String,
    pub steps: Vec<ExplainStep>,
}

impl ExplainView {
    pub fn new(
        view: RequestView,
        now_steps: &[StepEligibility],
        version: &str,
        at: Timestamp,
    ) -> ExplainView {
        let steps = view
            .steps
            .into_iter()
            .map(|s| {
                let e = now_steps.iter().find(|e| e.index == s.index);
                ExplainStep {
                    index: s.index,
                    role: s.role,
                    state: s.state,
                    approver: s.approver,
                    decided_under: s.policies,
                    decided_facts: s.facts,
                    decided_policy_version: s.policy_version,
                    eligible_now: e
                        .map(|e| e.eligible.iter().map(EligibleView::from).collect())
                        .unwrap_or_default(),
                    excluded_now: e
                        .map(|e| e.excluded.iter().map(ExcludedView::from).collect())
                        .unwrap_or_default(),
                    note: e.and_then(|e| e.note.clone()),
                }
            })
            .collect();
        ExplainView {
            request: view.id,
            status: view.status,
            submitted_under: view.policy_version,
            policy_version: version.to_owned(),
            at: ts(at),
            steps,
        }
    }
}
