//! POSIX attributes in S3 object metadata, in s3fs's encoding.
//!
//! s3fs keeps `x-amz-meta-mode` (the full `st_mode`, file type bits included, in decimal),
//! `x-amz-meta-uid`, `x-amz-meta-gid` and `x-amz-meta-mtime` (seconds since the epoch,
//! decimal). A symbolic link is an object whose body is the target path and whose mode has
//! the `S_IFLNK` type; a directory is a `name/` object with `S_IFDIR`. Objects without these
//! fields (written by other tools) get defaults from the mount options.

/// File type bits of `st_mode`.
pub const S_IFMT: u32 = 0o170_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFLNK: u32 = 0o120_000;

pub const META_MODE: &str = "mode";
pub const META_UID: &str = "uid";
pub const META_GID: &str = "gid";
pub const META_MTIME: &str = "mtime";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
}

/// The POSIX view of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PosixAttrs {
    pub kind: FileKind,
    /// Permission bits (`0o7777` part of `st_mode`).
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the Unix epoch.
    pub mtime: i64,
}

/// Defaults for objects that carry no s3fs metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub file_perm: u32,
    pub dir_perm: u32,
    pub uid: u32,
    pub gid: u32,
}

impl PosixAttrs {
    /// Reads attributes from user metadata (keys without the `x-amz-meta-` prefix, as S3
    /// clients return them). `is_dir_key` tells whether the key ends in `/`;
    /// `last_modified` is the object's S3 timestamp, used when no mtime was stored.
    #[must_use]
    pub fn from_metadata(
        meta: &[(String, String)],
        is_dir_key: bool,
        last_modified: i64,
        defaults: Defaults,
    ) -> Self {
        let get = |name: &str| {
            meta.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .and_then(|(_, v)| v.trim().parse::<i64>().ok())
        };
        let mode = get(META_MODE).and_then(|m| u32::try_from(m).ok());
        let kind = match mode.map(|m| m & S_IFMT) {
            Some(S_IFLNK) => FileKind::Symlink,
            Some(S_IFDIR) => FileKind::Directory,
            Some(_) if !is_dir_key => FileKind::File,
            _ if is_dir_key => FileKind::Directory,
            _ => FileKind::File,
        };
        let default_perm = if kind == FileKind::Directory {
            defaults.dir_perm
        } else {
            defaults.file_perm
        };
        Self {
            kind,
            perm: mode.map_or(default_perm, |m| m & 0o7777),
            uid: get(META_UID)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(defaults.uid),
            gid: get(META_GID)
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(defaults.gid),
            mtime: get(META_MTIME).unwrap_or(last_modified),
        }
    }

    /// The full `st_mode`.
    #[must_use]
    pub fn mode(&self) -> u32 {
        let kind = match self.kind {
            FileKind::File => S_IFREG,
            FileKind::Directory => S_IFDIR,
            FileKind::Symlink => S_IFLNK,
        };
        kind | (self.perm & 0o7777)
    }

    /// The metadata s3fs would write for these attributes.
    #[must_use]
    pub fn to_metadata(&self) -> Vec<(String, String)> {
        vec![
            (META_MODE.to_owned(), self.mode().to_string()),
            (META_UID.to_owned(), self.uid.to_string()),
            (META_GID.to_owned(), self.gid.to_string()),
            (META_MTIME.to_owned(), self.mtime.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULTS: Defaults = Defaults {
        file_perm: 0o644,
        dir_perm: 0o755,
        uid: 1000,
        gid: 1000,
    };

    fn meta(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn reads_what_s3fs_writes() {
        // s3fs 1.90 on `touch f; chmod 600 f` as uid 0: mode 33152 = 0o100600.
        let a = PosixAttrs::from_metadata(
            &meta(&[
                ("mode", "33152"),
                ("uid", "0"),
                ("gid", "0"),
                ("mtime", "1700000000"),
            ]),
            false,
            1,
            DEFAULTS,
        );
        assert_eq!(
            a,
            PosixAttrs {
                kind: FileKind::File,
                perm: 0o600,
                uid: 0,
                gid: 0,
                mtime: 1_700_000_000
            }
        );
        let link = PosixAttrs::from_metadata(
            &meta(&[("mode", &(S_IFLNK | 0o777).to_string())]),
            false,
            5,
            DEFAULTS,
        );
        assert_eq!(
            (link.kind, link.perm, link.mtime),
            (FileKind::Symlink, 0o777, 5)
        );
    }

    #[test]
    fn defaults_for_foreign_objects() {
        let file = PosixAttrs::from_metadata(&[], false, 42, DEFAULTS);
        assert_eq!(
            (file.kind, file.perm, file.uid, file.mtime),
            (FileKind::File, 0o644, 1000, 42)
        );
        let dir = PosixAttrs::from_metadata(&[], true, 42, DEFAULTS);
        assert_eq!((dir.kind, dir.perm), (FileKind::Directory, 0o755));
        let junk =
            PosixAttrs::from_metadata(&meta(&[("mode", "rwx"), ("uid", "-1")]), false, 0, DEFAULTS);
        assert_eq!((junk.perm, junk.uid), (0o644, 1000));
    }

    #[test]
    fn round_trips() {
        let a = PosixAttrs {
            kind: FileKind::Directory,
            perm: 0o1777,
            uid: 7,
            gid: 8,
            mtime: 123,
        };
        assert_eq!(
            PosixAttrs::from_metadata(&a.to_metadata(), true, 0, DEFAULTS),
            a
        );
        assert_eq!(a.mode(), 0o041_777);
    }
}
