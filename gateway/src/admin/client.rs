//! The admin API's client, used by the `vmgw` subcommands: on the data directory's Unix
//! socket, or with `--admin-url` over HTTPS with admin credentials.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use super::ErrorResponse;
use crate::cli::AdminArgs;

#[derive(Debug, thiserror::Error)]
pub enum AdminClientError {
    #[error(
        "cannot reach the gateway's admin socket {path}: {source} (is `vmgw serve` running on this data directory?)"
    )]
    Connect {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot reach the admin API at {url}: {reason}")]
    Remote { url: String, reason: String },
    #[error(
        "invalid --admin-url {0:?}: expected https://HOST:PORT (the admin API takes credentials, so never plain http)"
    )]
    BadUrl(String),
    #[error(
        "--admin-url needs the admin credentials: --access-key and --secret-key (or VMGW_ACCESS_KEY and VMGW_SECRET_KEY)"
    )]
    NoCredentials,
    #[error("admin request failed: {0}")]
    Transport(String),
    #[error("{0}")]
    Refused(String),
}

/// Where and how the admin API is reached.
enum Target {
    Socket(PathBuf),
    Https {
        url: String,
        host: String,
        port: u16,
        ca_bundle: Option<PathBuf>,
        authorization: String,
    },
}

impl Target {
    fn of(args: &AdminArgs) -> Result<Self, AdminClientError> {
        let Some(url) = &args.admin_url else {
            return Ok(Self::Socket(super::commands::socket(args)));
        };
        let bad = || AdminClientError::BadUrl(url.clone());
        let uri: http::Uri = url.parse().map_err(|_| bad())?;
        if uri.scheme_str() != Some("https") || uri.path().len() > 1 {
            return Err(bad());
        }
        let host = uri.host().ok_or_else(bad)?;
        let (Some(access_key), Some(secret_key)) = (&args.access_key, &args.secret_key) else {
            return Err(AdminClientError::NoCredentials);
        };
        Ok(Self::Https {
            url: url.clone(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: uri.port_u16().unwrap_or(443),
            ca_bundle: args.ca_bundle.clone(),
            authorization: super::basic_auth::header_value(access_key, secret_key),
        })
    }
}

fn remote(url: &str, reason: impl std::fmt::Display) -> AdminClientError {
    AdminClientError::Remote {
        url: url.to_owned(),
        reason: reason.to_string(),
    }
}

/// The CAs an HTTPS admin connection trusts: the bundle given, else the system's.
fn roots(
    url: &str,
    ca_bundle: Option<&PathBuf>,
) -> Result<rustls::RootCertStore, AdminClientError> {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<CertificateDer<'static>> = match ca_bundle {
        Some(path) => {
            crate::server::tls::read_certs("--ca-bundle", path).map_err(|e| remote(url, e))?
        }
        None => rustls_native_certs::load_native_certs().certs,
    };
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| remote(url, format!("a CA certificate: {e}")))?;
    }
    Ok(roots)
}

async fn connect_https(
    url: &str,
    host: &str,
    port: u16,
    ca_bundle: Option<&PathBuf>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, AdminClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(crate::server::tls::VERSIONS)
        .map_err(|e| remote(url, e))?
        .with_root_certificates(roots(url, ca_bundle)?)
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| remote(url, e))?;
    let tcp = TcpStream::connect((host, port))
        .await
        .map_err(|e| remote(url, e))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| remote(url, format!("TLS: {e}")))
}

/// Sends one request and decodes the JSON answer.
pub async fn call<B: Serialize, T: DeserializeOwned>(
    args: &AdminArgs,
    method: Method,
    path: &str,
    body: Option<&B>,
) -> Result<T, AdminClientError> {
    let payload = match body {
        Some(body) => {
            serde_json::to_vec(body).map_err(|e| AdminClientError::Transport(e.to_string()))?
        }
        None => Vec::new(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json");
    match Target::of(args)? {
        Target::Socket(socket) => {
            let stream =
                UnixStream::connect(&socket)
                    .await
                    .map_err(|source| AdminClientError::Connect {
                        path: socket.clone(),
                        source,
                    })?;
            request = request.header(http::header::HOST, "vmgw-admin");
            send(stream, request, payload).await
        }
        Target::Https {
            url,
            host,
            port,
            ca_bundle,
            authorization,
        } => {
            let stream = connect_https(&url, &host, port, ca_bundle.as_ref()).await?;
            request = request
                .header(http::header::HOST, format!("{host}:{port}"))
                .header(http::header::AUTHORIZATION, authorization);
            send(stream, request, payload).await
        }
    }
}

async fn send<I, T>(
    io: I,
    request: http::request::Builder,
    payload: Vec<u8>,
) -> Result<T, AdminClientError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: DeserializeOwned,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| AdminClientError::Transport(e.to_string()))?;
    tokio::spawn(connection);
    let request = request
        .body(Full::new(Bytes::from(payload)))
        .map_err(|e| AdminClientError::Transport(e.to_string()))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| AdminClientError::Transport(e.to_string()))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| AdminClientError::Transport(e.to_string()))?
        .to_bytes();
    if status != StatusCode::OK {
        let message = serde_json::from_slice::<ErrorResponse>(&bytes)
            .map_or_else(|_| format!("HTTP {status}"), |e| e.error);
        return Err(AdminClientError::Refused(message));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| AdminClientError::Transport(format!("invalid answer: {e}")))
}
