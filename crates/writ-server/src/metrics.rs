//! Prometheus text exposition of request counts and latencies, and store gauges.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use writ_store::Stats;

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    attempts: Mutex<BTreeMap<(String, &'static str), u64>>,
}

impl Metrics {
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        let secs = elapsed.as_secs_f64();
        let mut lat = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        let h = lat
            .entry((method.to_owned(), route.to_owned()))
            .or_default();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    pub fn render(&self, stats: &Stats, appended: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP writ_http_requests_total HTTP requests handled, by route template and status."
        );
        let _ = writeln!(out, "# TYPE writ_http_requests_total counter");
        for ((m, r, s), n) in self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "writ_http_requests_total{{method=\"{m}\",route=\"{r}\",status=\"{s}\"}} {n}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP writ_http_request_duration_seconds Time to handle an HTTP request."
        );
        let _ = writeln!(out, "# TYPE writ_http_request_duration_seconds histogram");
        for ((m, r), h) in self
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            for (i, le) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "writ_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"{le}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "writ_http_request_duration_seconds_bucket{{method=\"{m}\",route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "writ_http_request_duration_seconds_sum{{method=\"{m}\",route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "writ_http_request_duration_seconds_count{{method=\"{m}\",route=\"{r}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(
            out,
            "# HELP writ_events_appended_total Ledger events appended by this process."
        );
        let _ = writeln!(out, "# TYPE writ_events_appended_total counter");
        let _ = writeln!(out, "writ_events_appended_total {appended}");
        let _ = writeln!(out, "# HELP writ_ledger_events Events in the ledger.");
        let _ = writeln!(out, "# TYPE writ_ledger_events gauge");
        let _ = writeln!(out, "writ_ledger_events {}", stats.events);
        let _ = writeln!(out, "# HELP writ_grants Grants by status.");
        let _ = writeln!(out, "# TYPE writ_grants gauge");
        for status in writ_core::GrantStatus::ALL.map(writ_core::GrantStatus::as_str) {
            let n = stats
                .grants_by_status
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "writ_grants{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(out, "# HELP writ_requests Requests by status.");
        let _ = writeln!(out, "# TYPE writ_requests gauge");
        for status in ["pending", "approved", "denied", "cancelled"] {
            let n = stats
                .requests_by_status
                .iter()
                .find(|(s, _)| s == status)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "writ_requests{{status=\"{status}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP writ_provisioning_jobs Provisioning jobs by state (dead = given up, waiting for an admin's retry)."
        );
        let _ = writeln!(out, "# TYPE writ_provisioning_jobs gauge");
        for state in ["queued", "done", "dead", "superseded", "resolved"] {
            let n = stats
                .jobs_by_state
                .iter()
                .find(|(s, _)| s == state)
                .map_or(0, |(_, n)| *n);
            let _ = writeln!(out, "writ_provisioning_jobs{{state=\"{state}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP writ_review_campaigns_open Access-review campaigns not yet closed."
        );
        let _ = writeln!(out, "# TYPE writ_review_campaigns_open gauge");
        let _ = writeln!(out, "writ_review_campaigns_open {}", stats.open_campaigns);
        let _ = writeln!(
            out,
            "# HELP writ_review_items_open Review items not yet decided, in open campaigns."
        );
        let _ = writeln!(out, "# TYPE writ_review_items_open gauge");
        let _ = writeln!(out, "writ_review_items_open {}", stats.open_review_items);
        let _ = writeln!(
            out,
            "# HELP writ_grants_held Grants held before provisioning: an approver lost authority."
        );
        let _ = writeln!(out, "# TYPE writ_grants_held gauge");
        let _ = writeln!(out, "writ_grants_held {}", stats.held_grants);
        let _ = writeln!(
            out,
            "# HELP writ_incident_reviews_open Post-incident reviews of break-glass access not yet closed."
        );
        let _ = writeln!(out, "# TYPE writ_incident_reviews_open gauge");
        let _ = writeln!(
            out,
            "writ_incident_reviews_open {}",
            stats.open_incident_reviews
        );
        let _ = writeln!(
            out,
            "# HELP writ_provisioning_attempts_total Connector calls by system and outcome (confirmed, retry, dead)."
        );
        let _ = writeln!(out, "# TYPE writ_provisioning_attempts_total counter");
        for ((system, outcome), n) in self
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "writ_provisioning_attempts_total{{system=\"{system}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        out
    }

    /// Counts one connector call's outcome (`confirmed`, `retry` or `dead`).
    pub fn attempt(&self, system: &str, outcome: &'static str) {
        *self
            .attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((system.to_owned(), outcome))
            .or_default() += 1;
    }
}
