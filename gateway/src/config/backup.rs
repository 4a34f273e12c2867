//! `[backup]`: metadata backups to a remote tier (see `crate::backup`).

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, TierSettings, invalid};

/// Whether a backup carries the host's own secrets (`secrets.key`, which seals tenants'
/// secret keys, and `credentials.toml`, the generated admin pair). Recovery needs them, and
/// the host that died lost them; but inside an unsealed backup they would sit in clear text
/// on the remote server next to the sealed secrets they open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretsPolicy {
    /// Only when the backup is sealed (the remote tier encrypts). The default.
    IfSealed,
    /// Also in an unsealed backup: the remote server's operators could read them.
    Always,
    /// Never: keep copies off-host and give them to `vmgw recover --secrets-key`.
    Never,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Seconds between scheduled backups; 0 takes none (`vmgw backup now` still works).
    pub interval_secs: u64,
    /// How many backups to keep; older ones are deleted after each new one.
    pub keep: u64,
    /// The remote tier backups go to (default: the coldest remote tier).
    pub tier: Option<String>,
    /// `if-sealed`, `always` or `never` (see [`SecretsPolicy`]).
    pub secrets: String,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            interval_secs: 3600,
            keep: 24,
            tier: None,
            secrets: "if-sealed".into(),
        }
    }
}

/// Backups, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSettings {
    /// The remote tier backups go to.
    pub tier: String,
    /// `None`: no scheduled backups.
    pub interval: Option<Duration>,
    pub keep: usize,
    pub secrets: SecretsPolicy,
}

/// Backups are possible wherever there is a remote tier; they are scheduled only when
/// `[backup]` says so (`config` is `Some`), since they cost requests and space in a bucket
/// the operator pays for.
pub(super) fn resolve(
    config: Option<&BackupConfig>,
    tiers: &[TierSettings],
) -> Result<Option<BackupSettings>, ConfigError> {
    let remote = |name: &str| tiers.iter().any(|t| t.name == name && t.remote.is_some());
    let defaults = BackupConfig::default();
    let given = config.unwrap_or(&defaults);
    let tier = match &given.tier {
        Some(name) if remote(name) => name.clone(),
        Some(name) => {
            return Err(invalid(
                "backup.tier",
                name,
                "backups go to a remote tier (kind = \"s3\"); no such tier is configured",
            ));
        }
        None => match tiers.iter().rev().find(|t| t.remote.is_some()) {
            Some(tier) => tier.name.clone(),
            None if config.is_some() => {
                return Err(invalid(
                    "backup",
                    "[backup]",
                    "backups go to a remote tier, and no tier has kind = \"s3\"",
                ));
            }
            None => return Ok(None),
        },
    };
    if given.keep == 0 {
        return Err(invalid("backup.keep", 0, "keep at least 1 backup"));
    }
    let secrets = match given.secrets.as_str() {
        "if-sealed" => SecretsPolicy::IfSealed,
        "always" => SecretsPolicy::Always,
        "never" => SecretsPolicy::Never,
        other => {
            return Err(invalid(
                "backup.secrets",
                other,
                "one of if-sealed, always, never",
            ));
        }
    };
    Ok(Some(BackupSettings {
        tier,
        interval: (config.is_some() && given.interval_secs > 0)
            .then(|| Duration::from_secs(given.interval_secs)),
        keep: usize::try_from(given.keep).unwrap_or(usize::MAX),
        secrets,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{FileConfig, Overrides, Settings};

    fn parse(text: &str) -> Result<Settings, String> {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("remote.toml");
        std::fs::write(&creds, "access_key = \"AK\"\nsecret_key = \"SK\"\n").unwrap();
        let text = text.replace("CREDS", &creds.display().to_string());
        let file: FileConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        Settings::resolve(file, Overrides::default()).map_err(|e| e.to_string())
    }

    const TIERS: &str = "[[tiers]]\nname = \"ssd\"\npath = \"ssd\"\n\
        [[tiers]]\nname = \"cold\"\nkind = \"s3\"\nendpoint = \"http://127.0.0.1:1\"\n\
        bucket = \"b\"\ncredentials_file = \"CREDS\"\n";

    #[test]
    fn backups_follow_the_remote_tier_and_are_scheduled_only_when_asked() {
        let none = parse("").unwrap();
        assert_eq!(none.backup, None, "no remote tier, no backups");
        let implicit = parse(TIERS).unwrap().backup.unwrap();
        assert_eq!(
            implicit,
            BackupSettings {
                tier: "cold".into(),
                interval: None,
                keep: 24,
                secrets: SecretsPolicy::IfSealed
            }
        );
        let s = parse(&format!(
            "{TIERS}[backup]\ninterval_secs = 60\nkeep = 3\nsecrets = \"never\"\n"
        ))
        .unwrap()
        .backup
        .unwrap();
        assert_eq!(s.interval, Some(Duration::from_secs(60)));
        assert_eq!((s.keep, s.secrets), (3, SecretsPolicy::Never));
        let defaults = parse(&format!("{TIERS}[backup]\n"))
            .unwrap()
            .backup
            .unwrap();
        assert_eq!(defaults.interval, Some(Duration::from_secs(3600)));
        let off = parse(&format!("{TIERS}[backup]\ninterval_secs = 0\n"))
            .unwrap()
            .backup
            .unwrap();
        assert_eq!(off.interval, None);
    }

    #[test]
    fn backup_mistakes_name_the_field_and_value() {
        for (text, field, value) in [
            (format!("{TIERS}[backup]\nkeep = 0\n"), "backup.keep", "0"),
            (
                format!("{TIERS}[backup]\ntier = \"ssd\"\n"),
                "backup.tier",
                "ssd",
            ),
            (
                format!("{TIERS}[backup]\nsecrets = \"sometimes\"\n"),
                "backup.secrets",
                "sometimes",
            ),
            ("[backup]\n".to_owned(), "backup", "[backup]"),
            (
                format!("{TIERS}[backup]\nintervall = 5\n"),
                "intervall",
                "intervall",
            ),
        ] {
            let err = parse(&text).unwrap_err();
            assert!(err.contains(field) && err.contains(value), "{text}: {err}");
        }
    }
}
