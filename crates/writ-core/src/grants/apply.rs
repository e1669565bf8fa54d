//! How the grant events change a grant.

use crate::event::{Event, Recorded};

use super::model::{DriftKind, Grant, GrantStatus, JobAction};

impl Grant {
    /// The grant as it stands right after `GrantCreated`, or `None` for other events.
    pub fn created(recorded: &Recorded) -> Option<Grant> {
        match &recorded.event {
            Event::GrantCreated {
                grant,
                request,
                beneficiary,
                entitlement,
                expires_at,
                review_by,
                renews,
                provision,
                emergency_since,
            } => Some(Grant {
                id: grant.clone(),
                request: request.clone(),
                beneficiary: beneficiary.clone(),
                entitlement: entitlement.clone(),
                granted_at: recorded.at,
                expires_at: *expires_at,
                review_by: *review_by,
                renews: renews.clone(),
                status: if *provision {
                    GrantStatus::Pending
                } else {
                    GrantStatus::Active
                },
                ended_at: None,
                ended_by: None,
                end_reason: None,
                successor: None,
                provision: *provision,
                provisioned_at: None,
                deprovisioned_at: None,
                failed: None,
                credential: None,
                held: None,
                emergency_since: *emergency_since,
            }),
            _ => None,
        }
    }

    pub fn apply(&mut self, recorded: &Recorded) {
        let (status, reason, successor) = match &recorded.event {
            Event::GrantExpired { grant } if grant == &self.id => {
                let status = if self.provision {
                    GrantStatus::Expiring
                } else {
                    GrantStatus::Expired
                };
                (status, Some("expired".to_owned()), None)
            }
            Event::GrantRevoked { grant, reason, .. } if grant == &self.id => {
                let status = if self.provision {
                    GrantStatus::Revoking
                } else {
                    GrantStatus::Revoked
                };
                (status, Some(reason.to_string()), None)
            }
            Event::GrantRenewed { grant, successor } if grant == &self.id => (
                GrantStatus::Renewed,
                Some(format!("renewed by {successor}")),
                Some(successor.clone()),
            ),
            Event::GrantProvisioned { grant, .. } if grant == &self.id => {
                self.provisioned_at = Some(recorded.at);
                self.failed = None;
                if self.status == GrantStatus::Pending {
                    self.status = GrantStatus::Active;
                }
                return;
            }
            Event::CredentialIssued {
                grant, fingerprint, ..
            } if grant == &self.id => {
                self.credential = Some(fingerprint.clone());
                return;
            }
            Event::CredentialRevoked { grant, .. } if grant == &self.id => {
                self.credential = None;
                return;
            }
            Event::GrantDeprovisioned { grant, .. } | Event::ProvisioningResolved { grant, .. }
                if grant == &self.id =>
            {
                self.deprovisioned_at = Some(recorded.at);
                self.failed = None;
                self.status = match self.status {
                    GrantStatus::Revoking => GrantStatus::Revoked,
                    GrantStatus::Expiring => GrantStatus::Expired,
                    other => other,
                };
                return;
            }
            Event::ProvisioningFailed { grant, action, .. } if grant == &self.id => {
                self.failed = Some(*action);
                return;
            }
            Event::ProvisioningRetried { grant, .. } if grant == &self.id => {
                self.failed = None;
                self.held = None;
                return;
            }
            Event::AuthorityRechecked { grant, lost, .. } if grant == &self.id => {
                if !lost.is_empty() {
                    let words: Vec<String> = lost
                        .iter()
                        .map(|l| format!("step {} approver `{}` {}", l.step, l.approver, l.why))
                        .collect();
                    self.held = Some(words.join("; "));
                }
                return;
            }
            Event::ReviewDecided {
                grant,
                review_by: Some(next),
                ..
            } if grant == &self.id => {
                self.review_by = *next;
                return;
            }
            // The target lost the access: provision it again.
            Event::DriftFound { drift, .. }
                if drift.kind == DriftKind::Missing && drift.grant.as_ref() == Some(&self.id) =>
            {
                if self.status == GrantStatus::Active && self.provision {
                    self.status = GrantStatus::Pending;
                    self.provisioned_at = None;
                }
                return;
            }
            _ => return,
        };
        // An addition that never happened is superseded by the end of the grant: its
        // failure and its hold no longer apply, and only the removal (which runs
        // whether or not the addition reached the target) remains.
        if self.provisioned_at.is_none() {
            if self.failed == Some(JobAction::Provision) {
                self.failed = None;
            }
            self.held = None;
        }
        self.status = status;
        self.ended_at = Some(recorded.at);
        self.ended_by = Some(recorded.actor.to_string());
        self.end_reason = reason;
        self.successor = successor;
    }
}
