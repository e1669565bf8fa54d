//! Access reviews on a timer: each campaign's reminders, escalation and deadline
//! action; rubber-stamp flags; and recurring campaigns launched from cron schedules
//! by whichever scheduler holds the lease.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use writ_core::{
    Actor, Campaign, CampaignId, CampaignSpec, Clock, Command, Cron, DeadlineAction, DurationSpec,
    Name, Occurrence, ReviewerStrategy, RubberStampRules, Scope, Timestamp,
};
use writ_store::{Envelope, ExecError, Outcome, Store, StoreError};

/// The lease that lets one scheduler at a time launch recurring campaigns.
pub const SCHEDULE_LEASE: &str = "review-schedules";

/// `[reviews]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewsConfig {
    /// How often deadlines, flags and schedules are looked at.
    pub interval_ms: u64,
    /// How long a scheduler holds the schedule lease after taking it.
    pub lease_ms: u64,
    pub rubber_stamp: RubberStampRules,
    pub schedules: Vec<ScheduleConfig>,
}

impl Default for ReviewsConfig {
    fn default() -> Self {
        ReviewsConfig {
            interval_ms: 60_000,
            lease_ms: 300_000,
            rubber_stamp: RubberStampRules::default(),
            schedules: Vec::new(),
        }
    }
}

/// A recurring campaign: `cron` (UTC) says when; `campaign` what.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    pub name: Name,
    pub cron: Cron,
    pub campaign: CampaignTemplate,
}

/// A campaign with deadlines relative to its launch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignTemplate {
    pub name: String,
    #[serde(default)]
    pub scope: Scope,
    pub reviewers: ReviewerStrategy,
    pub fallback: Name,
    pub due_in: DurationSpec,
    /// After the due date, how long until the deadline action applies.
    pub grace: DurationSpec,
    #[serde(default)]
    pub remind_before: Option<DurationSpec>,
    pub on_deadline: DeadlineAction,
}

impl CampaignTemplate {
    pub fn spec(&self, launched: Timestamp, occurrence: Timestamp) -> CampaignSpec {
        let due_at = launched.plus(self.due_in);
        CampaignSpec {
            name: format!("{} ({})", self.name, occurrence.to_rfc3339()),
            scope: self.scope.clone(),
            reviewers: self.reviewers.clone(),
            fallback: self.fallback.clone(),
            due_at,
            final_at: due_at.plus(self.grace),
            remind_before: self.remind_before,
            on_deadline: self.on_deadline,
        }
    }
}

impl ReviewsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(50..=3_600_000).contains(&self.interval_ms) {
            return Err("reviews.interval_ms must be between 50 and 3600000".into());
        }
        if self.lease_ms < self.interval_ms.saturating_mul(2) {
            return Err("reviews.lease_ms must be at least twice reviews.interval_ms".into());
        }
        let r = &self.rubber_stamp;
        if r.fast_median_ms <= 0 || r.always_certify_min_items == 0 {
            return Err(
                "reviews.rubber_stamp: fast_median_ms and always_certify_min_items must be positive"
                    .into(),
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.schedules {
            if !seen.insert(&s.name) {
                return Err(format!("reviews.schedules: `{}` is listed twice", s.name));
            }
            if s.campaign.name.trim().is_empty() {
                return Err(format!(
                    "reviews.schedules `{}`: campaign.name is required",
                    s.name
                ));
            }
        }
        Ok(())
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Campaigns whose deadlines did something (reminded, escalated, closed).
    pub deadlines: Vec<CampaignId>,
    pub flagged: usize,
    pub launched: Vec<CampaignId>,
}

fn scheduler() -> Actor {
    Actor::system("scheduler")
}

/// Executes a scheduler command; a refusal is logged and counts as nothing done.
async fn run(store: &dyn Store, command: Command) -> Result<usize, StoreError> {
    let name = command.name();
    match store.execute(Envelope::new(scheduler(), command)).await {
        Ok(Outcome::Committed(events)) => Ok(events.len()),
        Ok(Outcome::Replayed(_) | Outcome::Preview(_)) => Ok(0),
        Err(ExecError::Refused(r)) => {
            tracing::debug!(command = name, reason = %r, "review command refused");
            Ok(0)
        }
        Err(ExecError::Store(e)) => Err(e),
    }
}

/// Whether a campaign's deadlines have something to do at `now`.
fn deadline_due(c: &Campaign, now: Timestamp) -> bool {
    let s = &c.spec;
    now >= s.final_at
        || (now >= s.due_at && !c.escalated)
        || (!c.reminded && s.remind_before.is_some_and(|d| now.plus(d) >= s.due_at))
}

/// Campaigns closed this recently are still checked for rubber-stamping: the last
/// decisions often close a campaign.
const FLAG_AFTER_CLOSE: DurationSpec = DurationSpec::days(7);

/// How many decisions each campaign had when its reviewers were last checked: a
/// campaign whose decisions did not change is not read again (the check reads every
/// decision of the campaign on the writer).
#[derive(Debug, Default)]
pub struct FlagMemo(HashMap<CampaignId, u64>);

/// Reminds, escalates and applies deadline actions that are due over every open
/// campaign, and flags rubber-stampers (in open and recently closed campaigns whose
/// decisions changed since `memo` last saw them).
pub async fn deadlines(
    store: &dyn Store,
    clock: &dyn Clock,
    rules: &RubberStampRules,
    memo: &mut FlagMemo,
) -> Result<PassReport, StoreError> {
    let mut report = PassReport::default();
    let now = clock.now();
    for c in store.campaigns(false).await? {
        if c.closed_at.is_some_and(|t| t.plus(FLAG_AFTER_CLOSE) < now) {
            memo.0.remove(&c.id);
            continue;
        }
        let decided = c.certified + c.revoked;
        let flags = if decided > 0 && memo.0.get(&c.id) != Some(&decided) {
            let n = run(
                store,
                Command::FlagReviewers {
                    campaign: c.id.clone(),
                    rules: *rules,
                },
            )
            .await?;
            memo.0.insert(c.id.clone(), decided);
            n
        } else {
            0
        };
        if flags > 0 {
            tracing::warn!(campaign = %c.id, reviewers = flags, "reviewers flagged as rubber-stamping");
        }
        report.flagged += flags;
        if !c.is_closed() && deadline_due(&c, now) {
            let n = run(
                store,
                Command::RunReviewDeadlines {
                    campaign: c.id.clone(),
                },
            )
            .await?;
            if n > 0 {
                tracing::info!(campaign = %c.id, events = n, "review deadlines applied");
                report.deadlines.push(c.id.clone());
            }
        }
    }
    Ok(report)
}

/// The occurrence of `schedule` due at `now` and not launched yet, if any. A schedule
/// never launched catches up at most one day, so a new schedule does not launch for
/// an occurrence long past.
fn due_occurrence(s: &ScheduleConfig, campaigns: &[Campaign], now: Timestamp) -> Option<Timestamp> {
    let last = campaigns
        .iter()
        .filter_map(|c| c.schedule.as_ref())
        .filter(|o| o.schedule == s.name)
        .map(|o| o.at)
        .max();
    let not_before = last.unwrap_or(Timestamp(now.millis() - 86_400_000));
    s.cron.last_at_or_before(now, not_before)
}

/// Launches the due occurrence of every schedule, if this holder has (or takes) the
/// lease. Each occurrence launches once: the lease keeps a second scheduler out, and
/// the core refuses a second launch of the same occurrence whoever asks.
pub async fn launch_schedules(
    store: &dyn Store,
    clock: &dyn Clock,
    config: &ReviewsConfig,
    holder: &str,
) -> Result<Vec<CampaignId>, StoreError> {
    if config.schedules.is_empty() {
        return Ok(vec![]);
    }
    let now = clock.now();
    let until = Timestamp(now.millis() + config.lease_ms as i64);
    if !store.take_lease(SCHEDULE_LEASE, holder, now, until).await? {
        tracing::debug!(holder, "another scheduler holds the review schedule lease");
        return Ok(vec![]);
    }
    let campaigns = store.campaigns(false).await?;
    let mut launched = Vec::new();
    for s in &config.schedules {
        let Some(at) = due_occurrence(s, &campaigns, now) else {
            continue;
        };
        let command = Command::LaunchCampaign {
            spec: s.campaign.spec(now, at),
            schedule: Some(Occurrence {
                schedule: s.name.clone(),
                at,
            }),
        };
        match store.execute(Envelope::new(scheduler(), command)).await {
            Ok(Outcome::Committed(events)) => {
                if let Some(id) = events.first().and_then(|e| match &e.event {
                    writ_core::Event::CampaignLaunched { campaign, .. } => Some(campaign.clone()),
                    _ => None,
                }) {
                    tracing::info!(schedule = %s.name, campaign = %id, "recurring campaign launched");
                    launched.push(id);
                }
            }
            Ok(Outcome::Replayed(_) | Outcome::Preview(_)) => {}
            Err(ExecError::Refused(r)) => {
                tracing::warn!(schedule = %s.name, reason = %r, "recurring campaign not launched")
            }
            Err(ExecError::Store(e)) => return Err(e),
        }
    }
    Ok(launched)
}

/// One pass: schedules first (a new campaign's deadlines are far away), then deadlines.
pub async fn pass(
    store: &dyn Store,
    clock: &dyn Clock,
    config: &ReviewsConfig,
    holder: &str,
    memo: &mut FlagMemo,
) -> Result<PassReport, StoreError> {
    let launched = launch_schedules(store, clock, config, holder).await?;
    let mut report = deadlines(store, clock, &config.rubber_stamp, memo).await?;
    report.launched = launched;
    Ok(report)
}

pub fn spawn(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: ReviewsConfig,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // A holder name unique to this process: leases are between schedulers.
    let holder = format!("writ-{}-{}", std::process::id(), clock.now().millis());
    let every = Duration::from_millis(config.interval_ms);
    let memo = Arc::new(Mutex::new(FlagMemo::default()));
    crate::scheduler::periodic(every, stop, move || {
        let (store, clock, config, holder, memo) = (
            store.clone(),
            clock.clone(),
            config.clone(),
            holder.clone(),
            memo.clone(),
        );
        async move {
            // Passes never overlap (`periodic` awaits each), so the memo is taken for
            // the pass and put back after it.
            let mut m = std::mem::take(&mut *memo.lock().unwrap_or_else(PoisonError::into_inner));
            if let Err(e) = pass(store.as_ref(), clock.as_ref(), &config, &holder, &mut m).await {
                tracing::error!(error = %e, "review pass failed; will retry");
            }
            *memo.lock().unwrap_or_else(PoisonError::into_inner) = m;
        }
    })
}
