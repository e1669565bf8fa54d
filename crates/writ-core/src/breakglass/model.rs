//! What break-glass access leaves to review: the post-incident review and its finding.

use serde::{Deserialize, Serialize};

use crate::values::{Name, Reason, Timestamp};

/// What a post-incident review of break-glass access found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    Legitimate,
    Misuse,
    Drill,
}

impl Finding {
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "legitimate" => Ok(Finding::Legitimate),
            "misuse" => Ok(Finding::Misuse),
            "drill" => Ok(Finding::Drill),
            other => Err(format!(
                "`{other}` is not a finding: use legitimate, misuse or drill"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Legitimate => "legitimate",
            Finding::Misuse => "misuse",
            Finding::Drill => "drill",
        }
    }
}

/// The post-incident review every break-glass access opens for security.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentReview {
    pub opened_at: Timestamp,
    pub due: Timestamp,
    pub escalated_at: Option<Timestamp>,
    pub finding: Option<Finding>,
    pub closed_by: Option<Name>,
    pub closed_at: Option<Timestamp>,
    pub notes: Option<Reason>,
}
