//! What a decision may look at, and the checks every capability makes of its actor.
//!
//! `Ctx` is filled by the store and read by every capability's `decide_*` rules;
//! this module imports no capability's rules.

use std::collections::BTreeSet;

use crate::authority::Authority;
use crate::grants::Grant;
use crate::organisation::Org;
use crate::policy::{ApprovalPolicy, Rules};
use crate::requests::Request;
use crate::reviews::ReviewCtx;
use crate::tokens::Token;
use crate::values::{Actor, EntitlementRef, Identity, Name, Refusal, RequestId, Role, Timestamp};

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
