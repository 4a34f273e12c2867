//! Unix-domain socket listeners: a host forwards them into guests (socat, vsock proxies)
//! without opening a TCP port; the socket's file mode decides who may connect.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::Path;

use tokio::net::UnixListener;

/// Binds `path` with `mode`. A socket left behind by an earlier run is replaced; any other
/// file there is an error, so a mistyped path never deletes data.
pub fn bind(path: &Path, mode: u32) -> std::io::Result<UnixListener> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path)?,
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a socket",
            ));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replaces_a_stale_socket_but_no_other_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s3.sock");
        drop(bind(&path, 0o600).unwrap());
        let listener = bind(&path, 0o640).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        drop(listener);

        let file = dir.path().join("data");
        std::fs::write(&file, b"keep").unwrap();
        let err = bind(&file, 0o660).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&file).unwrap(), b"keep");
    }
}
