//! What a configuration reload (SIGHUP, or `vmgw reload`) may change in a running gateway.
//!
//! A reload is all or nothing: the new configuration is resolved and validated like at
//! start, then compared with the running one field by field. Fields that running state
//! cannot take over safely (listeners, paths, tier kinds and codecs, keys, the class map,
//! the metadata store's options, ...) must be unchanged, or the whole reload is refused
//! with every such field named; nothing is applied then. What can change ([`Tunables`])
//! is applied as one set.
//!
//! The comparison destructures [`Settings`] without `..`, so a field added later does not
//! compile until someone decides which side it belongs to.

use std::collections::HashMap;
use std::fmt::Debug;
use std::time::Duration;

use super::{Settings, TierSettings};
use crate::objects::Watermarks;
use crate::server::ConnectionLimits;

/// The settings a running gateway takes over without a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Tunables {
    /// Capacity and watermarks, by tier name.
    pub watermarks: HashMap<String, Watermarks>,
    /// How often tier usage is checked against the watermarks.
    pub placement_interval: Duration,
    /// How often the idle lifecycle worker looks for due objects.
    pub lifecycle_interval: Duration,
    /// Between background orphan sweeps; zero: none.
    pub orphan_sweep_interval: Duration,
    /// For connections accepted from now on (`max_connections` also caps those open).
    pub limits: ConnectionLimits,
}

impl Tunables {
    #[must_use]
    pub fn of(settings: &Settings) -> Self {
        Self {
            watermarks: settings
                .tiers
                .iter()
                .map(|t| (t.name.clone(), t.watermarks))
                .collect(),
            placement_interval: Duration::from_millis(settings.placement.check_interval_ms),
            lifecycle_interval: Duration::from_millis(settings.lifecycle.scan_interval_ms.max(10)),
            orphan_sweep_interval: Duration::from_secs(settings.storage.orphan_sweep_secs),
            limits: settings.limits,
        }
    }

    /// Human-readable differences from `before`, for the reload's report.
    #[must_use]
    pub fn changes_from(&self, before: &Self) -> Vec<String> {
        let mut out = Vec::new();
        let mut names: Vec<&String> = self.watermarks.keys().collect();
        names.sort();
        for name in names {
            let (new, old) = (&self.watermarks[name], before.watermarks.get(name));
            if old != Some(new) {
                out.push(format!("tiers.{name}: {old:?} -> {new:?}"));
            }
        }
        let mut note = |field: &str, old: &dyn Debug, new: &dyn Debug| {
            let (old, new) = (format!("{old:?}"), format!("{new:?}"));
            if old != new {
                out.push(format!("{field}: {old} -> {new}"));
            }
        };
        note(
            "placement.check_interval",
            &before.placement_interval,
            &self.placement_interval,
        );
        note(
            "lifecycle.scan_interval",
            &before.lifecycle_interval,
            &self.lifecycle_interval,
        );
        note(
            "storage.orphan_sweep",
            &before.orphan_sweep_interval,
            &self.orphan_sweep_interval,
        );
        note("server limits", &before.limits, &self.limits);
        out
    }
}

/// Fields that differ but only take effect at a restart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused: {} need a restart, nothing was changed: {}", if .0.len() == 1 { "this setting would" } else { "these settings would" }, .0.join("; "))]
pub struct RestartNeeded(pub Vec<String>);

/// Collects the restart-only fields that differ.
#[derive(Default)]
struct Differences(Vec<String>);

impl Differences {
    /// Notes `field` when it changed, showing both values.
    fn shown<T: PartialEq + Debug>(&mut self, field: &str, old: &T, new: &T) {
        if old != new {
            self.0.push(format!("{field} ({old:?} -> {new:?})"));
        }
    }

    /// Notes `field` when it changed, without showing values (secrets).
    fn hidden<T: PartialEq>(&mut self, field: &str, old: &T, new: &T) {
        if old != new {
            self.0.push(format!("{field} (changed)"));
        }
    }
}

/// The tunables of `new`, when every other field equals `current`'s.
pub fn plan(current: &Settings, new: &Settings) -> Result<Tunables, RestartNeeded> {
    let Settings {
        listen,
        listen_unix,
        unix_socket_mode,
        tls,
        admin_listen,
        metrics_listen,
        limits: _,
        data_dir,
        region,
        domains,
        credentials,
        tiers,
        storage_classes,
        keys,
        storage,
        server,
        placement: _,
        read_promotion,
        lifecycle_day_ms,
        auto_tiering,
        lifecycle,
        backup,
    } = current;
    let mut diff = Differences::default();
    diff.shown("listen", listen, &new.listen);
    diff.shown("listen (unix)", listen_unix, &new.listen_unix);
    diff.shown(
        "server.unix_socket_mode",
        unix_socket_mode,
        &new.unix_socket_mode,
    );
    // The certificate files' contents are reread on every reload; their paths are fixed.
    diff.shown("tls", tls, &new.tls);
    diff.shown("admin.listen", admin_listen, &new.admin_listen);
    diff.shown("metrics.listen", metrics_listen, &new.metrics_listen);
    diff.shown("data_dir", data_dir, &new.data_dir);
    diff.shown("region", region, &new.region);
    diff.shown("domains", domains, &new.domains);
    diff.hidden("credentials", credentials, &new.credentials);
    tier_differences(&mut diff, tiers, &new.tiers);
    let sorted = |m: &HashMap<String, String>| {
        let mut v: Vec<(String, String)> = m.clone().into_iter().collect();
        v.sort();
        v
    };
    diff.shown(
        "storage_classes",
        &sorted(storage_classes),
        &sorted(&new.storage_classes),
    );
    diff.hidden("encryption keys", keys, &new.keys);
    let storage_fixed =
        |s: &super::StorageConfig| (s.inline_threshold, s.metadata_cache_mib, s.fsync);
    diff.shown(
        "storage (inline_threshold, metadata_cache_mib, fsync)",
        &storage_fixed(storage),
        &storage_fixed(&new.storage),
    );
    diff.shown(
        "server.shutdown_grace_secs",
        &server.shutdown_grace_secs,
        &new.server.shutdown_grace_secs,
    );
    diff.shown("read_promotion", read_promotion, &new.read_promotion);
    diff.shown(
        "lifecycle.day_seconds",
        lifecycle_day_ms,
        &new.lifecycle_day_ms,
    );
    diff.shown(
        "lifecycle.intelligent_tiering",
        auto_tiering,
        &new.auto_tiering,
    );
    // Compared as a whole except the interval, so a new lifecycle field is seen here.
    let mut lifecycle_fixed = new.lifecycle.clone();
    lifecycle_fixed.scan_interval_ms = lifecycle.scan_interval_ms;
    diff.shown("lifecycle", lifecycle, &lifecycle_fixed);
    // The backup schedule's task holds its settings from start.
    diff.shown("backup", backup, &new.backup);
    if diff.0.is_empty() {
        Ok(Tunables::of(new))
    } else {
        Err(RestartNeeded(diff.0))
    }
}

/// Tiers may change capacity and watermarks only: same names in the same order, same kind,
/// place and codec.
fn tier_differences(diff: &mut Differences, old: &[TierSettings], new: &[TierSettings]) {
    let names = |tiers: &[TierSettings]| tiers.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    if names(old) != names(new) {
        diff.shown("tiers (names and order)", &names(old), &names(new));
        return;
    }
    for (old, new) in old.iter().zip(new) {
        let TierSettings {
            name,
            path,
            remote,
            compression,
            encrypt,
            watermarks: _,
        } = old;
        diff.shown(&format!("tiers.{name}.path"), path, &new.path);
        diff.hidden(
            &format!("tiers.{name} remote settings"),
            remote,
            &new.remote,
        );
        diff.shown(
            &format!("tiers.{name}.compression"),
            compression,
            &new.compression,
        );
        diff.shown(&format!("tiers.{name}.encrypt"), encrypt, &new.encrypt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FileConfig, Overrides};

    fn resolve(toml: &str) -> Settings {
        let file: FileConfig = toml::from_str(toml).expect("valid TOML");
        let overrides = Overrides {
            data_dir: Some("/tmp/vmgw-reload-test".into()),
            ..Overrides::default()
        };
        Settings::resolve(file, overrides).expect("valid config")
    }

    const BASE: &str = r#"
[[tiers]]
name = "ssd"
path = "/tmp/vmgw-reload-test/ssd"
capacity = "1GiB"
[[tiers]]
name = "hdd"
path = "/tmp/vmgw-reload-test/hdd"
[server]
max_connections = 100
"#;

    #[test]
    fn capacities_intervals_and_limits_are_taken_over() {
        let current = resolve(BASE);
        let new = resolve(
            &(BASE.replace("1GiB", "2GiB").replace("100", "7")
                + "[placement]\ncheck_interval_ms = 250\n[lifecycle]\nscan_interval_ms = 50\n"),
        );
        let tunables = plan(&current, &new).expect("reloadable");
        assert_eq!(tunables.watermarks["ssd"].capacity, Some(2 << 30));
        assert_eq!(tunables.limits.max_connections, 7);
        assert_eq!(tunables.placement_interval, Duration::from_millis(250));
        assert_eq!(tunables.lifecycle_interval, Duration::from_millis(50));
        let changes = tunables.changes_from(&Tunables::of(&current));
        assert_eq!(changes.len(), 4, "{changes:?}");
        assert!(changes[0].starts_with("tiers.ssd:"), "{changes:?}");
    }

    #[test]
    fn an_unchanged_config_reloads_to_the_same_tunables() {
        let current = resolve(BASE);
        let tunables = plan(&current, &resolve(BASE)).expect("reloadable");
        assert_eq!(tunables, Tunables::of(&current));
        assert!(tunables.changes_from(&Tunables::of(&current)).is_empty());
    }

    #[test]
    fn restart_only_fields_are_all_named() {
        let current = resolve(BASE);
        // Top-level keys precede the tables.
        let new = resolve(&format!(
            "region = \"eu-west-1\"\n{}",
            BASE.replace("/hdd\"", "/other\"").replace("1GiB", "2GiB")
        ));
        let refused = plan(&current, &new).expect_err("paths need a restart");
        let text = refused.to_string();
        assert_eq!(refused.0.len(), 2, "{text}");
        assert!(text.contains("tiers.hdd.path"), "{text}");
        assert!(
            text.contains("region (\"us-east-1\" -> \"eu-west-1\")"),
            "{text}"
        );
        assert!(text.contains("nothing was changed"), "{text}");
    }

    #[test]
    fn renamed_or_reordered_tiers_need_a_restart() {
        let current = resolve(BASE);
        let new = resolve(&BASE.replace("\"hdd\"", "\"disk\""));
        let refused = plan(&current, &new).expect_err("renamed");
        assert!(
            refused.0[0].starts_with("tiers (names and order)"),
            "{refused}"
        );
    }
}
