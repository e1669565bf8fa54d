//! The verifiable ledger: signed checkpoints, the verifier key, leaves, RFC 9162
//! proofs, and evidence bundles.
//!
//! The checkpoint and the key are public: they reveal a size and a root, nothing
//! else, and auditors should be able to gossip them. Leaves and evidence carry
//! governance data and are for admins and auditors; proofs (hashes only) for anyone
//! signed in.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use utoipa::IntoParams;
use writ_core::{GrantId, RequestId};
use writ_ledger::evidence::{Bundle, BundleEntry};
use writ_ledger::hash_to_base64;
use writ_store::StoredEvent;

use super::{Params, json};
use crate::app::AppState;
use crate::extract::{Path, Principal};
use crate::problem::{ApiError, Problem};
use crate::wire::{AuditEvent, ConsistencyProof, InclusionProof, LedgerEntry};

fn text(body: String) -> Response {
    let mut res = (StatusCode::OK, body).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    res
}

fn auditors_only(p: &Principal) -> Result<(), ApiError> {
    if p.sees_everything() {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "audit-only",
            "ledger entries and evidence are readable by admins and auditors",
        ))
    }
}

/// The latest signed checkpoint, signing one first if none exists yet.
async fn latest_note(state: &AppState) -> Result<String, ApiError> {
    match state.store.latest_checkpoint().await? {
        Some(note) => Ok(note),
        None => Ok(state
            .store
            .sign_checkpoint(state.ledger_key.clone())
            .await?
            .note),
    }
}

/// The latest signed checkpoint (C2SP tlog-checkpoint as a signed note).
#[utoipa::path(get, path = "/api/v1/ledger/checkpoint", tag = "ledger", security(()),
    responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(text(latest_note(&state).await?))
}

/// Signs the current tree head now (if it grew since the last checkpoint) and returns
/// it (admins; the scheduler signs on its own schedule).
#[utoipa::path(post, path = "/api/v1/ledger/checkpoint", tag = "ledger",
    responses((status = 200, body = String, content_type = "text/plain"), (status = 401, body = Problem),
        (status = 403, body = Problem)))]
pub async fn sign_now(State(state): State<AppState>, p: Principal) -> Result<Response, ApiError> {
    if !p.identity.has_role(writ_core::Role::Admin) {
        return Err(ApiError::forbidden(
            "admin-only",
            "only admins sign a checkpoint on demand; the server signs on its own schedule",
        ));
    }
    let c = state
        .store
        .sign_checkpoint(state.ledger_key.clone())
        .await?;
    Ok(text(c.note))
}

/// The verifier key for checkpoints: `<name>+<key id>+<base64 Ed25519 key>`.
#[utoipa::path(get, path = "/api/v1/ledger/key", tag = "ledger", security(()),
    responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn key(State(state): State<AppState>) -> Response {
    text(format!("{}\n", state.ledger_key.verifier_key()))
}

pub fn audit_event(e: &StoredEvent) -> AuditEvent {
    AuditEvent {
        seq: e.recorded.seq,
        at: e.recorded.at.to_rfc3339(),
        actor: e.recorded.actor.to_string(),
        kind: e.recorded.event.kind().to_owned(),
        subject: e.recorded.event.subject(),
        leaf_hash: hash_to_base64(&writ_ledger::leaf_hash(&e.leaf)),
        event: serde_json::to_value(&e.recorded.event).unwrap_or_default(),
    }
}

/// One leaf: its exact bytes, the personal values it commits to, and the event.
#[utoipa::path(get, path = "/api/v1/ledger/entries/{index}", tag = "ledger",
    params(("index" = u64, Path, description = "leaf index, from 0")),
    responses((status = 200, body = LedgerEntry), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn entry(
    State(state): State<AppState>,
    p: Principal,
    Path(index): Path<String>,
) -> Result<Response, ApiError> {
    auditors_only(&p)?;
    let missing = || ApiError::not_found("no-such-entry", format!("no ledger entry `{index}`"));
    let i: u64 = index.parse().map_err(|_| missing())?;
    if i >= state.store.ledger_size().await? {
        return Err(missing());
    }
    let e = state.store.ledger_entry(i).await?.ok_or_else(missing)?;
    json(
        StatusCode::OK,
        &LedgerEntry {
            index: e.index(),
            leaf: B64.encode(&e.leaf),
            leaf_hash: hash_to_base64(&writ_ledger::leaf_hash(&e.leaf)),
            personal: e.personal.as_ref().map(|p| B64.encode(p)),
            erased: e.erased.clone(),
            event: audit_event(&e),
        },
    )
}

/// Resolves an optional tree size to one the ledger has, defaulting to the latest
/// checkpoint's so the proof can be checked against a signed root.
async fn tree_size(state: &AppState, size: Option<u64>) -> Result<u64, ApiError> {
    let current = state.store.ledger_size().await?;
    match size {
        Some(s) if s > current => Err(ApiError::not_found(
            "beyond-tree",
            format!("no tree of size {s}: the ledger has {current} entries"),
        )),
        Some(s) => Ok(s),
        None => {
            let note = latest_note(state).await?;
            let c = writ_ledger::open_checkpoint(&note, &state.ledger_key.verifier_key())
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(c.size)
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InclusionQuery {
    /// Leaf index, from 0.
    index: u64,
    /// Tree size to prove against (default: the latest checkpoint's).
    size: Option<u64>,
}

/// RFC 9162 inclusion proof of a leaf in the tree of a given size.
#[utoipa::path(get, path = "/api/v1/ledger/proof/inclusion", tag = "ledger", params(InclusionQuery),
    responses((status = 200, body = InclusionProof), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem)))]
pub async fn inclusion(
    State(state): State<AppState>,
    _p: Principal,
    Params(q): Params<InclusionQuery>,
) -> Result<Response, ApiError> {
    let size = tree_size(&state, q.size).await?;
    if q.index >= size {
        return Err(ApiError::not_found(
            "beyond-tree",
            format!(
                "index {} is not in a tree of {size} entries (indexes start at 0)",
                q.index
            ),
        ));
    }
    let proof = state.store.inclusion_proof(q.index, size).await?;
    json(
        StatusCode::OK,
        &InclusionProof {
            index: q.index,
            size,
            proof: proof.iter().map(hash_to_base64).collect(),
        },
    )
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyQuery {
    /// The older tree size (at least 1).
    #[param(minimum = 1)]
    old: u64,
    /// The newer tree size (default: the latest checkpoint's).
    new: Option<u64>,
}

/// RFC 9162 consistency proof: the tree of `new` entries extends the tree of `old`.
#[utoipa::path(get, path = "/api/v1/ledger/proof/consistency", tag = "ledger", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyProof), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn consistency(
    State(state): State<AppState>,
    _p: Principal,
    Params(q): Params<ConsistencyQuery>,
) -> Result<Response, ApiError> {
    let new = tree_size(&state, q.new).await?;
    if q.old == 0 {
        return Err(ApiError::bad_request(
            "bad-range",
            format!("need 1 <= old <= new; got old {} and new {new}", q.old),
        ));
    }
    if q.old > new {
        return Err(ApiError::invalid(
            "bad-range",
            format!("need 1 <= old <= new; got old {} and new {new}", q.old),
        ));
    }
    let proof = state.store.consistency_proof(q.old, new).await?;
    json(
        StatusCode::OK,
        &ConsistencyProof {
            old: q.old,
            new,
            proof: proof.iter().map(hash_to_base64).collect(),
        },
    )
}

/// A self-contained evidence bundle for a request or grant: every event about it with
/// its leaf bytes and inclusion proof, and the signed checkpoint they prove against.
#[utoipa::path(get, path = "/api/v1/evidence/{id}", tag = "ledger",
    params(("id" = String, Path, description = "a request (`req_…`) or grant (`grt_…`) id")),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn evidence(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auditors_only(&p)?;
    let missing = || ApiError::not_found("unknown-subject", format!("no request or grant `{id}`"));
    let request_id = if let Ok(g) = GrantId::parse(&id) {
        state.store.grant(&g).await?.ok_or_else(missing)?.request
    } else {
        RequestId::parse(&id).map_err(|_| missing())?
    };
    let request = state
        .store
        .request(&request_id)
        .await?
        .ok_or_else(missing)?;

    let mut events = state
        .store
        .events_of(&format!("policy:{}", request.submission.policy_version))
        .await?;
    events.truncate(1);
    // A step decided after a policy change was judged under the newer policy: the
    // bundle proves that one too.
    let mut later: Vec<&str> = request
        .steps
        .iter()
        .filter_map(|s| s.decision.as_ref().map(|d| d.policy_version.as_str()))
        .filter(|v| *v != request.submission.policy_version)
        .collect();
    later.sort_unstable();
    later.dedup();
    // A delegate's decision: the delegation it was made under, and its revocation.
    let mut under: Vec<String> = request
        .steps
        .iter()
        .filter_map(|s| s.decision.as_ref()?.authority.as_ref()?.delegation.as_ref())
        .map(|d| format!("delegation:{d}"))
        .collect();
    under.sort_unstable();
    under.dedup();
    for d in under {
        events.extend(state.store.events_of(&d).await?);
    }
    for v in later {
        if let Some(first) = state
            .store
            .events_of(&format!("policy:{v}"))
            .await?
            .into_iter()
            .next()
        {
            events.push(first);
        }
    }
    events.extend(
        state
            .store
            .events_of(&format!("request:{request_id}"))
            .await?,
    );
    if let Some(g) = &request.grant {
        events.extend(state.store.events_of(&format!("grant:{g}")).await?);
        // Access-review decisions about the grant live under their campaign.
        for seq in state.store.review_decisions_of(g).await? {
            if let Some(e) = state.store.ledger_entry(seq - 1).await? {
                events.push(e);
            }
        }
    }
    // A recheck before provisioning judged the approvers under the policy then in
    // force: the bundle proves that one too.
    let mut rechecked: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.recorded.event {
            writ_core::Event::AuthorityRechecked { policy_version, .. } => {
                Some(policy_version.clone())
            }
            _ => None,
        })
        .collect();
    rechecked.sort_unstable();
    rechecked.dedup();
    for v in rechecked {
        let proven = events.iter().any(|e| {
            matches!(&e.recorded.event, writ_core::Event::PolicyActivated { version, .. } if *version == v)
        });
        if !proven
            && let Some(first) = state
                .store
                .events_of(&format!("policy:{v}"))
                .await?
                .into_iter()
                .next()
        {
            events.push(first);
        }
    }
    events.sort_by_key(|e| e.recorded.seq);

    // Sign now so the bundle covers its newest event.
    let checkpoint = state
        .store
        .sign_checkpoint(state.ledger_key.clone())
        .await?;
    let mut entries = Vec::with_capacity(events.len());
    for e in &events {
        let proof = state
            .store
            .inclusion_proof(e.index(), checkpoint.size)
            .await?;
        entries.push(BundleEntry {
            index: e.index(),
            leaf: B64.encode(&e.leaf),
            personal: e.personal.as_ref().map(|p| B64.encode(p)),
            proof: proof.iter().map(hash_to_base64).collect(),
        });
    }
    let bundle = Bundle::new(
        format!("request:{request_id}"),
        checkpoint.note,
        state.ledger_key.verifier_key(),
        entries,
    );
    json(StatusCode::OK, &bundle)
}
