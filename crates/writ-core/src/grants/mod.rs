//! Grants and provisioning: access that exists because a request was approved, always
//! with an end; the provisioning worker's reports, admins' retries, authority judged
//! again before provisioning, NHI credentials, and reconciliation's findings.

mod apply;
mod credentials;
mod drift;
mod end;
mod model;
mod provisioning;
mod recheck;

pub use model::{Drift, DriftKind, Grant, GrantStatus, JobAction, LostAuthority, Receipt};

pub(crate) use credentials::{
    decide_issue_credential, decide_note_rotation_due, decide_revoke_credential,
};
pub(crate) use drift::decide_record_drift;
pub(crate) use end::{decide_expire, decide_revoke};
pub(crate) use provisioning::{decide_confirm, decide_fail, decide_resolve, decide_retry};
pub(crate) use recheck::decide_recheck;
