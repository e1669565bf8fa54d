//! Delegation of approval authority: an approver lets another person decide in their
//! place for a window, optionally only for some systems or risk tiers, with a reason.
//!
//! A delegate's decision is judged on the delegator's own authority (the Cedar
//! policies, evaluated for the delegator) and recorded as made "on behalf of X under
//! delegation D". The rules that hold whatever the policy say: no delegation to
//! oneself; no chains (a delegate's delegated authority is never delegated again, and
//! someone who is a delegate cannot delegate while it lasts); a delegate never decides
//! a request they made or benefit from, nor does the delegator; an expired or revoked
//! delegation gives nothing.

use serde::{Deserialize, Serialize};

use crate::catalog::RiskTier;
use crate::command::Actor;
use crate::decide::{Ctx, require_admin, writer};
use crate::event::Event;
use crate::identity::Role;
use crate::ids::{DelegationId, IdGen};
use crate::names::{Name, Reason};
use crate::refusal::Refusal;
use crate::request::Submission;
use crate::time::{DurationSpec, Timestamp};

/// The longest window a delegation may span.
pub const MAX_WINDOW: DurationSpec = DurationSpec::days(90);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    pub id: DelegationId,
    pub delegator: Name,
    pub delegate: Name,
    pub from: Timestamp,
    pub until: Timestamp,
    /// Only requests for these systems (empty: every system).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<Name>,
    /// Only requests of these risk tiers (empty: every tier).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<RiskTier>,
    /// Personal data: sealed in the ledger.
    pub reason: Reason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

impl Delegation {
    /// In force at `at`: inside its window and not revoked.
    pub fn active_at(&self, at: Timestamp) -> bool {
        self.revoked_at.is_none() && self.from <= at && at < self.until
    }

    /// Whether its scope covers the request.
    pub fn covers(&self, s: &Submission) -> bool {
        (self.systems.is_empty() || self.systems.contains(&s.entitlement.system))
            && (self.tiers.is_empty() || self.tiers.contains(&s.risk))
    }

    fn overlaps(&self, from: Timestamp, until: Timestamp) -> bool {
        self.revoked_at.is_none() && self.from < until && from < self.until
    }
}

/// The request to delegate, as the delegator (or an admin for them) makes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelegationSpec {
    /// Defaults to the actor; an admin may record one for someone else.
    #[serde(default)]
    pub delegator: Option<Name>,
    pub delegate: Name,
    /// Defaults to now.
    #[serde(default)]
    pub from: Option<Timestamp>,
    pub until: Timestamp,
    #[serde(default)]
    pub systems: Vec<Name>,
    #[serde(default)]
    pub tiers: Vec<RiskTier>,
    pub reason: Reason,
}

pub(crate) fn delegate(
    ctx: &Ctx<'_>,
    actor: &Actor,
    spec: &DelegationSpec,
    ids: &mut dyn IdGen,
) -> Result<Vec<Event>, Refusal> {
    let me = writer(ctx, actor)?;
    let delegator = spec.delegator.clone().unwrap_or_else(|| me.name.clone());
    if delegator != me.name {
        require_admin(ctx, actor).map_err(|_| {
            Refusal::forbidden(
                "not-your-authority",
                format!(
                    "`{}` may delegate only their own authority, not `{delegator}`'s",
                    me.name
                ),
            )
        })?;
    }
    let person = |name: &Name, what: &str| -> Result<(), Refusal> {
        let i = ctx.org.identity(name).ok_or_else(|| {
            Refusal::invalid("unknown-identity", format!("no identity named `{name}`"))
        })?;
        if !i.is_active() || !i.is_human() || i.has_role(Role::Auditor) {
            return Err(Refusal::invalid(
                "not-a-decider",
                format!("the {what} `{name}` must be an active person who is not an auditor"),
            ));
        }
        Ok(())
    };
    person(&delegator, "delegator")?;
    person(&spec.delegate, "delegate")?;
    if spec.delegate == delegator {
        return Err(Refusal::invalid(
            "self-delegation",
            format!("`{delegator}` cannot delegate to themself"),
        ));
    }
    let from = spec.from.unwrap_or(ctx.now).max(ctx.now);
    if spec.until <= from {
        return Err(Refusal::invalid(
            "empty-window",
            format!(
                "a delegation ends after it starts and in the future; until {} is not after {}",
                spec.until, from
            ),
        ));
    }
    if spec.until > from.plus(MAX_WINDOW) {
        return Err(Refusal::invalid(
            "window-too-long",
            format!("a delegation lasts at most {MAX_WINDOW}"),
        ));
    }
    for s in &spec.systems {
        if ctx.org.system(s).is_none() {
            return Err(Refusal::invalid(
                "unknown-system",
                format!("no system `{s}` in the catalogue"),
            ));
        }
    }
    let live = ctx
        .org
        .delegations
        .values()
        .filter(|d| d.overlaps(from, spec.until));
    for d in live {
        if d.delegate == delegator {
            return Err(Refusal::conflict(
                "delegation-chain",
                format!(
                    "`{delegator}` is a delegate of `{}` under `{}` until {}; a delegate cannot delegate further",
                    d.delegator, d.id, d.until
                ),
            ));
        }
        if d.delegator == spec.delegate {
            return Err(Refusal::conflict(
                "delegation-chain",
                format!(
                    "`{}` delegates to `{}` under `{}` until {}; a delegation cannot feed another",
                    spec.delegate, d.delegate, d.id, d.until
                ),
            ));
        }
    }
    Ok(vec![Event::DelegationGranted {
        delegation: Delegation {
            id: DelegationId::generate(ids),
            delegator,
            delegate: spec.delegate.clone(),
            from,
            until: spec.until,
            systems: spec.systems.clone(),
            tiers: spec.tiers.clone(),
            reason: spec.reason.clone(),
            revoked_at: None,
        },
    }])
}

pub(crate) fn revoke(
    ctx: &Ctx<'_>,
    actor: &Actor,
    id: &DelegationId,
    reason: &Option<Reason>,
) -> Result<Vec<Event>, Refusal> {
    let me = writer(ctx, actor)?;
    let d =
        ctx.org.delegations.get(id).ok_or_else(|| {
            Refusal::not_found("unknown-delegation", format!("no delegation `{id}`"))
        })?;
    if d.delegator != me.name && !me.has_role(Role::Admin) {
        return Err(Refusal::forbidden(
            "not-your-delegation",
            format!("only `{}` or an admin may revoke `{id}`", d.delegator),
        ));
    }
    if d.revoked_at.is_some() || d.until <= ctx.now {
        return Err(Refusal::conflict(
            "delegation-ended",
            format!("delegation `{id}` has already ended"),
        ));
    }
    Ok(vec![Event::DelegationRevoked {
        delegation: id.clone(),
        revoked_at: ctx.now,
        reason: reason.clone(),
    }])
}
