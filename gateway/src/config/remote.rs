//! Settings of remote (S3-compatible) tiers: where the bucket is and whose credentials
//! reach it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, TierConfig, invalid};

/// A remote tier, resolved.
#[derive(Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    /// `None`: AWS's endpoint for `region`.
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub prefix: String,
    pub path_style: bool,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for RemoteSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("RemoteSettings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("access_key", &self.access_key)
            .finish_non_exhaustive()
    }
}

/// A credentials file of a remote tier (TOML), kept apart from the config so that the
/// config can be world-readable and the secret not.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsFile {
    access_key: String,
    secret_key: String,
    session_token: Option<String>,
}

/// What a local tier's config must not carry, by field name.
pub(super) fn remote_only_fields(tier: &TierConfig) -> Option<&'static str> {
    [
        ("endpoint", tier.endpoint.is_some()),
        ("region", tier.region.is_some()),
        ("bucket", tier.bucket.is_some()),
        ("prefix", tier.prefix.is_some()),
        ("path_style", tier.path_style.is_some()),
        ("credentials_file", tier.credentials_file.is_some()),
    ]
    .into_iter()
    .find_map(|(name, set)| set.then_some(name))
}

pub(super) fn resolve(
    tier: &TierConfig,
    default_region: &str,
    data_dir: &Path,
) -> Result<RemoteSettings, ConfigError> {
    let field = |name: &str| format!("tiers.{}.{name}", tier.name);
    let bucket = tier
        .bucket
        .clone()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| invalid(&field("bucket"), "", "a remote tier needs a bucket"))?;
    if let Some(endpoint) = &tier.endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        return Err(invalid(
            &field("endpoint"),
            endpoint,
            "expected an http:// or https:// URL",
        ));
    }
    let mut prefix = tier.prefix.clone().unwrap_or_default();
    if !prefix.is_empty() && !prefix.ends_with('/') {
        prefix.push('/');
    }
    let (access_key, secret_key, session_token) = match &tier.credentials_file {
        Some(path) => {
            let path = absolute(path, data_dir);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| invalid(&field("credentials_file"), path.display(), &e.to_string()))?;
            let file: CredentialsFile = toml::from_str(&text).map_err(|e| {
                invalid(
                    &field("credentials_file"),
                    path.display(),
                    &format!("expected access_key and secret_key: {}", e.message()),
                )
            })?;
            (file.access_key, file.secret_key, file.session_token)
        }
        None => {
            // The AWS variables every S3 tool reads, for hosts that already set them.
            let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
            match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
                (Some(access), Some(secret)) => (access, secret, var("AWS_SESSION_TOKEN")),
                _ => {
                    return Err(invalid(
                        &field("credentials_file"),
                        "",
                        "a remote tier needs credentials: a credentials_file, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
                    ));
                }
            }
        }
    };
    Ok(RemoteSettings {
        endpoint: tier.endpoint.clone(),
        region: tier
            .region
            .clone()
            .unwrap_or_else(|| default_region.to_owned()),
        bucket,
        prefix,
        // Self-hosted servers rarely have wildcard DNS for virtual-host style; AWS has it.
        path_style: tier.path_style.unwrap_or(tier.endpoint.is_some()),
        access_key,
        secret_key,
        session_token,
    })
}

fn absolute(path: &Path, data_dir: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        data_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{FileConfig, Overrides, Settings};

    fn parse(text: &str) -> Result<Settings, String> {
        let file: FileConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        Settings::resolve(file, Overrides::default()).map_err(|e| e.to_string())
    }

    #[test]
    fn remote_tiers_resolve_with_a_credentials_file() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("remote.toml");
        std::fs::write(&creds, "access_key = \"AK\"\nsecret_key = \"SK\"\n").unwrap();
        let s = parse(&format!(
            r#"
            data_dir = "{dir}"
            [[tiers]]
            name = "ssd"
            path = "ssd"
            [[tiers]]
            name = "cold"
            kind = "s3"
            endpoint = "http://127.0.0.1:9100"
            bucket = "vmgw-cold"
            prefix = "host1"
            credentials_file = "remote.toml"
            "#,
            dir = dir.path().display()
        ))
        .unwrap();
        let cold = &s.tiers[1];
        let remote = cold.remote.as_ref().unwrap();
        assert_eq!(remote.bucket, "vmgw-cold");
        assert_eq!(remote.prefix, "host1/");
        assert!(
            remote.path_style,
            "an explicit endpoint defaults to path style"
        );
        assert_eq!(remote.region, "us-east-1");
        assert_eq!(
            (remote.access_key.as_str(), remote.secret_key.as_str()),
            ("AK", "SK")
        );
        assert!(
            !format!("{remote:?}").contains("SK"),
            "secret in debug output"
        );
        assert_eq!(cold.path, dir.path().join("spool/cold"));
        // Archive classes go to the coldest tier: the remote one.
        assert_eq!(s.storage_classes["GLACIER"], "cold");
    }

    #[test]
    fn remote_tier_mistakes_name_the_field() {
        // (tier entry, what the error must mention)
        let cases: [(&str, &[&str]); 6] = [
            ("name = \"cold\"\nkind = \"s3\"", &["tiers.cold.bucket"]),
            (
                "name = \"cold\"\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"127.0.0.1:9000\"",
                &["tiers.cold.endpoint"],
            ),
            (
                "name = \"ssd\"\npath = \"x\"\nbucket = \"b\"",
                &["tiers.ssd.bucket", "only remote"],
            ),
            ("name = \"ssd\"", &["tiers.ssd.path"]),
            (
                "name = \"cold\"\nkind = \"s3\"\nbucket = \"b\"\ncredentials_file = \"/nonexistent/creds.toml\"",
                &["tiers.cold.credentials_file"],
            ),
            ("name = \"cold\"\nkind = \"ftp\"", &["ftp"]),
        ];
        for (tier, mentions) in cases {
            let err = parse(&format!("[[tiers]]\n{tier}\n")).unwrap_err();
            for mention in mentions {
                assert!(err.contains(mention), "{tier}: {err}");
            }
        }
    }
}
