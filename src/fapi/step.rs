//! The step vocabulary: what a plan item may ask the client to do. Data only; `runner` executes.

use serde::{Deserialize, Serialize};

/// One thing an item does. Plans write these as `- discovery: { document: openid }`,
/// `- fetch_jwks`, `- request: { endpoint: authorization_endpoint, method: OPTIONS }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Fetch the AS metadata document (shared across items; fetched once per run).
    Discovery(DiscoveryStep),
    /// Fetch the JWK Set at the metadata's `jwks_uri` (shared across items).
    FetchJwks,
    /// Send one request to an endpoint named in the metadata or the target.
    Request(RequestStep),
    /// Sleep, e.g. until a code must have expired. Runs concurrently with other items.
    Wait(WaitStep),
    /// Push the authorization request (RFC 9126).
    Par(FlowStep),
    /// Send the user agent to the authorization endpoint and capture the authorization response.
    Authorize(AuthorizeStep),
    /// Redeem the code (or the refresh token) at the token endpoint.
    Token(TokenStep),
    /// Call the protected resource with the access token.
    Resource(FlowStep),
    /// Call the userinfo endpoint with the access token (OIDC Core §5.3), if the AS offers one.
    Userinfo(FlowStep),
    /// Revoke the access token at the AS's `revocation_endpoint` (RFC 7009), if it offers one.
    Revoke(FlowStep),
    /// Introspect the access token at the AS's `introspection_endpoint` (RFC 7662), as the
    /// client, if the AS offers one and shows this client its tokens.
    Introspect(FlowStep),
    /// Run `count` fresh, correct flows and keep what the AS issued in each, for checks that
    /// judge many values together (FAPI2-SP-5.4.1-4 entropy).
    Samples(SamplesStep),
    /// Offer TLS 1.0, 1.1 and weak TLS 1.2 suites to every host of the target (raw ClientHellos).
    TlsProbe,
}

impl Step {
    pub fn kind(&self) -> StepKind {
        match self {
            Step::Discovery(_) => StepKind::Discovery,
            Step::FetchJwks => StepKind::FetchJwks,
            Step::Request(_) => StepKind::Request,
            Step::Wait(_) => StepKind::Wait,
            Step::Par(_) => StepKind::Par,
            Step::Authorize(_) => StepKind::Authorize,
            Step::Token(_) => StepKind::Token,
            Step::Resource(_) => StepKind::Resource,
            Step::Userinfo(_) => StepKind::Userinfo,
            Step::Revoke(_) => StepKind::Revoke,
            Step::Introspect(_) => StepKind::Introspect,
            Step::Samples(_) => StepKind::Samples,
            Step::TlsProbe => StepKind::TlsProbe,
        }
    }

    /// Whether the step deliberately deviates from a correct flow: an altered request, or what
    /// makes a later correct request stale (a revocation, a wait that outlasts a lifetime).
    /// Steps before the first such step are prerequisites of a negative test; it and the steps
    /// after it are under test.
    pub fn is_mutated(&self) -> bool {
        match self {
            Step::Revoke(_) | Step::Wait(_) => true,
            Step::Par(f) | Step::Resource(f) | Step::Userinfo(f) | Step::Introspect(f) => {
                f.is_mutated()
            }
            Step::Authorize(a) => {
                !a.par || !a.mutations.is_empty() || a.client == ClientRole::Second
            }
            Step::Token(t) => {
                !t.mutations.is_empty()
                    || t.client != ClientRole::Primary
                    || t.grant == Grant::Password
            }
            Step::Discovery(_)
            | Step::FetchJwks
            | Step::Request(_)
            | Step::Samples(_)
            | Step::TlsProbe => false,
        }
    }
}

/// Options every flow step shares.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct FlowStep {
    /// Which client sends it: the variant's client (default) or the target's second client.
    #[serde(default)]
    pub client: ClientRole,
    #[serde(default)]
    pub mutations: Vec<crate::fapi::mutation::Mutation>,
}

impl FlowStep {
    pub fn is_mutated(&self) -> bool {
        !self.mutations.is_empty() || self.client != ClientRole::Primary
    }
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum ClientRole {
    #[default]
    Primary,
    Second,
    /// A `private_key_jwt` client whose signing key is RSA (for RS256 probes).
    RsaKey,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthorizeStep {
    /// `false` sends every parameter in the query instead of a PAR `request_uri`.
    #[serde(default = "yes")]
    pub par: bool,
    #[serde(default)]
    pub client: ClientRole,
    #[serde(default)]
    pub mutations: Vec<crate::fapi::mutation::Mutation>,
}

fn yes() -> bool {
    true
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenStep {
    #[serde(default)]
    pub grant: Grant,
    #[serde(default)]
    pub client: ClientRole,
    #[serde(default)]
    pub mutations: Vec<crate::fapi::mutation::Mutation>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Grant {
    #[default]
    AuthorizationCode,
    RefreshToken,
    /// The resource owner password credentials grant, which FAPI forbids (FAPI2-SP-5.3.2.1-2).
    Password,
}

/// Step names, for checks that refer to "the exchange of step X".
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    Discovery,
    FetchJwks,
    Request,
    Wait,
    Par,
    Authorize,
    Token,
    Resource,
    Userinfo,
    Revoke,
    Introspect,
    Samples,
    TlsProbe,
}

impl StepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StepKind::Discovery => "discovery",
            StepKind::FetchJwks => "fetch_jwks",
            StepKind::Request => "request",
            StepKind::Wait => "wait",
            StepKind::Par => "par",
            StepKind::Authorize => "authorize",
            StepKind::Token => "token",
            StepKind::Resource => "resource",
            StepKind::Userinfo => "userinfo",
            StepKind::Revoke => "revoke",
            StepKind::Introspect => "introspect",
            StepKind::Samples => "samples",
            StepKind::TlsProbe => "tls_probe",
        }
    }
}

/// `- samples: { count: 20, through: token }`: independent correct flows, each with a fresh
/// client instance (PKCE, state, DPoP key), as far as `through`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SamplesStep {
    #[serde(default = "default_sample_count")]
    pub count: usize,
    #[serde(default)]
    pub through: SampleThrough,
}

fn default_sample_count() -> usize {
    20
}

/// How far each sampled flow goes: request_uris need only PAR; codes a login; tokens all three.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum SampleThrough {
    Par,
    Authorize,
    #[default]
    Token,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryStep {
    #[serde(default)]
    pub document: MetadataDocument,
}

/// Which well-known metadata document (OIDD §4 or RFC 8414 §3).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, Default)]
#[serde(rename_all = "snake_case")]
pub enum MetadataDocument {
    /// `<issuer>/.well-known/openid-configuration` (OIDD-4-1).
    #[default]
    Openid,
    /// `/.well-known/oauth-authorization-server` inserted before the issuer's path (RFC8414-3-1).
    Oauth,
}

impl MetadataDocument {
    pub fn as_str(self) -> &'static str {
        match self {
            MetadataDocument::Openid => "openid-configuration",
            MetadataDocument::Oauth => "oauth-authorization-server",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RequestStep {
    pub endpoint: Endpoint,
    #[serde(default = "default_method")]
    pub method: HttpMethod,
    /// Extra request headers, e.g. `Origin` for a CORS probe.
    #[serde(default)]
    pub headers: indexmap::IndexMap<String, String>,
}

fn default_method() -> HttpMethod {
    HttpMethod::Get
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Delete,
    Options,
    Head,
}

impl HttpMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Options => "OPTIONS",
            HttpMethod::Head => "HEAD",
        }
    }
}

/// An endpoint, named by its metadata member or as the target's first resource.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    AuthorizationEndpoint,
    TokenEndpoint,
    PushedAuthorizationRequestEndpoint,
    JwksUri,
    UserinfoEndpoint,
    IntrospectionEndpoint,
    RevocationEndpoint,
    /// The target's first `resources` URL.
    Resource,
}

impl Endpoint {
    /// The metadata member that names this endpoint (`None` for the resource).
    pub fn metadata_member(self) -> Option<&'static str> {
        match self {
            Endpoint::AuthorizationEndpoint => Some("authorization_endpoint"),
            Endpoint::TokenEndpoint => Some("token_endpoint"),
            Endpoint::PushedAuthorizationRequestEndpoint => {
                Some("pushed_authorization_request_endpoint")
            }
            Endpoint::JwksUri => Some("jwks_uri"),
            Endpoint::UserinfoEndpoint => Some("userinfo_endpoint"),
            Endpoint::IntrospectionEndpoint => Some("introspection_endpoint"),
            Endpoint::RevocationEndpoint => Some("revocation_endpoint"),
            Endpoint::Resource => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.metadata_member().unwrap_or("resource")
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WaitStep {
    /// Seconds to wait; with `after`, seconds beyond that lifetime (a margin for clock skew).
    pub seconds: u64,
    /// Shown while waiting, e.g. "authorization code must expire (60 s + margin)".
    #[serde(default)]
    pub reason: Option<String>,
    /// Wait out a lifetime the target announced earlier in the flow, plus `seconds`.
    #[serde(default)]
    pub after: Option<WaitAfter>,
}

/// A lifetime the target announces, which a wait can outlast.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum WaitAfter {
    /// The PAR response's `expires_in`.
    ParExpiresIn,
    /// The token response's `expires_in` (the access token's lifetime).
    TokenExpiresIn,
}

/// The default for `run --max-wait`: longer waits are not made, and their items SKIP. A hostile
/// or merely long `expires_in` must not keep an item (or CI) waiting for hours.
pub const DEFAULT_MAX_WAIT_SECS: u64 = 300;
