//! The target model as written in YAML: one AS, its RS, its clients and their keys.
//!
//! Strings that may carry `${env:NAME}` or `${file:PATH}` are `Spanned` so that a resolution
//! error points at the exact field. `load.rs` turns this raw form into a resolved `Target`.

use indexmap::IndexMap;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::plan::{ClientAuth, SenderConstraint};

pub type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// Display name for reports.
    pub target: String,
    /// The issuer identifier, exactly as the AS publishes it.
    pub issuer: Text,
    /// Override for the discovery document URL; by default derived from `issuer`.
    #[serde(default)]
    pub discovery_url: Option<Text>,
    /// PEM bundle of the CAs to trust instead of the system roots (relative to this file).
    #[serde(default)]
    pub ca_bundle: Option<Text>,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub http: RawHttp,
    pub clients: Vec<RawClient>,
    /// Sender constraints the target supports; restricts the variants that run.
    #[serde(default)]
    pub sender_constraints: Vec<SenderConstraint>,
    #[serde(default)]
    pub resources: Vec<RawResource>,
    #[serde(default)]
    pub login: RawLogin,
    /// Further values to keep out of every report (e.g. a test user's password).
    #[serde(default)]
    pub secrets: Vec<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    #[serde(default)]
    pub connect_secs: Option<u64>,
    #[serde(default)]
    pub request_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHttp {
    /// Headers sent with every request (API-gateway keys and the like). Values are secrets.
    #[serde(default)]
    pub headers: IndexMap<String, Text>,
    /// Cap on a response body kept as evidence, in bytes.
    #[serde(default)]
    pub max_body_bytes: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// A label, unique within the target, used in evidence and errors.
    pub name: String,
    pub client_id: Text,
    pub auth_method: ClientAuth,
    /// Signing key for `private_key_jwt` assertions (and request objects).
    #[serde(default)]
    pub signing_key: Option<RawKey>,
    /// Client certificate for `tls_client_auth` and mTLS-bound tokens.
    #[serde(default)]
    pub mtls: Option<RawMtls>,
    pub redirect_uris: Vec<Text>,
    #[serde(default)]
    pub scope: Option<String>,
    /// `response_mode` to ask for in authorization requests; by default none is sent (the
    /// AS's default for `code`, the query).
    #[serde(default)]
    pub response_mode: Option<ResponseModeRequest>,
}

/// A `response_mode` a client can ask for (OAuth 2.0 Multiple Response Type Encoding Practices,
/// Form Post Response Mode, JARM).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
pub enum ResponseModeRequest {
    #[serde(rename = "query")]
    Query,
    #[serde(rename = "fragment")]
    Fragment,
    #[serde(rename = "form_post")]
    FormPost,
    #[serde(rename = "jwt")]
    Jwt,
    #[serde(rename = "query.jwt")]
    QueryJwt,
    #[serde(rename = "fragment.jwt")]
    FragmentJwt,
    #[serde(rename = "form_post.jwt")]
    FormPostJwt,
}

impl ResponseModeRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            ResponseModeRequest::Query => "query",
            ResponseModeRequest::Fragment => "fragment",
            ResponseModeRequest::FormPost => "form_post",
            ResponseModeRequest::Jwt => "jwt",
            ResponseModeRequest::QueryJwt => "query.jwt",
            ResponseModeRequest::FragmentJwt => "fragment.jwt",
            ResponseModeRequest::FormPostJwt => "form_post.jwt",
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// PKCS#8 PEM (RSA, EC P-256 or Ed25519), usually `${file:keys/client.key}`.
    pub pem: Text,
    #[serde(default)]
    pub kid: Option<String>,
    /// PS256, ES256 or EdDSA; by default the one that fits the key.
    #[serde(default)]
    pub alg: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMtls {
    /// PEM certificate (chain), usually `${file:…}`.
    pub cert: Text,
    /// PKCS#8 PEM private key of the certificate.
    pub key: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResource {
    pub url: Text,
    #[serde(default = "default_method")]
    pub method: String,
}

fn default_method() -> String {
    "GET".to_owned()
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLogin {
    #[serde(default)]
    pub mode: LoginMode,
    /// How long one login may take, from the authorization request to the response.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
    /// What to do on the AS's pages (`http-form` and `browser`).
    #[serde(default)]
    pub steps: Vec<RawLoginStep>,
    /// How a person is asked to log in (`manual`).
    #[serde(default)]
    pub manual: RawManual,
}

/// One page's worth of user action: fill some fields, press a button.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLoginStep {
    /// A label for evidence and error messages; `step N` by default.
    #[serde(default)]
    pub name: Option<String>,
    /// CSS selector the page must match for this step to apply; by default every field the step
    /// fills must be present.
    #[serde(default)]
    pub when: Option<Text>,
    /// CSS selector to wait for before acting (`browser`; `http-form` treats it like `when`).
    #[serde(default)]
    pub wait_for: Option<Text>,
    /// Field name (a bare name such as `password`) or CSS selector, and the value to enter.
    /// Values are secrets.
    #[serde(default)]
    pub fill: IndexMap<String, Text>,
    /// CSS selector of the button to press; by default the form of the first filled field is
    /// submitted (or the page's only form).
    #[serde(default)]
    pub submit: Option<Text>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawManual {
    /// Capture the redirect on a local HTTPS listener at the redirect URI's host and port
    /// (default); otherwise the person pastes the final URL at a prompt.
    #[serde(default)]
    pub listen: Option<bool>,
    /// Open the authorization URL in the desktop's browser.
    #[serde(default)]
    pub open: bool,
    /// Certificate (PEM) the listener presents instead of one made at run time, e.g. one from a
    /// local CA the browser trusts, so that the browser does not warn.
    #[serde(default)]
    pub listener_cert: Option<Text>,
    /// Its private key (PEM); a secret.
    #[serde(default)]
    pub listener_key: Option<Text>,
}

/// How the harness gets past the AS's login and consent pages (DESIGN.md, "The target format").
#[derive(Clone, Copy, Debug, Deserialize, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoginMode {
    /// The AS approves without user interaction.
    #[default]
    None,
    HttpForm,
    Browser,
    Manual,
}

impl LoginMode {
    /// The name as written in the target file.
    pub fn as_str(self) -> &'static str {
        match self {
            LoginMode::None => "none",
            LoginMode::HttpForm => "http-form",
            LoginMode::Browser => "browser",
            LoginMode::Manual => "manual",
        }
    }
}
