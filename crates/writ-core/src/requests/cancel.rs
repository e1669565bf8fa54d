//! Cancelling a request: only its requester, only while it is pending.

use crate::ctx::{Ctx, writer};
use crate::event::Event;
use crate::values::{Actor, Reason, Refusal, RequestId};

use super::model::{Request, RequestStatus};

pub(crate) fn decide_cancel(
    ctx: &Ctx<'_>,
    actor: &Actor,
    request: &RequestId,
    reason: &Option<Reason>,
) -> Result<Vec<Event>, Refusal> {
    let r = ctx
        .request
        .ok_or_else(|| Refusal::not_found("unknown-request", format!("no request `{request}`")))?;
    let who = writer(ctx, actor)?;
    if who.name != r.submission.requester {
        return Err(Refusal::forbidden(
            "not-requester",
            format!(
                "only the requester `{}` may cancel `{request}`",
                r.submission.requester
            ),
        ));
    }
    not_closed(r)?;
    Ok(vec![Event::RequestCancelled {
        request: request.clone(),
        reason: reason.clone(),
    }])
}

pub(super) fn not_closed(r: &Request) -> Result<(), Refusal> {
    if r.status != RequestStatus::Pending {
        return Err(Refusal::conflict(
            "not-pending",
            format!(
                "request `{}` is {}; it is no longer pending",
                r.id(),
                r.status.as_str()
            ),
        ));
    }
    Ok(())
}
