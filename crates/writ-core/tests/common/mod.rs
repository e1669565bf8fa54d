//! Fixtures shared by the encoding and personal-data tests: one event of every kind.

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::BTreeSet;

use writ_core::{
    Actor, ApprovalPolicy, Comment, Constraints, Decision, Drift, DriftKind, DurationSpec,
    EmploymentType, Entitlement, EntitlementKind, EntitlementRef, Event, GrantId, Human, Identity,
    IdentityKind, IdentityStatus, JobAction, Justification, LostAuthority, Name, Nhi, NhiKind,
    Reason, Receipt, Recorded, RequestId, RequestKind, RiskTier, Role, Sealed, SodException,
    StepAuthority, StepRole, Submission, System, SystemKind, TicketRef, Timestamp, Token, TokenId,
    canonical_bytes, sha256_hex,
};
use writ_core::{
    Assignee, CampaignId, CampaignSpec, DeadlineAction, ItemOpened, Occurrence, ReviewDecision,
    ReviewerStrategy, Scope,
};
use writ_core::{Delegation, DelegationId, Finding};

pub fn campaign() -> CampaignId {
    CampaignId::parse("cmp_0000000000000009").unwrap()
}

pub fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

pub fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

pub fn submission() -> Submission {
    Submission {
        id: RequestId::parse("req_0000000000000001").unwrap(),
        requester: name("bob"),
        beneficiary: name("svc-etl"),
        entitlement: EntitlementRef::parse("pg-prod/dba").unwrap(),
        risk: RiskTier::High,
        privileged: true,
        // Non-ASCII, a quote, a slash and a newline: all have one canonical spelling.
        justification: Justification::parse(
            "café \"migration\" of a/b\nand the ü index, 40+ chars",
        )
        .unwrap(),
        ticket: Some(TicketRef::parse("CHG-1042").unwrap()),
        duration: DurationSpec::hours(8),
        kind: RequestKind::Renewal,
        renews: Some(GrantId::parse("grt_0000000000000002").unwrap()),
        constraints: Some(Constraints {
            api_scopes: vec!["crm.read".into(), "crm.write".into()],
            environment: Some("prod".into()),
            source_ranges: vec!["10.0.0.0/8".into()],
        }),
        steps: vec![
            StepRole::Manager,
            StepRole::EntitlementOwner,
            StepRole::Security,
            StepRole::Group("helpdesk".into()),
            StepRole::SodException,
        ],
        sod_exception: Some(SodException {
            rule: "payments".into(),
            conflicts_with: EntitlementRef::parse("pg-prod/readonly").unwrap(),
            held_as: "grant grt_0000000000000003".into(),
            justification: Justification::parse("quarter-end close needs both, Ünder audit")
                .unwrap(),
        }),
        pre_approved: Some(StepAuthority {
            policies: vec!["automatic:low-risk-finance".into()],
            facts: vec!["department of `svc-etl`".into()],
            on_behalf_of: None,
            delegation: None,
        }),
        emergency: Some(StepAuthority {
            policies: vec!["break-glass-on-call".into()],
            facts: vec!["member of group `on-call`".into()],
            on_behalf_of: None,
            delegation: None,
        }),
        policy_version: ApprovalPolicy::default().version(),
        submitted_at: at("2026-03-02T09:00:00.123Z"),
    }
}

/// How many kinds of event there are; `every_event` holds each at least once.
pub const EVENT_KINDS: usize = 42;

/// One event of every kind, with optional fields both set and unset.
pub fn every_event() -> Vec<Event> {
    let policy = ApprovalPolicy::default();
    let request = RequestId::parse("req_0000000000000001").unwrap();
    let grant = GrantId::parse("grt_0000000000000003").unwrap();
    let old = GrantId::parse("grt_0000000000000002").unwrap();
    let s = submission();
    let digest = sha256_hex(&canonical_bytes(&s).unwrap());
    let events = vec![
        Event::PolicyActivated {
            version: policy.version(),
            policy,
            previous: Some("ab".repeat(32)),
        },
        Event::IdentityUpserted {
            identity: Identity {
                name: name("alice"),
                display_name: "Alice Ärcher".into(),
                status: IdentityStatus::Active,
                groups: BTreeSet::from(["security".into(), "sre".into()]),
                roles: BTreeSet::from([Role::Admin]),
                kind: IdentityKind::Human(Human {
                    email: "alice@example.com".into(),
                    manager: Some(name("bob")),
                    department: None,
                    employment_type: EmploymentType::Employee,
                }),
            },
        },
        Event::IdentityUpserted {
            identity: Identity {
                name: name("svc-etl"),
                display_name: "ETL job".into(),
                status: IdentityStatus::Inactive,
                groups: BTreeSet::new(),
                roles: BTreeSet::new(),
                kind: IdentityKind::Nhi(Nhi {
                    nhi_kind: NhiKind::Workload,
                    owner: name("bob"),
                    purpose: "loads the warehouse every night".into(),
                    environment: "prod".into(),
                    rotation_period: DurationSpec::days(30),
                }),
            },
        },
        Event::SystemUpserted {
            system: System {
                name: name("pg-prod"),
                display_name: "Production PostgreSQL".into(),
                kind: SystemKind::Database,
                owner: name("dave"),
                description: String::new(),
            },
        },
        Event::EntitlementUpserted {
            entitlement: Entitlement {
                system: name("pg-prod"),
                name: name("dba"),
                display_name: "Database administrator".into(),
                kind: EntitlementKind::Role,
                external_ref: "cn=dba,ou=groups,dc=example,dc=com".into(),
                risk: RiskTier::High,
                privileged: true,
                max_duration: DurationSpec::days(30),
                owner: None,
                break_glass: false,
                description: "full control".into(),
            },
        },
        Event::TokenIssued {
            token: Token {
                id: TokenId::parse("tok_0000000000000004").unwrap(),
                identity: name("alice"),
                label: "laptop cli".into(),
                hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                issued_at: at("2026-03-02T09:00:00Z"),
                expires_at: Some(at("2026-04-01T09:00:00Z")),
                revoked_at: None,
            },
        },
        Event::TokenRevoked {
            token: TokenId::parse("tok_0000000000000004").unwrap(),
        },
        Event::RequestSubmitted {
            request: s,
            digest: digest.clone(),
        },
        Event::StepDecided {
            request: request.clone(),
            step: 2,
            role: StepRole::EntitlementOwner,
            approver: name("dave"),
            decision: Decision::Approve,
            comment: Some(Comment::parse("ok — within the change window").unwrap()),
            basis: "owner of system `pg-prod` (entitlement `pg-prod/dba` has no owner of its own)"
                .into(),
            policy_version: ApprovalPolicy::default().version(),
            request_digest: digest,
            authority: Some(StepAuthority {
                policies: vec!["entitlement-owner".into()],
                facts: vec!["owner of system `pg-prod`".into()],
                on_behalf_of: Some(name("erin")),
                delegation: Some(DelegationId::parse("dlg_0000000000000009").unwrap()),
            }),
        },
        Event::RequestApproved {
            request: request.clone(),
            grant: grant.clone(),
        },
        Event::RequestDenied {
            request: request.clone(),
            step: 1,
        },
        Event::RequestCancelled {
            request: request.clone(),
            reason: None,
        },
        Event::GrantCreated {
            grant: grant.clone(),
            request: request.clone(),
            beneficiary: name("svc-etl"),
            entitlement: EntitlementRef::parse("pg-prod/dba").unwrap(),
            expires_at: at("2026-03-02T17:00:00Z"),
            review_by: at("2026-03-02T17:00:00Z"),
            renews: Some(old.clone()),
            emergency_since: None,
            provision: true,
        },
        Event::GrantProvisioned {
            grant: grant.clone(),
            receipt: Receipt {
                connector: "postgres".into(),
                change: "added".into(),
                account_ref: "svc-etl".into(),
                target_ref: "dba".into(),
                detail: "GRANT \"dba\" TO \"svc-etl\"".into(),
            },
        },
        Event::ProvisioningFailed {
            grant: grant.clone(),
            action: JobAction::Deprovision,
            attempts: 8,
            error: "connection refused (127.0.0.1:5432)".into(),
        },
        Event::ProvisioningRetried {
            grant: grant.clone(),
            action: JobAction::Deprovision,
        },
        Event::ProvisioningResolved {
            grant: grant.clone(),
            action: JobAction::Deprovision,
            reason: Reason::parse("removed by hand in the directory console").unwrap(),
        },
        Event::AuthorityRechecked {
            grant: grant.clone(),
            policy_version: ApprovalPolicy::default().version(),
            lost: vec![LostAuthority {
                step: 1,
                approver: name("bob"),
                why: "no longer has authority: no policy in force permits them".into(),
            }],
        },
        Event::GrantDeprovisioned {
            grant: grant.clone(),
            receipt: Receipt {
                connector: "postgres".into(),
                change: "already_absent".into(),
                account_ref: "svc-etl".into(),
                target_ref: "dba".into(),
                detail: "not a member".into(),
            },
        },
        Event::DriftFound {
            drift: Drift {
                kind: DriftKind::Missing,
                system: name("pg-prod"),
                entitlement: EntitlementRef::parse("pg-prod/dba").unwrap(),
                account: Some(name("svc-etl")),
                account_ref: "svc-etl".into(),
                grant: Some(grant.clone()),
            },
            action: "requeued".into(),
        },
        Event::CredentialIssued {
            grant: grant.clone(),
            fingerprint: "sha256:00112233445566778899aabbccddeeff".into(),
            expires_at: at("2026-03-02T16:00:00Z"),
            rotate_by: at("2026-03-02T15:00:00Z"),
            replaces: Some("sha256:ffeeddccbbaa99887766554433221100".into()),
        },
        Event::CredentialRotationDue {
            grant: grant.clone(),
            fingerprint: "sha256:00112233445566778899aabbccddeeff".into(),
        },
        Event::CredentialRevoked {
            grant: grant.clone(),
            fingerprint: "sha256:00112233445566778899aabbccddeeff".into(),
        },
        Event::DriftResolved {
            drift: Drift {
                kind: DriftKind::Unexplained,
                system: name("pg-prod"),
                entitlement: EntitlementRef::parse("pg-prod/dba").unwrap(),
                account: None,
                account_ref: "mallory".into(),
                grant: None,
            },
        },
        Event::GrantRenewed {
            grant: old,
            successor: grant.clone(),
        },
        Event::GrantRevoked {
            grant: grant.clone(),
            reason: Reason::parse("project cancelled").unwrap(),
            basis: "manager of `alice`, per organisation data at 2026-03-02T10:00:00.000Z".into(),
        },
        Event::CampaignLaunched {
            campaign: campaign(),
            spec: CampaignSpec {
                name: "Q4 privileged access".into(),
                scope: Scope {
                    tiers: [RiskTier::High, RiskTier::Critical].into(),
                    include_overdue: true,
                    ..Scope::default()
                },
                reviewers: ReviewerStrategy::Manager,
                fallback: name("carol"),
                due_at: at("2026-12-15T00:00:00Z"),
                final_at: at("2026-12-22T00:00:00Z"),
                remind_before: Some(DurationSpec::days(3)),
                on_deadline: DeadlineAction::Revoke,
            },
            schedule: Some(Occurrence {
                schedule: name("quarterly-privileged"),
                at: at("2026-10-01T00:00:00Z"),
            }),
            population: 1,
            live_grants: 7,
            digest: "ab".repeat(32),
        },
        Event::ReviewItemsOpened {
            campaign: campaign(),
            items: vec![ItemOpened {
                item: 1,
                grant: grant.clone(),
                reviewer: Assignee::Identity(name("carol")),
                basis: "fallback:self-review".into(),
            }],
        },
        Event::ReviewDecided {
            campaign: campaign(),
            item: 1,
            grant: grant.clone(),
            decision: ReviewDecision::Revoke,
            reason: Some(Reason::parse("moved to another team").unwrap()),
            bulk: false,
            defaulted: false,
            basis: "assigned reviewer (fallback:self-review)".into(),
            review_by: None,
        },
        Event::ReviewItemsReassigned {
            campaign: campaign(),
            items: vec![1, 2],
            to: Assignee::Group("security".into()),
            why: "overdue".into(),
            reopen: false,
        },
        Event::ReviewNotified {
            campaign: campaign(),
            to: Assignee::Identity(name("bob")),
            notice: "reminder".into(),
            items: 4,
        },
        Event::ReviewerFlagged {
            campaign: campaign(),
            reviewer: name("bob"),
            rule: "certified all 20 items".into(),
            decisions: 20,
            certified: 20,
            median_gap_ms: Some(1200),
        },
        Event::CampaignClosed {
            campaign: campaign(),
            certified: 3,
            revoked: 1,
            kept: 0,
        },
        Event::GrantExpired { grant },
        // The optional personal fields set where the list above leaves them unset,
        // and the other way round.
        Event::IdentityUpserted {
            identity: Identity {
                name: name("carol"),
                display_name: "Carol Ng".into(),
                status: IdentityStatus::Active,
                groups: BTreeSet::new(),
                roles: BTreeSet::new(),
                kind: IdentityKind::Human(Human {
                    email: "carol.ng@example.org".into(),
                    manager: None,
                    department: Some("Finance & Payroll".into()),
                    employment_type: EmploymentType::Contractor,
                }),
            },
        },
        Event::RequestCancelled {
            request: request.clone(),
            reason: Some(Reason::parse("asked for the wrong database").unwrap()),
        },
        Event::StepDecided {
            request,
            step: 1,
            role: StepRole::Manager,
            approver: name("bob"),
            decision: Decision::Deny,
            comment: None,
            basis: "manager of `svc-etl`".into(),
            policy_version: ApprovalPolicy::default().version(),
            request_digest: "00".repeat(32),
            authority: None,
        },
        Event::BreakGlassUsed {
            request: RequestId::parse("req_0000000000000001").unwrap(),
            grant: GrantId::parse("grt_0000000000000004").unwrap(),
            incident: TicketRef::parse("INC-9001").unwrap(),
            review_due: Timestamp(1_780_259_200_000),
            notified: vec![name("sam"), name("sue")],
        },
        Event::IncidentReviewEscalated {
            request: RequestId::parse("req_0000000000000001").unwrap(),
            notified: vec![name("ada"), name("sam")],
        },
        Event::IncidentReviewClosed {
            request: RequestId::parse("req_0000000000000001").unwrap(),
            finding: Finding::Legitimate,
            notes: Reason::parse("database failover during the outage — Ünplanned").unwrap(),
        },
        Event::ApprovalReminded {
            request: RequestId::parse("req_0000000000000001").unwrap(),
            step: 2,
            notified: vec![name("dave")],
        },
        Event::StepEscalated {
            request: RequestId::parse("req_0000000000000001").unwrap(),
            step: 2,
            notified: vec![name("sam"), name("sue")],
        },
        Event::RequestTimedOut {
            request: RequestId::parse("req_0000000000000001").unwrap(),
            notified: vec![name("bob")],
        },
        Event::DelegationGranted {
            delegation: Delegation {
                id: DelegationId::parse("dlg_0000000000000009").unwrap(),
                delegator: name("erin"),
                delegate: name("dave"),
                from: Timestamp(1_780_000_000_000),
                until: Timestamp(1_780_600_000_000),
                systems: vec![name("pg-prod")],
                tiers: vec![RiskTier::High],
                reason: Reason::parse("on leave for a week; Dave covers the database queue")
                    .unwrap(),
                revoked_at: None,
                recorded_by: None,
            },
        },
        Event::DelegationRevoked {
            delegation: DelegationId::parse("dlg_0000000000000009").unwrap(),
            revoked_at: Timestamp(1_780_300_000_000),
            reason: Some(Reason::parse("back early — Ünfall avoided").unwrap()),
        },
        Event::PersonalDataErased {
            identity: name("bob"),
            entries: 3,
            fields: 4,
        },
    ];
    // Fails to compile when a kind is added, and fails the assertion when one is
    // missing from the list above.
    let covered: BTreeSet<u8> = events
        .iter()
        .map(|e| match e {
            Event::PolicyActivated { .. } => 0,
            Event::IdentityUpserted { .. } => 1,
            Event::SystemUpserted { .. } => 2,
            Event::EntitlementUpserted { .. } => 3,
            Event::TokenIssued { .. } => 4,
            Event::TokenRevoked { .. } => 5,
            Event::RequestSubmitted { .. } => 6,
            Event::StepDecided { .. } => 7,
            Event::RequestApproved { .. } => 8,
            Event::RequestDenied { .. } => 9,
            Event::RequestCancelled { .. } => 10,
            Event::GrantCreated { .. } => 11,
            Event::GrantRenewed { .. } => 12,
            Event::GrantRevoked { .. } => 13,
            Event::GrantExpired { .. } => 14,
            Event::PersonalDataErased { .. } => 15,
            Event::GrantProvisioned { .. } => 16,
            Event::GrantDeprovisioned { .. } => 17,
            Event::ProvisioningFailed { .. } => 18,
            Event::ProvisioningRetried { .. } => 19,
            Event::DriftFound { .. } => 20,
            Event::DriftResolved { .. } => 21,
            Event::CredentialIssued { .. } => 22,
            Event::CredentialRevoked { .. } => 23,
            Event::CredentialRotationDue { .. } => 24,
            Event::CampaignLaunched { .. } => 25,
            Event::ReviewItemsOpened { .. } => 26,
            Event::ReviewDecided { .. } => 27,
            Event::ReviewItemsReassigned { .. } => 28,
            Event::ReviewNotified { .. } => 29,
            Event::ReviewerFlagged { .. } => 30,
            Event::CampaignClosed { .. } => 31,
            Event::AuthorityRechecked { .. } => 32,
            Event::DelegationGranted { .. } => 33,
            Event::DelegationRevoked { .. } => 34,
            Event::ApprovalReminded { .. } => 35,
            Event::StepEscalated { .. } => 36,
            Event::RequestTimedOut { .. } => 37,
            Event::BreakGlassUsed { .. } => 38,
            Event::IncidentReviewEscalated { .. } => 39,
            Event::IncidentReviewClosed { .. } => 40,
            Event::ProvisioningResolved { .. } => 41,
        })
        .collect();
    assert_eq!(covered.len(), EVENT_KINDS, "every event kind is exercised");
    events
}

pub fn every_recorded() -> Vec<Recorded> {
    every_event()
        .into_iter()
        .enumerate()
        .map(|(i, event)| Recorded {
            seq: i as u64 + 1,
            at: Timestamp::from_millis(1_772_442_000_123 + i as i64 * 1000),
            actor: if i % 2 == 0 {
                Actor::Identity(name("alice"))
            } else {
                Actor::system("scheduler")
            },
            event,
        })
        .collect()
}

pub fn text(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

/// Seals with salts 1, 2, 3, … (as big-endian bytes): reproducible, and distinct per
/// field.
pub fn seal(rec: &Recorded) -> Sealed {
    let mut n = 0u128;
    rec.seal(&mut || {
        n += 1;
        n.to_be_bytes()
    })
    .unwrap()
}
