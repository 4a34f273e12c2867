//! Reloading the configuration of a running gateway, on SIGHUP or `vmgw reload` (admin
//! `POST /v1/reload`).
//!
//! The configuration is read and resolved again exactly as at start (same file, same flags
//! and environment), then [`crate::config::plan_reload`] decides: either every changed
//! field is one the running gateway can take over (capacities and watermarks, background
//! intervals, connection limits), and they are applied together, or the reload is refused
//! as a whole, naming each field that needs a restart. The TLS certificate and key files
//! are reread on every reload whatever the configuration says: they are renewed on their
//! own schedule, and a pending configuration edit must not keep an expiring certificate in
//! service.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tracing::{info, warn};

use crate::config::{Settings, Tunables, plan_reload};
use crate::objects::{ObjectService, Period};
use crate::server::LiveLimits;
use crate::server::tls::Tls;

/// Reads and resolves the configuration again (the binary knows the file and the flags).
pub type SettingsSource = Box<dyn Fn() -> Result<Settings, String> + Send + Sync>;

/// What a reload did, as the admin API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadReport {
    pub outcome: ReloadOutcome,
    /// Applied: each setting changed; refused: each setting that needs a restart; invalid:
    /// why the configuration could not be read.
    pub details: Vec<String>,
    /// What happened to the TLS certificate (`None`: no `[tls]`).
    pub tls: Option<String>,
}

impl ReloadReport {
    /// One line for an operator: what happened and why.
    #[must_use]
    pub fn message(&self) -> String {
        let mut text = match self.outcome {
            ReloadOutcome::Applied if self.details.is_empty() => {
                "configuration reloaded: nothing changed".to_owned()
            }
            ReloadOutcome::Applied => {
                format!("configuration reloaded: {}", self.details.join("; "))
            }
            ReloadOutcome::Refused => format!(
                "configuration reload refused, nothing was changed; these settings need a restart: {}",
                self.details.join("; ")
            ),
            ReloadOutcome::Invalid => format!(
                "configuration reload refused, nothing was changed; the configuration is invalid: {}",
                self.details.join("; ")
            ),
        };
        if let Some(tls) = &self.tls {
            text.push_str("; ");
            text.push_str(tls);
        }
        text
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReloadOutcome {
    /// Every change was taken over (also when nothing changed).
    Applied,
    /// Something needs a restart; nothing from the configuration was applied.
    Refused,
    /// The configuration does not load or validate; nothing was applied.
    Invalid,
}

impl ReloadOutcome {
    fn label(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Refused => "refused",
            Self::Invalid => "invalid",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The senders behind the background loops' [`Period`]s.
struct Periods {
    placement: watch::Sender<Duration>,
    lifecycle: watch::Sender<Duration>,
    orphan_sweep: watch::Sender<Duration>,
}

pub struct Reloader {
    source: SettingsSource,
    /// The settings in force; one reload at a time.
    current: Mutex<Settings>,
    objects: Arc<ObjectService>,
    periods: Periods,
    limits: Arc<LiveLimits>,
    tls: Option<Tls>,
    reloads: Family<OutcomeLabels, Counter>,
}

/// The loops' periods, handed out once when the gateway starts.
pub struct LoopPeriods {
    pub placement: Period,
    pub lifecycle: Period,
    pub orphan_sweep: Period,
}

impl Reloader {
    /// A reloader for a gateway started with `settings`, and the periods its background
    /// loops run with.
    #[must_use]
    pub fn new(
        source: SettingsSource,
        settings: &Settings,
        objects: Arc<ObjectService>,
        limits: Arc<LiveLimits>,
        tls: Option<Tls>,
    ) -> (Self, LoopPeriods) {
        let tunables = Tunables::of(settings);
        let (placement, placement_rx) = watch::channel(tunables.placement_interval);
        let (lifecycle, lifecycle_rx) = watch::channel(tunables.lifecycle_interval);
        let (orphan_sweep, sweep_rx) = watch::channel(tunables.orphan_sweep_interval);
        let reloader = Self {
            source,
            current: Mutex::new(settings.clone()),
            objects,
            periods: Periods {
                placement,
                lifecycle,
                orphan_sweep,
            },
            limits,
            tls,
            reloads: Family::default(),
        };
        let periods = LoopPeriods {
            placement: Period::new(placement_rx),
            lifecycle: Period::new(lifecycle_rx),
            orphan_sweep: Period::new(sweep_rx),
        };
        (reloader, periods)
    }

    pub fn register_metrics(&self, registry: &mut Registry) {
        // Every outcome from the start, so a refusal shows as a step from 0.
        for outcome in [
            ReloadOutcome::Applied,
            ReloadOutcome::Refused,
            ReloadOutcome::Invalid,
        ] {
            let _ = self.reloads.get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            });
        }
        registry.register(
            "vmgw_config_reloads",
            "Configuration reloads (SIGHUP, vmgw reload), by outcome",
            self.reloads.clone(),
        );
    }

    /// Reads the configuration again and applies what may change. Must run inside the
    /// runtime; blocks briefly (reads the configuration and certificate files).
    pub fn reload(&self) -> ReloadReport {
        let mut current = self.current.lock().expect("reload lock");
        let (outcome, details) = match (self.source)() {
            Err(e) => (ReloadOutcome::Invalid, vec![e]),
            Ok(new) => match plan_reload(&current, &new) {
                Err(refusal) => (ReloadOutcome::Refused, refusal.0),
                Ok(tunables) => {
                    let changes = tunables.changes_from(&Tunables::of(&current));
                    self.apply(&tunables);
                    *current = new;
                    (ReloadOutcome::Applied, changes)
                }
            },
        };
        let tls = self.tls.as_ref().map(|tls| match tls.reload() {
            Ok(()) if tls.has_client_ca() => {
                "reloaded the TLS certificate and the client CA".to_owned()
            }
            Ok(()) => "reloaded the TLS certificate".to_owned(),
            Err(e) => format!("refused the new TLS files and kept the current ones: {e}"),
        });
        self.reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .inc();
        let report = ReloadReport {
            outcome,
            details,
            tls,
        };
        if outcome == ReloadOutcome::Applied {
            info!("{}", report.message());
        } else {
            warn!("{}", report.message());
        }
        report
    }

    fn apply(&self, tunables: &Tunables) {
        self.objects.tiers().set_watermarks(&tunables.watermarks);
        let set = |sender: &watch::Sender<Duration>, period: Duration| {
            sender.send_if_modified(|current| std::mem::replace(current, period) != period);
        };
        set(&self.periods.placement, tunables.placement_interval);
        set(&self.periods.lifecycle, tunables.lifecycle_interval);
        set(&self.periods.orphan_sweep, tunables.orphan_sweep_interval);
        if self.limits.get() != tunables.limits {
            self.limits.set(tunables.limits);
        }
    }
}
