use crate::event::Event;
use crate::values::{CampaignId, Name, Timestamp};

use super::rubber_stamp::{median_gap, rubber_stamps};
use super::*;

fn campaign() -> Campaign {
    Campaign {
        id: CampaignId::parse("cmp_1").unwrap_or_else(|e| panic!("{e}")),
        spec: CampaignSpec {
            name: "t".into(),
            scope: Scope::default(),
            reviewers: ReviewerStrategy::Manager,
            fallback: name("sam"),
            due_at: Timestamp(10),
            final_at: Timestamp(20),
            remind_before: None,
            on_deadline: DeadlineAction::Keep,
        },
        owner: "ada".into(),
        launched_at: Timestamp(0),
        schedule: None,
        population: 0,
        live_grants: 0,
        digest: String::new(),
        open: 0,
        certified: 0,
        revoked: 0,
        kept: 0,
        reminded: false,
        escalated: false,
        closed_at: None,
    }
}

fn name(s: &str) -> Name {
    Name::parse(s).unwrap_or_else(|e| panic!("{e}"))
}

/// `n` decisions by `who`, `gap_ms` apart; the last `revokes` of them revoke.
fn decisions(who: &str, n: usize, gap_ms: i64, revokes: usize) -> Vec<DecisionStat> {
    (0..n)
        .map(|i| DecisionStat {
            reviewer: name(who),
            at: Timestamp(i as i64 * gap_ms),
            decision: if i + revokes >= n {
                ReviewDecision::Revoke
            } else {
                ReviewDecision::Certify
            },
        })
        .collect()
}

fn flagged(ds: Vec<DecisionStat>, already: &[&str]) -> Vec<String> {
    let ctx = ReviewCtx {
        campaign: Some(campaign()),
        decisions: ds,
        flagged: already.iter().map(|a| name(a)).collect(),
        ..ReviewCtx::default()
    };
    rubber_stamps(&ctx, &RubberStampRules::default())
        .into_iter()
        .map(|e| match e {
            Event::ReviewerFlagged { reviewer, rule, .. } => format!("{reviewer}: {rule}"),
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn fast_certifiers_are_flagged_past_the_count_and_under_the_median() {
    // 51 certifications a second apart, 10 revocations among them so the
    // always-certify rule stays out of it.
    let f = flagged(decisions("bob", 61, 1_000, 10), &[]);
    assert_eq!(f.len(), 1);
    assert!(
        f[0].starts_with("bob: certified 51 items at a median of 1000 ms"),
        "{f:?}"
    );
    // Exactly 50 is not more than 50; 6 s apart is not fast.
    assert!(flagged(decisions("bob", 60, 1_000, 10), &[]).is_empty());
    assert!(flagged(decisions("bob", 61, 6_000, 10), &[]).is_empty());
    // Flagged once per campaign.
    assert!(flagged(decisions("bob", 61, 1_000, 10), &["bob"]).is_empty());
}

#[test]
fn reviewers_who_never_revoke_are_flagged_from_the_minimum_count() {
    let f = flagged(decisions("carol", 20, 60_000, 0), &[]);
    assert_eq!(f.len(), 1);
    assert!(f[0].contains("certified all 20 items"), "{f:?}");
    assert!(flagged(decisions("carol", 19, 60_000, 0), &[]).is_empty());
    assert!(flagged(decisions("carol", 20, 60_000, 1), &[]).is_empty());
    // Each reviewer on their own decisions.
    let mut both = decisions("carol", 20, 60_000, 0);
    both.extend(decisions("dan", 20, 60_000, 5));
    assert_eq!(flagged(both, &[]).len(), 1);
}

#[test]
fn the_median_gap_ignores_order_and_needs_two_decisions() {
    assert_eq!(median_gap(&mut [Timestamp(5)]), None);
    let mut t = [Timestamp(100), Timestamp(0), Timestamp(10), Timestamp(30)];
    assert_eq!(median_gap(&mut t), Some(20));
}

#[test]
fn strategies_and_assignees_round_trip_as_text() {
    for s in [
        "manager",
        "nhi_owner",
        "entitlement_owner",
        "system_owner",
        "group:sec",
    ] {
        assert_eq!(
            ReviewerStrategy::parse(s).map(|x| x.to_string()).as_deref(),
            Ok(s)
        );
    }
    assert!(ReviewerStrategy::parse("ceo").is_err());
    assert!(ReviewerStrategy::parse("group:").is_err());
    for a in ["sam", "group:security", "-"] {
        let parsed = Assignee::try_from(a.to_owned()).map(String::from);
        assert_eq!(parsed.as_deref(), Ok(a));
    }
    assert!(DeadlineAction::parse("maybe").is_err());
}
