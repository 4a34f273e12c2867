//! s3fs-style `-o` mount options.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsError {
    #[error("invalid source {0:?}: expected BUCKET or BUCKET:/PREFIX")]
    Source(String),
    #[error("unknown mount option {0:?}")]
    Unknown(String),
    #[error("mount option {name} needs a value")]
    MissingValue { name: String },
    #[error("invalid value {value:?} for mount option {name}")]
    Invalid { name: String, value: String },
}

/// Parsed mount options. Options the kernel understands (`_netdev`, `nofail`, `rw`,
/// `defaults`, ...) are accepted and ignored, so fstab entries work unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub read_only: bool,
    pub allow_other: bool,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub umask: Option<u32>,
    pub file_mode: Option<u32>,
    pub dir_mode: Option<u32>,
    pub cache_dir: Option<PathBuf>,
    pub cache_size_mib: Option<u64>,
    pub metadata_ttl: Duration,
    pub passwd_file: Option<PathBuf>,
    /// The server's URL (s3fs's `url=`), for fstab entries, which cannot pass `--endpoint`.
    pub url: Option<String>,
    /// The region (s3fs calls it `endpoint=`).
    pub region: Option<String>,
}

impl Default for MountOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            allow_other: false,
            uid: None,
            gid: None,
            umask: None,
            file_mode: None,
            dir_mode: None,
            cache_dir: None,
            cache_size_mib: None,
            // Long enough to spare repeated HEADs while `ls -l` walks, short enough that other
            // writers' changes show up quickly.
            metadata_ttl: Duration::from_secs(1),
            passwd_file: None,
            url: None,
            region: None,
        }
    }
}

const IGNORED: &[&str] = &[
    "defaults", "rw", "_netdev", "nofail", "auto", "noauto", "user", "nouser", "exec", "noexec",
    "suid", "nosuid", "dev", "nodev", "atime", "noatime", "relatime",
];

fn octal(name: &str, value: &str) -> Result<u32, OptionsError> {
    u32::from_str_radix(value, 8)
        .ok()
        .filter(|v| *v <= 0o7777)
        .ok_or_else(|| OptionsError::Invalid {
            name: name.into(),
            value: value.into(),
        })
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, OptionsError> {
    value.parse().map_err(|_| OptionsError::Invalid {
        name: name.into(),
        value: value.into(),
    })
}

impl MountOptions {
    /// Applies one `-o` argument (a comma-separated list).
    pub fn apply(&mut self, list: &str) -> Result<(), OptionsError> {
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (item, None),
            };
            let need = || value.ok_or_else(|| OptionsError::MissingValue { name: name.into() });
            match name {
                "ro" => self.read_only = true,
                "allow_other" => self.allow_other = true,
                "uid" => self.uid = Some(number(name, need()?)?),
                "gid" => self.gid = Some(number(name, need()?)?),
                "umask" => self.umask = Some(octal(name, need()?)?),
                "mp_umask" => {}
                "file_mode" => self.file_mode = Some(octal(name, need()?)?),
                "dir_mode" => self.dir_mode = Some(octal(name, need()?)?),
                "cache" | "use_cache" | "cache_dir" => {
                    self.cache_dir = Some(PathBuf::from(need()?))
                }
                "cache_size_mb" | "cache_size_mib" => {
                    self.cache_size_mib = Some(number(name, need()?)?)
                }
                "stat_cache_expire" | "metadata_ttl" => {
                    self.metadata_ttl = Duration::from_secs(number(name, need()?)?)
                }
                "passwd_file" => self.passwd_file = Some(PathBuf::from(need()?)),
                "url" => {
                    let url = need()?;
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        return Err(OptionsError::Invalid {
                            name: name.into(),
                            value: url.into(),
                        });
                    }
                    self.url = Some(url.to_owned());
                }
                "endpoint" | "region" => self.region = Some(need()?.to_owned()),
                _ if IGNORED.contains(&name) => {}
                _ => return Err(OptionsError::Unknown(item.to_owned())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3fs_style_options() {
        let mut o = MountOptions::default();
        o.apply("ro,allow_other,uid=1000,gid=100,umask=022,_netdev")
            .unwrap();
        o.apply("file_mode=0640,dir_mode=750,cache=/var/cache/vmgw,cache_size_mb=512,stat_cache_expire=5").unwrap();
        assert!(o.read_only && o.allow_other);
        assert_eq!(
            (o.uid, o.gid, o.umask),
            (Some(1000), Some(100), Some(0o022))
        );
        assert_eq!((o.file_mode, o.dir_mode), (Some(0o640), Some(0o750)));
        assert_eq!(o.cache_dir, Some(PathBuf::from("/var/cache/vmgw")));
        assert_eq!(
            (o.cache_size_mib, o.metadata_ttl),
            (Some(512), Duration::from_secs(5))
        );
    }

    #[test]
    fn fstab_entries_carry_url_and_region_as_s3fs_does() {
        let mut o = MountOptions::default();
        o.apply("rw,dev,suid,_netdev,url=http://192.168.122.1:9000,endpoint=eu-west-1")
            .unwrap();
        assert_eq!(o.url.as_deref(), Some("http://192.168.122.1:9000"));
        assert_eq!(o.region.as_deref(), Some("eu-west-1"));
        assert!(matches!(
            o.apply("url=192.168.122.1:9000"),
            Err(OptionsError::Invalid { .. })
        ));
    }

    #[test]
    fn bad_options_are_named() {
        let mut o = MountOptions::default();
        assert_eq!(o.apply("bogus"), Err(OptionsError::Unknown("bogus".into())));
        assert_eq!(
            o.apply("uid"),
            Err(OptionsError::MissingValue { name: "uid".into() })
        );
        assert!(matches!(
            o.apply("umask=999"),
            Err(OptionsError::Invalid { .. })
        ));
    }
}
