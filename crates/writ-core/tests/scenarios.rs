//! Data-driven scenarios for the domain core, in the style of cedar's JSON corpus.
//!
//! Every `tests/scenarios/*.json` file describes an organisation, an optional approval
//! policy override and a list of steps. Each step is a command by an actor, perhaps
//! after moving the clock, with the events (or the refusal) it must produce.
//!
//! The runner keeps an in-memory world the way the store does: catalogue events go
//! through [`Org::apply`], requests are built with [`Request::submitted`] and changed
//! only by [`Request::apply`], grants by [`Grant::created`] / [`Grant::apply`]. Every
//! event is wrapped in a [`Recorded`], sealed (with salts from a counter, so runs are
//! reproducible), opened back and checked byte for byte before it is applied; at the
//! end the whole world is rebuilt from those leaves and personal documents alone and
//! must come out identical, and rebuilt once more with every personal value erased,
//! which must still replay.
//!
//! # File format
//!
//! ```json
//! {
//!   "description": "what the scenario proves",
//!   "start": "2026-03-02T09:00:00Z",              // optional
//!   "policy": { "tiers": { "low": { "steps": ["manager", "group:helpdesk"] } } },
//!   "organisation": { "identities": [..], "systems": [..], "entitlements": [..] },
//!   "steps": [
//!     { "note": "optional words", "actor": "alice" | "system:<what>", "advance": "2h",
//!       "do": { "submit": { "entitlement": "wiki/editor", "justification": "..", "duration": "8h" } },
//!       "expect": { "events": ["request_submitted"], "requests": { "$1": "pending" } } }
//!   ]
//! }
//! ```
//!
//! The organisation is written in the core's own serde shapes (`Identity`, `System`,
//! `Entitlement`) and loaded through `decide` by `system:seed`, in file order (so a
//! manager is listed before their reports). `policy` is merged into the default policy
//! with `ApprovalPolicy::from_toml_value` and activated first.
//!
//! Commands (`do`): `submit`, `approve`, `deny`, `cancel`, `revoke`, `expire`,
//! `upsert_identity`, `upsert_system`, `upsert_entitlement`, `activate_policy`,
//! `issue_token`, `revoke_token`, and the provisioning worker's `confirm`, `fail`, and
//! the admin's `retry` (`{"grant": "@1", "action": "provision"}`) and `resolve`
//! (`{"grant": "@1", "action": "deprovision", "reason": ".."}`). Grants on systems
//! listed in `provisioned_systems` wait for a `confirm`. Requests are referred to as `$1`, `$2`, … in creation
//! order, grants as `@1`, `@2`, …, tokens as `#1`, …; a literal id (`req_…`) is used
//! as it is.
//!
//! Expectations (`expect`): exactly one of `events` (the exact list of event kinds)
//! or `refused` + `kind` (+ optional `message_contains`). Optional checks:
//! `requests` (`{"$1": "approved"}`), `grants` (`{"@1": {"status": "active",
//! "expires_in": "8h"}}`, times relative to the step's time), `decided` (the step,
//! role and approver of the `step_decided` event, and optionally the ids of the Cedar
//! `policies` it recorded as its authority), `basis_contains` (the authority
//! basis of the step's `step_decided` or `grant_revoked` event), `eligible` (who may
//! decide a step right after this one).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};
use writ_core::{
    ActivePolicy, Actor, ApprovalPolicy, Authority, Clock, Command, Comment, Constraints, Ctx,
    Decision, Drift, DriftKind, DurationSpec, ERASED, Entitlement, EntitlementRef, Event, Grant,
    GrantId, GrantStatus, Identity, JobAction, Justification, ManualClock, Name, Org, PairState,
    Personal, Reason, Receipt, Recorded, Refusal, RefusalKind, Request, RequestId, RequestKind,
    RequestStatus, Rules, SequentialIds, System, TicketRef, Timestamp, Token, TokenId,
    canonical_bytes, decide, sha256_hex, step_eligibility,
};
use writ_core::{Holding, ReviewCtx, TIMED_OUT};

// ---- the file format ---------------------------------------------------------------

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    policy: Option<Value>,
    organisation: Organisation,
    /// Systems a connector provisions: their grants wait for the target's confirmation.
    #[serde(default)]
    provisioned_systems: BTreeSet<Name>,
    steps: Vec<StepSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Organisation {
    #[serde(default)]
    identities: Vec<Identity>,
    #[serde(default)]
    systems: Vec<System>,
    #[serde(default)]
    entitlements: Vec<Entitlement>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSpec {
    #[serde(default)]
    note: Option<String>,
    actor: String,
    #[serde(default)]
    advance: Option<String>,
    #[serde(rename = "do")]
    command: CommandSpec,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum CommandSpec {
    Submit(SubmitSpec),
    Approve(DecideSpec),
    Deny(DecideSpec),
    Cancel {
        request: String,
        #[serde(default)]
        reason: Option<Reason>,
    },
    Revoke {
        grant: String,
        reason: Reason,
    },
    Expire {
        grant: String,
    },
    /// The provisioning worker reports a target's confirmation.
    Confirm {
        grant: String,
        action: JobAction,
        #[serde(default)]
        change: Option<String>,
    },
    /// The provisioning worker gives a job up.
    Fail {
        grant: String,
        action: JobAction,
        attempts: u32,
        error: String,
    },
    Retry {
        grant: String,
        action: JobAction,
    },
    /// An admin closes a removal by hand: `{"grant": "@1", "action": "deprovision",
    /// "reason": ".."}`.
    Resolve {
        grant: String,
        action: JobAction,
        reason: Reason,
    },
    /// The provisioning worker's check, just before provisioning, that every approver
    /// of the grant still has authority.
    Recheck {
        grant: String,
    },
    /// Delegate approval authority: `{"delegate": "dave", "until_in": "7d",
    /// "reason": "..", "systems": [..], "tiers": [..], "from_in": "1d", "delegator": ..}`.
    Delegate(DelegateSpec),
    /// Security closes a break-glass request's post-incident review:
    /// `{"request": "$1", "finding": "legitimate", "notes": ".."}`.
    CloseIncidentReview {
        request: String,
        finding: writ_core::Finding,
        notes: Reason,
    },
    /// The scheduler escalates an overdue post-incident review.
    EscalateIncidentReview {
        request: String,
    },
    /// The scheduler applies a request's deadlines: `{"request": "$1"}`.
    RunDeadlines {
        request: String,
    },
    /// End a delegation: `{"delegation": "%1"}` (the first delegation made).
    RevokeDelegation {
        delegation: String,
        #[serde(default)]
        reason: Option<Reason>,
    },
    /// Reconciliation: `{"kind": "missing", "grant": "@1"}` or `{"kind": "unexplained",
    /// "entitlement": "corp-ldap/vpn", "account_ref": "uid=mallory"}`.
    Drift {
        kind: DriftKind,
        #[serde(default)]
        grant: Option<String>,
        #[serde(default)]
        entitlement: Option<EntitlementRef>,
        #[serde(default)]
        account_ref: Option<String>,
        #[serde(default = "yes")]
        found: bool,
    },
    /// The NHI owner's new credential: `{"grant": "@1", "fingerprint": "sha256:…",
    /// "expires_in": "30d", "rotate_in": "20d"}`.
    IssueCredential {
        grant: String,
        fingerprint: String,
        expires_in: DurationSpec,
        rotate_in: DurationSpec,
    },
    NoteRotationDue {
        grant: String,
        fingerprint: String,
    },
    UpsertIdentity(Identity),
    UpsertSystem(System),
    UpsertEntitlement(Entitlement),
    /// Merged into the default policy, as the server does with its TOML file.
    ActivatePolicy(Value),
    IssueToken {
        identity: Name,
        label: String,
        hash: String,
        #[serde(default)]
        expires_in: Option<DurationSpec>,
    },
    RevokeToken {
        token: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitSpec {
    /// Defaults to the actor: a request for oneself.
    #[serde(default)]
    beneficiary: Option<Name>,
    entitlement: EntitlementRef,
    justification: Justification,
    #[serde(default)]
    ticket: Option<TicketRef>,
    duration: DurationSpec,
    #[serde(default)]
    kind: Option<RequestKind>,
    #[serde(default)]
    constraints: Option<Constraints>,
    #[serde(default)]
    sod_exception: Option<Justification>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegateSpec {
    #[serde(default)]
    delegator: Option<Name>,
    delegate: Name,
    #[serde(default)]
    from_in: Option<DurationSpec>,
    until_in: DurationSpec,
    #[serde(default)]
    systems: Vec<Name>,
    #[serde(default)]
    tiers: Vec<writ_core::RiskTier>,
    reason: Reason,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideSpec {
    request: String,
    #[serde(default)]
    step: Option<u32>,
    #[serde(default)]
    comment: Option<Comment>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    refused: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    message_contains: Option<String>,
    #[serde(default)]
    basis_contains: Option<String>,
    #[serde(default)]
    decided: Option<DecidedCheck>,
    #[serde(default)]
    requests: BTreeMap<String, String>,
    #[serde(default)]
    grants: BTreeMap<String, GrantCheck>,
    #[serde(default)]
    eligible: Vec<EligibleCheck>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecidedCheck {
    step: u32,
    role: String,
    #[serde(default)]
    approver: Option<String>,
    /// The ids of the Cedar policies the decision recorded as its authority.
    #[serde(default)]
    policies: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantCheck {
    #[serde(default)]
    status: Option<String>,
    /// `expires_at` minus the step's time.
    #[serde(default)]
    expires_in: Option<DurationSpec>,
    /// `review_by` minus the step's time.
    #[serde(default)]
    review_in: Option<DurationSpec>,
    /// The request the grant comes from (`$n`).
    #[serde(default)]
    request: Option<String>,
    /// The grant this one renews (`@n`).
    #[serde(default)]
    renews: Option<String>,
    /// The grant that replaced this one (`@n`).
    #[serde(default)]
    successor: Option<String>,
    /// The job the worker would run now (`Grant::open_job`): `provision`,
    /// `deprovision` or `none`.
    #[serde(default)]
    open_job: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EligibleCheck {
    request: String,
    step: u32,
    identities: Vec<Name>,
    #[serde(default)]
    excluded: Option<Vec<Name>>,
}

// ---- the world -------------------------------------------------------------------

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Writ's state as the store keeps it, in memory.
#[derive(Debug)]
struct World {
    org: Org,
    policy: ApprovalPolicy,
    policy_version: String,
    /// The policy's Cedar set, compiled as the store compiles it.
    authority: Authority,
    active_policy: Option<String>,
    /// In creation order: `$1` is `requests[0]`.
    requests: Vec<Request>,
    /// In creation order: `@1` is `grants[0]`.
    grants: Vec<Grant>,
    /// In creation order: `#1` is `tokens[0]`.
    tokens: Vec<Token>,
    /// The ledger: every leaf as sealed, with its personal document.
    leaves: Vec<Leaf>,
    /// Salts handed out so far; the next salt is this counter's bytes.
    salts: u128,
    next_seq: u64,
    provisioned_systems: BTreeSet<Name>,
}

impl World {
    fn new() -> World {
        let policy = ApprovalPolicy::default();
        let policy_version = policy.version();
        World {
            org: Org::default(),
            authority: ActivePolicy::new(policy.clone()).authority,
            policy,
            policy_version,
            active_policy: None,
            requests: Vec::new(),
            grants: Vec::new(),
            tokens: Vec::new(),
            leaves: Vec::new(),
            salts: 0,
            next_seq: 1,
            provisioned_systems: BTreeSet::new(),
        }
    }

    /// Every projection rebuilt from the ledger's bytes alone: the leaves, and their
    /// personal documents unless `erased`, when every personal value is gone.
    fn replay(leaves: &[Leaf], erased: bool) -> Result<World, String> {
        let mut w = World::new();
        for leaf in leaves {
            let personal = (!erased).then_some(&leaf.personal[..]);
            let opened =
                Recorded::open(&leaf.leaf, personal).map_err(|e| format!("replay: {e}"))?;
            let sealed: Vec<String> = Personal::parse(&leaf.personal)
                .map_err(|e| format!("replay: {e}"))?
                .paths()
                .map(str::to_owned)
                .collect();
            let expected_erased = if erased { sealed } else { Vec::new() };
            ensure!(
                opened.erased == expected_erased,
                "replay: leaf {} lists {:?} as erased, expected {:?}",
                opened.recorded.seq,
                opened.erased,
                expected_erased
            );
            let rec = opened.recorded;
            ensure!(
                rec.seq == w.next_seq,
                "replay: leaf has seq {}, expected {}",
                rec.seq,
                w.next_seq
            );
            w.apply(&rec)?;
            w.leaves.push(leaf.clone());
            w.next_seq += 1;
        }
        Ok(w)
    }

    /// Canonical bytes of the whole state, to compare two worlds.
    fn snapshot(&self) -> Vec<u8> {
        canonical_bytes(&json!({
            "identities": self.org.identities,
            "systems": self.org.systems,
            "entitlements": self.org.entitlements,
            "policy": self.policy,
            "policy_version": self.policy_version,
            "active_policy": self.active_policy,
            "requests": self.requests,
            "grants": self.grants,
            "tokens": self.tokens,
            "leaves": self.leaves.iter().map(|l| [hex(&l.leaf), hex(&l.personal)]).collect::<Vec<_>>(),
            "next_seq": self.next_seq,
        }))
        .expect("the world encodes canonically")
    }

    fn request(&self, id: &RequestId) -> Option<&Request> {
        self.requests.iter().find(|r| r.id() == id)
    }

    fn grant(&self, id: &GrantId) -> Option<&Grant> {
        self.grants.iter().find(|g| &g.id == id)
    }

    fn request_ref(&self, r: &str) -> Result<RequestId, String> {
        match r.strip_prefix('$') {
            Some(n) => nth(&self.requests, n, r).map(|x| x.id().clone()),
            None => RequestId::parse(r),
        }
    }

    fn grant_ref(&self, r: &str) -> Result<GrantId, String> {
        match r.strip_prefix('@') {
            Some(n) => nth(&self.grants, n, r).map(|g| g.id.clone()),
            None => GrantId::parse(r),
        }
    }

    fn token_ref(&self, r: &str) -> Result<TokenId, String> {
        match r.strip_prefix('#') {
            Some(n) => nth(&self.tokens, n, r).map(|t| t.id.clone()),
            None => TokenId::parse(r),
        }
    }

    /// Applies one recorded event the way the store's projector does.
    fn apply(&mut self, rec: &Recorded) -> Result<(), String> {
        let missing = |what: &str, id: &dyn std::fmt::Display| {
            format!(
                "event {} ({}) refers to {what} `{id}`, which the world does not hold",
                rec.seq,
                rec.event.kind()
            )
        };
        match &rec.event {
            Event::PolicyActivated {
                version, policy, ..
            } => {
                ensure!(
                    &policy.version() == version,
                    "policy_activated names version {version}, but the policy hashes to {}",
                    policy.version()
                );
                self.policy = policy.clone();
                self.authority = ActivePolicy::new(policy.clone()).authority;
                self.policy_version = version.clone();
                self.active_policy = Some(version.clone());
            }
            e @ (Event::IdentityUpserted { .. }
            | Event::SystemUpserted { .. }
            | Event::EntitlementUpserted { .. }
            | Event::DelegationGranted { .. }
            | Event::DelegationRevoked { .. }) => {
                ensure!(self.org.apply(e), "Org::apply ignored a catalogue event");
            }
            Event::TokenIssued { token } => {
                ensure!(
                    self.tokens.iter().all(|t| t.id != token.id),
                    "token `{}` issued twice",
                    token.id
                );
                self.tokens.push(token.clone());
            }
            Event::TokenRevoked { token } => {
                let t = self
                    .tokens
                    .iter_mut()
                    .find(|t| &t.id == token)
                    .ok_or_else(|| missing("token", token))?;
                t.revoked_at = Some(rec.at);
            }
            Event::RequestSubmitted { request, digest } => {
                // The digest leaves the (personal) justification out: see `personal`.
                let mut masked = serde_json::to_value(request).map_err(|e| e.to_string())?;
                masked["justification"] = Value::Null;
                if let Some(e) = masked
                    .get_mut("sod_exception")
                    .and_then(Value::as_object_mut)
                {
                    e.insert("justification".into(), Value::Null);
                }
                let bytes = canonical_bytes(&masked).map_err(|e| e.to_string())?;
                ensure!(
                    *digest == sha256_hex(&bytes),
                    "request `{}` has digest {digest}, not the SHA-256 of its submission \
                     without its justification",
                    request.id
                );
                ensure!(
                    request.policy_version == self.policy_version,
                    "request `{}` names policy {}, not the active {}",
                    request.id,
                    request.policy_version,
                    self.policy_version
                );
                ensure!(
                    self.request(&request.id).is_none(),
                    "request `{}` submitted twice",
                    request.id
                );
                self.requests
                    .push(Request::submitted(request.clone(), digest.clone()));
            }
            Event::StepDecided {
                request,
                request_digest,
                policy_version,
                ..
            } => {
                let r = self
                    .requests
                    .iter_mut()
                    .find(|r| r.id() == request)
                    .ok_or_else(|| missing("request", request))?;
                ensure!(
                    &r.digest == request_digest,
                    "a decision on `{request}` names digest {request_digest}, not the request's {}",
                    r.digest
                );
                ensure!(
                    policy_version == &self.policy_version,
                    "a decision on `{request}` names policy {policy_version}, not the active {}",
                    self.policy_version
                );
                r.apply(rec);
            }
            Event::RequestApproved { request, .. }
            | Event::RequestDenied { request, .. }
            | Event::RequestCancelled { request, .. }
            | Event::RequestTimedOut { request, .. }
            | Event::StepEscalated { request, .. }
            | Event::ApprovalReminded { request, .. }
            | Event::BreakGlassUsed { request, .. }
            | Event::IncidentReviewEscalated { request, .. }
            | Event::IncidentReviewClosed { request, .. } => {
                let r = self
                    .requests
                    .iter_mut()
                    .find(|r| r.id() == request)
                    .ok_or_else(|| missing("request", request))?;
                r.apply(rec);
            }
            Event::GrantCreated { grant, .. } => {
                ensure!(self.grant(grant).is_none(), "grant `{grant}` created twice");
                let g = Grant::created(rec).ok_or_else(|| missing("grant", grant))?;
                self.grants.push(g);
            }
            Event::GrantRenewed { grant, .. }
            | Event::GrantRevoked { grant, .. }
            | Event::GrantExpired { grant }
            | Event::GrantProvisioned { grant, .. }
            | Event::GrantDeprovisioned { grant, .. }
            | Event::ProvisioningFailed { grant, .. }
            | Event::ProvisioningRetried { grant, .. }
            | Event::ProvisioningResolved { grant, .. }
            | Event::AuthorityRechecked { grant, .. }
            | Event::CredentialIssued { grant, .. }
            | Event::CredentialRevoked { grant, .. }
            | Event::CredentialRotationDue { grant, .. }
            | Event::ReviewDecided { grant, .. }
            | Event::DriftFound {
                drift: Drift {
                    grant: Some(grant), ..
                },
                ..
            } => {
                let g = self
                    .grants
                    .iter_mut()
                    .find(|g| &g.id == grant)
                    .ok_or_else(|| missing("grant", grant))?;
                g.apply(rec);
            }
            // Campaigns and items are the store's projections; the scenarios exercise
            // the grant side (review_by, revocation) only.
            Event::CampaignLaunched { .. }
            | Event::ReviewItemsOpened { .. }
            | Event::ReviewItemsReassigned { .. }
            | Event::ReviewNotified { .. }
            | Event::ReviewerFlagged { .. }
            | Event::CampaignClosed { .. } => {}
            Event::PersonalDataErased { .. }
            | Event::DriftFound { .. }
            | Event::DriftResolved { .. } => {}
        }
        Ok(())
    }

    /// Fills `Ctx` exactly as the store does (see `Command::needs`) and decides.
    fn decide(
        &self,
        actor: &Actor,
        command: &Command,
        now: Timestamp,
        ids: &mut SequentialIds,
    ) -> Result<Vec<Event>, Refusal> {
        let needs = command.needs();
        let request = needs.request.as_ref().and_then(|id| self.request(id));
        let grant_id = needs
            .grant
            .clone()
            .or_else(|| request.and_then(|r| r.submission.renews.clone()));
        let grant = grant_id.as_ref().and_then(|id| self.grant(id));
        let token = needs
            .token
            .as_ref()
            .and_then(|id| self.tokens.iter().find(|t| &t.id == id));
        let (open, active) = match &needs.pair {
            Some((b, e)) => (
                self.requests
                    .iter()
                    .find(|r| {
                        r.status == RequestStatus::Pending
                            && &r.submission.beneficiary == b
                            && &r.submission.entitlement == e
                    })
                    .map(Request::id),
                self.grants
                    .iter()
                    .find(|g| g.is_live() && &g.beneficiary == b && &g.entitlement == e),
            ),
            None => (None, None),
        };
        // What separation of duties counts: the store's `holdings_of`, in memory.
        let holdings: Vec<Holding> = match &needs.pair {
            Some((b, _)) => self
                .grants
                .iter()
                .filter(|g| {
                    &g.beneficiary == b
                        && matches!(g.status, GrantStatus::Pending | GrantStatus::Active)
                })
                .map(|g| Holding {
                    entitlement: g.entitlement.clone(),
                    held_as: format!("grant {}", g.id),
                })
                .chain(
                    self.requests
                        .iter()
                        .filter(|r| {
                            r.status == RequestStatus::Pending && &r.submission.beneficiary == b
                        })
                        .map(|r| Holding {
                            entitlement: r.submission.entitlement.clone(),
                            held_as: format!("request {}", r.id()),
                        }),
                )
                .collect(),
            None => Vec::new(),
        };
        let ctx = Ctx {
            org: &self.org,
            policy: &self.policy,
            policy_version: &self.policy_version,
            authority: &self.authority,
            active_policy_version: self.active_policy.as_deref(),
            now,
            request,
            grant,
            token,
            pair: PairState {
                open_request: open,
                active_grant: active,
            },
            provisioned_systems: &self.provisioned_systems,
            review: &ReviewCtx::default(),
            holdings: &holdings,
        };
        decide(&ctx, actor, command, ids)
    }

    /// Wraps each event in a `Recorded`, seals it, checks that it opens back to the
    /// same value and seals again to the same bytes, and applies the opened copy (what
    /// a replay would see).
    fn record(
        &mut self,
        at: Timestamp,
        actor: &Actor,
        events: Vec<Event>,
    ) -> Result<Vec<Recorded>, String> {
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let rec = Recorded {
                seq: self.next_seq,
                at,
                actor: actor.clone(),
                event,
            };
            let kind = rec.event.kind();
            let first_salt = self.salts;
            let sealed = rec
                .seal(&mut || counter(&mut self.salts))
                .map_err(|e| format!("{kind} does not seal: {e}"))?;
            let opened = Recorded::open(&sealed.leaf, Some(&sealed.personal)).map_err(|e| {
                format!(
                    "{kind} does not open: {e}\n{}",
                    String::from_utf8_lossy(&sealed.leaf)
                )
            })?;
            ensure!(
                opened.recorded == rec && opened.erased.is_empty(),
                "{kind} opens to a different value:\n{rec:?}\n{opened:?}"
            );
            let mut replayed = first_salt;
            let again = opened
                .recorded
                .seal(&mut || counter(&mut replayed))
                .map_err(|e| e.to_string())?;
            ensure!(
                again == sealed && replayed == self.salts,
                "{kind} seals to different bytes with the same salts"
            );
            // No personal string of any length worth checking appears in the leaf.
            let personal = Personal::parse(&sealed.personal).map_err(|e| e.to_string())?;
            let doc: Value = serde_json::from_slice(&sealed.personal).map_err(|e| e.to_string())?;
            for path in personal.paths() {
                if let Some(text) = doc[path]["value"].as_str()
                    && text.chars().count() >= 12
                {
                    ensure!(
                        !String::from_utf8_lossy(&sealed.leaf).contains(text),
                        "{kind}: the leaf holds the personal value at `{path}` in clear"
                    );
                }
            }
            self.apply(&opened.recorded)?;
            self.leaves.push(Leaf {
                leaf: sealed.leaf,
                personal: sealed.personal,
            });
            self.next_seq += 1;
            out.push(rec);
        }
        Ok(out)
    }

    fn command(
        &self,
        spec: &CommandSpec,
        actor: &Actor,
        now: Timestamp,
    ) -> Result<Command, String> {
        Ok(match spec {
            CommandSpec::Submit(s) => Command::Submit {
                beneficiary: s
                    .beneficiary
                    .clone()
                    .or_else(|| actor.identity().cloned())
                    .ok_or("a submit by a system actor must name its beneficiary")?,
                entitlement: s.entitlement.clone(),
                justification: s.justification.clone(),
                ticket: s.ticket.clone(),
                duration: s.duration,
                kind: s.kind.unwrap_or(RequestKind::Standard),
                constraints: s.constraints.clone(),
                sod_exception: s.sod_exception.clone(),
            },
            CommandSpec::Approve(d) | CommandSpec::Deny(d) => Command::Decide {
                request: self.request_ref(&d.request)?,
                step: d.step,
                decision: if matches!(spec, CommandSpec::Approve(_)) {
                    Decision::Approve
                } else {
                    Decision::Deny
                },
                comment: d.comment.clone(),
            },
            CommandSpec::Cancel { request, reason } => Command::Cancel {
                request: self.request_ref(request)?,
                reason: reason.clone(),
            },
            CommandSpec::Revoke { grant, reason } => Command::RevokeGrant {
                grant: self.grant_ref(grant)?,
                reason: reason.clone(),
            },
            CommandSpec::Expire { grant } => Command::ExpireGrant {
                grant: self.grant_ref(grant)?,
            },
            CommandSpec::Confirm {
                grant,
                action,
                change,
            } => Command::ConfirmProvisioning {
                grant: self.grant_ref(grant)?,
                action: *action,
                receipt: Receipt {
                    connector: "ldap".into(),
                    change: change.clone().unwrap_or_else(|| {
                        match action {
                            JobAction::Provision => "added",
                            JobAction::Deprovision => "removed",
                        }
                        .into()
                    }),
                    account_ref: "uid=someone".into(),
                    target_ref: "cn=group".into(),
                    detail: "confirmed by the scenario".into(),
                },
            },
            CommandSpec::Fail {
                grant,
                action,
                attempts,
                error,
            } => Command::FailProvisioning {
                grant: self.grant_ref(grant)?,
                action: *action,
                attempts: *attempts,
                error: error.clone(),
            },
            CommandSpec::Drift {
                kind,
                grant,
                entitlement,
                account_ref,
                found,
            } => {
                let grant = grant.as_deref().map(|g| self.grant_ref(g)).transpose()?;
                let entitlement = match (&grant, entitlement) {
                    (_, Some(e)) => e.clone(),
                    (Some(g), None) => self
                        .grants
                        .iter()
                        .find(|x| &x.id == g)
                        .ok_or("no such grant")?
                        .entitlement
                        .clone(),
                    (None, None) => return Err("a drift names a grant or an entitlement".into()),
                };
                Command::RecordDrift {
                    drift: Drift {
                        kind: *kind,
                        system: entitlement.system.clone(),
                        entitlement,
                        account: None,
                        account_ref: account_ref.clone().unwrap_or_else(|| "uid=someone".into()),
                        grant,
                    },
                    found: *found,
                    action: if *kind == DriftKind::Missing {
                        "requeued"
                    } else {
                        "reported"
                    }
                    .into(),
                }
            }
            CommandSpec::IssueCredential {
                grant,
                fingerprint,
                expires_in,
                rotate_in,
            } => Command::IssueCredential {
                grant: self.grant_ref(grant)?,
                fingerprint: fingerprint.clone(),
                expires_at: now.plus(*expires_in),
                rotate_by: now.plus(*rotate_in),
            },
            CommandSpec::NoteRotationDue { grant, fingerprint } => Command::NoteRotationDue {
                grant: self.grant_ref(grant)?,
                fingerprint: fingerprint.clone(),
            },
            CommandSpec::Retry { grant, action } => Command::RetryProvisioning {
                grant: self.grant_ref(grant)?,
                action: *action,
            },
            CommandSpec::Resolve {
                grant,
                action,
                reason,
            } => Command::ResolveProvisioning {
                grant: self.grant_ref(grant)?,
                action: *action,
                reason: reason.clone(),
            },
            CommandSpec::Delegate(d) => Command::Delegate {
                spec: writ_core::DelegationSpec {
                    delegator: d.delegator.clone(),
                    delegate: d.delegate.clone(),
                    from: d.from_in.map(|f| now.plus(f)),
                    until: now.plus(d.until_in),
                    systems: d.systems.clone(),
                    tiers: d.tiers.clone(),
                    reason: d.reason.clone(),
                },
            },
            CommandSpec::CloseIncidentReview {
                request,
                finding,
                notes,
            } => Command::CloseIncidentReview {
                request: self.request_ref(request)?,
                finding: *finding,
                notes: notes.clone(),
            },
            CommandSpec::EscalateIncidentReview { request } => Command::EscalateIncidentReview {
                request: self.request_ref(request)?,
            },
            CommandSpec::RunDeadlines { request } => Command::RunRequestDeadlines {
                request: self.request_ref(request)?,
            },
            CommandSpec::RevokeDelegation { delegation, reason } => {
                let n: usize = delegation
                    .strip_prefix('%')
                    .and_then(|n| n.parse().ok())
                    .ok_or_else(|| format!("`{delegation}` is not %<n>"))?;
                let id = self
                    .org
                    .delegations
                    .keys()
                    .nth(n.saturating_sub(1))
                    .cloned()
                    .ok_or_else(|| format!("no delegation {delegation}"))?;
                Command::RevokeDelegation {
                    delegation: id,
                    reason: reason.clone(),
                }
            }
            CommandSpec::Recheck { grant } => {
                let grant = self.grant_ref(grant)?;
                let request = self
                    .grants
                    .iter()
                    .find(|g| g.id == grant)
                    .map(|g| g.request.clone())
                    .ok_or_else(|| format!("no grant `{grant}` in the world"))?;
                Command::RecheckAuthority { grant, request }
            }
            CommandSpec::UpsertIdentity(identity) => Command::UpsertIdentity {
                identity: identity.clone(),
            },
            CommandSpec::UpsertSystem(system) => Command::UpsertSystem {
                system: system.clone(),
            },
            CommandSpec::UpsertEntitlement(entitlement) => Command::UpsertEntitlement {
                entitlement: entitlement.clone(),
            },
            // Not validated here: `decide` must refuse an invalid policy itself.
            CommandSpec::ActivatePolicy(v) => Command::ActivatePolicy {
                policy: ApprovalPolicy::merged(v.clone()).map_err(|e| e.to_string())?,
            },
            CommandSpec::IssueToken {
                identity,
                label,
                hash,
                expires_in,
            } => Command::IssueToken {
                identity: identity.clone(),
                label: label.clone(),
                hash: hash.clone(),
                expires_at: expires_in.map(|d| now.plus(d)),
            },
            CommandSpec::RevokeToken { token } => Command::RevokeToken {
                token: self.token_ref(token)?,
            },
        })
    }

    /// Rules that must hold after every step, whatever the scenario says.
    /// An approver's inbox is read through `Authority::reach` and then judged
    /// exactly, so the reach must be a superset: everyone eligible now for an open
    /// step of a pending request is reached by it.
    fn check_reach(&self, now: Timestamp) -> Result<(), String> {
        let rules = Rules {
            policy: &self.policy,
            authority: &self.authority,
        };
        for r in self
            .requests
            .iter()
            .filter(|r| r.status == RequestStatus::Pending)
        {
            let s = &r.submission;
            for e in writ_core::eligibility(&self.org, rules, r, now) {
                for c in &e.eligible {
                    let Some(reach) = self.authority.reach(&self.org, &self.policy, &c.identity)
                    else {
                        continue;
                    };
                    let hit = reach.requesters.contains(&s.requester)
                        || reach.beneficiaries.contains(&s.beneficiary)
                        || reach.entitlements.contains(&s.entitlement)
                        || r.undecided_steps().any(|st| {
                            reach.open_roles.contains(&st.role.to_string())
                                || (reach.any_escalated && st.escalated)
                        });
                    ensure!(
                        hit,
                        "reach: `{}` may decide step {} of `{}`, but their reach misses it: {reach:?}",
                        c.identity,
                        e.index,
                        r.id()
                    );
                }
            }
        }
        Ok(())
    }

    fn check_invariants(&self) -> Result<(), String> {
        let mut pending = BTreeSet::new();
        for r in &self.requests {
            let s = &r.submission;
            let mut approvers = BTreeSet::new();
            for st in &r.steps {
                let Some(d) = &st.decision else { continue };
                ensure!(
                    d.approver != s.requester,
                    "invariant: requester `{}` decided step {} of `{}`",
                    d.approver,
                    st.index,
                    r.id()
                );
                ensure!(
                    d.approver != s.beneficiary,
                    "invariant: beneficiary `{}` decided step {} of `{}`",
                    d.approver,
                    st.index,
                    r.id()
                );
                ensure!(
                    approvers.insert(d.approver.clone()),
                    "invariant: `{}` decided two steps of `{}`",
                    d.approver,
                    r.id()
                );
                ensure!(
                    d.decided_at >= s.submitted_at,
                    "invariant: step {} of `{}` decided before submission",
                    st.index,
                    r.id()
                );
            }
            let all_approved = r.steps.iter().all(|st| {
                st.decision
                    .as_ref()
                    .is_some_and(|d| d.decision == Decision::Approve)
            });
            let any_denied = r.steps.iter().any(|st| {
                st.decision
                    .as_ref()
                    .is_some_and(|d| d.decision == Decision::Deny)
            });
            match r.status {
                RequestStatus::Pending => {
                    ensure!(
                        !all_approved && !any_denied && r.grant.is_none(),
                        "invariant: `{}` is pending but fully decided",
                        r.id()
                    );
                    ensure!(
                        pending.insert((s.beneficiary.clone(), s.entitlement.clone())),
                        "invariant: two pending requests for `{}` / `{}`",
                        s.beneficiary,
                        s.entitlement
                    );
                }
                RequestStatus::Approved => {
                    ensure!(
                        all_approved,
                        "invariant: `{}` approved without every step approved",
                        r.id()
                    );
                    let g = r
                        .grant
                        .as_ref()
                        .ok_or_else(|| format!("invariant: approved `{}` has no grant", r.id()))?;
                    ensure!(
                        self.grant(g).is_some(),
                        "invariant: approved `{}` names missing grant `{g}`",
                        r.id()
                    );
                }
                RequestStatus::Denied => ensure!(
                    (any_denied || r.cancel_reason.as_ref().map(|c| c.as_str()) == Some(TIMED_OUT))
                        && r.grant.is_none(),
                    "invariant: `{}` denied without a denial",
                    r.id()
                ),
                RequestStatus::Cancelled => ensure!(
                    r.grant.is_none(),
                    "invariant: cancelled `{}` has a grant",
                    r.id()
                ),
            }
        }
        let mut active = BTreeSet::new();
        for g in &self.grants {
            let r = self
                .request(&g.request)
                .ok_or_else(|| format!("invariant: grant `{}` has no request", g.id))?;
            let s = &r.submission;
            ensure!(
                r.status == RequestStatus::Approved && r.grant.as_ref() == Some(&g.id),
                "invariant: grant `{}` does not come from an approved request",
                g.id
            );
            ensure!(
                g.beneficiary == s.beneficiary && g.entitlement == s.entitlement,
                "invariant: grant `{}` is not for what `{}` asked",
                g.id,
                r.id()
            );
            ensure!(
                Some(g.granted_at) == r.closed_at,
                "invariant: grant `{}` starts at {}, not at the final approval",
                g.id,
                g.granted_at
            );
            ensure!(
                g.expires_at == g.granted_at.plus(s.duration),
                "invariant: grant `{}` expires at {}, not {} after its approval at {}",
                g.id,
                g.expires_at,
                s.duration,
                g.granted_at
            );
            ensure!(
                g.review_by > g.granted_at && g.review_by <= g.expires_at,
                "invariant: grant `{}` has review date {} outside its life",
                g.id,
                g.review_by
            );
            ensure!(
                g.renews == s.renews,
                "invariant: grant `{}` renews {:?}, its request {:?}",
                g.id,
                g.renews,
                s.renews
            );
            // A connected grant is active only once its target confirmed, and ended
            // only once the target confirmed the removal.
            let confirmed = match g.status {
                GrantStatus::Pending => g.provision && g.provisioned_at.is_none(),
                GrantStatus::Active => !g.provision || g.provisioned_at.is_some(),
                GrantStatus::Revoking | GrantStatus::Expiring => {
                    g.provision && g.deprovisioned_at.is_none()
                }
                GrantStatus::Revoked | GrantStatus::Expired => {
                    !g.provision || g.deprovisioned_at.is_some()
                }
                GrantStatus::Renewed => true,
            };
            ensure!(
                confirmed,
                "invariant: grant `{}` is {} but provision={} provisioned_at={:?} deprovisioned_at={:?}",
                g.id,
                g.status.as_str(),
                g.provision,
                g.provisioned_at,
                g.deprovisioned_at
            );
            if g.is_live() {
                ensure!(
                    active.insert((g.beneficiary.clone(), g.entitlement.clone())),
                    "invariant: two live grants of `{}` for `{}`",
                    g.entitlement,
                    g.beneficiary
                );
                ensure!(
                    g.ended_at.is_none(),
                    "invariant: active grant `{}` has ended",
                    g.id
                );
            } else {
                ensure!(
                    g.ended_at.is_some(),
                    "invariant: ended grant `{}` has no end time",
                    g.id
                );
            }
            if g.status == GrantStatus::Renewed {
                let next = g
                    .successor
                    .as_ref()
                    .and_then(|n| self.grant(n))
                    .ok_or_else(|| format!("invariant: renewed `{}` has no successor", g.id))?;
                ensure!(
                    next.renews.as_ref() == Some(&g.id),
                    "invariant: successor `{}` does not name `{}`",
                    next.id,
                    g.id
                );
            }
        }
        Ok(())
    }
}

fn nth<'a, T>(items: &'a [T], n: &str, r: &str) -> Result<&'a T, String> {
    let i: usize = n.parse().map_err(|_| format!("`{r}` is not a reference"))?;
    i.checked_sub(1)
        .and_then(|i| items.get(i))
        .ok_or_else(|| format!("`{r}` does not exist yet (there are {})", items.len()))
}

/// The next deterministic salt: the counter's bytes, after counting.
fn counter(n: &mut u128) -> [u8; 16] {
    *n += 1;
    n.to_be_bytes()
}

/// One ledger entry as the store keeps it.
#[derive(Debug, Clone)]
struct Leaf {
    leaf: Vec<u8>,
    personal: Vec<u8>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn kind_name(k: RefusalKind) -> &'static str {
    match k {
        RefusalKind::Invalid => "invalid",
        RefusalKind::NotFound => "not_found",
        RefusalKind::Forbidden => "forbidden",
        RefusalKind::Conflict => "conflict",
    }
}

// ---- running ---------------------------------------------------------------------

const DEFAULT_START: &str = "2026-03-02T09:00:00Z";

struct Runner {
    world: World,
    clock: ManualClock,
    ids: SequentialIds,
}

impl Runner {
    /// Runs a command that must succeed (the organisation and policy of a scenario).
    fn seed(&mut self, what: &str, command: Command) -> Result<(), String> {
        let actor = Actor::system("seed");
        let now = self.clock.now();
        let events = self
            .world
            .decide(&actor, &command, now, &mut self.ids)
            .map_err(|r| format!("organisation: {what} refused: {} ({})", r.code, r.message))?;
        self.world.record(now, &actor, events)?;
        Ok(())
    }

    fn step(&mut self, step: &StepSpec) -> Result<(), String> {
        if let Some(by) = &step.advance {
            self.clock.advance(DurationSpec::parse(by)?);
        }
        let now = self.clock.now();
        let actor = Actor::try_from(step.actor.clone())?;
        let command = self.world.command(&step.command, &actor, now)?;
        let e = &step.expect;
        let before = (self.world.snapshot(), format!("{:?}", self.ids));
        let result = self.world.decide(&actor, &command, now, &mut self.ids);
        let recorded = match (result, &e.events, &e.refused) {
            (_, Some(_), Some(_)) | (_, None, None) => {
                return Err("`expect` needs exactly one of `events` or `refused`".into());
            }
            (Ok(events), Some(want), None) => {
                let got: Vec<&str> = events.iter().map(Event::kind).collect();
                ensure!(got == *want, "expected events {want:?}, got {got:?}");
                self.world.record(now, &actor, events)?
            }
            (Ok(events), None, Some(code)) => {
                let got: Vec<&str> = events.iter().map(Event::kind).collect();
                return Err(format!(
                    "expected refusal `{code}`, but the command succeeded with {got:?}"
                ));
            }
            (Err(r), Some(want), None) => {
                return Err(format!(
                    "expected events {want:?}, but the command was refused: {} ({}): {}",
                    r.code,
                    kind_name(r.kind),
                    r.message
                ));
            }
            (Err(r), None, Some(code)) => {
                let kind = e
                    .kind
                    .as_deref()
                    .ok_or("a `refused` expectation needs a `kind`")?;
                ensure!(
                    r.code == code && kind_name(r.kind) == kind,
                    "expected refusal `{code}` ({kind}), got `{}` ({}): {}",
                    r.code,
                    kind_name(r.kind),
                    r.message
                );
                if let Some(part) = &e.message_contains {
                    ensure!(
                        r.message.contains(part.as_str()),
                        "refusal message does not contain {part:?}: {}",
                        r.message
                    );
                }
                ensure!(!r.message.trim().is_empty(), "refusal has no message");
                let after = (self.world.snapshot(), format!("{:?}", self.ids));
                ensure!(before == after, "a refused command changed the world");
                Vec::new()
            }
        };
        if e.refused.is_none() {
            ensure!(
                e.kind.is_none() && e.message_contains.is_none(),
                "`kind` and `message_contains` go with `refused`"
            );
        }
        self.checks(e, &recorded, now)
    }

    fn checks(&self, e: &Expect, recorded: &[Recorded], now: Timestamp) -> Result<(), String> {
        let w = &self.world;
        if let Some(part) = &e.basis_contains {
            let basis = recorded
                .iter()
                .find_map(|r| match &r.event {
                    Event::StepDecided { basis, .. } | Event::GrantRevoked { basis, .. } => {
                        Some(basis)
                    }
                    _ => None,
                })
                .ok_or("`basis_contains`: the step produced no decision or revocation")?;
            ensure!(
                basis.contains(part.as_str()),
                "basis {basis:?} does not contain {part:?}"
            );
        }
        if let Some(want) = &e.decided {
            let (step, role, approver, authority) = recorded
                .iter()
                .find_map(|r| match &r.event {
                    Event::StepDecided {
                        step,
                        role,
                        approver,
                        authority,
                        ..
                    } => Some((*step, role.to_string(), approver.to_string(), authority)),
                    _ => None,
                })
                .ok_or("`decided`: the step produced no step_decided event")?;
            ensure!(
                step == want.step && role == want.role,
                "decided step {step} ({role}), expected step {} ({})",
                want.step,
                want.role
            );
            if let Some(a) = &want.approver {
                ensure!(&approver == a, "decided by `{approver}`, expected `{a}`");
            }
            if let Some(p) = &want.policies {
                let got = authority.as_ref().map(|a| &a.policies);
                ensure!(
                    got == Some(p),
                    "decided under policies {got:?}, expected {p:?}"
                );
            }
        }
        for (r, status) in &e.requests {
            let id = w.request_ref(r)?;
            let req = w.request(&id).ok_or_else(|| format!("no request {r}"))?;
            ensure!(
                req.status.as_str() == status,
                "request {r} is {}, expected {status}",
                req.status.as_str()
            );
        }
        for (r, want) in &e.grants {
            let id = w.grant_ref(r)?;
            let g = w.grant(&id).ok_or_else(|| format!("no grant {r}"))?;
            if let Some(s) = &want.status {
                ensure!(
                    g.status.as_str() == s,
                    "grant {r} is {}, expected {s}",
                    g.status.as_str()
                );
            }
            if let Some(d) = want.expires_in {
                ensure!(
                    g.expires_at == now.plus(d),
                    "grant {r} expires at {}, expected {} ({d} after {now})",
                    g.expires_at,
                    now.plus(d)
                );
            }
            if let Some(d) = want.review_in {
                ensure!(
                    g.review_by == now.plus(d),
                    "grant {r} is due for review at {}, expected {} ({d} after {now})",
                    g.review_by,
                    now.plus(d)
                );
            }
            if let Some(q) = &want.request {
                let q = w.request_ref(q)?;
                ensure!(
                    g.request == q,
                    "grant {r} comes from `{}`, expected `{q}`",
                    g.request
                );
            }
            if let Some(o) = &want.renews {
                let o = w.grant_ref(o)?;
                ensure!(
                    g.renews.as_ref() == Some(&o),
                    "grant {r} renews {:?}, expected `{o}`",
                    g.renews
                );
            }
            if let Some(n) = &want.successor {
                let n = w.grant_ref(n)?;
                ensure!(
                    g.successor.as_ref() == Some(&n),
                    "grant {r} has successor {:?}, expected `{n}`",
                    g.successor
                );
            }
            if let Some(job) = &want.open_job {
                let open = g.open_job().map_or("none", JobAction::as_str);
                ensure!(
                    open == job,
                    "grant {r} has open job `{open}`, expected `{job}`"
                );
            }
        }
        for check in &e.eligible {
            let id = w.request_ref(&check.request)?;
            let req = w
                .request(&id)
                .ok_or_else(|| format!("no request {}", check.request))?;
            let rules = Rules {
                policy: &w.policy,
                authority: &w.authority,
            };
            let el = step_eligibility(&w.org, rules, req, check.step, now);
            let got: Vec<&Name> = el.eligible.iter().map(|c| &c.identity).collect();
            let want: Vec<&Name> = check.identities.iter().collect();
            ensure!(
                got == want,
                "eligible for step {} of {}: {got:?}, expected {want:?}",
                check.step,
                check.request
            );
            if let Some(excluded) = &check.excluded {
                let got: Vec<&Name> = el.excluded.iter().map(|x| &x.identity).collect();
                let want: Vec<&Name> = excluded.iter().collect();
                ensure!(
                    got == want,
                    "excluded from step {} of {}: {got:?}, expected {want:?}",
                    check.step,
                    check.request
                );
            }
        }
        Ok(())
    }
}

/// What a scenario run leaves behind: how many steps it took and the digest of the
/// ledger it wrote (see [`ledger_digest`]).
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    steps: usize,
    leaves: usize,
    digest: String,
}

/// SHA-256 over every leaf and its personal document, each prefixed by its length:
/// any change to one byte of the ledger a scenario writes changes it.
fn ledger_digest(leaves: &[Leaf]) -> String {
    let mut bytes = Vec::new();
    for l in leaves {
        for part in [&l.leaf, &l.personal] {
            bytes.extend_from_slice(&(part.len() as u64).to_be_bytes());
            bytes.extend_from_slice(part);
        }
    }
    sha256_hex(&bytes)
}

fn run_scenario(path: &Path) -> Result<Outcome, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let sc: Scenario =
        serde_json::from_str(&text).map_err(|e| format!("not a valid scenario: {e}"))?;
    ensure!(
        !sc.description.trim().is_empty(),
        "the scenario has no description"
    );
    ensure!(!sc.steps.is_empty(), "the scenario has no steps");
    let start = Timestamp::parse_rfc3339(sc.start.as_deref().unwrap_or(DEFAULT_START))?;
    let mut run = Runner {
        world: World {
            provisioned_systems: sc.provisioned_systems.clone(),
            ..World::new()
        },
        clock: ManualClock::new(start),
        ids: SequentialIds::default(),
    };
    if let Some(p) = &sc.policy {
        let policy = ApprovalPolicy::from_toml_value(p.clone()).map_err(|e| e.to_string())?;
        run.seed("policy", Command::ActivatePolicy { policy })?;
    }
    for identity in &sc.organisation.identities {
        let what = format!("identity `{}`", identity.name);
        let identity = identity.clone();
        run.seed(&what, Command::UpsertIdentity { identity })?;
    }
    for system in &sc.organisation.systems {
        let what = format!("system `{}`", system.name);
        let system = system.clone();
        run.seed(&what, Command::UpsertSystem { system })?;
    }
    for entitlement in &sc.organisation.entitlements {
        let what = format!("entitlement `{}`", entitlement.reference());
        let entitlement = entitlement.clone();
        run.seed(&what, Command::UpsertEntitlement { entitlement })?;
    }
    run.world.check_invariants()?;
    for (i, step) in sc.steps.iter().enumerate() {
        let label = match &step.note {
            Some(n) => format!("step {} ({n})", i + 1),
            None => format!("step {}", i + 1),
        };
        run.step(step)
            .and_then(|()| run.world.check_invariants())
            .and_then(|()| run.world.check_reach(run.clock.now()))
            .map_err(|e| format!("{label}, `{}`: {e}", step.actor))?;
    }
    let rebuilt = World::replay(&run.world.leaves, false)?;
    ensure!(
        rebuilt.snapshot() == run.world.snapshot(),
        "the world rebuilt from the ledger differs from the live one"
    );
    // With every personal value erased, the same ledger still replays (digests and
    // all) into the same requests, grants and tokens, only with placeholders.
    let erased = World::replay(&run.world.leaves, true)?;
    let shape = |w: &World| {
        let requests: Vec<_> = w
            .requests
            .iter()
            .map(|r| (r.id().clone(), r.status, r.digest.clone(), r.grant.clone()))
            .collect();
        let grants: Vec<_> = w.grants.iter().map(|g| (g.id.clone(), g.status)).collect();
        let tokens: Vec<_> = w.tokens.iter().map(|t| t.id.clone()).collect();
        let names: Vec<_> = w.org.identities.keys().cloned().collect();
        format!("{requests:?} {grants:?} {tokens:?} {names:?}")
    };
    ensure!(
        shape(&erased) == shape(&run.world),
        "the world rebuilt with personal values erased differs in shape from the live one"
    );
    ensure!(
        erased
            .requests
            .iter()
            .all(|r| r.submission.justification.as_str() == ERASED),
        "an erased justification does not read as `{ERASED}`"
    );
    Ok(Outcome {
        steps: sc.steps.len(),
        leaves: run.world.leaves.len(),
        digest: ledger_digest(&run.world.leaves),
    })
}

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn scenarios() {
    let files = scenario_files();
    assert!(
        files.len() >= 12,
        "expected the scenario corpus, found {} files",
        files.len()
    );
    let pins = Pins::load();
    let mut failures = Vec::new();
    let mut steps = 0;
    let mut written = Vec::new();
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match run_scenario(path) {
            Ok(out) => {
                steps += out.steps;
                println!("ok   {name} ({} steps, {} leaves)", out.steps, out.leaves);
                let line = format!("{name} {} {}", out.leaves, out.digest);
                if let Err(e) = pins.check(&name, &line) {
                    failures.push(format!("{name}: {e}"));
                }
                written.push(line);
            }
            Err(e) => {
                println!("FAIL {name}: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
    pins.finish(&written);
    println!("{} scenarios, {steps} steps", files.len());
}

/// The ledger bytes each scenario writes, pinned in `tests/scenarios/ledger.pins`
/// (`file leaves digest` per line): a change of layout or of code that is meant to
/// change no behaviour must leave every leaf byte for byte the same. A deliberate
/// change of the encoding rewrites the file with `WRIT_UPDATE_PINS=1` and says why
/// in its commit.
struct Pins {
    path: PathBuf,
    lines: BTreeMap<String, String>,
    update: bool,
}

impl Pins {
    fn load() -> Pins {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/ledger.pins");
        let text = fs::read_to_string(&path).unwrap_or_default();
        let lines = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| Some((l.split(' ').next()?.to_owned(), l.to_owned())))
            .collect();
        Pins {
            path,
            lines,
            update: std::env::var_os("WRIT_UPDATE_PINS").is_some(),
        }
    }

    fn check(&self, name: &str, line: &str) -> Result<(), String> {
        if self.update {
            return Ok(());
        }
        match self.lines.get(name) {
            Some(pinned) if pinned == line => Ok(()),
            Some(pinned) => Err(format!(
                "the ledger it writes changed: pinned `{pinned}`, now `{line}`"
            )),
            None => Err(format!(
                "no pinned ledger digest in {} (run with WRIT_UPDATE_PINS=1 once)",
                self.path.display()
            )),
        }
    }

    fn finish(&self, written: &[String]) {
        if self.update {
            let mut text = String::from(
                "# The ledger each scenario writes: file, number of leaves, SHA-256 over every\n\
                 # leaf and personal document (length-prefixed). Written by WRIT_UPDATE_PINS=1.\n",
            );
            for l in written {
                text.push_str(l);
                text.push('\n');
            }
            fs::write(&self.path, text).expect("the pins file is writable");
        } else {
            let stale: Vec<_> = self
                .lines
                .keys()
                .filter(|k| {
                    !written
                        .iter()
                        .any(|w| w.split(' ').next() == Some(k.as_str()))
                })
                .collect();
            assert!(
                stale.is_empty(),
                "pins for scenarios that no longer exist: {stale:?}"
            );
        }
    }
}

/// The runner must itself refuse a scenario that expects the wrong thing; otherwise
/// a green corpus proves nothing.
#[test]
fn the_runner_catches_a_wrong_expectation() {
    let dir = std::env::temp_dir().join(format!("writ-core-scenarios-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    let base = json!({
        "description": "a deliberately wrong expectation",
        "organisation": {
            "identities": [
                {"name": "bob", "display_name": "Bob", "status": "active",
                 "kind": {"type": "human", "email": "bob@example.com", "employment_type": "employee"}},
                {"name": "alice", "display_name": "Alice", "status": "active",
                 "kind": {"type": "human", "email": "alice@example.com", "manager": "bob", "employment_type": "employee"}}
            ],
            "systems": [{"name": "wiki", "display_name": "Wiki", "kind": "saas", "owner": "bob"}],
            "entitlements": [{"system": "wiki", "name": "editor", "display_name": "Editor",
                "kind": "role", "external_ref": "editors", "risk": "low", "privileged": false,
                "max_duration": "30d", "break_glass": false}]
        },
        "steps": [
            {"actor": "alice", "do": {"submit": {"entitlement": "wiki/editor",
                "justification": "edit the onboarding page", "duration": "8h"}},
             "expect": {"events": ["request_submitted"]}},
            {"actor": "alice", "do": {"approve": {"request": "$1"}},
             "expect": {"refused": "self-approval", "kind": "forbidden"}}
        ]
    });
    let good = dir.join("good.json");
    fs::write(&good, base.to_string()).unwrap();
    assert_eq!(run_scenario(&good).map(|o| o.steps), Ok(2));

    let wrong = |pointer: &str, value: Value| {
        let mut v = base.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match v.pointer_mut(parent).unwrap() {
            Value::Object(m) => {
                m.insert(key.to_owned(), value);
            }
            Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
            other => panic!("cannot set {pointer} in {other}"),
        }
        let p = dir.join("wrong.json");
        fs::write(&p, v.to_string()).unwrap();
        run_scenario(&p).unwrap_err()
    };
    let e = wrong("/steps/1/expect/refused", json!("not-eligible"));
    assert!(e.contains("step 2") && e.contains("self-approval"), "{e}");
    let e = wrong("/steps/1/expect/kind", json!("conflict"));
    assert!(e.contains("step 2"), "{e}");
    let e = wrong("/steps/0/expect/events", json!(["request_submitted", "x"]));
    assert!(e.contains("step 1"), "{e}");
    let e = wrong(
        "/steps/0/expect",
        json!({"refused": "duplicate-request", "kind": "conflict"}),
    );
    assert!(e.contains("succeeded"), "{e}");
    let e = wrong("/steps/0/do/submit/colour", json!("blue"));
    assert!(e.contains("unknown field"), "{e}");
    let e = wrong("/steps/1/do/approve/request", json!("$2"));
    assert!(e.contains("$2"), "{e}");
    fs::remove_dir_all(&dir).unwrap();
}
