//! Where the access keys come from, in s3fs's order: the `passwd_file` option, the `AWS_*`
//! environment, a profile of the AWS shared credentials file, then `~/.passwd-s3fs` and
//! `/etc/passwd-s3fs`.

use std::path::{Path, PathBuf};

use crate::s3::Credentials;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no ACCESS_KEY:SECRET_KEY line for bucket {bucket:?}")]
    NoPasswdEntry { path: PathBuf, bucket: String },
    #[error("{path}: profile [{profile}] has no aws_access_key_id/aws_secret_access_key")]
    NoProfile { path: PathBuf, profile: String },
    #[error(
        "no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, a profile in ~/.aws/credentials, or -o passwd_file"
    )]
    Missing,
}

/// Where to look; the environment is passed in so tests need not touch the process's.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    pub bucket: String,
    pub passwd_file: Option<PathBuf>,
    pub profile: Option<String>,
    /// `(name, value)` pairs of the environment.
    pub env: Vec<(String, String)>,
}

impl Lookup {
    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn resolve(&self) -> Result<Credentials, CredentialsError> {
        if let Some(path) = &self.passwd_file {
            return passwd_entry(path, &self.bucket)?.ok_or_else(|| {
                CredentialsError::NoPasswdEntry {
                    path: path.clone(),
                    bucket: self.bucket.clone(),
                }
            });
        }
        if let (Some(access), Some(secret)) = (
            self.var("AWS_ACCESS_KEY_ID"),
            self.var("AWS_SECRET_ACCESS_KEY"),
        ) {
            return Ok(Credentials {
                access_key: access.to_owned(),
                secret_key: secret.to_owned(),
                session_token: self.var("AWS_SESSION_TOKEN").map(str::to_owned),
            });
        }
        let home = self.var("HOME").map(PathBuf::from);
        let shared = self
            .var("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws/credentials")));
        let profile = self
            .profile
            .clone()
            .or_else(|| self.var("AWS_PROFILE").map(str::to_owned));
        if let Some(path) = shared.filter(|p| p.exists()) {
            let text = read(&path)?;
            let name = profile.as_deref().unwrap_or("default");
            match profile_entry(&text, name) {
                Some(found) => return Ok(found),
                // A profile asked for by name must exist; the default one may be absent.
                None if profile.is_some() => {
                    return Err(CredentialsError::NoProfile {
                        path,
                        profile: name.to_owned(),
                    });
                }
                None => {}
            }
        }
        let fallbacks = home
            .map(|h| h.join(".passwd-s3fs"))
            .into_iter()
            .chain([PathBuf::from("/etc/passwd-s3fs")]);
        for path in fallbacks.filter(|p| p.exists()) {
            if let Some(found) = passwd_entry(&path, &self.bucket)? {
                return Ok(found);
            }
        }
        Err(CredentialsError::Missing)
    }
}

fn read(path: &Path) -> Result<String, CredentialsError> {
    std::fs::read_to_string(path).map_err(|source| CredentialsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// s3fs passwd file: `ACCESS:SECRET` lines apply to every bucket, `BUCKET:ACCESS:SECRET`
/// lines to one; the bucket's own line wins.
fn passwd_entry(path: &Path, bucket: &str) -> Result<Option<Credentials>, CredentialsError> {
    let text = read(path)?;
    let mut general = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        let make = |access: &str, secret: &str| Credentials {
            access_key: access.to_owned(),
            secret_key: secret.to_owned(),
            session_token: None,
        };
        match fields.as_slice() {
            [b, access, secret] if *b == bucket => return Ok(Some(make(access, secret))),
            [access, secret] if general.is_none() => general = Some(make(access, secret)),
            _ => {}
        }
    }
    Ok(general)
}

/// The key pair of `[profile]` in an AWS shared credentials file.
fn profile_entry(text: &str, profile: &str) -> Option<Credentials> {
    let mut in_section = false;
    let (mut access, mut secret, mut token) = (None, None, None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            in_section = line[1..line.len() - 1].trim() == profile;
            continue;
        }
        if !in_section || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let v = Some(v.trim().to_owned());
            match k.trim() {
                "aws_access_key_id" => access = v,
                "aws_secret_access_key" => secret = v,
                "aws_session_token" => token = v,
                _ => {}
            }
        }
    }
    Some(Credentials {
        access_key: access?,
        secret_key: secret?,
        session_token: token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn order_of_sources() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap().to_owned();
        std::fs::create_dir(dir.path().join(".aws")).unwrap();
        std::fs::write(
            dir.path().join(".aws/credentials"),
            "[default]\naws_access_key_id = D\naws_secret_access_key = DS\n[other]\naws_access_key_id=O\naws_secret_access_key=OS\n",
        )
        .unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(&passwd, "# comment\nG:GS\nmine:M:MS\n").unwrap();

        let mut lookup = Lookup {
            bucket: "mine".into(),
            env: env(&[
                ("HOME", &home),
                ("AWS_ACCESS_KEY_ID", "E"),
                ("AWS_SECRET_ACCESS_KEY", "ES"),
            ]),
            ..Lookup::default()
        };
        assert_eq!(lookup.resolve().unwrap().access_key, "E");
        lookup.passwd_file = Some(passwd.clone());
        assert_eq!(lookup.resolve().unwrap().access_key, "M");
        lookup.bucket = "theirs".into();
        assert_eq!(lookup.resolve().unwrap().secret_key, "GS");

        lookup.passwd_file = None;
        lookup.env = env(&[("HOME", &home)]);
        assert_eq!(lookup.resolve().unwrap().access_key, "D");
        lookup.profile = Some("other".into());
        assert_eq!(lookup.resolve().unwrap().secret_key, "OS");
        lookup.profile = Some("absent".into());
        assert!(matches!(
            lookup.resolve(),
            Err(CredentialsError::NoProfile { .. })
        ));
        lookup.profile = None;
        lookup.env = env(&[("HOME", "/nonexistent")]);
        assert!(matches!(lookup.resolve(), Err(CredentialsError::Missing)));
    }
}
