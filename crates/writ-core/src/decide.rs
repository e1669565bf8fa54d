//! `decide`: a command, judged against the current state, becomes events or a refusal.
//!
//! This is only the dispatch: each command goes to the one function of its capability
//! that holds its rules. No rule is written here.

use crate::command::Command;
use crate::ctx::Ctx;
use crate::event::Event;
use crate::values::{Actor, IdGen, Refusal};
use crate::{
    breakglass, deadlines, delegation, grants, organisation, policy, requests, reviews, tokens,
};

pub fn decide(
    ctx: &Ctx<'_>,
    actor: &Actor,
    command: &Command,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    match command {
        Command::ActivatePolicy { policy } => policy::decide_activate(ctx, actor, policy),
        Command::UpsertIdentity { identity } => {
            organisation::decide_upsert_identity(ctx, actor, identity, ids)
        }
        Command::UpsertSystem { system } => organisation::decide_upsert_system(ctx, actor, system),
        Command::UpsertEntitlement { entitlement } => {
            organisation::decide_upsert_entitlement(ctx, actor, entitlement)
        }
        Command::IssueToken {
            identity,
            label,
            hash,
            expires_at,
        } => tokens::decide_issue(ctx, actor, identity, label, hash, expires_at, ids),
        Command::RevokeToken { token } => tokens::decide_revoke(ctx, actor, token),
        Command::Submit {
            beneficiary,
            entitlement,
            justification,
            ticket,
            duration,
            kind,
            constraints,
            sod_exception,
        } => {
            let ask = requests::Ask {
                beneficiary,
                entitlement,
                justification,
                ticket,
                duration,
                kind,
                constraints,
                sod_exception,
            };
            requests::decide_submit(ctx, actor, ask, ids)
        }
        Command::Decide {
            request,
            step,
            decision,
            comment,
        } => requests::decide_step(ctx, actor, request, *step, *decision, comment.clone(), ids),
        Command::Cancel { request, reason } => requests::decide_cancel(ctx, actor, request, reason),
        Command::RevokeGrant { grant, reason } => grants::decide_revoke(ctx, actor, grant, reason),
        Command::ExpireGrant { grant } => grants::decide_expire(ctx, actor, grant),
        Command::ConfirmProvisioning {
            grant,
            action,
            receipt,
        } => grants::decide_confirm(ctx, actor, grant, *action, receipt),
        Command::FailProvisioning {
            grant,
            action,
            attempts,
            error,
        } => grants::decide_fail(ctx, actor, grant, *action, *attempts, error),
        Command::RetryProvisioning { grant, action } => {
            grants::decide_retry(ctx, actor, grant, *action)
        }
        Command::ResolveProvisioning {
            grant,
            action,
            reason,
        } => grants::decide_resolve(ctx, actor, grant, *action, reason),
        Command::RecheckAuthority { grant, request } => {
            grants::decide_recheck(ctx, actor, grant, request)
        }
        Command::IssueCredential {
            grant,
            fingerprint,
            expires_at,
            rotate_by,
        } => {
            grants::decide_issue_credential(ctx, actor, grant, fingerprint, *expires_at, *rotate_by)
        }
        Command::RevokeCredential { grant, fingerprint } => {
            grants::decide_revoke_credential(ctx, actor, grant, fingerprint)
        }
        Command::NoteRotationDue { grant, fingerprint } => {
            grants::decide_note_rotation_due(ctx, actor, grant, fingerprint)
        }
        Command::RecordDrift {
            drift,
            found,
            action,
        } => grants::decide_record_drift(ctx, actor, drift, *found, action),
        Command::RunRequestDeadlines { request } => deadlines::decide_run(ctx, actor, request),
        Command::CloseIncidentReview {
            request,
            finding,
            notes,
        } => breakglass::decide_close(ctx, actor, request, *finding, notes),
        Command::EscalateIncidentReview { request } => {
            breakglass::decide_escalate(ctx, actor, request)
        }
        Command::Delegate { spec } => delegation::decide_delegate(ctx, actor, spec, ids),
        Command::RevokeDelegation { delegation, reason } => {
            delegation::decide_revoke(ctx, actor, delegation, reason)
        }
        Command::LaunchCampaign { spec, schedule } => {
            reviews::decide_launch(ctx, actor, spec, schedule, ids)
        }
        Command::DecideReview {
            campaign,
            items,
            decision,
            reason,
        } => reviews::decide_items(ctx, actor, campaign, items, *decision, reason),
        Command::RunReviewDeadlines { campaign } => reviews::decide_deadlines(ctx, actor, campaign),
        Command::FlagReviewers { campaign, rules } => {
            reviews::decide_flag_reviewers(ctx, actor, campaign, rules)
        }
        Command::RequireReReview { campaign, reviewer } => {
            reviews::decide_rereview(ctx, actor, campaign, reviewer)
        }
    }
}
