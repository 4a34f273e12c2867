//! `listen` entries: `IP:PORT` for TCP (HTTPS when `[tls]` is set) or `unix:PATH` for a
//! Unix-domain socket.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::{ConfigError, invalid};

/// The prefix that marks a Unix-domain socket in `listen`.
pub const UNIX_PREFIX: &str = "unix:";

/// Splits `listen` into TCP addresses and Unix socket paths.
pub(super) fn parse(entries: &[String]) -> Result<(Vec<SocketAddr>, Vec<PathBuf>), ConfigError> {
    if entries.is_empty() {
        return Err(invalid("listen", "[]", "at least one address is needed"));
    }
    let (mut tcp, mut unix) = (Vec::new(), Vec::new());
    for entry in entries {
        if let Some(path) = entry.strip_prefix(UNIX_PREFIX) {
            if path.is_empty() {
                return Err(invalid(
                    "listen",
                    entry,
                    "unix: needs a path, e.g. unix:/run/vmgw/s3.sock",
                ));
            }
            unix.push(PathBuf::from(path));
        } else {
            tcp.push(entry.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "listen",
                    entry,
                    "expected IP:PORT (e.g. 127.0.0.1:9000) or unix:PATH",
                )
            })?);
        }
    }
    Ok((tcp, unix))
}

/// A file mode written in octal, e.g. `"0660"`.
pub(super) fn parse_mode(field: &str, text: &str) -> Result<u32, ConfigError> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| invalid(field, text, "an octal file mode such as \"0660\""))
}
