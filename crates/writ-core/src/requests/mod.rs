//! Requests and their steps: what is asked (frozen at submission), who may decide each
//! step and why (the same function lists, judges and re-judges them), decisions,
//! cancellation, separation of duties, automated fulfilment, and the grant the final
//! approval creates.

mod apply;
mod approval;
mod cancel;
mod eligibility;
mod model;
mod sod;
mod step;
mod submit;

pub use eligibility::{
    Candidate, Excluded, Standing, StepEligibility, eligibility, standing, step_eligibility,
};
pub use model::{
    Decision, Request, RequestKind, RequestStatus, SodException, Step, StepAuthority, StepDecision,
    StepRole, Submission, TIMED_OUT,
};

pub(crate) use approval::pre_approval;
pub(crate) use cancel::decide_cancel;
pub(crate) use step::decide_step;
pub(crate) use submit::{Ask, decide_submit};
