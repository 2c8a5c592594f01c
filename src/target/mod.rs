//! The target: one authorization server, its resource server, the test clients and their keys.

mod interpolate;
pub mod keys;
mod load;
pub mod model;

use std::path::PathBuf;
use std::time::Duration;

pub use load::load_target;
pub use model::{LoginMode, ResponseModeRequest};

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
    pub login: Login,
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
    /// Sent as `response_mode` in authorization requests when set.
    pub response_mode: Option<ResponseModeRequest>,
}

/// How the harness gets past the AS's login and consent pages.
#[derive(Debug, Clone)]
pub struct Login {
    pub mode: LoginMode,
    /// For one login, from the authorization request to the authorization response.
    pub timeout: Duration,
    pub steps: Vec<LoginStep>,
    pub manual: ManualOptions,
}

impl Default for Login {
    fn default() -> Self {
        Login {
            mode: LoginMode::None,
            timeout: DEFAULT_LOGIN_TIMEOUT,
            steps: Vec::new(),
            manual: ManualOptions::default(),
        }
    }
}

/// One page's worth of user action. Selectors were checked to parse when the target loaded.
#[derive(Clone)]
pub struct LoginStep {
    pub name: String,
    /// CSS selector the page must match; `None`: every filled field must be present.
    pub when: Option<String>,
    /// CSS selector to wait for (browser) or require (http-form) before acting.
    pub wait_for: Option<String>,
    /// (CSS selector of the field, value). The values are registered secrets.
    pub fill: Vec<(String, String)>,
    /// CSS selector of the button to press.
    pub submit: Option<String>,
}

/// The values are passwords and the like: never printed, even in debug output.
impl std::fmt::Debug for LoginStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fill: Vec<(&str, &str)> = self
            .fill
            .iter()
            .map(|(k, _)| (k.as_str(), crate::redact::REDACTED))
            .collect();
        f.debug_struct("LoginStep")
            .field("name", &self.name)
            .field("when", &self.when)
            .field("wait_for", &self.wait_for)
            .field("fill", &fill)
            .field("submit", &self.submit)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct ManualOptions {
    /// Capture the redirect on a local HTTPS listener (else: the person pastes the final URL).
    pub listen: bool,
    /// Open the authorization URL in the desktop's browser.
    pub open: bool,
    /// The listener's certificate and key from the target; `None`: one is made at run time.
    pub listener_identity: Option<ListenerIdentity>,
}

impl Default for ManualOptions {
    fn default() -> Self {
        ManualOptions {
            listen: true,
            open: false,
            listener_identity: None,
        }
    }
}

/// A certificate and its key, checked to belong together when the target loaded.
#[derive(Clone)]
pub struct ListenerIdentity {
    pub cert_pem: String,
    /// A registered secret.
    pub key_pem: String,
}

/// The key never prints, even in debug output.
impl std::fmt::Debug for ListenerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerIdentity")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &crate::redact::REDACTED)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub url: url::Url,
    pub method: String,
}

pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// Response bodies beyond this are cut: evidence needs the start, not 100 MB.
/// A login without a person: redirects, a form or two, a page that may run scripts.
pub const DEFAULT_LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A person with a hardware token needs minutes, not seconds.
pub const DEFAULT_MANUAL_LOGIN_TIMEOUT: Duration = Duration::from_secs(300);
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
