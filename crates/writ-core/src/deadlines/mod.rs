//! Escalation and timeouts of pending requests, driven by the scheduler with the
//! injected clock (`[approval.deadlines]`):
//!
//! - `remind_before` the escalation deadline, the people who may decide each open
//!   step are reminded (an `approval_reminded` notification record);
//! - at `escalate_after` an open step escalates (`step_escalated`): the policies see
//!   `context.escalated` and may let fallback approvers decide it, who are notified;
//! - at `time_out_after` a request still pending is denied, "timed out"
//!   (`request_timed_out`), and its requester is notified.

mod run;

pub(crate) use run::decide_run;
