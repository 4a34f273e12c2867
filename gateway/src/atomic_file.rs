//! Writing a small file (a key, generated credentials, a certificate) so that a crash never
//! leaves half of it: written with its final mode to a temporary name, synced, renamed over
//! the real name, and the directory synced so the rename itself survives.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// What failed: the step, and the error.
pub type AtomicWriteError = (&'static str, std::io::Error);

pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<(), AtomicWriteError> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(tmp)
        .map_err(|e| ("create", e))?;
    // The mode given to open applies only to a new file, not to a stale temporary.
    fs::set_permissions(tmp, fs::Permissions::from_mode(mode)).map_err(|e| ("chmod", e))?;
    file.write_all(contents).map_err(|e| ("write", e))?;
    file.sync_all().map_err(|e| ("sync", e))?;
    fs::rename(tmp, path).map_err(|e| ("rename", e))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| ("sync the directory of", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_whole_with_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        // A stale temporary with a looser mode must not lend it to the file.
        std::fs::write(dir.path().join("secret.tmp"), b"stale").unwrap();
        std::fs::set_permissions(
            dir.path().join("secret.tmp"),
            std::fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        super::write_atomic(&path, b"one", 0o600).unwrap();
        super::write_atomic(&path, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
