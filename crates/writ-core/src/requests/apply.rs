//! How the request events change a request.

use crate::breakglass::IncidentReview;
use crate::event::{Event, Recorded};
use crate::values::Reason;

use super::model::{Request, RequestStatus, Step, StepDecision, Submission, TIMED_OUT};

impl Request {
    /// The request as it stands right after `RequestSubmitted`.
    pub fn submitted(submission: Submission, digest: String) -> Request {
        let steps = submission
            .steps
            .iter()
            .enumerate()
            .map(|(i, role)| Step {
                index: i as u32 + 1,
                role: role.clone(),
                decision: None,
                escalated: false,
                reminded: false,
            })
            .collect();
        Request {
            submission,
            digest,
            steps,
            status: RequestStatus::Pending,
            closed_at: None,
            grant: None,
            cancel_reason: None,
            incident_review: None,
        }
    }

    /// Applies one of this request's events. Events of other aggregates are ignored.
    pub fn apply(&mut self, recorded: &Recorded) {
        match &recorded.event {
            Event::StepDecided {
                request,
                step,
                approver,
                decision,
                comment,
                basis,
                policy_version,
                authority,
                ..
            } if request == self.id() => {
                if let Some(s) = self.steps.iter_mut().find(|s| s.index == *step) {
                    s.decision = Some(StepDecision {
                        approver: approver.clone(),
                        decision: *decision,
                        comment: comment.clone(),
                        basis: basis.clone(),
                        policy_version: policy_version.clone(),
                        decided_at: recorded.at,
                        authority: authority.clone(),
                    });
                }
            }
            Event::RequestApproved { request, grant } if request == self.id() => {
                self.status = RequestStatus::Approved;
                self.closed_at = Some(recorded.at);
                self.grant = Some(grant.clone());
            }
            Event::RequestDenied { request, .. } if request == self.id() => {
                self.status = RequestStatus::Denied;
                self.closed_at = Some(recorded.at);
            }
            Event::StepEscalated { request, step, .. } if request == self.id() => {
                if let Some(s) = self.steps.iter_mut().find(|s| s.index == *step) {
                    s.escalated = true;
                }
            }
            Event::ApprovalReminded { request, step, .. } if request == self.id() => {
                if let Some(s) = self.steps.iter_mut().find(|s| s.index == *step) {
                    s.reminded = true;
                }
            }
            Event::BreakGlassUsed {
                request,
                review_due,
                ..
            } if request == self.id() => {
                self.incident_review = Some(IncidentReview {
                    opened_at: recorded.at,
                    due: *review_due,
                    escalated_at: None,
                    finding: None,
                    closed_by: None,
                    closed_at: None,
                    notes: None,
                });
            }
            Event::IncidentReviewEscalated { request, .. } if request == self.id() => {
                if let Some(r) = &mut self.incident_review {
                    r.escalated_at = Some(recorded.at);
                }
            }
            Event::IncidentReviewClosed {
                request,
                finding,
                notes,
            } if request == self.id() => {
                if let Some(r) = &mut self.incident_review {
                    r.finding = Some(*finding);
                    r.closed_at = Some(recorded.at);
                    r.closed_by = recorded.actor.identity().cloned();
                    r.notes = Some(notes.clone());
                }
            }
            Event::RequestTimedOut { request, .. } if request == self.id() => {
                self.status = RequestStatus::Denied;
                self.closed_at = Some(recorded.at);
                self.cancel_reason = Reason::parse(TIMED_OUT).ok();
            }
            Event::RequestCancelled { request, reason } if request == self.id() => {
                self.status = RequestStatus::Cancelled;
                self.closed_at = Some(recorded.at);
                self.cancel_reason = reason.clone();
            }
            _ => {}
        }
    }
}
