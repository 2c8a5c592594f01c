//! The target: one authorization server, its resource server, the test clients and their keys.

mod interpolate;
pub mod keys;
mod load;
pub mod model;

use std::path::PathBuf;
use std::time::Duration;

pub use load::load_target;
pub use model::LoginMode;

use crate::plan::{ClientAuth, SenderConstraint};
use keys::{ClientCert, SigningKey};

/// A resolved, validated target. Secret values are registered with the redactor by `load_target`.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub file: PathBuf,
    pub issuer: String,
    pub discovery_url: Option<url::Url>,
    /// PEM bytes of the CA bundle to trust instead of the system roots.
    pub ca_bundle: Option<Vec<u8>>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Sent with every request; values are secrets.
    pub extra_headers: Vec<(String, String)>,
    pub max_body_bytes: u64,
    pub clients: Vec<Client>,
    pub sender_constraints: Vec<SenderConstraint>,
    pub resources: Vec<Resource>,
    pub login: LoginMode,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub name: String,
    pub client_id: String,
    pub auth_method: ClientAuth,
    pub signing_key: Option<SigningKey>,
    pub cert: Option<ClientCert>,
    pub redirect_uris: Vec<url::Url>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub url: url::Url,
    pub method: String,
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Response bodies beyond this are cut: evidence needs the start, not 100 MB.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

impl Target {
    /// The client authentication methods the target's clients cover.
    pub fn client_auths(&self) -> Vec<ClientAuth> {
        let mut v: Vec<_> = self.clients.iter().map(|c| c.auth_method).collect();
        v.sort();
        v.dedup();
        v
    }

    /// The first client using `auth`, and a second client with the same method if there is one.
    pub fn clients_for(&self, auth: Option<ClientAuth>) -> Vec<&Client> {
        self.clients
            .iter()
            .filter(|c| auth.is_none_or(|a| c.auth_method == a))
            .collect()
    }
}
