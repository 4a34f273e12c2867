//! Who a request comes from and what it may touch.
//!
//! The admin identity (the configured or generated key pairs) sees everything. Tenants —
//! usually one per guest VM — have their own keys and reach only the buckets they own;
//! bucket names stay unique on the host. Tenants and their keys live in the metadata store,
//! their secrets sealed with a key kept outside it ([`sealer`]), and change while the
//! gateway runs through the admin API ([`tenants`]).

pub mod access;
pub mod client_cert;
pub mod policies;
pub mod policy;
mod principal;
pub mod qos;
mod registry;
pub mod sealer;
pub mod tenants;

pub use principal::Principal;

/// Where a request came from, put into its extensions by the server.
#[derive(Debug, Clone, Copy)]
pub struct Connection {
    pub peer: Option<std::net::SocketAddr>,
    pub secure: bool,
    /// The client certificate the TLS handshake verified, if the client presented one.
    pub client_cert: Option<client_cert::Fingerprint>,
}
pub use registry::{Authenticator, Registry};
