//! `[admin]`: the admin API beside its Unix socket, over HTTPS for remote administration;
//! `[metrics]`: a plain-HTTP listener for Prometheus and orchestrator probes.

use std::net::SocketAddr;

use serde::Deserialize;

use super::{ConfigError, TlsSettings, invalid};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// `IP:PORT` where the admin API also listens, over HTTPS with the `[tls]` certificate;
    /// requests must carry the admin credentials (HTTP Basic: access key and secret key).
    pub listen: Option<String>,
}

pub(super) fn resolve(
    config: &AdminConfig,
    tls: Option<&TlsSettings>,
) -> Result<Option<SocketAddr>, ConfigError> {
    let Some(listen) = &config.listen else {
        return Ok(None);
    };
    let addr = listen.parse::<SocketAddr>().map_err(|_| {
        invalid(
            "admin.listen",
            listen,
            "expected IP:PORT, e.g. 127.0.0.1:9443",
        )
    })?;
    if tls.is_none() {
        // The admin secret would cross the network in clear text.
        return Err(invalid(
            "admin.listen",
            listen,
            "needs [tls]: the admin API takes credentials and is served over HTTPS only",
        ));
    }
    Ok(Some(addr))
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// `IP:PORT` serving `/metrics`, `/healthz` and `/readyz` in plain HTTP, without
    /// credentials (as scrapers and kubelet probes expect). Off by default: the admin socket
    /// serves the same routes.
    pub listen: Option<String>,
}

pub(super) fn resolve_metrics(config: &MetricsConfig) -> Result<Option<SocketAddr>, ConfigError> {
    config
        .listen
        .as_ref()
        .map(|listen| {
            listen.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics.listen",
                    listen,
                    "expected IP:PORT, e.g. 127.0.0.1:9100",
                )
            })
        })
        .transpose()
}
