//! Reconciliation: what a target system actually holds, against the live grants.
//!
//! For one system: list every member of every entitlement through its connector,
//! then read the live grants (after the listing, so access provisioned meanwhile is
//! explained, never mistaken for unexplained), and compare:
//!
//! - access no live grant explains is *unexplained*: reported, or removed where the
//!   system says `unexplained = "revoke"` (checked again just before removing; members
//!   that do not map to a Writ account are only reported — a person removes those —
//!   unless the system says `owns_group = true`, when they are removed too);
//! - an active, provisioned grant whose access the target lacks is *missing*: the
//!   grant goes back to pending and its provision job runs again.
//!
//! Each new finding is a `drift_found` ledger entry and each one that no longer holds
//! a `drift_resolved`, so a finding is recorded once, not once per run. The report also
//! says, for every membership, which grant and which approval explain it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_connect::{Assignment, Unexplained};
use writ_core::{
    Actor, Command, Drift, DriftKind, EntitlementRef, Grant, GrantStatus, Name, RequestId,
};
use writ_store::{Envelope, ExecError, Store, StoreError};

use crate::provisioner::Connectors;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("no connector is configured for system `{0}`")]
    UnknownSystem(String),
    #[error("system `{system}`: cannot list the target's state: {message}")]
    Target { system: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One membership the target holds, and what explains it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccessLine {
    pub entitlement: String,
    /// The Writ identity, when the target's account maps to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub account_ref: String,
    /// `explained`, `unexplained`, or `missing` (granted, absent from the target).
    pub state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// Who approved each step, with the authority they decided under.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approved_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// A finding recorded (or resolved) by this run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FindingLine {
    /// `unexplained` or `missing`.
    pub kind: String,
    pub entitlement: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    pub account_ref: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<String>,
    /// What Writ did: `reported`, `requeued`, `removed: …`, `removal failed: …`,
    /// or `resolved`.
    pub action: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReconcileReport {
    pub system: String,
    /// `report` or `revoke`: what this system does with unexplained access.
    pub unexplained_policy: String,
    pub memberships: usize,
    pub live_grants: usize,
    pub explained: usize,
    pub unexplained: usize,
    pub missing: usize,
    /// Entitlements whose group or role the target could not list (not there, or not
    /// readable): their access was not checked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchecked: Vec<String>,
    /// Findings recorded by this run (new ones, and ones that no longer hold).
    pub recorded: Vec<FindingLine>,
    /// Every membership and every missing grant, with what explains it.
    pub access: Vec<AccessLine>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReconcileReports {
    pub reports: Vec<ReconcileReport>,
}

/// Reconciles every configured system, in name order.
pub async fn reconcile_all(
    store: &dyn Store,
    connectors: &Connectors,
) -> Vec<Result<ReconcileReport, ReconcileError>> {
    let mut out = Vec::new();
    for system in connectors.names() {
        out.push(reconcile(store, connectors, &system).await);
    }
    out
}

pub async fn reconcile(
    store: &dyn Store,
    connectors: &Connectors,
    system: &Name,
) -> Result<ReconcileReport, ReconcileError> {
    let connector = connectors
        .get(system)
        .ok_or_else(|| ReconcileError::UnknownSystem(system.to_string()))?;
    let policy = connectors.unexplained(system).unwrap_or_default();
    let org = store.org().await?;
    let mut by_target: BTreeMap<String, Vec<EntitlementRef>> = BTreeMap::new();
    for (r, e) in &org.entitlements {
        if &r.system == system {
            by_target
                .entry(e.external_ref.clone())
                .or_default()
                .push(r.clone());
        }
    }
    // One entitlement at a time: one whose group or role is missing from the target
    // is reported and does not hide the others; a target that cannot be reached stops
    // the run (nothing would be known).
    let mut listed = Vec::new();
    let mut problems = Vec::new();
    let mut checked: BTreeSet<&EntitlementRef> = BTreeSet::new();
    for (target, ents) in &by_target {
        match connector.list(std::slice::from_ref(target)).await {
            Ok(m) => {
                listed.extend(m);
                checked.extend(ents.iter());
            }
            Err(e) if e.is_transient() => {
                return Err(ReconcileError::Target {
                    system: system.to_string(),
                    message: e.to_string(),
                });
            }
            Err(e) => {
                for ent in ents {
                    problems.push(format!("{ent}: {e}"));
                }
            }
        }
    }
    // Read after listing: access provisioned meanwhile has its grant here.
    let grants = store.live_grants(system).await?;
    let live: HashMap<(&EntitlementRef, &Name), &Grant> = grants
        .iter()
        .map(|g| ((&g.entitlement, &g.beneficiary), g))
        .collect();

    let mut found: BTreeMap<(String, DriftKind, String), Drift> = BTreeMap::new();
    let mut access = Vec::new();
    let mut present: BTreeSet<(EntitlementRef, Name)> = BTreeSet::new();
    let mut explained = 0;
    for m in &listed {
        let account = m.account.as_deref().and_then(|a| Name::parse(a).ok());
        for ent in by_target.get(&m.target).into_iter().flatten() {
            let grant = account.as_ref().and_then(|a| live.get(&(ent, a)).copied());
            if let Some(a) = &account {
                present.insert((ent.clone(), a.clone()));
            }
            match grant {
                Some(g) => {
                    explained += 1;
                    access.push(line(
                        ent,
                        account.as_ref(),
                        &m.account_ref,
                        "explained",
                        Some(g),
                    ));
                }
                None => {
                    found.insert(
                        (
                            ent.to_string(),
                            DriftKind::Unexplained,
                            m.account_ref.clone(),
                        ),
                        Drift {
                            kind: DriftKind::Unexplained,
                            system: system.clone(),
                            entitlement: ent.clone(),
                            account: account.clone(),
                            account_ref: m.account_ref.clone(),
                            grant: None,
                        },
                    );
                    access.push(line(
                        ent,
                        account.as_ref(),
                        &m.account_ref,
                        "unexplained",
                        None,
                    ));
                }
            }
        }
    }
    let open = store.findings(Some(system)).await?;
    // A missing access already found and sent back to the worker holds until the
    // target confirms it again: the grant is pending meanwhile, not resolved.
    let requeued: BTreeSet<&writ_core::GrantId> = open
        .iter()
        .filter(|f| f.drift.kind == DriftKind::Missing)
        .filter_map(|f| f.drift.grant.as_ref())
        .collect();
    for g in &grants {
        let absent = !present.contains(&(g.entitlement.clone(), g.beneficiary.clone()));
        let confirmed =
            g.provision && g.status == GrantStatus::Active && checked.contains(&g.entitlement);
        let reprovisioning = g.status == GrantStatus::Pending && requeued.contains(&g.id);
        if (confirmed || reprovisioning) && absent {
            found.insert(
                (
                    g.entitlement.to_string(),
                    DriftKind::Missing,
                    g.beneficiary.to_string(),
                ),
                Drift {
                    kind: DriftKind::Missing,
                    system: system.clone(),
                    entitlement: g.entitlement.clone(),
                    account: Some(g.beneficiary.clone()),
                    account_ref: g.beneficiary.to_string(),
                    grant: Some(g.id.clone()),
                },
            );
            access.push(line(
                &g.entitlement,
                Some(&g.beneficiary),
                g.beneficiary.as_str(),
                "missing",
                Some(g),
            ));
        }
    }
    approvals(store, &mut access).await?;

    // Record what is new, and what no longer holds.
    let open_keys: BTreeSet<(String, DriftKind, String)> = open
        .iter()
        .map(|f| {
            (
                f.drift.entitlement.to_string(),
                f.drift.kind,
                f.drift.account_ref.clone(),
            )
        })
        .collect();
    let mut recorded = Vec::new();
    for f in &open {
        let key = (
            f.drift.entitlement.to_string(),
            f.drift.kind,
            f.drift.account_ref.clone(),
        );
        if !found.contains_key(&key) && record(store, f.drift.clone(), false, String::new()).await?
        {
            recorded.push(finding_line(&f.drift, "resolved"));
        }
    }
    let (mut unexplained, mut missing) = (0, 0);
    for (key, drift) in found {
        match drift.kind {
            DriftKind::Unexplained => unexplained += 1,
            DriftKind::Missing => missing += 1,
        }
        if open_keys.contains(&key) {
            continue;
        }
        let action = match drift.kind {
            DriftKind::Missing => "requeued".to_owned(),
            DriftKind::Unexplained => match (policy, &drift.account) {
                (Unexplained::Report, _) => "reported".to_owned(),
                (Unexplained::Revoke, None) if connectors.owns_group(system) => {
                    remove_unmapped(store, connector.as_ref(), &drift).await?
                }
                (Unexplained::Revoke, None) => "reported: the member is not a Writ account, and \
                     this system does not own its whole groups (`owns_group = false`), so Writ \
                     leaves it alone; remove it by hand, or give it a Writ account"
                    .to_owned(),
                (Unexplained::Revoke, Some(account)) => {
                    remove(store, connector.as_ref(), &drift, account).await?
                }
            },
        };
        if record(store, drift.clone(), true, action.clone()).await? {
            recorded.push(finding_line(&drift, &action));
        }
    }
    Ok(ReconcileReport {
        system: system.to_string(),
        unexplained_policy: policy.as_str().to_owned(),
        memberships: listed.len(),
        live_grants: grants.len(),
        explained,
        unexplained,
        missing,
        unchecked: problems,
        recorded,
        access,
    })
}

/// Removes unexplained access, unless a grant for it appeared since the listing.
async fn remove(
    store: &dyn Store,
    connector: &dyn writ_connect::Connector,
    drift: &Drift,
    account: &Name,
) -> Result<String, ReconcileError> {
    let now_live = store.live_grants(&drift.system).await?;
    if now_live
        .iter()
        .any(|g| g.entitlement == drift.entitlement && &g.beneficiary == account)
    {
        return Ok("reported: a grant for it appeared during reconciliation".to_owned());
    }
    let org = store.org().await?;
    let Some(e) = org.entitlement(&drift.entitlement) else {
        return Ok("reported: the entitlement left the catalogue".to_owned());
    };
    let assignment = Assignment {
        grant: format!("reconcile:{}", drift.account_ref),
        account: account.to_string(),
        target: e.external_ref.clone(),
        entitlement: drift.entitlement.to_string(),
    };
    Ok(match connector.revoke(&assignment).await {
        Ok(r) => format!("removed: {} ({})", r.change.as_str(), r.detail),
        Err(e) => format!("removal failed: {e}"),
    })
}

/// Removes a member that maps to no Writ account, from a system that owns its whole
/// groups: nothing can explain it, so it goes.
async fn remove_unmapped(
    store: &dyn Store,
    connector: &dyn writ_connect::Connector,
    drift: &Drift,
) -> Result<String, ReconcileError> {
    let org = store.org().await?;
    let Some(e) = org.entitlement(&drift.entitlement) else {
        return Ok("reported: the entitlement left the catalogue".to_owned());
    };
    Ok(
        match connector
            .remove_member(&e.external_ref, &drift.account_ref)
            .await
        {
            Ok(r) => format!(
                "removed: {} ({}; the system owns its groups and the member is no Writ account)",
                r.change.as_str(),
                r.detail
            ),
            Err(e) => format!("removal failed: {e}"),
        },
    )
}

/// Records a finding (or its resolution); `false` when the core refused it because
/// the state moved on meanwhile (the next run looks again).
async fn record(
    store: &dyn Store,
    drift: Drift,
    found: bool,
    action: String,
) -> Result<bool, ReconcileError> {
    let command = Command::RecordDrift {
        drift,
        found,
        action,
    };
    match store
        .execute(Envelope::new(Actor::system("reconciler"), command))
        .await
    {
        Ok(_) => Ok(true),
        Err(ExecError::Refused(r)) => {
            tracing::info!(reason = %r, "finding not recorded");
            Ok(false)
        }
        Err(ExecError::Store(e)) => Err(e.into()),
    }
}

fn line(
    ent: &EntitlementRef,
    account: Option<&Name>,
    account_ref: &str,
    state: &str,
    grant: Option<&Grant>,
) -> AccessLine {
    AccessLine {
        entitlement: ent.to_string(),
        account: account.map(Name::to_string),
        account_ref: account_ref.to_owned(),
        state: state.to_owned(),
        grant: grant.map(|g| g.id.to_string()),
        grant_status: grant.map(|g| g.status.as_str().to_owned()),
        request: grant.map(|g| g.request.to_string()),
        approved_by: Vec::new(),
        expires_at: grant.map(|g| g.expires_at.to_rfc3339()),
    }
}

fn finding_line(d: &Drift, action: &str) -> FindingLine {
    FindingLine {
        kind: d.kind.as_str().to_owned(),
        entitlement: d.entitlement.to_string(),
        account: d.account.as_ref().map(Name::to_string),
        account_ref: d.account_ref.clone(),
        grant: d.grant.as_ref().map(|g| g.to_string()),
        action: action.to_owned(),
    }
}

/// Fills in who approved each explaining request, and under what authority: one
/// store read for the whole report.
async fn approvals(store: &dyn Store, access: &mut [AccessLine]) -> Result<(), StoreError> {
    let ids: BTreeSet<RequestId> = access
        .iter()
        .filter_map(|a| a.request.as_deref())
        .filter_map(|r| RequestId::parse(r).ok())
        .collect();
    let found = store.approvals(ids.into_iter().collect()).await?;
    for a in access.iter_mut() {
        let Some(id) = a.request.as_deref().and_then(|r| RequestId::parse(r).ok()) else {
            continue;
        };
        if let Some(steps) = found.get(&id)
            && !steps.is_empty()
        {
            a.approved_by = steps
                .iter()
                .map(|(who, basis)| format!("{who} ({basis})"))
                .collect();
        } else if let Some(r) = store.request(&id).await? {
            // No approver decided it: the policy did, and that is its authority.
            a.approved_by = policy_authority(&r.submission).into_iter().collect();
        }
    }
    Ok(())
}

/// The authority of access no person approved: the Cedar policies that let the
/// requester break glass, or that pre-approved the request.
fn policy_authority(s: &writ_core::Submission) -> Option<String> {
    let list = |policies: &[String]| {
        policies
            .iter()
            .map(|p| format!("`{}`", p.strip_prefix("automatic:").unwrap_or(p)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(e) = &s.emergency {
        let incident = s
            .ticket
            .as_ref()
            .map_or("no incident".to_owned(), |t| format!("incident {t}"));
        return Some(format!(
            "break-glass by {} ({incident}), permitted by policy {} of version {}",
            s.requester,
            list(&e.policies),
            s.policy_version
        ));
    }
    s.pre_approved.as_ref().map(|p| {
        format!(
            "approved automatically by policy {} of version {}",
            list(&p.policies),
            s.policy_version
        )
    })
}
