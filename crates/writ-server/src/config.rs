//! The server's TOML configuration. Every key is optional; unknown keys are refused.
//!
//! ```toml
//! [scheduler]
//! interval_ms = 1000          # how often due grants are expired
//!
//! [ledger]
//! origin = "writ.example.com/ledger"   # checkpoint origin, used when the key is created
//! key_file = "/etc/writ/ledger-key"    # default: <data dir>/ledger-key, made at first start
//! checkpoint_interval_ms = 1000        # sign new entries at most this often
//!
//! [http]                      # slow and hostile clients (see `http`)
//! header_timeout_ms = 10000   # headers arrive within this; idle keep-alive closes after it
//! body_timeout_ms = 15000     # a body arrives within this (408 otherwise)
//! max_connections = 1024      # beyond: the oldest idle connection is closed, or 503
//!
//! [provisioning]              # the worker that pushes grants into target systems
//! concurrency = 8
//! max_attempts = 8            # then the job is dead-lettered (visible, retryable)
//! backoff_base_ms = 1000      # doubled per attempt, with jitter, up to backoff_max_ms
//! backoff_max_ms = 300000
//! reconcile_interval_ms = 3600000   # compare targets with grants (0: on demand only)
//!
//! [systems.corp-directory]    # a connector per target system (see writ_connect)
//! connector = "ldap"
//! url = "ldap://ldap.example.com"
//! bind_dn = "cn=writ,ou=services,dc=example,dc=com"
//! bind_password = { env = "WRIT_LDAP_PASSWORD" }
//! account_dn = "uid={account},ou=people,dc=example,dc=com"
//!
//! [reviews]                   # access-review campaigns (see `reviews`)
//! interval_ms = 60000         # how often deadlines, flags and schedules are looked at
//! lease_ms = 300000           # one scheduler at a time launches recurring campaigns
//! rubber_stamp = { fast_min_items = 50, fast_median_ms = 5000, always_certify_min_items = 20 }
//! [[reviews.schedules]]
//! name = "quarterly-privileged"
//! cron = "@quarterly"         # 5-field cron or @macro, UTC
//! campaign = { name = "Privileged access", reviewers = "manager", fallback = "sam",
//!   due_in = "14d", grace = "7d", remind_before = "3d", on_deadline = "revoke",
//!   scope = { tiers = ["high", "critical"], include_overdue = true } }
//!
//! [policy]                    # who may decide which step, in Cedar (see `policy`)
//! dir = "policies"            # every *.cedar file; relative to this file; default: shipped set
//!
//! [approval]                  # overrides of the default approval chains
//! security_group = "security"
//! min_justification = 10
//! review_period = "90d"
//! [approval.tiers.medium]
//! steps = ["manager", "system_owner"]
//! [approval.tiers.critical]
//! max_duration = "4h"
//! [approval.steps]            # per system or entitlement, instead of the tier's
//! "pg-prod/dba" = ["manager", "security"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use writ_connect::SystemConfig;
use writ_core::{ApprovalPolicy, Name};

use crate::policy::PolicyConfig;
use crate::reviews::ReviewsConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("configuration `{path}`: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone)]
pub struct Config {
    pub approval: ApprovalPolicy,
    /// The directory of Cedar policies (`[policy] dir`); `None`: the shipped set.
    pub policy_dir: Option<PathBuf>,
    /// Where notification records are POSTed (`[notifications.webhook]`).
    pub notify_hook: Option<std::sync::Arc<writ_connect::webhook::WebhookConnector>>,
    pub notify_interval_ms: u64,
    pub scheduler_interval_ms: u64,
    pub ledger: LedgerConfig,
    pub provisioning: ProvisioningConfig,
    /// Target systems with a connector, in name order.
    pub systems: Vec<SystemConfig>,
    pub reviews: ReviewsConfig,
    pub http: crate::http::HttpConfig,
}

/// How the provisioning worker runs jobs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProvisioningConfig {
    /// Jobs run at once.
    pub concurrency: usize,
    /// Attempts before a job goes to the dead-letter state.
    pub max_attempts: u32,
    /// The first retry waits about this long; each next one twice as long (with jitter).
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// How often the worker looks for due jobs.
    pub poll_interval_ms: u64,
    /// How often every system is reconciled against the grants (0: only on demand).
    pub reconcile_interval_ms: u64,
}

impl Default for ProvisioningConfig {
    fn default() -> Self {
        ProvisioningConfig {
            concurrency: 8,
            max_attempts: 8,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            poll_interval_ms: 250,
            reconcile_interval_ms: 3_600_000,
        }
    }
}

impl ProvisioningConfig {
    fn validate(&self) -> Result<(), String> {
        if !(1..=256).contains(&self.concurrency) {
            return Err("provisioning.concurrency must be between 1 and 256".into());
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err("provisioning.max_attempts must be between 1 and 100".into());
        }
        if self.backoff_base_ms == 0 || self.backoff_base_ms > self.backoff_max_ms {
            return Err(
                "provisioning.backoff_base_ms must be above 0 and at most backoff_max_ms".into(),
            );
        }
        if !(10..=60_000).contains(&self.poll_interval_ms) {
            return Err("provisioning.poll_interval_ms must be between 10 and 60000".into());
        }
        if self.reconcile_interval_ms != 0 && self.reconcile_interval_ms < 1_000 {
            return Err(
                "provisioning.reconcile_interval_ms must be 0 (on demand only) or at least 1000"
                    .into(),
            );
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerConfig {
    /// The checkpoint origin (and key name) for a key created at first start.
    pub origin: Option<String>,
    /// Where the signing key lives; it must exist when set.
    pub key_file: Option<std::path::PathBuf>,
    pub checkpoint_interval_ms: u64,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            origin: None,
            key_file: None,
            checkpoint_interval_ms: 1000,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            approval: ApprovalPolicy::default(),
            policy_dir: None,
            notify_hook: None,
            notify_interval_ms: 5000,
            scheduler_interval_ms: 1000,
            ledger: LedgerConfig::default(),
            provisioning: ProvisioningConfig::default(),
            systems: Vec::new(),
            reviews: ReviewsConfig::default(),
            http: crate::http::HttpConfig::default(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    scheduler: Option<SchedulerConfig>,
    #[serde(default)]
    approval: Option<toml::Value>,
    #[serde(default)]
    policy: Option<PolicyFile>,
    #[serde(default)]
    notifications: Option<NotificationsFile>,
    #[serde(default)]
    ledger: Option<LedgerFile>,
    #[serde(default)]
    provisioning: Option<ProvisioningConfig>,
    #[serde(default)]
    systems: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    reviews: Option<ReviewsConfig>,
    #[serde(default)]
    http: Option<crate::http::HttpConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NotificationsFile {
    #[serde(default)]
    webhook: Option<writ_connect::WebhookConfig>,
    #[serde(default)]
    interval_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    dir: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerFile {
    origin: Option<String>,
    key_file: Option<std::path::PathBuf>,
    checkpoint_interval_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SchedulerConfig {
    interval_ms: u64,
}

impl Config {
    pub fn parse(text: &str, path: &str) -> Result<Config, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: FileConfig = toml::from_str(text).map_err(|e| invalid(e.message().to_owned()))?;
        let mut config = Config::default();
        if let Some(s) = file.scheduler {
            if !(50..=3_600_000).contains(&s.interval_ms) {
                return Err(invalid(
                    "scheduler.interval_ms must be between 50 and 3600000".into(),
                ));
            }
            config.scheduler_interval_ms = s.interval_ms;
        }
        if let Some(l) = file.ledger {
            if let Some(origin) = &l.origin
                && (origin.is_empty()
                    || origin.contains('+')
                    || origin.chars().any(char::is_whitespace))
            {
                return Err(invalid(format!(
                    "ledger.origin `{origin}` must be non-empty, without spaces or `+`"
                )));
            }
            let interval = l.checkpoint_interval_ms.unwrap_or(1000);
            if !(100..=3_600_000).contains(&interval) {
                return Err(invalid(
                    "ledger.checkpoint_interval_ms must be between 100 and 3600000".into(),
                ));
            }
            config.ledger = LedgerConfig {
                origin: l.origin,
                key_file: l.key_file,
                checkpoint_interval_ms: interval,
            };
        }
        if let Some(p) = file.provisioning {
            p.validate().map_err(invalid)?;
            config.provisioning = p;
        }
        if let Some(systems) = file.systems {
            for name in systems.keys() {
                Name::parse(name).map_err(|m| invalid(format!("systems.{name}: {m}")))?;
            }
            config.systems =
                SystemConfig::all_from_toml(&systems).map_err(|e| invalid(e.to_string()))?;
        }
        if let Some(r) = file.reviews {
            r.validate().map_err(invalid)?;
            config.reviews = r;
        }
        if let Some(h) = file.http {
            h.validate().map_err(invalid)?;
            config.http = h;
        }
        if let Some(p) = file.policy {
            config.policy_dir = Some(p.dir);
        }
        if let Some(n) = file.notifications {
            let every = n.interval_ms.unwrap_or(5000);
            if !(100..=3_600_000).contains(&every) {
                return Err(invalid(
                    "notifications.interval_ms must be between 100 and 3600000".into(),
                ));
            }
            config.notify_interval_ms = every;
            if let Some(w) = n.webhook {
                config.notify_hook = Some(std::sync::Arc::new(
                    writ_connect::webhook::WebhookConnector::new("notifications", &w)
                        .map_err(|e| invalid(e.to_string()))?,
                ));
            }
        }
        if let Some(approval) = file.approval {
            if approval.get("cedar").is_some() {
                return Err(invalid(
                    "approval.cedar: Cedar policies live in files; set `[policy] dir` instead"
                        .into(),
                ));
            }
            let value = serde_json::to_value(approval).map_err(|e| invalid(e.to_string()))?;
            config.approval =
                ApprovalPolicy::from_toml_value(value).map_err(|e| invalid(e.to_string()))?;
        }
        Ok(config)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        // A relative policy directory is relative to the configuration file.
        if let (Some(dir), Some(parent)) = (&config.policy_dir, path.parent())
            && dir.is_relative()
        {
            config.policy_dir = Some(parent.join(dir));
        }
        Ok(config)
    }

    pub fn policy(&self) -> PolicyConfig {
        PolicyConfig {
            base: self.approval.clone(),
            dir: self.policy_dir.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_core::StepRole;

    #[test]
    fn overrides_and_defaults() {
        let c = Config::parse(
            "[approval.tiers.critical]\nmax_duration = \"4h\"\n[approval.tiers.low]\nsteps = [\"manager\", \"security\"]\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            c.approval.tiers.critical.max_duration.unwrap().seconds(),
            4 * 3600
        );
        assert_eq!(
            c.approval.tiers.low.steps,
            vec![StepRole::Manager, StepRole::Security]
        );
        assert_eq!(c.approval.tiers.high, ApprovalPolicy::default().tiers.high);
    }

    #[test]
    fn the_example_file_spells_out_the_defaults() {
        let c = Config::parse(
            include_str!("../../../writ.example.toml"),
            "writ.example.toml",
        )
        .unwrap();
        assert_eq!(c.approval, ApprovalPolicy::default());
        assert_eq!(
            c.scheduler_interval_ms,
            Config::default().scheduler_interval_ms
        );
        assert_eq!(c.ledger, LedgerConfig::default());
        assert_eq!(c.provisioning, ProvisioningConfig::default());
        assert_eq!(c.reviews, ReviewsConfig::default());
        assert!(c.systems.is_empty());
        // Every commented system example parses too.
        let systems: String = include_str!("../../../writ.example.toml")
            .lines()
            .skip_while(|l| !l.starts_with("# [systems."))
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
            .collect();
        let c = Config::parse(&systems, "systems").unwrap();
        let kinds: Vec<&str> = c.systems.iter().map(|s| s.connector.kind()).collect();
        assert_eq!(
            kinds,
            ["ldap", "scim", "webhook", "postgres"],
            "in name order"
        );
        // So do the commented micro-review and schedule examples.
        let commented = |start: &str| -> String {
            include_str!("../../../writ.example.toml")
                .lines()
                .skip_while(|l| !l.starts_with(start))
                .take_while(|l| l.starts_with('#'))
                .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
                .collect()
        };
        let c = Config::parse(&commented("# [approval.micro_review]"), "micro").unwrap();
        assert_eq!(
            c.approval.micro_review.unwrap().on_deadline.as_str(),
            "keep"
        );
        let c = Config::parse(&commented("# [approval.steps]"), "steps").unwrap();
        assert_eq!(c.approval.steps.len(), 2);
        let c = Config::parse(&commented("# [[approval.toxic]]"), "toxic").unwrap();
        assert!(c.approval.toxic[0].exception);
        let c = Config::parse(&commented("# [approval.deadlines]"), "deadlines").unwrap();
        assert!(c.approval.deadlines.unwrap().remind_before.is_some());
        let c = Config::parse(&commented("# [policy]"), "policy").unwrap();
        assert_eq!(c.policy_dir.unwrap(), std::path::Path::new("policies"));
        // The hook's secret is read from the environment when the file is parsed: unset,
        // the error names the variable; set, the hook is configured.
        let hook = Config::parse(&commented("# [notifications]"), "notifications");
        match std::env::var_os("WRIT_HOOK_SECRET") {
            None => assert!(
                hook.as_ref()
                    .is_err_and(|e| e.to_string().contains("WRIT_HOOK_SECRET")),
                "{hook:?}"
            ),
            Some(_) => assert!(hook.unwrap().notify_hook.is_some()),
        }
        let c = Config::parse(&commented("# [[reviews.schedules]]"), "schedules").unwrap();
        assert_eq!(c.reviews.schedules[0].cron.to_string(), "@quarterly");
        assert_eq!(c.reviews.schedules[0].campaign.scope.tiers.len(), 2);
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        assert!(Config::parse("[approvals]\n", "t").is_err());
        assert!(Config::parse("[approval.tiers.low]\nsteps = []\n", "t").is_err());
        assert!(Config::parse("[approval]\nreview_period = \"3 months\"\n", "t").is_err());
        assert!(Config::parse("[scheduler]\ninterval_ms = 1\n", "t").is_err());
        assert!(Config::parse("[ledger]\norigin = \"a b\"\n", "t").is_err());
        assert!(Config::parse("[ledger]\ncheckpoint_interval_ms = 5\n", "t").is_err());
        assert!(Config::parse("[provisioning]\nconcurrency = 0\n", "t").is_err());
        assert!(Config::parse("[provisioning]\nretries = 3\n", "t").is_err());
        assert!(Config::parse("[reviews]\ninterval_ms = 1\n", "t").is_err());
        assert!(Config::parse("[approval.break_glass]\nmax_duration = \"25h\"\n", "t").is_err());
        assert!(Config::parse("[policy]\ndirectory = \"p\"\n", "t").is_err());
        assert!(
            Config::parse("[approval.cedar]\nfiles = { \"a.cedar\" = \"\" }\n", "t")
                .is_err_and(|e| e.to_string().contains("[policy] dir"))
        );
        assert!(Config::parse("[notifications]\ninterval_ms = 1\n", "t").is_err());
        assert!(
            Config::parse(
                "[[reviews.schedules]]\nname = \"q\"\ncron = \"61 * * * *\"\n",
                "t"
            )
            .is_err()
        );
    }

    #[test]
    fn a_malformed_system_is_refused_naming_the_system_and_the_field() {
        let e = Config::parse(
            "[systems.corp-ldap]\nconnector = \"ldap\"\nurl = \"ldap://x\"\nbind_dn = \"cn=a\"\nbind_password = { env = \"P\" }\n",
            "writ.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("writ.toml") && e.contains("`corp-ldap`") && e.contains("`account_dn`"),
            "{e}"
        );
        let e = Config::parse("[systems.\"Bad Name\"]\nconnector = \"ldap\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("Bad Name"), "{e}");
    }
}
