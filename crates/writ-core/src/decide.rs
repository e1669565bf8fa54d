//! `decide`: a command, judged against the current state, becomes events or a refusal.

use std::collections::BTreeSet;

use crate::authority::{Action, Authority, Scene, Verdict};
use crate::catalog::EntitlementKind;
use crate::command::{Actor, Command};
use crate::eligibility::{Rules, Standing, StepEligibility, standing, step_eligibility};
use crate::event::{Event, LostAuthority};
use crate::grant::{Grant, GrantStatus, JobAction, Receipt};
use crate::identity::{Identity, IdentityKind, Role};
use crate::ids::{GrantId, IdGen, RequestId, TokenId};
use crate::names::Name;
use crate::names::{EntitlementRef, Justification};
use crate::org::Org;
use crate::policy::ApprovalPolicy;
use crate::policy::StepRole;
use crate::refusal::Refusal;
use crate::request::{
    Decision, Request, RequestKind, RequestStatus, SodException, StepAuthority, Submission,
};
use crate::review::{self, ReviewCtx};
use crate::time::DurationSpec;
use crate::time::Timestamp;
use crate::token::Token;

/// The open request and active grant, if any, for the pair a new request is about.
#[derive(Clone, Copy, Debug, Default)]
pub struct PairState<'a> {
    pub open_request: Option<&'a RequestId>,
    pub active_grant: Option<&'a Grant>,
}

/// An entitlement a beneficiary holds or has asked for: what separation of duties
/// counts. The store loads these only when a toxic rule names the entitlement asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holding {
    pub entitlement: EntitlementRef,
    /// `grant g_…` or `request req_…`.
    pub held_as: String,
}

/// Everything `decide` may look at. The store fills it; `decide` reads nothing else.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub org: &'a Org,
    pub policy: &'a ApprovalPolicy,
    /// `policy.version()`, computed once by the caller.
    pub policy_version: &'a str,
    /// The policy's Cedar set, compiled once by the caller.
    pub authority: &'a Authority,
    /// The version of the last `PolicyActivated` event, if any.
    pub active_policy_version: Option<&'a str>,
    pub now: Timestamp,
    pub request: Option<&'a Request>,
    pub grant: Option<&'a Grant>,
    pub token: Option<&'a Token>,
    pub pair: PairState<'a>,
    /// Systems whose grants a connector provisions (configured at start-up): their
    /// grants are pending until the target confirms.
    pub provisioned_systems: &'a BTreeSet<Name>,
    /// What a review command needs (empty for every other command).
    pub review: &'a ReviewCtx,
    /// The beneficiary's live grants and pending requests, for separation of duties
    /// (empty unless a submission's entitlement is in a toxic rule).
    pub holdings: &'a [Holding],
}

impl<'a> Ctx<'a> {
    pub fn rules(&self) -> Rules<'a> {
        Rules {
            policy: self.policy,
            authority: self.authority,
        }
    }
}

/// The shortest access Writ grants, in seconds: shorter requests are typos.
const MIN_DURATION_SECONDS: u64 = 60;

pub fn decide(
    ctx: &Ctx<'_>,
    actor: &Actor,
    command: &Command,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    match command {
        Command::ActivatePolicy { policy } => activate_policy(ctx, actor, policy),
        Command::UpsertIdentity { identity } => upsert_identity(ctx, actor, identity, ids),
        Command::LaunchCampaign { spec, schedule } => {
            review::launch(ctx, actor, spec, schedule, ids)
        }
        Command::DecideReview {
            campaign,
            items,
            decision,
            reason,
        } => review::decide_items(ctx, actor, campaign, items, *decision, reason),
        Command::RunReviewDeadlines { campaign } => review::run_deadlines(ctx, actor, campaign),
        Command::FlagReviewers { campaign, rules } => {
            review::flag_reviewers(ctx, actor, campaign, rules)
        }
        Command::RequireReReview { campaign, reviewer } => {
            review::require_rereview(ctx, actor, campaign, reviewer)
        }
        Command::UpsertSystem { system } => {
            require_admin(ctx, actor)?;
            let owner = ctx.org.identity(&system.owner).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-identity",
                    format!("owner `{}` is not an identity", system.owner),
                )
            })?;
            if !owner.is_human() {
                return Err(Refusal::invalid(
                    "owner-not-human",
                    format!(
                        "owner `{}` of system `{}` must be a person",
                        owner.name, system.name
                    ),
                ));
            }
            if system.display_name.trim().is_empty() || system.display_name.chars().count() > 200 {
                return Err(Refusal::invalid(
                    "invalid-system",
                    format!(
                        "display name of system `{}` must be 1-200 characters",
                        system.name
                    ),
                ));
            }
            if ctx.org.system(&system.name) == Some(system) {
                return Ok(vec![]);
            }
            Ok(vec![Event::SystemUpserted {
                system: system.clone(),
            }])
        }
        Command::UpsertEntitlement { entitlement } => {
            require_admin(ctx, actor)?;
            entitlement
                .validate()
                .map_err(|m| Refusal::invalid("invalid-entitlement", m))?;
            if ctx.org.system(&entitlement.system).is_none() {
                return Err(Refusal::invalid(
                    "unknown-system",
                    format!("system `{}` is not in the catalogue", entitlement.system),
                ));
            }
            if let Some(owner) = &entitlement.owner {
                match ctx.org.identity(owner) {
                    Some(i) if i.is_human() => {}
                    Some(_) => {
                        return Err(Refusal::invalid(
                            "owner-not-human",
                            format!(
                                "owner `{owner}` of `{}` must be a person",
                                entitlement.reference()
                            ),
                        ));
                    }
                    None => {
                        return Err(Refusal::invalid(
                            "unknown-identity",
                            format!("owner `{owner}` is not an identity"),
                        ));
                    }
                }
            }
            if ctx.org.entitlement(&entitlement.reference()) == Some(entitlement) {
                return Ok(vec![]);
            }
            Ok(vec![Event::EntitlementUpserted {
                entitlement: entitlement.clone(),
            }])
        }
        Command::IssueToken {
            identity,
            label,
            hash,
            expires_at,
        } => {
            require_admin(ctx, actor)?;
            let holder = ctx.org.identity(identity).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-identity",
                    format!("no identity named `{identity}`"),
                )
            })?;
            if !holder.is_active() {
                return Err(Refusal::invalid(
                    "identity-inactive",
                    format!("`{identity}` is inactive and cannot hold a token"),
                ));
            }
            let n = label.trim().chars().count();
            if n == 0 || n > 100 {
                return Err(Refusal::invalid(
                    "invalid-label",
                    "token label must be 1-100 characters",
                ));
            }
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(Refusal::invalid(
                    "invalid-hash",
                    "token hash must be 64 hex characters",
                ));
            }
            if expires_at.is_some_and(|t| t <= ctx.now) {
                return Err(Refusal::invalid(
                    "expiry-in-past",
                    "token expiry must be in the future",
                ));
            }
            Ok(vec![Event::TokenIssued {
                token: Token {
                    id: TokenId::generate(ids),
                    identity: identity.clone(),
                    label: label.trim().to_owned(),
                    hash: hash.to_ascii_lowercase(),
                    issued_at: ctx.now,
                    expires_at: *expires_at,
                    revoked_at: None,
                },
            }])
        }
        Command::RevokeToken { token } => {
            let t = ctx.token.ok_or_else(|| {
                Refusal::not_found("unknown-token", format!("no token `{token}`"))
            })?;
            let is_admin = require_admin(ctx, actor).is_ok();
            let is_holder = actor.identity() == Some(&t.identity);
            if !is_admin && !is_holder {
                return Err(Refusal::forbidden(
                    "not-authorised",
                    format!(
                        "only an admin or `{}` may revoke token `{token}`",
                        t.identity
                    ),
                ));
            }
            if t.revoked_at.is_some() {
                return Err(Refusal::conflict(
                    "token-revoked",
                    format!("token `{token}` is already revoked"),
                ));
            }
            Ok(vec![Event::TokenRevoked {
                token: t.id.clone(),
            }])
        }
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
            let requester = writer(ctx, actor)?;
            if !requester.is_human() {
                return Err(Refusal::forbidden(
                    "nhi-cannot-request",
                    format!(
                        "`{}` is a non-human identity and cannot request access",
                        requester.name
                    ),
                ));
            }
            let b = ctx.org.identity(beneficiary).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-identity",
                    format!("no identity named `{beneficiary}`"),
                )
            })?;
            if !b.is_active() {
                return Err(Refusal::invalid(
                    "beneficiary-inactive",
                    format!("`{beneficiary}` is inactive; access cannot be granted to them"),
                ));
            }
            let related = b.name == requester.name
                || b.manager() == Some(&requester.name)
                || b.owner() == Some(&requester.name);
            if !related {
                return Err(Refusal::forbidden(
                    "not-your-beneficiary",
                    format!(
                        "`{}` may request access only for themself, a direct report or an NHI they own; `{beneficiary}` is none of these",
                        requester.name
                    ),
                ));
            }
            let ent = ctx.org.entitlement(entitlement).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-entitlement",
                    format!("no entitlement `{entitlement}` in the catalogue"),
                )
            })?;
            let rule = ctx.policy.tier(ent.risk);
            let min_j = ctx.policy.min_justification.max(rule.min_justification);
            if justification.chars() < min_j {
                return Err(Refusal::invalid(
                    "justification-too-short",
                    format!(
                        "justification must be at least {min_j} characters for {} risk `{entitlement}`, got {}",
                        ent.risk,
                        justification.chars()
                    ),
                ));
            }
            let emergency = *kind == RequestKind::BreakGlass;
            if emergency {
                crate::breakglass::precheck(requester, b, ent, ticket.as_ref())?;
            }
            if rule.ticket_required && ticket.is_none() {
                return Err(Refusal::invalid(
                    "ticket-required",
                    format!(
                        "a ticket reference is required for {} risk `{entitlement}`",
                        ent.risk
                    ),
                ));
            }
            let (mut max, mut why) = match rule.max_duration {
                Some(tier_max) if tier_max < ent.max_duration => {
                    (tier_max, format!("the {} tier's limit", ent.risk))
                }
                _ => (ent.max_duration, format!("the limit of `{entitlement}`")),
            };
            if emergency {
                let cap = ctx.policy.break_glass.cap(entitlement);
                if cap < max {
                    max = cap;
                    why = format!("the break-glass cap of `{entitlement}`");
                }
            }
            let sod = separation_of_duties(
                ctx,
                beneficiary,
                entitlement,
                sod_exception.as_ref(),
                emergency,
            )?;
            if let Some((exception, exception_max)) = &sod
                && *exception_max < max
            {
                max = *exception_max;
                why = format!(
                    "the limit of an exception to separation-of-duties rule `{}`",
                    exception.rule
                );
            }
            if *duration > max {
                return Err(Refusal::invalid(
                    "duration-too-long",
                    format!("requested duration {duration} exceeds {max}, {why}"),
                ));
            }
            if duration.seconds() < MIN_DURATION_SECONDS {
                return Err(Refusal::invalid(
                    "duration-too-short",
                    "duration must be at least one minute",
                ));
            }
            let constraints = match constraints {
                Some(c) if !c.is_empty() => {
                    c.validate()
                        .map_err(|m| Refusal::invalid("invalid-constraints", m))?;
                    Some(c.clone())
                }
                _ => None,
            };
            if let Some(open) = ctx.pair.open_request {
                let then = if emergency {
                    "; cancel it, then break glass"
                } else {
                    ""
                };
                return Err(Refusal::conflict(
                    "duplicate-request",
                    format!(
                        "`{beneficiary}` already has pending request `{open}` for `{entitlement}`{then}"
                    ),
                ));
            }
            let renews = match (kind, ctx.pair.active_grant) {
                (RequestKind::Standard, Some(g)) => {
                    return Err(Refusal::conflict(
                        "already-granted",
                        format!(
                            "`{beneficiary}` already holds `{entitlement}` under grant `{}` until {}; ask for a renewal instead",
                            g.id, g.expires_at
                        ),
                    ));
                }
                (RequestKind::Renewal, None) => {
                    return Err(Refusal::invalid(
                        "nothing-to-renew",
                        format!(
                            "`{beneficiary}` holds no active grant of `{entitlement}` to renew"
                        ),
                    ));
                }
                (RequestKind::Renewal, Some(g)) => Some(g.id.clone()),
                (RequestKind::Standard | RequestKind::BreakGlass, None) => None,
                (RequestKind::BreakGlass, Some(g)) => {
                    Some(crate::breakglass::renewal(ctx, g, *duration)?)
                }
            };
            // The id is drawn last: a refused submission consumes nothing.
            let mut submission = Submission {
                id: RequestId::parse("req_0000000000000000")
                    .map_err(|e| Refusal::invalid("internal", e))?,
                requester: requester.name.clone(),
                beneficiary: beneficiary.clone(),
                entitlement: entitlement.clone(),
                risk: ent.risk,
                privileged: ent.privileged,
                justification: justification.clone(),
                ticket: ticket.clone(),
                duration: *duration,
                kind: *kind,
                renews,
                constraints,
                steps: {
                    let mut steps = ctx.policy.steps_for(ent).to_vec();
                    if sod.is_some() {
                        steps.push(StepRole::SodException);
                    }
                    steps
                },
                policy_version: ctx.policy_version.to_owned(),
                submitted_at: ctx.now,
                sod_exception: sod.map(|(e, _)| e),
                pre_approved: None,
                emergency: None,
            };
            if emergency {
                submission.steps.clear();
                submission.emergency = Some(crate::breakglass::authority(ctx, &submission)?);
            } else if let Some(pre) = pre_approval(ctx, &submission, b) {
                submission.steps.clear();
                submission.pre_approved = Some(pre);
            }
            submission.id = RequestId::generate(ids);
            let digest = submission
                .digest()
                .map_err(|e| Refusal::invalid("unencodable", e.to_string()))?;
            let pre_approved = submission.pre_approved.is_some();
            let id = submission.id.clone();
            let mut events = vec![Event::RequestSubmitted {
                request: submission.clone(),
                digest,
            }];
            if emergency {
                let since = crate::breakglass::since(ctx, &submission);
                let (approved, grant) = approval_events(ctx, &id, &submission, ids, Some(since));
                events.extend(approved);
                let incident = ticket.clone().ok_or_else(|| {
                    Refusal::invalid(
                        "incident-required",
                        "break-glass access needs an incident reference",
                    )
                })?;
                events.push(crate::breakglass::used(ctx, &submission, grant, incident));
            } else if pre_approved {
                events.extend(approval_events(ctx, &id, &submission, ids, None).0);
            }
            Ok(events)
        }
        Command::Decide {
            request,
            step,
            decision,
            comment,
        } => decide_step(ctx, actor, request, *step, *decision, comment.clone(), ids),
        Command::Cancel { request, reason } => {
            let r = ctx.request.ok_or_else(|| {
                Refusal::not_found("unknown-request", format!("no request `{request}`"))
            })?;
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
        Command::RevokeGrant { grant, reason } => {
            let g = ctx.grant.ok_or_else(|| {
                Refusal::not_found("unknown-grant", format!("no grant `{grant}`"))
            })?;
            let who = writer(ctx, actor)?;
            let at = ctx.now.to_rfc3339();
            let b = ctx.org.identity(&g.beneficiary);
            let basis = if who.has_role(Role::Admin) {
                "admin of Writ".to_owned()
            } else if b.and_then(Identity::manager) == Some(&who.name) {
                format!(
                    "manager of `{}`, per organisation data at {at}",
                    g.beneficiary
                )
            } else if b.and_then(Identity::owner) == Some(&who.name) {
                format!(
                    "owner of NHI `{}`, per organisation data at {at}",
                    g.beneficiary
                )
            } else {
                return Err(Refusal::forbidden(
                    "not-authorised",
                    format!(
                        "`{}` may not revoke `{grant}`: only an admin or the manager (or NHI owner) of `{}` may",
                        who.name, g.beneficiary
                    ),
                ));
            };
            if !g.is_live() {
                return Err(Refusal::conflict(
                    "grant-not-active",
                    format!("grant `{grant}` is already {}", g.status.as_str()),
                ));
            }
            Ok(vec![Event::GrantRevoked {
                grant: grant.clone(),
                reason: reason.clone(),
                basis,
            }])
        }
        Command::ExpireGrant { grant } => {
            if !matches!(actor, Actor::System(_)) {
                return Err(Refusal::forbidden(
                    "scheduler-only",
                    format!(
                        "only Writ's scheduler expires grants; `{actor}` may revoke `{grant}` instead"
                    ),
                ));
            }
            let g = ctx.grant.ok_or_else(|| {
                Refusal::not_found("unknown-grant", format!("no grant `{grant}`"))
            })?;
            if !g.is_live() {
                return Err(Refusal::conflict(
                    "grant-not-active",
                    format!("grant `{grant}` is already {}", g.status.as_str()),
                ));
            }
            if g.expires_at > ctx.now {
                return Err(Refusal::conflict(
                    "not-due",
                    format!("grant `{grant}` expires at {}, not yet", g.expires_at),
                ));
            }
            Ok(vec![Event::GrantExpired {
                grant: grant.clone(),
            }])
        }
        Command::ConfirmProvisioning {
            grant,
            action,
            receipt,
        } => confirm_provisioning(ctx, actor, grant, *action, receipt),
        Command::FailProvisioning {
            grant,
            action,
            attempts,
            error,
        } => {
            let g = provisioned_grant(ctx, actor, grant)?;
            open_job(g, *action)?;
            if error.trim().is_empty() || error.len() > 2000 {
                return Err(Refusal::invalid(
                    "invalid-error",
                    "a failed job's error must be 1-2000 bytes",
                ));
            }
            Ok(vec![Event::ProvisioningFailed {
                grant: grant.clone(),
                action: *action,
                attempts: *attempts,
                error: error.clone(),
            }])
        }
        Command::IssueCredential {
            grant,
            fingerprint,
            expires_at,
            rotate_by,
        } => {
            let g = credential_grant(ctx, actor, grant)?;
            if !valid_fingerprint(fingerprint) {
                return Err(Refusal::invalid(
                    "invalid-fingerprint",
                    "a credential fingerprint is `sha256:` and 32 hex digits",
                ));
            }
            if *expires_at <= ctx.now || *expires_at > g.expires_at {
                return Err(Refusal::invalid(
                    "invalid-expiry",
                    format!(
                        "a credential expires after now and no later than its grant ({})",
                        g.expires_at
                    ),
                ));
            }
            if *rotate_by <= ctx.now || rotate_by > expires_at {
                return Err(Refusal::invalid(
                    "invalid-rotation",
                    "a credential is rotated after now and before it expires",
                ));
            }
            if g.credential.as_deref() == Some(fingerprint.as_str()) {
                return Err(Refusal::conflict(
                    "credential-reused",
                    "a new credential must differ from the one it replaces",
                ));
            }
            Ok(vec![Event::CredentialIssued {
                grant: grant.clone(),
                fingerprint: fingerprint.clone(),
                expires_at: *expires_at,
                rotate_by: *rotate_by,
                replaces: g.credential.clone(),
            }])
        }
        Command::RevokeCredential { grant, fingerprint } => {
            current_credential(ctx, actor, grant, fingerprint)?;
            Ok(vec![Event::CredentialRevoked {
                grant: grant.clone(),
                fingerprint: fingerprint.clone(),
            }])
        }
        Command::NoteRotationDue { grant, fingerprint } => {
            current_credential(ctx, actor, grant, fingerprint)?;
            Ok(vec![Event::CredentialRotationDue {
                grant: grant.clone(),
                fingerprint: fingerprint.clone(),
            }])
        }
        Command::RecordDrift {
            drift,
            found,
            action,
        } => {
            if !matches!(actor, Actor::System(_)) {
                return Err(Refusal::forbidden(
                    "reconciler-only",
                    "only Writ's reconciliation records findings",
                ));
            }
            drift
                .validate()
                .map_err(|e| Refusal::invalid("invalid-finding", e))?;
            if let Some(grant) = &drift.grant {
                let g = ctx.grant.ok_or_else(|| {
                    Refusal::not_found("unknown-grant", format!("no grant `{grant}`"))
                })?;
                if *found && !(g.provision && g.status == GrantStatus::Active) {
                    return Err(Refusal::conflict(
                        "grant-not-active",
                        format!(
                            "grant `{grant}` is {}: only an active, provisioned grant can miss its access",
                            g.status.as_str()
                        ),
                    ));
                }
            }
            if *found && (action.trim().is_empty() || action.len() > 1024) {
                return Err(Refusal::invalid(
                    "invalid-finding",
                    "a finding says what Writ did about it (1-1024 bytes)",
                ));
            }
            Ok(vec![if *found {
                Event::DriftFound {
                    drift: drift.clone(),
                    action: action.clone(),
                }
            } else {
                Event::DriftResolved {
                    drift: drift.clone(),
                }
            }])
        }
        Command::RunRequestDeadlines { request } => crate::deadlines::run(ctx, actor, request),
        Command::CloseIncidentReview {
            request,
            finding,
            notes,
        } => crate::breakglass::close(ctx, actor, request, *finding, notes),
        Command::EscalateIncidentReview { request } => {
            crate::breakglass::escalate(ctx, actor, request)
        }
        Command::Delegate { spec } => crate::delegation::delegate(ctx, actor, spec, ids),
        Command::RevokeDelegation { delegation, reason } => {
            crate::delegation::revoke(ctx, actor, delegation, reason)
        }
        Command::RecheckAuthority { grant, request } => {
            recheck_authority(ctx, actor, grant, request)
        }
        Command::RetryProvisioning { grant, action } => {
            require_admin(ctx, actor)?;
            let g = ctx.grant.ok_or_else(|| {
                Refusal::not_found("unknown-grant", format!("no grant `{grant}`"))
            })?;
            let held = g.held.is_some() && *action == JobAction::Provision;
            if g.failed != Some(*action) && !held {
                return Err(Refusal::conflict(
                    "job-not-failed",
                    format!(
                        "grant `{grant}` has no failed {} job to retry",
                        action.as_str()
                    ),
                ));
            }
            Ok(vec![Event::ProvisioningRetried {
                grant: grant.clone(),
                action: *action,
            }])
        }
    }
}

/// Judges every approver of the grant's request again, with the function decisions
/// use, under the policy in force: a grant whose approver lost authority since is
/// held, not provisioned.
fn recheck_authority(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    request: &RequestId,
) -> Result<Vec<Event>, Refusal> {
    let g = provisioned_grant(ctx, actor, grant)?;
    let r = ctx
        .request
        .filter(|r| r.id() == request && r.grant.as_ref() == Some(grant))
        .ok_or_else(|| {
            Refusal::invalid(
                "wrong-request",
                format!("grant `{grant}` was not created by request `{request}`"),
            )
        })?;
    if g.open_job() != Some(JobAction::Provision) {
        return Err(Refusal::conflict(
            "not-awaiting-provisioning",
            format!("grant `{grant}` is not waiting to be provisioned"),
        ));
    }
    let mut lost = Vec::new();
    for step in &r.steps {
        let Some(d) = step
            .decision
            .as_ref()
            .filter(|d| d.decision == Decision::Approve)
        else {
            continue;
        };
        let why = match standing(ctx.org, ctx.rules(), r, step.index, &d.approver, ctx.now) {
            Standing::Eligible(_) => continue,
            Standing::Excluded(why) => why,
            Standing::NotPermitted(forbid) if forbid.is_empty() => {
                "no longer has authority: no policy in force permits them".to_owned()
            }
            Standing::NotPermitted(forbid) => format!(
                "no longer has authority: forbidden by {}",
                forbid.join(", ")
            ),
            Standing::Failed(e) => format!("could not be judged (fail closed): {e}"),
        };
        lost.push(LostAuthority {
            step: step.index,
            approver: d.approver.clone(),
            why,
        });
    }
    // Access approved at submission rested on a policy, not a person: ask it again.
    let s = &r.submission;
    if s.emergency.is_some()
        && let Err(refusal) = crate::breakglass::authority(ctx, s)
    {
        lost.push(LostAuthority {
            step: 0,
            approver: s.requester.clone(),
            why: format!("may no longer break glass: {}", refusal.message),
        });
    }
    if s.pre_approved.is_some() {
        let beneficiary = ctx.org.identity(&s.beneficiary);
        if beneficiary.and_then(|b| pre_approval(ctx, s, b)).is_none() {
            lost.push(LostAuthority {
                step: 0,
                approver: s.beneficiary.clone(),
                why: "is no longer pre-approved by any policy in force".to_owned(),
            });
        }
    }
    Ok(vec![Event::AuthorityRechecked {
        grant: grant.clone(),
        policy_version: ctx.policy_version.to_owned(),
        lost,
    }])
}

/// The grant a provisioning worker reports on: only Writ itself reports, and only on
/// grants a connector provisions.
fn provisioned_grant<'a>(
    ctx: &Ctx<'a>,
    actor: &Actor,
    grant: &GrantId,
) -> Result<&'a Grant, Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "provisioner-only",
            format!("only Writ's provisioning worker reports on `{grant}`'s target system"),
        ));
    }
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    if !g.provision {
        return Err(Refusal::conflict(
            "not-provisioned",
            format!("grant `{grant}` is not provisioned by a connector"),
        ));
    }
    Ok(g)
}

/// The grant an NHI owner sets a credential for: active, on a connected system, for
/// an entitlement that issues credentials, and the actor owns its NHI.
fn credential_grant<'a>(
    ctx: &Ctx<'a>,
    actor: &Actor,
    grant: &GrantId,
) -> Result<&'a Grant, Refusal> {
    let who = writer(ctx, actor)?;
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    let nhi = ctx.org.identity(&g.beneficiary);
    if nhi.and_then(Identity::owner) != Some(&who.name) {
        return Err(Refusal::forbidden(
            "not-owner",
            format!(
                "only the owner of NHI `{}` receives its credentials",
                g.beneficiary
            ),
        ));
    }
    let issues = ctx
        .org
        .entitlement(&g.entitlement)
        .is_some_and(|e| matches!(e.kind, EntitlementKind::Account | EntitlementKind::Secret));
    if !issues || !g.provision {
        return Err(Refusal::conflict(
            "no-credential",
            format!(
                "`{}` does not issue credentials (an account or secret entitlement on a system with a connector does)",
                g.entitlement
            ),
        ));
    }
    if !g.is_active() {
        return Err(Refusal::conflict(
            "grant-not-active",
            format!("grant `{grant}` is {}", g.status.as_str()),
        ));
    }
    Ok(g)
}

/// Writ itself (scheduler, worker) acting on the credential in force on `grant`.
fn current_credential(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    fingerprint: &str,
) -> Result<(), Refusal> {
    if !matches!(actor, Actor::System(_)) {
        return Err(Refusal::forbidden(
            "scheduler-only",
            "only Writ itself notes rotation deadlines or disables a credential outside a revocation",
        ));
    }
    let g = ctx
        .grant
        .ok_or_else(|| Refusal::not_found("unknown-grant", format!("no grant `{grant}`")))?;
    if g.credential.as_deref() != Some(fingerprint) {
        return Err(Refusal::conflict(
            "credential-not-current",
            format!("`{fingerprint}` is not the credential in force on `{grant}`"),
        ));
    }
    Ok(())
}

fn valid_fingerprint(f: &str) -> bool {
    f.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// Refuses unless `action` is the job `g` has open.
fn open_job(g: &Grant, action: JobAction) -> Result<(), Refusal> {
    if g.open_job() == Some(action) {
        return Ok(());
    }
    Err(Refusal::conflict(
        "no-open-job",
        format!(
            "grant `{}` ({}) has no open {} job",
            g.id,
            g.status.as_str(),
            action.as_str()
        ),
    ))
}

fn confirm_provisioning(
    ctx: &Ctx<'_>,
    actor: &Actor,
    grant: &GrantId,
    action: JobAction,
    receipt: &Receipt,
) -> Result<Vec<Event>, Refusal> {
    let g = provisioned_grant(ctx, actor, grant)?;
    receipt
        .validate()
        .map_err(|e| Refusal::invalid("invalid-receipt", e))?;
    match action {
        // The access can be confirmed even after the grant was revoked: the target
        // holds it until the deprovision job, queued behind this one, removes it.
        JobAction::Provision => {
            // A held grant waits for nothing: its approvers lost authority.
            let waiting = g.provisioned_at.is_none()
                && g.deprovisioned_at.is_none()
                && g.failed != Some(JobAction::Provision)
                && g.held.is_none();
            if !waiting {
                return Err(Refusal::conflict(
                    "no-open-job",
                    format!(
                        "grant `{grant}` ({}) is not waiting for its target to confirm the access",
                        g.status.as_str()
                    ),
                ));
            }
            Ok(vec![Event::GrantProvisioned {
                grant: grant.clone(),
                receipt: receipt.clone(),
            }])
        }
        JobAction::Deprovision => {
            open_job(g, JobAction::Deprovision)?;
            let mut events = vec![Event::GrantDeprovisioned {
                grant: grant.clone(),
                receipt: receipt.clone(),
            }];
            // The worker disables the credential with the access it belongs to.
            if let Some(fingerprint) = &g.credential {
                events.push(Event::CredentialRevoked {
                    grant: grant.clone(),
                    fingerprint: fingerprint.clone(),
                });
            }
            Ok(events)
        }
    }
}

fn decide_step(
    ctx: &Ctx<'_>,
    actor: &Actor,
    request: &RequestId,
    step: Option<u32>,
    decision: Decision,
    comment: Option<crate::names::Comment>,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    let r = ctx
        .request
        .ok_or_else(|| Refusal::not_found("unknown-request", format!("no request `{request}`")))?;
    let approver = writer(ctx, actor)?;
    not_closed(r)?;
    let s = &r.submission;
    if approver.name == s.requester {
        return Err(Refusal::forbidden(
            "self-approval",
            format!(
                "`{}` requested `{request}` and cannot decide it",
                approver.name
            ),
        ));
    }
    if approver.name == s.beneficiary {
        return Err(Refusal::forbidden(
            "beneficiary-approval",
            format!(
                "`{}` is the beneficiary of `{request}` and cannot decide it",
                approver.name
            ),
        ));
    }
    if let Some(done) = r.step_decided_by(&approver.name) {
        return Err(Refusal::forbidden(
            "one-step-per-identity",
            format!(
                "`{}` already decided step {} of `{request}`; one identity decides at most one step",
                approver.name, done.index
            ),
        ));
    }
    let rules = ctx.rules();
    let stand = |i: u32| standing(ctx.org, rules, r, i, &approver.name, ctx.now);
    let (index, role, candidate) = match step {
        Some(i) => {
            let st = r.steps.iter().find(|st| st.index == i).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-step",
                    format!("`{request}` has steps 1 to {}, not {i}", r.steps.len()),
                )
            })?;
            if let Some(d) = &st.decision {
                return Err(Refusal::conflict(
                    "step-decided",
                    format!(
                        "step {i} ({}) of `{request}` was already decided by `{}`",
                        st.role, d.approver
                    ),
                ));
            }
            match stand(i) {
                Standing::Eligible(c) => (i, st.role.clone(), c),
                Standing::Failed(e) => return Err(evaluation_failed(request, i, &e)),
                _ => {
                    let e = step_eligibility(ctx.org, rules, r, i, ctx.now);
                    return Err(not_eligible(&approver.name, request, &[e]));
                }
            }
        }
        None => {
            let mut found = None;
            for st in r.undecided_steps() {
                match stand(st.index) {
                    Standing::Eligible(c) => {
                        found = Some((st.index, st.role.clone(), c));
                        break;
                    }
                    Standing::Failed(e) => return Err(evaluation_failed(request, st.index, &e)),
                    _ => {}
                }
            }
            match found {
                Some(found) => found,
                None => {
                    // Someone else took the step this approver could have decided.
                    for st in r.steps.iter().filter(|st| st.decision.is_some()) {
                        if let (Standing::Eligible(_), Some(d)) = (stand(st.index), &st.decision) {
                            return Err(Refusal::conflict(
                                "step-decided",
                                format!(
                                    "step {} ({}) of `{request}` was already decided by `{}`",
                                    st.index, st.role, d.approver
                                ),
                            ));
                        }
                    }
                    let open: Vec<StepEligibility> = r
                        .undecided_steps()
                        .map(|st| step_eligibility(ctx.org, rules, r, st.index, ctx.now))
                        .collect();
                    return Err(not_eligible(&approver.name, request, &open));
                }
            }
        }
    };
    if decision == Decision::Deny && comment.is_none() {
        return Err(Refusal::invalid(
            "comment-required",
            "a denial needs a comment saying why",
        ));
    }
    if decision == Decision::Approve {
        // The organisation may have changed since submission: access is never granted
        // to someone who has left, nor does a renewal resurrect a revoked grant.
        if !ctx
            .org
            .identity(&s.beneficiary)
            .is_some_and(Identity::is_active)
        {
            return Err(Refusal::conflict(
                "beneficiary-inactive",
                format!(
                    "beneficiary `{}` is no longer active; `{request}` can only be denied",
                    s.beneficiary
                ),
            ));
        }
        if let Some(owner) = ctx.org.identity(&s.beneficiary).and_then(Identity::owner)
            && !ctx.org.identity(owner).is_some_and(Identity::is_active)
        {
            return Err(Refusal::conflict(
                "owner-left",
                format!(
                    "`{}`'s owner `{owner}` is no longer active: its access is held until an admin gives it a new owner; `{request}` can only be denied",
                    s.beneficiary
                ),
            ));
        }
        if let (Some(old), Some(g)) = (&s.renews, ctx.grant)
            && &g.id == old
            && matches!(g.status, GrantStatus::Revoked | GrantStatus::Revoking)
        {
            return Err(Refusal::conflict(
                "renewed-grant-revoked",
                format!(
                    "`{request}` renews grant `{old}`, which was revoked; submit a new request instead"
                ),
            ));
        }
    }
    let mut events = vec![Event::StepDecided {
        request: request.clone(),
        step: index,
        role,
        approver: approver.name.clone(),
        decision,
        comment,
        basis: candidate.basis,
        policy_version: ctx.policy_version.to_owned(),
        request_digest: r.digest.clone(),
        authority: Some(candidate.authority),
    }];
    match decision {
        Decision::Deny => events.push(Event::RequestDenied {
            request: request.clone(),
            step: index,
        }),
        Decision::Approve => {
            let others_approved = r.steps.iter().filter(|st| st.index != index).all(|st| {
                st.decision
                    .as_ref()
                    .is_some_and(|d| d.decision == Decision::Approve)
            });
            if others_approved {
                events.extend(approval_events(ctx, request, s, ids, None).0);
            }
        }
    }
    Ok(events)
}

/// The request approved: its grant, whose clock starts now (at the final approval,
/// not at the request), and the end of the grant it renews.
fn approval_events(
    ctx: &Ctx<'_>,
    request: &RequestId,
    s: &Submission,
    ids: &mut dyn IdGen,
    emergency_since: Option<Timestamp>,
) -> (Vec<Event>, GrantId) {
    let grant = GrantId::generate(ids);
    let expires_at = ctx.now.plus(s.duration);
    let review_by = expires_at.min(ctx.now.plus(ctx.policy.review_period));
    let mut events = vec![
        Event::RequestApproved {
            request: request.clone(),
            grant: grant.clone(),
        },
        Event::GrantCreated {
            grant: grant.clone(),
            request: request.clone(),
            beneficiary: s.beneficiary.clone(),
            entitlement: s.entitlement.clone(),
            expires_at,
            review_by,
            renews: s.renews.clone(),
            emergency_since,
            provision: ctx.provisioned_systems.contains(&s.entitlement.system),
        },
    ];
    // Approved at submission (automated or break-glass), the renewed grant is the
    // pair's live one; approved by a decision, the store loaded it as `grant`.
    if let (Some(old), Some(g)) = (&s.renews, ctx.grant.or(ctx.pair.active_grant))
        && &g.id == old
        && g.is_live()
    {
        events.push(Event::GrantRenewed {
            grant: old.clone(),
            successor: grant.clone(),
        });
    }
    (events, grant)
}

/// Automated fulfilment: whether a Cedar `auto_approve` policy pre-approves the
/// request for its beneficiary. Never for a separation-of-duties exception, never
/// for an NHI whose owner has left; an evaluation error means no (people decide).
fn pre_approval(ctx: &Ctx<'_>, s: &Submission, beneficiary: &Identity) -> Option<StepAuthority> {
    if s.sod_exception.is_some() || !ctx.authority.auto_approves() {
        return None;
    }
    if let Some(owner) = beneficiary.owner()
        && !ctx.org.identity(owner).is_some_and(Identity::is_active)
    {
        return None;
    }
    let scene = Scene::new(ctx.authority, ctx.org, s, [&s.beneficiary]).ok()?;
    match ctx
        .authority
        .evaluate(&scene, Action::AutoApprove, &s.beneficiary, None)
    {
        Verdict::Allow { policies } => {
            let facts = ctx
                .authority
                .facts(ctx.org, s, &s.beneficiary, None, &policies);
            Some(StepAuthority {
                policies: policies.iter().map(|p| format!("automatic:{p}")).collect(),
                facts,
                on_behalf_of: None,
                delegation: None,
            })
        }
        Verdict::Deny { .. } | Verdict::Error(_) => None,
    }
}

/// The shortest exception justification, whatever the policy's minimum.
const MIN_EXCEPTION_JUSTIFICATION: usize = 20;

/// Separation of duties: a request that would give `beneficiary` both entitlements of
/// a toxic rule (live grants and pending requests count) is refused, or, where the
/// rule allows an exception and one is asked for with a reason, goes ahead as an
/// exception (with its own limit on duration; the caller adds the security step).
fn separation_of_duties(
    ctx: &Ctx<'_>,
    beneficiary: &Name,
    entitlement: &EntitlementRef,
    asked: Option<&Justification>,
    emergency: bool,
) -> Result<Option<(SodException, DurationSpec)>, Refusal> {
    let mut exceptional = None;
    for rule in &ctx.policy.toxic {
        let Some(other) = rule.partner(entitlement) else {
            continue;
        };
        let Some(held) = ctx.holdings.iter().find(|h| &h.entitlement == other) else {
            continue;
        };
        if !rule.exception || emergency {
            let why = if emergency {
                "break-glass access cannot be an exception"
            } else {
                "with no exception"
            };
            return Err(Refusal::forbidden(
                "separation-of-duties",
                format!(
                    "`{beneficiary}` holds `{other}` ({}); separation-of-duties rule `{}` forbids also holding `{entitlement}`, {why}",
                    held.held_as, rule.name
                ),
            ));
        }
        exceptional.get_or_insert((rule, other, held));
    }
    let Some((rule, other, held)) = exceptional else {
        return match asked {
            Some(_) => Err(Refusal::invalid(
                "no-sod-conflict",
                format!(
                    "`{entitlement}` completes no toxic combination for `{beneficiary}`; submit it without an exception"
                ),
            )),
            None => Ok(None),
        };
    };
    let Some(reason) = asked else {
        return Err(Refusal::forbidden(
            "sod-exception-required",
            format!(
                "`{beneficiary}` holds `{other}` ({}), which with `{entitlement}` is toxic combination `{}`. The rule allows an exception: submit again with an exception justification; the request then needs an extra security step and lasts at most {}",
                held.held_as,
                rule.name,
                rule.exception_max()
            ),
        ));
    };
    let min = ctx
        .policy
        .min_justification
        .max(MIN_EXCEPTION_JUSTIFICATION);
    if reason.chars() < min {
        return Err(Refusal::invalid(
            "exception-justification-too-short",
            format!(
                "an exception justification must be at least {min} characters, got {}",
                reason.chars()
            ),
        ));
    }
    Ok(Some((
        SodException {
            rule: rule.name.clone(),
            conflicts_with: other.clone(),
            held_as: held.held_as.clone(),
            justification: reason.clone(),
        },
        rule.exception_max(),
    )))
}

/// Fail closed: a policy evaluation that errs refuses, with its diagnostics.
fn evaluation_failed(request: &RequestId, step: u32, diagnostics: &str) -> Refusal {
    Refusal::forbidden(
        "policy-evaluation-failed",
        format!(
            "the approval policy could not be evaluated for step {step} of `{request}`, so nothing is allowed: {diagnostics}"
        ),
    )
}

fn not_eligible(who: &Name, request: &RequestId, steps: &[StepEligibility]) -> Refusal {
    let parts: Vec<String> = steps
        .iter()
        .map(|e| {
            let names: Vec<String> = e
                .eligible
                .iter()
                .map(|c| format!("`{}`", c.identity))
                .collect();
            let whom = if names.is_empty() {
                e.note
                    .clone()
                    .unwrap_or_else(|| "nobody is eligible".into())
            } else {
                format!("eligible: {}", names.join(", "))
            };
            let why_not = e
                .excluded
                .iter()
                .find(|x| &x.identity == who)
                .map(|x| format!("; `{who}` {}", x.why))
                .unwrap_or_default();
            format!("step {} ({}): {whom}{why_not}", e.index, e.role)
        })
        .collect();
    Refusal::forbidden(
        "not-eligible",
        format!(
            "`{who}` is not eligible to decide an open step of `{request}` — {}",
            parts.join("; ")
        ),
    )
}

fn not_closed(r: &Request) -> Result<(), Refusal> {
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

/// The acting person: known, active, and not an auditor (auditors write nothing).
pub(crate) fn writer<'a>(ctx: &Ctx<'a>, actor: &Actor) -> Result<&'a Identity, Refusal> {
    let Actor::Identity(name) = actor else {
        return Err(Refusal::forbidden(
            "not-a-person",
            format!("`{actor}` cannot act as a person"),
        ));
    };
    let who = ctx.org.identity(name).ok_or_else(|| {
        Refusal::forbidden(
            "unknown-actor",
            format!("`{name}` is not in the organisation data"),
        )
    })?;
    if !who.is_active() {
        return Err(Refusal::forbidden(
            "actor-inactive",
            format!("`{name}` is inactive"),
        ));
    }
    if who.has_role(Role::Auditor) {
        return Err(Refusal::forbidden(
            "read-only",
            format!("`{name}` is an auditor; auditors change nothing"),
        ));
    }
    Ok(who)
}

/// Catalogue changes: an active admin, or Writ itself (bootstrap, demo seed).
pub(crate) fn require_admin(ctx: &Ctx<'_>, actor: &Actor) -> Result<(), Refusal> {
    if let Actor::System(_) = actor {
        return Ok(());
    }
    let who = writer(ctx, actor)?;
    if !who.has_role(Role::Admin) {
        return Err(Refusal::forbidden(
            "admin-only",
            format!("`{}` is not an admin", who.name),
        ));
    }
    Ok(())
}

fn activate_policy(
    ctx: &Ctx<'_>,
    actor: &Actor,
    policy: &ApprovalPolicy,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    policy
        .validate()
        .map_err(|e| Refusal::invalid("invalid-policy", e.to_string()))?;
    let version = policy.version();
    if ctx.active_policy_version == Some(version.as_str()) {
        return Ok(vec![]);
    }
    Ok(vec![Event::PolicyActivated {
        version,
        policy: policy.clone(),
        previous: ctx.active_policy_version.map(str::to_owned),
    }])
}

fn upsert_identity(
    ctx: &Ctx<'_>,
    actor: &Actor,
    identity: &Identity,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    require_admin(ctx, actor)?;
    identity
        .validate()
        .map_err(|m| Refusal::invalid("invalid-identity", m))?;
    let existing = ctx.org.identity(&identity.name);
    if let Some(old) = existing {
        if old == identity {
            return Ok(vec![]);
        }
        if old.is_human() != identity.is_human() {
            return Err(Refusal::invalid(
                "kind-change",
                format!(
                    "`{}` is a {}; an identity cannot change kind",
                    old.name,
                    old.kind_label()
                ),
            ));
        }
    }
    match &identity.kind {
        IdentityKind::Human(h) => {
            if let Some(m) = &h.manager {
                let manager = ctx.org.identity(m).ok_or_else(|| {
                    Refusal::invalid(
                        "unknown-manager",
                        format!("manager `{m}` is not an identity"),
                    )
                })?;
                if !manager.is_human() {
                    return Err(Refusal::invalid(
                        "manager-not-human",
                        format!("manager `{m}` must be a person"),
                    ));
                }
                if ctx.org.manages_transitively(&identity.name, m) {
                    return Err(Refusal::invalid(
                        "manager-cycle",
                        format!(
                            "`{m}` reports to `{}`; making them `{}`'s manager would form a cycle",
                            identity.name, identity.name
                        ),
                    ));
                }
            }
        }
        IdentityKind::Nhi(n) => {
            let owner = ctx.org.identity(&n.owner).ok_or_else(|| {
                Refusal::invalid(
                    "unknown-owner",
                    format!("owner `{}` is not an identity", n.owner),
                )
            })?;
            if !owner.is_human() {
                return Err(Refusal::invalid(
                    "owner-not-human",
                    format!("owner `{}` must be a person", n.owner),
                ));
            }
        }
    }
    let mut events = vec![Event::IdentityUpserted {
        identity: identity.clone(),
    }];
    events.extend(review::micro_review(ctx, identity, ids));
    Ok(events)
}
