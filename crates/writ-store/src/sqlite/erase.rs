//! Erasing a person's personal data without breaking the ledger.
//!
//! Leaves commit to personal values through salted hashes; the values and salts live
//! beside the leaf in `events.personal`. Erasure deletes value and salt together from
//! every entry about the person, rebuilds the projections from what remains (erased
//! values read `[erased]`), and appends a `personal_data_erased` entry saying what was
//! done. No leaf changes, so the tree, every signed checkpoint and every inclusion
//! proof stay valid; what is lost is the ability to show or prove the erased values.

use std::collections::HashSet;
use std::path::Path;

use rusqlite::{TransactionBehavior, params};
use writ_core::{Actor, Clock, Event, Name, Personal, Recorded};

use super::rebuild::replay;
use super::rows::DbError;
use super::{ledger, open_offline, project, stored};
use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EraseReport {
    /// Entries whose personal values were (partly) erased.
    pub entries: u64,
    /// Personal values removed.
    pub fields: u64,
    /// The `personal_data_erased` entry recording it, if anything was erased.
    pub recorded_as: Option<u64>,
}

/// Which personal fields of an event concern `who`, given what came before.
struct Scope<'a> {
    who: &'a Name,
    requests: HashSet<String>,
    grants: HashSet<String>,
    delegations: HashSet<String>,
    known: bool,
}

impl Scope<'_> {
    fn paths(&mut self, rec: &Recorded, personal: &Personal) -> Vec<String> {
        let who = self.who;
        let by_them = matches!(&rec.actor, Actor::Identity(n) if n == who);
        match &rec.event {
            Event::IdentityUpserted { identity } if &identity.name == who => {
                self.known = true;
                personal.paths().map(str::to_owned).collect()
            }
            Event::TokenIssued { token } if &token.identity == who => {
                vec!["/event/token/label".into()]
            }
            Event::RequestSubmitted { request, .. }
                if &request.requester == who || &request.beneficiary == who =>
            {
                self.requests.insert(request.id.to_string());
                vec![
                    "/event/request/justification".into(),
                    "/event/request/sod_exception/justification".into(),
                ]
            }
            Event::IncidentReviewClosed { request, .. }
                if by_them || self.requests.contains(request.as_str()) =>
            {
                vec!["/event/notes".into()]
            }
            Event::DelegationGranted { delegation }
                if &delegation.delegator == who || &delegation.delegate == who =>
            {
                self.delegations.insert(delegation.id.to_string());
                vec!["/event/delegation/reason".into()]
            }
            Event::DelegationRevoked { delegation, .. }
                if by_them || self.delegations.contains(delegation.as_str()) =>
            {
                vec!["/event/reason".into()]
            }
            Event::ReviewDecided { grant, .. }
                if by_them || self.grants.contains(grant.as_str()) =>
            {
                vec!["/event/reason".into()]
            }
            Event::StepDecided {
                request, approver, ..
            } if approver == who || self.requests.contains(request.as_str()) => {
                vec!["/event/comment".into()]
            }
            Event::RequestCancelled { request, .. }
                if by_them || self.requests.contains(request.as_str()) =>
            {
                vec!["/event/reason".into()]
            }
            Event::GrantCreated {
                grant, beneficiary, ..
            } if beneficiary == who => {
                self.grants.insert(grant.to_string());
                vec![]
            }
            Event::GrantRevoked { grant, .. }
                if by_them || self.grants.contains(grant.as_str()) =>
            {
                vec!["/event/reason".into()]
            }
            _ => vec![],
        }
    }
}

/// Erases every personal value about `who` from the database at `path` (server
/// stopped). Refuses an identity the ledger never knew.
pub fn erase_identity(
    path: &Path,
    who: &Name,
    clock: &dyn Clock,
) -> Result<EraseReport, StoreError> {
    let mut conn = open_offline(path)?;
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(|e| StoreError::Other(e.to_string()))?;
    let report = erase_in(&tx, who, clock)?;
    tx.commit().map_err(|e| StoreError::Other(e.to_string()))?;
    Ok(report)
}

fn erase_in(
    conn: &rusqlite::Connection,
    who: &Name,
    clock: &dyn Clock,
) -> Result<EraseReport, StoreError> {
    let mut scope = Scope {
        who,
        requests: HashSet::new(),
        grants: HashSet::new(),
        delegations: HashSet::new(),
        known: false,
    };
    let mut changes: Vec<(i64, Vec<u8>, usize)> = Vec::new();
    let (mut last_seq, mut last_at) = (0i64, i64::MIN);
    {
        let mut stmt = conn
            .prepare("SELECT seq, leaf, personal FROM events ORDER BY seq")
            .map_err(DbError::from)?;
        let mut rows = stmt.query([]).map_err(DbError::from)?;
        while let Some(r) = rows.next().map_err(DbError::from)? {
            let seq: i64 = r.get(0).map_err(DbError::from)?;
            let personal: Option<Vec<u8>> = r.get(2).map_err(DbError::from)?;
            let ev = stored(seq, r.get(1).map_err(DbError::from)?, personal.clone())?;
            last_seq = seq;
            last_at = ev.recorded.at.millis();
            let Some(bytes) = personal else { continue };
            let mut doc = Personal::parse(&bytes).map_err(|e| corrupt(seq, e))?;
            let paths = scope.paths(&ev.recorded, &doc);
            if paths.is_empty() {
                continue;
            }
            let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
            let removed = doc.erase(&refs);
            if !removed.is_empty() {
                let bytes = doc.to_bytes().map_err(|e| corrupt(seq, e))?;
                changes.push((seq, bytes, removed.len()));
            }
        }
    }
    if !scope.known {
        return Err(StoreError::NotFound(format!(
            "the ledger has no identity `{who}`"
        )));
    }
    if changes.is_empty() {
        return Ok(EraseReport {
            entries: 0,
            fields: 0,
            recorded_as: None,
        });
    }
    let fields: usize = changes.iter().map(|c| c.2).sum();
    for (seq, bytes, _) in &changes {
        conn.execute(
            "UPDATE events SET personal = ?1 WHERE seq = ?2",
            params![bytes, seq],
        )
        .map_err(DbError::from)?;
    }
    let rec = Recorded {
        seq: last_seq as u64 + 1,
        at: clock.now().max(writ_core::Timestamp(last_at)),
        actor: Actor::system("admin-erase"),
        event: Event::PersonalDataErased {
            identity: who.clone(),
            entries: changes.len() as u64,
            fields: fields as u64,
        },
    };
    // This event has no personal fields, so no salt is ever drawn.
    let sealed = rec
        .seal(&mut || [0; 16])
        .map_err(|e| StoreError::Other(e.to_string()))?;
    project::append(conn, &rec, &sealed.leaf, &sealed.personal)?;
    ledger::append_leaf(conn, rec.seq - 1, &sealed.leaf)?;
    replay(conn, conn, &mut |_| {})?;
    Ok(EraseReport {
        entries: changes.len() as u64,
        fields: fields as u64,
        recorded_as: Some(rec.seq),
    })
}

fn corrupt(seq: i64, e: impl std::fmt::Display) -> DbError {
    DbError::Corrupt(format!("ledger entry {seq}: personal data: {e}"))
}
