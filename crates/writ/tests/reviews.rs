//! Access reviews end to end: the real server on port 0 with the demo organisation and
//! an injected clock, driven through the typed client; the scheduler's review pass is
//! called by hand at chosen instants.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/mod.rs"]
mod common;

use common::{START, TestApp, new_request};
use writ::Client;
use writ_core::{
    Actor, CampaignSpec, Command, Cron, DeadlineAction, DurationSpec, MicroReviewPolicy, Name,
    Occurrence, ReviewerStrategy, RubberStampRules, Scope, Timestamp,
};
use writ_server::Config;
use writ_server::reviews::{self, CampaignTemplate, ReviewsConfig, ScheduleConfig};
use writ_server::wire::{CampaignView, NewCampaign, ReviewDecisionBody, ScopeBody};
use writ_store::sqlite::{ProjectionCheck, check_projections};
use writ_store::{Envelope, ExecError};

fn days(n: u64) -> DurationSpec {
    DurationSpec::days(n)
}

fn at(d: DurationSpec) -> String {
    START.plus(d).to_rfc3339()
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap()
}

/// `requester` asks for `entitlement` for `beneficiary`; each approver decides their
/// step in turn. Returns the grant.
async fn grant(
    app: &TestApp,
    requester: &str,
    beneficiary: &str,
    entitlement: &str,
    approvers: &[&str],
) -> String {
    grant_for(app, requester, beneficiary, entitlement, approvers, "30d").await
}

async fn grant_for(
    app: &TestApp,
    requester: &str,
    beneficiary: &str,
    entitlement: &str,
    approvers: &[&str],
    duration: &str,
) -> String {
    let r = app
        .as_(requester)
        .create_request(&new_request(beneficiary, entitlement, duration), None)
        .await
        .unwrap();
    let mut last = None;
    for a in approvers {
        last = Some(
            app.as_(a)
                .approve(&r.id, &Default::default(), None)
                .await
                .unwrap(),
        );
    }
    let done = last.unwrap();
    assert_eq!(done.status, "approved", "{entitlement} for {beneficiary}");
    done.grant.unwrap()
}

fn campaign(name: &str, reviewers: &str, on_deadline: &str, scope: ScopeBody) -> NewCampaign {
    NewCampaign {
        name: name.into(),
        scope,
        reviewers: reviewers.into(),
        fallback: "sam".into(),
        due_at: at(days(14)),
        final_at: at(days(21)),
        remind_before: Some("3d".into()),
        on_deadline: on_deadline.into(),
    }
}

fn systems(s: &[&str]) -> ScopeBody {
    ScopeBody {
        systems: s.iter().map(|x| x.to_string()).collect(),
        ..ScopeBody::default()
    }
}

async fn launch(app: &TestApp, body: &NewCampaign) -> CampaignView {
    app.as_("ada").launch_campaign(body, None).await.unwrap()
}

fn decision(items: &[u32], decision: &str, reason: Option<&str>) -> ReviewDecisionBody {
    ReviewDecisionBody {
        items: items.to_vec(),
        decision: decision.into(),
        reason: reason.map(str::to_owned),
    }
}

/// The item (by grant) as `who` sees it among their own items.
async fn item_of(client: &Client, campaign: &str, grant: &str) -> writ_server::wire::ItemView {
    client
        .review_items(campaign, Some(true), None)
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|i| i.grant == grant)
        .unwrap_or_else(|| panic!("no item for {grant}"))
}

async fn pass(app: &TestApp, rules: &RubberStampRules) -> reviews::PassReport {
    // A fresh memo: every campaign's reviewers are checked on every call.
    let mut memo = reviews::FlagMemo::default();
    reviews::deadlines(
        app.state.store.as_ref(),
        app.clock.as_ref(),
        rules,
        &mut memo,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_campaign_snapshots_a_mixed_population_and_routes_conflicts_to_the_fallback() {
    let app = TestApp::spawn().await;
    // corp-ldap is owned by dan, pg-prod by carol, crm by frank.
    let alice_vpn = grant(&app, "alice", "alice", "corp-ldap/vpn-users", &["priya"]).await;
    let dan_vpn = grant(&app, "dan", "dan", "corp-ldap/vpn-users", &["morgan"]).await;
    // Medium: the manager, then the system owner dan, approve.
    let alice_eng = grant(
        &app,
        "alice",
        "alice",
        "corp-ldap/engineering",
        &["priya", "dan"],
    )
    .await;
    // An NHI: carol asks for the service account she owns; her manager approves.
    let nhi = grant(
        &app,
        "carol",
        "svc-billing",
        "pg-prod/analytics",
        &["priya"],
    )
    .await;
    // Out of scope.
    let crm = grant(&app, "alice", "alice", "crm/viewer", &["priya"]).await;

    let c = launch(
        &app,
        &campaign(
            "Q4 directory and database",
            "system_owner",
            "revoke",
            systems(&["corp-ldap", "pg-prod"]),
        ),
    )
    .await;
    assert_eq!((c.population, c.live_grants_at_launch), (4, 5));
    assert_eq!(c.open, 4);
    let metrics = app
        .anonymous()
        .raw(reqwest::Method::GET, "/metrics", None, None)
        .await
        .unwrap();
    let metrics = String::from_utf8(metrics.body).unwrap();
    assert!(
        metrics.contains("writ_review_campaigns_open 1\n")
            && metrics.contains("writ_review_items_open 4\n"),
        "{metrics}"
    );

    // Each item went to the system's owner unless that owner took part in the access.
    let all = app
        .as_("ada")
        .review_items(&c.id, Some(false), None)
        .await
        .unwrap()
        .items;
    let routed: Vec<(&str, &str, &str)> = [&alice_vpn, &dan_vpn, &alice_eng, &nhi]
        .iter()
        .map(|g| {
            let i = all.iter().find(|i| &i.grant == *g).unwrap();
            (
                i.beneficiary.as_str(),
                i.reviewer.as_str(),
                i.basis.as_str(),
            )
        })
        .collect();
    assert_eq!(
        routed,
        [
            ("alice", "dan", "system_owner"),
            ("dan", "sam", "fallback:self-review"),
            ("alice", "sam", "fallback:approver"),
            ("svc-billing", "sam", "fallback:requester"),
        ]
    );
    assert!(all.iter().all(|i| i.grant != crm));

    // The reviewer sees who asked, who approved on what authority, and other access.
    let mine = item_of(&app.as_("dan"), &c.id, &alice_vpn).await;
    let ctx = mine.context.unwrap();
    assert_eq!(ctx.requester, "alice");
    assert!(
        ctx.approvers[0].starts_with("priya (manager of `alice`"),
        "{ctx:?}"
    );
    assert!(
        ctx.other_access.contains(&"crm/viewer".to_owned()),
        "{ctx:?}"
    );
    assert!(ctx.justification.contains("INC-4411"));

    // dan cannot decide his own access, even by naming the item.
    let own = all.iter().find(|i| i.grant == dan_vpn).unwrap().item;
    let e = app
        .as_("dan")
        .decide_review(&c.id, &decision(&[own], "certify", None))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(403), Some("not-the-reviewer"))
    );
    // dan sees only his own items; alice sees no campaign at all.
    assert_eq!(
        app.as_("dan")
            .review_items(&c.id, None, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert!(
        app.as_("alice")
            .campaigns(false)
            .await
            .unwrap()
            .campaigns
            .is_empty()
    );
    assert_eq!(
        app.as_("alice").campaign(&c.id).await.unwrap_err().status(),
        Some(404)
    );

    // The report reconciles the population with the grant table at launch.
    let report = app.as_("olivia").review_report(&c.id).await.unwrap();
    let p = &report.population;
    assert_eq!(
        (p.live_grants_at_launch, p.in_scope, p.out_of_scope, p.items),
        (5, 4, 1, 4)
    );
    assert!(p.reconciled && p.digest == p.items_digest && p.digest == c.population_digest);
    assert_eq!(report.timeliness.open, 4);
    assert!(report.launched_entry > 0);
    let line = report.lines.iter().find(|l| l.item.grant == nhi).unwrap();
    assert_eq!(line.requester, "carol");
    assert_eq!(line.ticket.as_deref(), Some("INC-4411"));
    assert!(line.approvers[0].starts_with("priya ("));
}

#[tokio::test]
async fn decisions_revoke_through_grant_revocation_and_certify_moves_review_by() {
    let app = TestApp::spawn().await;
    // 180 days of access, first reviewed after 90.
    let keep = grant_for(
        &app,
        "alice",
        "alice",
        "corp-ldap/vpn-users",
        &["priya"],
        "180d",
    )
    .await;
    let drop = grant(&app, "bob", "bob", "corp-ldap/wiki-editors", &["priya"]).await;
    let c = launch(
        &app,
        &campaign("directory", "system_owner", "keep", systems(&["corp-ldap"])),
    )
    .await;
    let dan = app.as_("dan");
    let (k, d) = (
        item_of(&dan, &c.id, &keep).await.item,
        item_of(&dan, &c.id, &drop).await.item,
    );
    let events_before = app.event_count().await;

    // A revocation needs a reason; a refused decision writes nothing.
    let e = dan
        .decide_review(&c.id, &decision(&[d], "revoke", None))
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(422), Some("reason-required")));
    let e = dan
        .decide_review(
            &c.id,
            &decision(&[d, 999], "revoke", Some("left the wiki team")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = dan
        .decide_review(&c.id, &decision(&[d], "keep", None))
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert_eq!(app.event_count().await, events_before);
    assert_eq!(app.as_("bob").grant(&drop).await.unwrap().status, "active");

    app.clock.advance(DurationSpec::hours(1));
    let revoked = dan
        .decide_review(&c.id, &decision(&[d], "revoke", Some("left the wiki team")))
        .await
        .unwrap();
    assert_eq!(revoked.items[0].status, "revoked");
    let g = app.as_("bob").grant(&drop).await.unwrap();
    assert_eq!(g.status, "revoked");
    assert_eq!(g.end_reason.as_deref(), Some("left the wiki team"));
    assert_eq!(g.ended_by.as_deref(), Some("dan"));

    let before = app.as_("alice").grant(&keep).await.unwrap().review_by;
    dan.decide_review(&c.id, &decision(&[k], "certify", None))
        .await
        .unwrap();
    let after = app.as_("alice").grant(&keep).await.unwrap();
    // 90 days from the certification (an hour after the grant).
    assert!(after.review_by > before, "{} !> {before}", after.review_by);
    assert_eq!(
        after.review_by,
        START
            .plus(DurationSpec::hours(1))
            .plus(days(90))
            .to_rfc3339()
    );
    // Decided once.
    let e = dan
        .decide_review(&c.id, &decision(&[k], "certify", None))
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("campaign-closed")));

    let report = app.as_("olivia").review_report(&c.id).await.unwrap();
    assert!(report.campaign.closed_at.is_some() && report.closed_entry.is_some());
    let metrics = app
        .anonymous()
        .raw(reqwest::Method::GET, "/metrics", None, None)
        .await
        .unwrap();
    let metrics = String::from_utf8(metrics.body).unwrap();
    assert!(
        metrics.contains("writ_review_campaigns_open 0\n"),
        "{metrics}"
    );
    assert_eq!((report.campaign.certified, report.campaign.revoked), (1, 1));
    let line = report.lines.iter().find(|l| l.item.grant == drop).unwrap();
    assert_eq!(line.item.reason.as_deref(), Some("left the wiki team"));
    assert_eq!(line.follow_through.as_deref(), Some("revoked"));
    assert_eq!(line.timeliness, "on_time");
    let entry = line.revoked_entry.unwrap();
    assert!(entry > line.item.decided_entry.unwrap() - 1);
    // The ledger entry the report names is the revocation, by the reviewer.
    let e = app.as_("olivia").ledger_entry(entry - 1).await.unwrap();
    assert_eq!(
        (e.event.kind.as_str(), e.event.actor.as_str()),
        ("grant_revoked", "dan")
    );
    // The grant's evidence bundle carries the review that ended it, verified offline.
    let olivia = app.as_("olivia");
    let bundle: writ_ledger::evidence::Bundle =
        serde_json::from_value(olivia.evidence(&drop).await.unwrap()).unwrap();
    let story =
        writ_ledger::evidence::verify(&bundle, &olivia.ledger_key().await.unwrap()).unwrap();
    let g = story.grant.as_ref().unwrap();
    assert_eq!(g.reviews.len(), 1, "{g:?}");
    assert!(
        g.reviews[0].contains("dan revoked it in campaign")
            && g.reviews[0].contains("reason: left the wiki team"),
        "{g:?}"
    );
    assert!(g.ended.as_deref().unwrap().starts_with("revoked by dan"));
    let kept: writ_ledger::evidence::Bundle =
        serde_json::from_value(olivia.evidence(&keep).await.unwrap()).unwrap();
    let told = writ_ledger::evidence::verify(&kept, &olivia.ledger_key().await.unwrap())
        .unwrap()
        .to_string();
    assert!(
        told.contains("Reviewed: at ")
            && told.contains("dan certified it")
            && told.contains("next review by"),
        "{told}"
    );
    let csv = app.as_("olivia").review_report_csv(&c.id).await.unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("item,grant,beneficiary"));
    assert_eq!(lines.count(), 2);
    assert!(csv.contains(",revoked,dan,"), "{csv}");
}

#[tokio::test]
async fn bulk_decisions_are_recorded_as_bulk_and_high_tiers_need_a_reason_to_certify() {
    let app = TestApp::spawn().await;
    let a = grant(&app, "alice", "alice", "corp-ldap/vpn-users", &["priya"]).await;
    let b = grant(&app, "bob", "bob", "corp-ldap/vpn-users", &["priya"]).await;
    let c = launch(
        &app,
        &campaign("bulk", "system_owner", "keep", systems(&["corp-ldap"])),
    )
    .await;
    let dan = app.as_("dan");
    let items = [
        item_of(&dan, &c.id, &a).await.item,
        item_of(&dan, &c.id, &b).await.item,
    ];
    let done = dan
        .decide_review(&c.id, &decision(&items, "certify", None))
        .await
        .unwrap();
    assert!(done.items.iter().all(|i| i.bulk && i.status == "certified"));

    // A high-risk grant: certifying it needs a reason.
    let mut req = new_request("alice", "pg-prod/read-write", "7d");
    req.justification =
        "quarter-end data fix for INC-4411 under change CHG-1200 approved by finance".into();
    let r = app.as_("alice").create_request(&req, None).await.unwrap();
    for who in ["priya", "carol", "sam"] {
        app.as_(who)
            .approve(&r.id, &Default::default(), None)
            .await
            .unwrap();
    }
    let high = app
        .as_("alice")
        .request(&r.id)
        .await
        .unwrap()
        .grant
        .unwrap();
    let c = launch(
        &app,
        &NewCampaign {
            fallback: "erin".into(),
            ..campaign("high", "manager", "keep", systems(&["pg-prod"]))
        },
    )
    .await;
    // priya approved it, so the fallback erin reviews it.
    let erin = app.as_("erin");
    let item = item_of(&erin, &c.id, &high).await;
    assert_eq!(item.basis, "fallback:approver");
    let e = erin
        .decide_review(&c.id, &decision(&[item.item], "certify", None))
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(422), Some("reason-required")));
    erin.decide_review(
        &c.id,
        &decision(&[item.item], "certify", Some("fix still running this week")),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn the_scheduler_reminds_escalates_and_applies_the_deadline_action() {
    let app = TestApp::spawn().await;
    let alice = grant(&app, "alice", "alice", "corp-ldap/vpn-users", &["priya"]).await;
    let bob = grant(&app, "bob", "bob", "corp-ldap/vpn-users", &["priya"]).await;
    let c = launch(
        &app,
        &campaign(
            "deadlines",
            "system_owner",
            "revoke",
            systems(&["corp-ldap"]),
        ),
    )
    .await;
    let rules = RubberStampRules::default();
    let dan = app.as_("dan");
    let first = item_of(&dan, &c.id, &alice).await.item;

    // Nothing is due yet.
    assert!(pass(&app, &rules).await.deadlines.is_empty());
    // Three days before the due date: reminders, once.
    app.clock.set(START.plus(days(11)));
    assert_eq!(ids(&pass(&app, &rules).await), [c.id.to_string()]);
    assert!(pass(&app, &rules).await.deadlines.is_empty());
    let r = app.as_("olivia").review_report(&c.id).await.unwrap();
    assert_eq!(r.notices.len(), 1);
    assert_eq!(
        (
            r.notices[0].to.as_str(),
            r.notices[0].notice.as_str(),
            r.notices[0].items
        ),
        ("dan", "reminder", 2)
    );
    // dan decides one item late (after the due date)...
    app.clock.set(START.plus(days(15)));
    dan.decide_review(&c.id, &decision(&[first], "certify", None))
        .await
        .unwrap();
    // ...and the other escalates to the fallback, who is told.
    assert_eq!(ids(&pass(&app, &rules).await), [c.id.to_string()]);
    let moved = item_of(&app.as_("sam"), &c.id, &bob).await;
    assert_eq!(moved.basis, "fallback:escalated");
    assert!(moved.reassigned.unwrap().starts_with("overdue"));
    assert!(
        dan.review_items(&c.id, Some(true), Some("open"))
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // At the final deadline the campaign's action applies to what is still open.
    app.clock.set(START.plus(days(21)));
    assert_eq!(ids(&pass(&app, &rules).await), [c.id.to_string()]);
    let g = app.as_("bob").grant(&bob).await.unwrap();
    assert_eq!(g.status, "revoked");
    assert_eq!(g.ended_by.as_deref(), Some("system:scheduler"));
    assert_eq!(
        app.as_("alice").grant(&alice).await.unwrap().status,
        "active"
    );

    let r = app.as_("olivia").review_report(&c.id).await.unwrap();
    assert!(r.campaign.closed_at.is_some());
    assert_eq!(
        (
            r.timeliness.on_time,
            r.timeliness.late,
            r.timeliness.defaulted,
            r.timeliness.open
        ),
        (0, 1, 1, 0)
    );
    let defaulted = r.lines.iter().find(|l| l.item.grant == bob).unwrap();
    assert!(defaulted.item.defaulted);
    assert_eq!(
        defaulted.item.decided_by.as_deref(),
        Some("system:scheduler")
    );
    assert!(
        defaulted
            .item
            .decision_basis
            .as_deref()
            .unwrap()
            .contains("deadline action `revoke`")
    );
    assert!(defaulted.revoked_entry.is_some());
    let kinds: Vec<&str> = r.notices.iter().map(|n| n.notice.as_str()).collect();
    assert_eq!(kinds, ["reminder", "escalation"]);
    // A closed campaign takes no more decisions, and nothing more is due.
    assert!(pass(&app, &rules).await.deadlines.is_empty());

    // Every review table rebuilds from the ledger to exactly what the server wrote.
    let dir = app.stop().await;
    assert!(matches!(
        check_projections(&dir.path().join("writ.db")).unwrap(),
        ProjectionCheck::Match { .. }
    ));
}

#[tokio::test]
async fn a_rubber_stamper_is_flagged_and_their_certifications_go_back_for_review() {
    let app = TestApp::spawn().await;
    let mut grants = Vec::new();
    for who in ["alice", "bob", "carol"] {
        grants.push(grant(&app, who, who, "corp-ldap/vpn-users", &["priya"]).await);
    }
    let c = launch(
        &app,
        &campaign("stamps", "system_owner", "keep", systems(&["corp-ldap"])),
    )
    .await;
    let dan = app.as_("dan");
    let rules = RubberStampRules {
        fast_min_items: 50,
        fast_median_ms: 5_000,
        always_certify_min_items: 3,
    };
    // Two certifications: below the threshold.
    for g in &grants[..2] {
        let i = item_of(&dan, &c.id, g).await.item;
        dan.decide_review(&c.id, &decision(&[i], "certify", None))
            .await
            .unwrap();
        app.clock.advance(DurationSpec::parse("1s").unwrap());
    }
    assert_eq!(pass(&app, &rules).await.flagged, 0);
    // Re-review of someone not flagged is refused.
    let e = app
        .as_("ada")
        .require_rereview(&c.id, "dan")
        .await
        .unwrap_err();
    assert_eq!((e.status(), e.code()), (Some(409), Some("not-flagged")));
    let i = item_of(&dan, &c.id, &grants[2]).await.item;
    dan.decide_review(&c.id, &decision(&[i], "certify", None))
        .await
        .unwrap();
    assert_eq!(pass(&app, &rules).await.flagged, 1);
    // Flagged once.
    assert_eq!(pass(&app, &rules).await.flagged, 0);
    let r = app.as_("olivia").review_report(&c.id).await.unwrap();
    assert_eq!(r.flags.len(), 1);
    assert_eq!(r.flags[0].reviewer, "dan");
    assert!(
        r.flags[0].rule.contains("certified all 3"),
        "{}",
        r.flags[0].rule
    );
    let flagged_entry = app
        .as_("olivia")
        .ledger_entry(r.flags[0].entry - 1)
        .await
        .unwrap();
    assert_eq!(flagged_entry.event.kind, "reviewer_flagged");

    // Only the campaign's owner (or an admin) sends them back; then the fallback decides.
    let e = app
        .as_("priya")
        .require_rereview(&c.id, "dan")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(403));
    let reopened = app.as_("ada").require_rereview(&c.id, "dan").await.unwrap();
    assert_eq!((reopened.open, reopened.certified), (3, 0));
    assert!(reopened.closed_at.is_none());
    let sam = app.as_("sam");
    let again = item_of(&sam, &c.id, &grants[0]).await;
    assert_eq!(again.basis, "fallback:re-review");
    assert!(
        again
            .prior_decision
            .unwrap()
            .starts_with("certified by dan")
    );
    sam.decide_review(
        &c.id,
        &decision(&[again.item], "revoke", Some("not needed since June")),
    )
    .await
    .unwrap();
    assert_eq!(
        app.as_("alice").grant(&grants[0]).await.unwrap().status,
        "revoked"
    );
    // The evidence keeps both: the rubber-stamped certification and the re-review.
    let olivia = app.as_("olivia");
    let bundle: writ_ledger::evidence::Bundle =
        serde_json::from_value(olivia.evidence(&grants[0]).await.unwrap()).unwrap();
    let story =
        writ_ledger::evidence::verify(&bundle, &olivia.ledger_key().await.unwrap()).unwrap();
    let reviews = &story.grant.unwrap().reviews;
    assert_eq!(reviews.len(), 2, "{reviews:?}");
    assert!(reviews[0].contains("dan certified it"), "{reviews:?}");
    assert!(reviews[1].contains("sam revoked it"), "{reviews:?}");
}

#[tokio::test]
async fn a_manager_change_opens_a_micro_review_for_the_new_manager() {
    let mut config = Config::default();
    config.approval.micro_review = Some(MicroReviewPolicy {
        fallback: name("sam"),
        due_in: days(14),
        grace: days(7),
        on_deadline: DeadlineAction::Keep,
    });
    let app = TestApp::spawn_with(config, false).await;
    let vpn = grant(&app, "alice", "alice", "corp-ldap/vpn-users", &["priya"]).await;
    let wiki = grant(&app, "alice", "alice", "corp-ldap/wiki-editors", &["priya"]).await;
    assert!(
        app.as_("ada")
            .campaigns(false)
            .await
            .unwrap()
            .campaigns
            .is_empty()
    );

    // A change that is not the manager's or the department's opens nothing.
    let mut alice = app.as_("ada").identity("alice").await.unwrap();
    alice.display_name = "Alice Martin-Ng".into();
    app.as_("ada").put_identity("alice", &alice).await.unwrap();
    assert!(
        app.as_("ada")
            .campaigns(false)
            .await
            .unwrap()
            .campaigns
            .is_empty()
    );

    alice.manager = Some("grace".into());
    app.as_("ada").put_identity("alice", &alice).await.unwrap();
    let campaigns = app.as_("ada").campaigns(false).await.unwrap().campaigns;
    assert_eq!(campaigns.len(), 1);
    let c = &campaigns[0];
    assert!(c.name.contains("micro-review: alice"), "{}", c.name);
    assert_eq!((c.population, c.on_deadline.as_str()), (2, "keep"));
    let mine = app
        .as_("grace")
        .review_items(&c.id, Some(true), None)
        .await
        .unwrap()
        .items;
    let mut granted: Vec<&str> = mine.iter().map(|i| i.grant.as_str()).collect();
    granted.sort();
    let mut expected = [vpn.as_str(), wiki.as_str()];
    expected.sort();
    assert_eq!(granted, expected);
    assert!(mine.iter().all(|i| i.basis == "manager"));
}

fn hourly(fallback: &str) -> ReviewsConfig {
    ReviewsConfig {
        schedules: vec![ScheduleConfig {
            name: name("hourly-directory"),
            cron: Cron::parse("0 * * * *").unwrap(),
            campaign: CampaignTemplate {
                name: "Directory".into(),
                scope: Scope {
                    systems: [name("corp-ldap")].into(),
                    ..Scope::default()
                },
                reviewers: ReviewerStrategy::SystemOwner,
                fallback: name(fallback),
                due_in: days(7),
                grace: days(3),
                remind_before: None,
                on_deadline: DeadlineAction::Keep,
            },
        }],
        ..ReviewsConfig::default()
    }
}

#[tokio::test]
async fn a_recurring_schedule_launches_each_occurrence_exactly_once_with_two_schedulers() {
    let app = TestApp::spawn().await;
    grant(&app, "alice", "alice", "corp-ldap/vpn-users", &["priya"]).await;
    let config = hourly("sam");
    let store = app.state.store.as_ref();
    let clock = app.clock.as_ref();
    // START is 09:00 sharp: an occurrence is due. Two scheduler loops race for it.
    let (a, b) = tokio::join!(
        reviews::launch_schedules(store, clock, &config, "scheduler-a"),
        reviews::launch_schedules(store, clock, &config, "scheduler-b"),
    );
    let launched = a.unwrap().len() + b.unwrap().len();
    assert_eq!(launched, 1);
    // Run both again, many times, during the same hour: nothing more.
    app.clock.advance(DurationSpec::parse("30m").unwrap());
    for holder in ["scheduler-a", "scheduler-b", "scheduler-a"] {
        assert!(
            reviews::launch_schedules(store, clock, &config, holder)
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Even without the lease, the core refuses a second launch of that occurrence.
    let occurrence = Occurrence {
        schedule: name("hourly-directory"),
        at: START,
    };
    let again = store
        .execute(Envelope::new(
            Actor::system("scheduler"),
            Command::LaunchCampaign {
                spec: config.schedules[0].campaign.spec(clock_now(&app), START),
                schedule: Some(occurrence),
            },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&again, ExecError::Refused(r) if r.code == "occurrence-launched"),
        "{again:?}"
    );
    // A person cannot launch a schedule's occurrence.
    let as_person = store
        .execute(Envelope::new(
            Actor::Identity(name("ada")),
            Command::LaunchCampaign {
                spec: config.schedules[0].campaign.spec(clock_now(&app), START),
                schedule: Some(Occurrence {
                    schedule: name("hourly-directory"),
                    at: Timestamp(START.millis() + 3_600_000),
                }),
            },
        ))
        .await
        .unwrap_err();
    assert!(matches!(&as_person, ExecError::Refused(r) if r.code == "scheduler-only"));

    // The next hour's occurrence: once more, exactly once. The lease has run out by
    // then, so the other scheduler may be the one that launches it.
    app.clock.advance(DurationSpec::parse("31m").unwrap());
    let (a, b) = tokio::join!(
        reviews::launch_schedules(store, clock, &config, "scheduler-b"),
        reviews::launch_schedules(store, clock, &config, "scheduler-a"),
    );
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 1);
    let campaigns = app.as_("ada").campaigns(false).await.unwrap().campaigns;
    let mut occurrences: Vec<String> = campaigns
        .iter()
        .filter_map(|c| c.schedule.clone())
        .collect();
    occurrences.sort();
    assert_eq!(
        occurrences,
        [
            format!("hourly-directory @ {}", START.to_rfc3339()),
            format!(
                "hourly-directory @ {}",
                Timestamp(START.millis() + 3_600_000).to_rfc3339()
            ),
        ]
    );
    assert!(campaigns.iter().all(|c| c.population == 1));
}

fn clock_now(app: &TestApp) -> Timestamp {
    use writ_core::Clock as _;
    app.clock.now()
}

#[tokio::test]
async fn bad_campaigns_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    grant(&app, "alice", "alice", "corp-ldap/vpn-users", &["priya"]).await;
    let events = app.event_count().await;
    let good = campaign("ok", "system_owner", "revoke", ScopeBody::default());
    let cases: Vec<(NewCampaign, u16, &str)> = vec![
        (
            NewCampaign {
                on_deadline: "maybe".into(),
                ..good.clone()
            },
            422,
            "invalid-field",
        ),
        (
            NewCampaign {
                due_at: START.to_rfc3339(),
                ..good.clone()
            },
            422,
            "due-in-past",
        ),
        (
            NewCampaign {
                final_at: at(days(2)),
                ..good.clone()
            },
            422,
            "final-before-due",
        ),
        (
            NewCampaign {
                fallback: "nobody".into(),
                ..good.clone()
            },
            422,
            "unknown-identity",
        ),
        (
            NewCampaign {
                fallback: "svc-billing".into(),
                ..good.clone()
            },
            422,
            "invalid-fallback",
        ),
        (
            NewCampaign {
                reviewers: "ceo".into(),
                ..good.clone()
            },
            422,
            "invalid-field",
        ),
        (
            NewCampaign {
                reviewers: "group:nobody-here".into(),
                ..good.clone()
            },
            422,
            "empty-group",
        ),
        (
            NewCampaign {
                scope: systems(&["erp"]),
                ..good.clone()
            },
            422,
            "unknown-system",
        ),
        (
            NewCampaign {
                name: " ".into(),
                ..good.clone()
            },
            422,
            "invalid-campaign",
        ),
    ];
    for (body, status, code) in cases {
        let e = app
            .as_("ada")
            .launch_campaign(&body, None)
            .await
            .unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(status), Some(code)),
            "{body:?}"
        );
    }
    // Only admins launch; an auditor writes nothing.
    for who in ["priya", "olivia"] {
        let e = app.as_(who).launch_campaign(&good, None).await.unwrap_err();
        assert_eq!(e.status(), Some(403), "{who}");
    }
    assert_eq!(app.event_count().await, events);
    assert!(
        app.as_("ada")
            .campaigns(false)
            .await
            .unwrap()
            .campaigns
            .is_empty()
    );
}

#[tokio::test]
async fn grants_past_review_by_are_reported_and_pulled_into_the_next_campaign() {
    let app = TestApp::spawn().await;
    // 180 days of access: reviewed after 90.
    let r = app
        .as_("alice")
        .create_request(&new_request("alice", "crm/viewer", "180d"), None)
        .await
        .unwrap();
    let long = app
        .as_("priya")
        .approve(&r.id, &Default::default(), None)
        .await
        .unwrap()
        .grant
        .unwrap();
    let short = grant(&app, "bob", "bob", "corp-ldap/vpn-users", &["priya"]).await;
    assert!(
        app.as_("ada")
            .overdue_reviews()
            .await
            .unwrap()
            .grants
            .is_empty()
    );
    app.clock.set(START.plus(days(91)));
    // bob's 30-day grant expired at its review date; alice's is overdue.
    writ_server::scheduler::expire_due(app.state.store.as_ref(), app.clock.as_ref())
        .await
        .unwrap();
    let overdue = app.as_("olivia").overdue_reviews().await.unwrap().grants;
    assert_eq!(
        overdue.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        [long.as_str()]
    );
    assert_ne!(short, long);
    assert_eq!(
        app.as_("alice")
            .overdue_reviews()
            .await
            .unwrap_err()
            .status(),
        Some(403)
    );
    // A campaign over the directory with include_overdue also takes the CRM grant.
    let mut body = campaign("catch-up", "system_owner", "keep", systems(&["corp-ldap"]));
    body.due_at = START.plus(days(100)).to_rfc3339();
    body.final_at = START.plus(days(101)).to_rfc3339();
    body.scope.include_overdue = true;
    let c = launch(&app, &body).await;
    assert_eq!(c.population, 1);
    let item = item_of(&app.as_("frank"), &c.id, &long).await;
    assert_eq!(item.basis, "system_owner");
    app.as_("frank")
        .decide_review(&c.id, &decision(&[item.item], "certify", None))
        .await
        .unwrap();
    assert!(
        app.as_("ada")
            .overdue_reviews()
            .await
            .unwrap()
            .grants
            .is_empty()
    );
}

/// The spec a schedule's template gives is a valid campaign: deadlines after launch.
#[test]
fn a_template_makes_deadlines_relative_to_its_launch() {
    let t = &hourly("sam").schedules[0].campaign;
    let spec: CampaignSpec = t.spec(START, START);
    assert_eq!(spec.due_at, START.plus(days(7)));
    assert_eq!(spec.final_at, START.plus(days(10)));
    assert!(spec.name.starts_with("Directory ("));
}

fn ids(r: &reviews::PassReport) -> Vec<String> {
    r.deadlines.iter().map(|c| c.to_string()).collect()
}

/// Whoever decided the access may not review it, in person or through a delegate:
/// grace approves alice's request on behalf of priya (under priya's delegation), so
/// a manager campaign routes alice's item away from priya, and priya cannot decide it.
#[tokio::test]
async fn a_decision_through_a_delegate_counts_against_the_delegator_in_review() {
    let app = TestApp::spawn().await;
    app.as_("priya")
        .delegate(&writ_server::wire::NewDelegation {
            delegate: "grace".into(),
            for_: Some("3d".into()),
            reason: "priya is at the offsite; grace covers her approvals".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let by_delegate = grant(&app, "alice", "alice", "corp-ldap/vpn-users", &["grace"]).await;
    // bob's access priya approved herself: a control for the routing.
    let in_person = grant(&app, "bob", "bob", "corp-ldap/vpn-users", &["priya"]).await;
    let request = app.as_("ada").grant(&by_delegate).await.unwrap().request;
    let step = &app.as_("ada").request(&request).await.unwrap().steps[0];
    assert_eq!(step.approver.as_deref(), Some("grace"));

    let c = launch(
        &app,
        &campaign("Q4 VPN", "manager", "revoke", systems(&["corp-ldap"])),
    )
    .await;
    let all = app
        .as_("ada")
        .review_items(&c.id, Some(false), None)
        .await
        .unwrap()
        .items;
    let routed = |g: &str| {
        let i = all.iter().find(|i| i.grant == g).unwrap();
        (i.reviewer.clone(), i.basis.clone(), i.item)
    };
    let (reviewer, basis, item) = routed(&by_delegate);
    assert_eq!(
        (reviewer.as_str(), basis.as_str()),
        ("sam", "fallback:approver"),
        "priya decided alice's access through grace: she may not review it"
    );
    let (reviewer, basis, _) = routed(&in_person);
    assert_eq!(
        (reviewer.as_str(), basis.as_str()),
        ("sam", "fallback:approver")
    );
    let e = app
        .as_("priya")
        .decide_review(&c.id, &decision(&[item], "certify", None))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(403), Some("not-the-reviewer")),
        "{e}"
    );
    // Someone with no item in the campaign is told it does not exist, like a read.
    let e = app
        .as_("frank")
        .review_items(&c.id, None, None)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
    // grace, the delegate who approved, is no reviewer of it either.
    let e = app
        .as_("grace")
        .decide_review(&c.id, &decision(&[item], "certify", None))
        .await
        .unwrap_err();
    assert!(matches!(e.status(), Some(403 | 404)), "{e}");
}
