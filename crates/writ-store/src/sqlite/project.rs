//! Projection: how each event changes the state tables.
//!
//! The live write path and `rebuild` both go through [`Projector::project`], and it
//! changes aggregates only through the core's `apply` functions, so a rebuilt
//! projection can differ from the live one only if something wrote to the tables
//! behind the ledger's back — which is what the rebuild check detects.

use std::collections::HashMap;

use rusqlite::{Connection, params};
use writ_core::{Delegation, Event, Grant, GrantId, JobAction, Recorded, Request};

use super::rows::{self, DbError, DbResult};

/// Appends one ledger row with its exact leaf bytes and the personal values the leaf
/// commits to.
pub fn append(conn: &Connection, rec: &Recorded, leaf: &[u8], personal: &[u8]) -> DbResult<()> {
    conn.prepare_cached(
        "INSERT INTO events (seq, at, kind, actor, subject, leaf, personal) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        rec.seq as i64,
        rec.at.millis(),
        rec.event.kind(),
        rec.actor.to_string(),
        rec.event.subject(),
        leaf,
        personal,
    ])?;
    Ok(())
}

/// Applies events to the projection tables, caching the aggregates it touched.
/// Call [`Projector::forget`] whenever a transaction it wrote in rolls back.
#[derive(Debug, Default)]
pub struct Projector {
    requests: HashMap<String, Request>,
    grants: HashMap<String, Grant>,
}

impl Projector {
    pub fn len(&self) -> usize {
        self.requests.len() + self.grants.len()
    }

    pub fn forget(&mut self) {
        self.requests.clear();
        self.grants.clear();
    }

    pub fn request(&mut self, conn: &Connection, id: &str) -> DbResult<Option<Request>> {
        if let Some(r) = self.requests.get(id) {
            return Ok(Some(r.clone()));
        }
        let loaded = rows::load_request(conn, id)?;
        if let Some(r) = &loaded {
            self.requests.insert(id.to_owned(), r.clone());
        }
        Ok(loaded)
    }

    pub fn grant(&mut self, conn: &Connection, id: &str) -> DbResult<Option<Grant>> {
        if let Some(g) = self.grants.get(id) {
            return Ok(Some(g.clone()));
        }
        let loaded = rows::load_grant(conn, id)?;
        if let Some(g) = &loaded {
            self.grants.insert(id.to_owned(), g.clone());
        }
        Ok(loaded)
    }

    /// Applies `rec` to grant `id` and writes it back; returns the job the grant had
    /// open before, and the grant after.
    fn apply_to_grant(
        &mut self,
        conn: &Connection,
        rec: &Recorded,
        id: &GrantId,
    ) -> DbResult<(Option<JobAction>, Grant)> {
        let mut g = self
            .grant(conn, id.as_str())?
            .ok_or_else(|| missing(rec, "grant", id.as_str()))?;
        let before = g.open_job();
        g.apply(rec);
        rows::update_grant(conn, &g)?;
        self.grants.insert(id.to_string(), g.clone());
        Ok((before, g))
    }

    pub fn project(&mut self, conn: &Connection, rec: &Recorded) -> DbResult<()> {
        match &rec.event {
            Event::PolicyActivated {
                version, policy, ..
            } => rows::save_policy(conn, version, policy, rec.at)?,
            Event::IdentityUpserted { identity } => rows::save_identity(conn, identity)?,
            Event::DelegationGranted { delegation } => {
                rows::save_notifications(conn, rec)?;
                rows::save_delegation(conn, delegation)?
            }
            Event::DelegationRevoked {
                delegation,
                revoked_at,
                ..
            } => {
                let mut d: Delegation = rows::delegation(conn, delegation)?
                    .ok_or_else(|| missing(rec, "delegation", delegation.as_str()))?;
                d.revoked_at = Some(*revoked_at);
                rows::save_delegation(conn, &d)?
            }
            Event::SystemUpserted { system } => rows::save_system(conn, system)?,
            Event::EntitlementUpserted { entitlement } => {
                rows::save_entitlement(conn, entitlement)?
            }
            Event::TokenIssued { token } => rows::insert_token(conn, token)?,
            Event::TokenRevoked { token } => rows::revoke_token(conn, token, rec.at)?,
            Event::RequestSubmitted { request, digest } => {
                let r = Request::submitted(request.clone(), digest.clone());
                rows::insert_request(conn, &r)?;
                self.requests.insert(request.id.to_string(), r);
            }
            Event::StepDecided { request, step, .. }
            | Event::StepEscalated { request, step, .. }
            | Event::ApprovalReminded { request, step, .. } => {
                rows::save_notifications(conn, rec)?;
                let mut r = self
                    .request(conn, request.as_str())?
                    .ok_or_else(|| missing(rec, "request", request.as_str()))?;
                r.apply(rec);
                rows::save_step(conn, &r, *step, false)?;
                self.requests.insert(request.to_string(), r);
            }
            Event::RequestApproved { request, .. }
            | Event::RequestDenied { request, .. }
            | Event::RequestCancelled { request, .. }
            | Event::RequestTimedOut { request, .. } => {
                rows::save_notifications(conn, rec)?;
                let mut r = self
                    .request(conn, request.as_str())?
                    .ok_or_else(|| missing(rec, "request", request.as_str()))?;
                r.apply(rec);
                rows::update_request_status(conn, &r)?;
                self.requests.insert(request.to_string(), r);
            }
            Event::BreakGlassUsed { request, .. }
            | Event::IncidentReviewEscalated { request, .. }
            | Event::IncidentReviewClosed { request, .. } => {
                rows::save_notifications(conn, rec)?;
                let mut r = self
                    .request(conn, request.as_str())?
                    .ok_or_else(|| missing(rec, "request", request.as_str()))?;
                r.apply(rec);
                let (grant, incident) = match &rec.event {
                    Event::BreakGlassUsed {
                        grant, incident, ..
                    } => (grant.clone(), incident.to_string()),
                    _ => rows::incident_of(conn, request.as_str())?
                        .ok_or_else(|| missing(rec, "post-incident review", request.as_str()))?,
                };
                rows::save_incident_review(conn, &r, &grant, &incident)?;
                self.requests.insert(request.to_string(), r);
            }
            Event::GrantCreated { grant, .. } => {
                let g = Grant::created(rec).ok_or_else(|| missing(rec, "grant", grant.as_str()))?;
                rows::insert_grant(conn, &g)?;
                // The outbox row is written in the grant's own transaction.
                if let Some(job) = g.open_job() {
                    rows::open_job(conn, &g, job, rec.seq)?;
                }
                self.grants.insert(grant.to_string(), g);
            }
            Event::GrantRenewed { grant, .. }
            | Event::GrantRevoked { grant, .. }
            | Event::GrantExpired { grant } => {
                let (before, g) = self.apply_to_grant(conn, rec, grant)?;
                // An addition the end of the grant overtook (queued, retrying,
                // dead-lettered or held) never runs: only the removal does.
                rows::supersede_provision(conn, grant, rec.seq)?;
                if let Some(job) = g.open_job().filter(|j| Some(*j) != before) {
                    rows::open_job(conn, &g, job, rec.seq)?;
                }
            }
            Event::GrantProvisioned { grant, .. }
            | Event::GrantDeprovisioned { grant, .. }
            | Event::ProvisioningFailed { grant, .. }
            | Event::ProvisioningRetried { grant, .. }
            | Event::ProvisioningResolved { grant, .. } => {
                self.apply_to_grant(conn, rec, grant)?;
                let (action, state, error) = match &rec.event {
                    Event::GrantProvisioned { .. } => (JobAction::Provision, "done", None),
                    Event::GrantDeprovisioned { .. } => (JobAction::Deprovision, "done", None),
                    Event::ProvisioningResolved { action, .. } => (*action, "resolved", None),
                    Event::ProvisioningFailed { action, error, .. } => {
                        (*action, "dead", Some(error.as_str()))
                    }
                    Event::ProvisioningRetried { action, .. } => (*action, "queued", None),
                    _ => unreachable!("matched above"),
                };
                rows::close_job(conn, grant, action, state, rec.seq, error)?;
            }
            Event::AuthorityRechecked { grant, .. } => {
                let (_, g) = self.apply_to_grant(conn, rec, grant)?;
                // Held: the job leaves the queue like a dead letter, visible and
                // retryable by an admin, with the reason.
                if let Some(why) = &g.held {
                    let error = format!("held: {why}");
                    rows::close_job(
                        conn,
                        grant,
                        JobAction::Provision,
                        "dead",
                        rec.seq,
                        Some(&error),
                    )?;
                }
            }
            Event::DriftFound { drift, action } => {
                rows::save_finding(conn, drift, action, rec.seq)?;
                if let Some(grant) = &drift.grant {
                    let (before, g) = self.apply_to_grant(conn, rec, grant)?;
                    if g.open_job() == Some(JobAction::Provision) && before.is_none() {
                        // The target lost the access: the same job runs again.
                        rows::close_job(
                            conn,
                            grant,
                            JobAction::Provision,
                            "queued",
                            rec.seq,
                            None,
                        )?;
                    }
                }
            }
            Event::DriftResolved { drift } => rows::delete_finding(conn, drift)?,
            Event::CredentialIssued { grant, .. }
            | Event::CredentialRevoked { grant, .. }
            | Event::CredentialRotationDue { grant, .. } => {
                self.apply_to_grant(conn, rec, grant)?;
                rows::project_credential(conn, rec)?;
            }
            Event::ReviewDecided { grant, .. } => {
                super::review::project(conn, rec)?;
                self.apply_to_grant(conn, rec, grant)?;
            }
            Event::CampaignLaunched { .. }
            | Event::ReviewItemsOpened { .. }
            | Event::ReviewItemsReassigned { .. }
            | Event::ReviewNotified { .. }
            | Event::ReviewerFlagged { .. }
            | Event::CampaignClosed { .. } => super::review::project(conn, rec)?,
            // The erased values left the projections when they were rebuilt.
            Event::PersonalDataErased { .. } => {}
        }
        Ok(())
    }
}

fn missing(rec: &Recorded, what: &str, id: &str) -> DbError {
    DbError::Corrupt(format!(
        "event {} ({}) refers to {what} `{id}`, which the projection does not hold",
        rec.seq,
        rec.event.kind()
    ))
}
