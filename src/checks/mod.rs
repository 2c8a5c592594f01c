//! The check library: small named claims, each judging one thing and citing its requirement.
//!
//! A check reads `Observations` (what the steps gathered) and returns findings. It never sends,
//! never prints and never picks FAIL or WARN: the item's level does that (`runner::outcome`).

mod binding;
mod entropy;
mod finding;
pub mod flow;
mod http;
mod id_token;
mod jwks;
mod long_value;
pub mod metadata;
mod nonce;
mod tls;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use entropy::{Issued, MIN_SAMPLES, Samples};
pub use finding::{Finding, FindingStatus};
pub use flow::{FlowObs, Stage, StageRecord, StageResult};

use crate::evidence::Exchange;
use crate::fapi::step::{MetadataDocument, StepKind};

/// A check as a plan names it: `- issuer_matches`, `- status_is: { status: [200] }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum CheckSpec {
    /// The response of a step has one of these HTTP statuses.
    StatusIs(StatusIs),
    /// The response of a step is `application/json` (RFC8414-3.2-1, OIDD-4.2-1).
    ContentTypeJson(Of),
    /// The metadata `issuer` equals the target's issuer exactly (RFC8414-3.3-1, OIDD-4.3-1).
    IssuerMatches,
    /// The metadata `issuer` is https with no query or fragment (RFC8414-2-1, OIDD-3-1).
    IssuerWellFormed,
    /// The metadata has each of these members.
    RequiredMembers(Members),
    /// Every endpoint URL in the metadata is https (FAPI2-SP-5.2.1-1.a).
    EndpointsHttps,
    /// A metadata array member contains each of these values.
    MemberIncludes(MemberValues),
    /// A metadata array member contains none of these values (an absent member holds).
    MemberExcludes(MemberValues),
    /// A metadata array member holds only values from this list.
    MemberSubset(MemberValues),
    /// A metadata member equals this value.
    MemberEquals(MemberEquals),
    /// No `*_alg_values_supported` member lists `none` (RFC8414-2-3, FAPI2-SP-5.4.1-1.3).
    NoNoneAlg,
    /// The JWK Set is well formed: a `keys` array of objects, each with `kty` (RFC 7517 §5).
    JwksWellFormed,
    /// The JWK Set holds public keys only (FAPI2-SP-5.4.2-1).
    JwksPublicOnly,
    /// No two keys share a `kid` (FAPI2-SP-5.4.2-3).
    JwksUniqueKids,
    /// RSA keys are ≥ 2048 bits and EC keys use P-256 or larger (FAPI2-SP-5.4.1-2, -3).
    JwksKeySizes,
    /// The response carries HSTS with a long max-age (FAPI2-SP-5.2.3-1).
    Hsts(Hsts),
    /// The response allows no cross-origin access (FAPI2-SP-5.2.3-3).
    NoCors(Of),
    /// A response header is present (optionally with an exact value).
    HeaderPresent(HeaderPresent),
    /// The flow's correct requests were accepted at each listed stage.
    Accepted(AtStages),
    /// The deliberately broken request was refused at one of the listed stages, in a form the
    /// spec allows; other error codes than `errors` only warn.
    Rejected(Rejection),
    /// PAR answered 201 with `request_uri` and `expires_in` (RFC9126-2.2-1).
    ParCreated,
    /// The authorization response carries `iss` equal to the issuer (RFC9207-2-1).
    IssInResponse,
    /// The authorization response echoes `state` (RFC6749-4.1.2-2).
    StateEchoed,
    /// User-agent redirects use one of these statuses, 303 by default (FAPI2-SP-5.3.2.2-11).
    RedirectStatus(RedirectStatus),
    /// The access token is bound as the variant's sender constraint requires (FAPI2-SP-5.3.2.1-4).
    TokenSenderConstrained,
    /// A request header comes back unchanged in the response (e.g. `x-fapi-interaction-id`).
    HeaderEchoed(HeaderEchoed),
    /// A refresh did not rotate the refresh token, or the old one still works (FAPI2-SP-5.3.2.1-9).
    NoRefreshRotation,
    /// Every host refuses TLS 1.0 and 1.1 (FAPI2-SP-5.2.1-2).
    TlsLegacyRefused,
    /// No host accepts a TLS 1.2 suite outside BCP 195 (FAPI2-SP-5.2.2-1, -5.2.3-2).
    TlsSuitesBcp195,
    /// Every host presents a certificate the harness can verify (FAPI2-SP-5.2.1-3).
    TlsCertificateValid,
    /// An error response about the access token carries `WWW-Authenticate` (RFC6750-3-1).
    ErrorChallenge(Of),
    /// PAR `expires_in` is below this many seconds (FAPI2-SP-5.3.2.2-12: under 600).
    ParExpiresInBelow(LifetimeBelow),
    /// The request's method was refused with 405 (RFC9126-2.3-3); another refusal only warns.
    MethodNotAllowed(Of),
    /// The token response's ID token is signed with a FAPI algorithm by the `jwks_uri` key its
    /// `kid` names (OIDC-2-9, FAPI2-SP-5.4.1-1.2).
    IdTokenSignature,
    /// The ID token's iss, sub, aud, azp, exp and iat are valid (OIDC Core §3.1.3.7).
    IdTokenClaims,
    /// The ID token's nonce equals the one sent (OIDC-2-7).
    IdTokenNonce,
    /// The ID token's JOSE header has no `x5u` or `jku` (FAPI2-SP-5.4.2-2).
    IdTokenNoX5uJku,
    /// The userinfo `sub` equals the ID token's, if the AS offers userinfo (OIDC-5.3.2-1).
    UserinfoSubMatches,
    /// The server's first `use_dpop_nonce` challenge at a step has the form RFC 9449 §8 (AS) or
    /// §9 (RS) gives; not applicable when it never asked for a nonce there.
    DpopNonceChallenge(nonce::NonceChallenge),
    /// No response carries more than one `DPoP-Nonce` header (RFC9449-8-2).
    DpopNonceSingle(nonce::OfServer),
    /// Every `DPoP-Nonce` value is `1*NQCHAR` (RFC9449-8.1-1).
    DpopNonceSyntax(nonce::OfServer),
    /// Front-channel parameters next to `request_uri` were ignored or refused (RFC9126-4-3).
    PushedParametersWin,
    /// A DPoP-bound access token issued without DPoP nonces lives at most this many seconds
    /// (RFC9449-11.2-1); not applicable when the server asked for nonces.
    DpopTokenLifetimeBelow(LifetimeBelow),
    /// The sampled values of each kind are distinct, with a random-looking part of ≥ 128 bits
    /// that changes from flow to flow (FAPI2-SP-5.4.1-4, RFC9126-2.2-2): a heuristic.
    ValuesLookRandom(entropy::ValuesLookRandom),
    /// A long `state` or `nonce` comes back unchanged, or the request is refused cleanly (the
    /// OIDF long-state and long-nonce modules).
    LongValueEchoed(long_value::LongValue),
    /// Introspection shows the token's sender constraint (RFC9449-6.2-1, RFC8705-3.2-1).
    IntrospectionBinding,
    /// A DPoP-bound JWT access token carries `cnf.jkt` of the proof key (RFC9449-6.1-1).
    AccessTokenJkt,
}

impl CheckSpec {
    /// The plan's name for this check.
    pub fn name(&self) -> &'static str {
        match self {
            CheckSpec::StatusIs(_) => "status_is",
            CheckSpec::ContentTypeJson(_) => "content_type_json",
            CheckSpec::IssuerMatches => "issuer_matches",
            CheckSpec::IssuerWellFormed => "issuer_well_formed",
            CheckSpec::RequiredMembers(_) => "required_members",
            CheckSpec::EndpointsHttps => "endpoints_https",
            CheckSpec::MemberIncludes(_) => "member_includes",
            CheckSpec::MemberExcludes(_) => "member_excludes",
            CheckSpec::MemberSubset(_) => "member_subset",
            CheckSpec::MemberEquals(_) => "member_equals",
            CheckSpec::NoNoneAlg => "no_none_alg",
            CheckSpec::JwksWellFormed => "jwks_well_formed",
            CheckSpec::JwksPublicOnly => "jwks_public_only",
            CheckSpec::JwksUniqueKids => "jwks_unique_kids",
            CheckSpec::JwksKeySizes => "jwks_key_sizes",
            CheckSpec::Hsts(_) => "hsts",
            CheckSpec::NoCors(_) => "no_cors",
            CheckSpec::HeaderPresent(_) => "header_present",
            CheckSpec::Accepted(_) => "accepted",
            CheckSpec::Rejected(_) => "rejected",
            CheckSpec::ParCreated => "par_created",
            CheckSpec::IssInResponse => "iss_in_response",
            CheckSpec::StateEchoed => "state_echoed",
            CheckSpec::RedirectStatus(_) => "redirect_status",
            CheckSpec::TokenSenderConstrained => "token_sender_constrained",
            CheckSpec::HeaderEchoed(_) => "header_echoed",
            CheckSpec::NoRefreshRotation => "no_refresh_rotation",
            CheckSpec::TlsLegacyRefused => "tls_legacy_refused",
            CheckSpec::TlsSuitesBcp195 => "tls_suites_bcp195",
            CheckSpec::TlsCertificateValid => "tls_certificate_valid",
            CheckSpec::ErrorChallenge(_) => "error_challenge",
            CheckSpec::ParExpiresInBelow(_) => "par_expires_in_below",
            CheckSpec::DpopTokenLifetimeBelow(_) => "dpop_token_lifetime_below",
            CheckSpec::MethodNotAllowed(_) => "method_not_allowed",
            CheckSpec::IdTokenSignature => "id_token_signature",
            CheckSpec::IdTokenClaims => "id_token_claims",
            CheckSpec::IdTokenNonce => "id_token_nonce",
            CheckSpec::IdTokenNoX5uJku => "id_token_no_x5u_jku",
            CheckSpec::UserinfoSubMatches => "userinfo_sub_matches",
            CheckSpec::DpopNonceChallenge(_) => "dpop_nonce_challenge",
            CheckSpec::DpopNonceSingle(_) => "dpop_nonce_single",
            CheckSpec::DpopNonceSyntax(_) => "dpop_nonce_syntax",
            CheckSpec::PushedParametersWin => "pushed_parameters_win",
            CheckSpec::LongValueEchoed(_) => "long_value_echoed",
            CheckSpec::IntrospectionBinding => "introspection_binding",
            CheckSpec::AccessTokenJkt => "access_token_jkt",
            CheckSpec::ValuesLookRandom(_) => "values_look_random",
        }
    }

    /// The steps whose results this check reads; plan validation requires them earlier in the
    /// flow.
    pub fn needs_steps(&self) -> Vec<StepKind> {
        let one = match self {
            CheckSpec::StatusIs(s) => s.of,
            CheckSpec::ContentTypeJson(o)
            | CheckSpec::NoCors(o)
            | CheckSpec::ErrorChallenge(o)
            | CheckSpec::MethodNotAllowed(o) => o.of,
            CheckSpec::Hsts(h) => h.of,
            CheckSpec::HeaderPresent(h) => h.of,
            CheckSpec::HeaderEchoed(h) => h.of,
            CheckSpec::NoRefreshRotation => Some(StepKind::Token),
            CheckSpec::TlsLegacyRefused
            | CheckSpec::TlsSuitesBcp195
            | CheckSpec::TlsCertificateValid => Some(StepKind::TlsProbe),
            CheckSpec::ParExpiresInBelow(_) => Some(StepKind::Par),
            CheckSpec::IssuerMatches
            | CheckSpec::IssuerWellFormed
            | CheckSpec::RequiredMembers(_)
            | CheckSpec::EndpointsHttps
            | CheckSpec::MemberIncludes(_)
            | CheckSpec::MemberExcludes(_)
            | CheckSpec::MemberSubset(_)
            | CheckSpec::MemberEquals(_)
            | CheckSpec::NoNoneAlg => Some(StepKind::Discovery),
            CheckSpec::JwksWellFormed
            | CheckSpec::JwksPublicOnly
            | CheckSpec::JwksUniqueKids
            | CheckSpec::JwksKeySizes => Some(StepKind::FetchJwks),
            CheckSpec::ParCreated => Some(StepKind::Par),
            CheckSpec::IssInResponse
            | CheckSpec::StateEchoed
            | CheckSpec::RedirectStatus(_)
            | CheckSpec::PushedParametersWin => Some(StepKind::Authorize),
            CheckSpec::TokenSenderConstrained
            | CheckSpec::DpopTokenLifetimeBelow(_)
            | CheckSpec::AccessTokenJkt
            | CheckSpec::IdTokenClaims
            | CheckSpec::IdTokenNonce
            | CheckSpec::IdTokenNoX5uJku => Some(StepKind::Token),
            // The signature is checked against the JWK Set the flow fetched.
            CheckSpec::IdTokenSignature => {
                return vec![StepKind::FetchJwks, StepKind::Token];
            }
            CheckSpec::UserinfoSubMatches => return vec![StepKind::Token, StepKind::Userinfo],
            CheckSpec::DpopNonceChallenge(c) => Some(c.of.step()),
            CheckSpec::DpopNonceSingle(o) | CheckSpec::DpopNonceSyntax(o) => {
                o.of.map(nonce::ChallengeAt::step)
            }
            CheckSpec::ValuesLookRandom(_) => Some(StepKind::Samples),
            CheckSpec::IntrospectionBinding => Some(StepKind::Introspect),
            CheckSpec::LongValueEchoed(l) => Some(match l.param {
                long_value::Param::State => StepKind::Authorize,
                long_value::Param::Nonce => StepKind::Token,
            }),
            CheckSpec::Accepted(_) | CheckSpec::Rejected(_) => None,
        };
        one.into_iter().collect()
    }

    /// Whether the check judges an OAuth flow (needs at least one par/authorize/token/resource step).
    pub fn needs_flow(&self) -> bool {
        matches!(
            self,
            CheckSpec::Accepted(_)
                | CheckSpec::Rejected(_)
                | CheckSpec::DpopNonceChallenge(_)
                | CheckSpec::DpopNonceSingle(_)
                | CheckSpec::DpopNonceSyntax(_)
        )
    }

    /// Judges the observations.
    pub fn evaluate(&self, obs: &Observations<'_>) -> Finding {
        let name = self.name();
        let reads_one_exchange = match self {
            CheckSpec::StatusIs(StatusIs { of, .. })
            | CheckSpec::ContentTypeJson(Of { of })
            | CheckSpec::NoCors(Of { of })
            | CheckSpec::MethodNotAllowed(Of { of })
            | CheckSpec::Hsts(Hsts { of, .. })
            | CheckSpec::HeaderPresent(HeaderPresent { of, .. })
            | CheckSpec::HeaderEchoed(HeaderEchoed { of, .. }) => Some(*of),
            _ => None,
        };
        if let Some(of) = reads_one_exchange
            && obs.exchange_of(of).is_none()
        {
            return Finding::new(name).inconclusive(obs.why_missing());
        }
        match self {
            CheckSpec::StatusIs(s) => http::status_is(name, obs.exchange_of(s.of), &s.status),
            CheckSpec::ContentTypeJson(o) => http::content_type_json(name, obs.exchange_of(o.of)),
            CheckSpec::Hsts(h) => http::hsts(name, obs.exchange_of(h.of), h.min_max_age),
            CheckSpec::NoCors(o) => http::no_cors(name, obs.exchange_of(o.of)),
            CheckSpec::MethodNotAllowed(o) => http::method_not_allowed(name, obs.exchange_of(o.of)),
            CheckSpec::HeaderPresent(h) => http::header_present(
                name,
                obs.exchange_of(h.of),
                &h.name,
                h.value.as_deref(),
                h.contains.as_deref(),
            ),
            CheckSpec::HeaderEchoed(h) => http::header_echoed(name, obs.exchange_of(h.of), &h.name),
            CheckSpec::NoRefreshRotation => flow::no_refresh_rotation(name, obs),
            CheckSpec::TlsLegacyRefused => tls::legacy_refused(name, obs),
            CheckSpec::TlsSuitesBcp195 => tls::suites_bcp195(name, obs),
            CheckSpec::TlsCertificateValid => tls::certificate_valid(name, obs),
            CheckSpec::ErrorChallenge(o) => {
                http::error_challenge(name, obs.exchange_of(o.of), &obs.why_missing())
            }
            CheckSpec::ParExpiresInBelow(p) => flow::par_expires_in_below(name, obs, p.seconds),
            CheckSpec::DpopTokenLifetimeBelow(p) => {
                nonce::dpop_token_lifetime(name, obs, p.seconds)
            }
            CheckSpec::IssuerMatches => metadata::issuer_matches(name, obs),
            CheckSpec::IssuerWellFormed => metadata::issuer_well_formed(name, obs),
            CheckSpec::RequiredMembers(m) => metadata::required_members(name, obs, &m.members),
            CheckSpec::EndpointsHttps => metadata::endpoints_https(name, obs),
            CheckSpec::MemberIncludes(m) => metadata::member_includes(name, obs, m),
            CheckSpec::MemberExcludes(m) => metadata::member_excludes(name, obs, m),
            CheckSpec::MemberSubset(m) => metadata::member_subset(name, obs, m),
            CheckSpec::MemberEquals(m) => metadata::member_equals(name, obs, m),
            CheckSpec::NoNoneAlg => metadata::no_none_alg(name, obs),
            CheckSpec::JwksWellFormed => jwks::well_formed(name, obs),
            CheckSpec::JwksPublicOnly => jwks::public_only(name, obs),
            CheckSpec::JwksUniqueKids => jwks::unique_kids(name, obs),
            CheckSpec::JwksKeySizes => jwks::key_sizes(name, obs),
            CheckSpec::Accepted(a) => flow::accepted(name, obs, &a.at),
            CheckSpec::Rejected(r) => {
                flow::rejected(name, obs, &r.at, &r.errors, r.nonce_governs_freshness)
            }
            CheckSpec::ParCreated => flow::par_created(name, obs),
            CheckSpec::IssInResponse => flow::iss_in_response(name, obs),
            CheckSpec::StateEchoed => flow::state_echoed(name, obs),
            CheckSpec::RedirectStatus(r) => flow::redirect_status(name, obs, &r.allowed),
            CheckSpec::TokenSenderConstrained => flow::token_sender_constrained(name, obs),
            CheckSpec::IdTokenSignature => id_token::signature(name, obs),
            CheckSpec::IdTokenClaims => id_token::claims(name, obs),
            CheckSpec::IdTokenNonce => id_token::nonce(name, obs),
            CheckSpec::IdTokenNoX5uJku => id_token::no_x5u_jku(name, obs),
            CheckSpec::UserinfoSubMatches => id_token::userinfo_sub(name, obs),
            CheckSpec::DpopNonceChallenge(c) => nonce::challenge(name, obs, c.of),
            CheckSpec::DpopNonceSingle(o) => nonce::one_header(name, obs, o.of),
            CheckSpec::DpopNonceSyntax(o) => nonce::syntax(name, obs, o.of),
            CheckSpec::PushedParametersWin => flow::pushed_parameters_win(name, obs),
            CheckSpec::LongValueEchoed(l) => long_value::echoed(name, obs, l),
            CheckSpec::IntrospectionBinding => binding::introspection(name, obs),
            CheckSpec::AccessTokenJkt => binding::access_token_jkt(name, obs),
            CheckSpec::ValuesLookRandom(v) => entropy::values_look_random(name, obs, &v.of),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Of {
    /// The step whose last exchange to judge; by default the item's last exchange.
    #[serde(default)]
    pub of: Option<StepKind>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StatusIs {
    #[serde(default)]
    pub of: Option<StepKind>,
    pub status: Vec<u16>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Members {
    pub members: Vec<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemberValues {
    pub member: String,
    pub values: Vec<String>,
    /// Whether an absent member violates the claim. Defaults: includes → yes; excludes and
    /// subset → no (nothing advertised, nothing wrong advertised).
    #[serde(default)]
    pub required: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MemberEquals {
    pub member: String,
    pub value: Value,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Hsts {
    #[serde(default)]
    pub of: Option<StepKind>,
    /// Minimum `max-age` in seconds; one year by default (the preload-list minimum).
    #[serde(default = "default_hsts_max_age")]
    pub min_max_age: u64,
}

fn default_hsts_max_age() -> u64 {
    31_536_000
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderPresent {
    #[serde(default)]
    pub of: Option<StepKind>,
    pub name: String,
    /// The exact value required.
    #[serde(default)]
    pub value: Option<String>,
    /// A comma-separated token the value must contain (e.g. `no-store` in Cache-Control).
    #[serde(default)]
    pub contains: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HeaderEchoed {
    #[serde(default)]
    pub of: Option<StepKind>,
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AtStages {
    pub at: Vec<Stage>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    pub at: Vec<Stage>,
    #[serde(default)]
    pub errors: Vec<String>,
    /// An accepted DPoP proof that carried a server nonce makes the item SKIP: the nonce, not
    /// `iat`, may decide freshness (RFC 9449 §4.3 step 11).
    #[serde(default)]
    pub nonce_governs_freshness: bool,
}

/// A lifetime limit in seconds (`par_expires_in_below`, `dpop_token_lifetime_below`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LifetimeBelow {
    pub seconds: i64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RedirectStatus {
    #[serde(default = "default_redirect_statuses")]
    pub allowed: Vec<u16>,
}

fn default_redirect_statuses() -> Vec<u16> {
    vec![303]
}

/// A fetched JSON document (metadata or JWK Set) and the exchange it came from.
#[derive(Clone, Debug)]
pub struct Document {
    pub url: String,
    pub exchange: Option<u32>,
    /// The parsed body; `None` when there was no usable JSON object (the reason is in `problem`).
    pub json: Option<Value>,
    pub problem: Option<String>,
}

/// The metadata document an item fetched.
#[derive(Clone, Debug)]
pub struct MetadataObs {
    pub document: MetadataDocument,
    pub doc: Document,
}

/// What an item's steps gathered, as the checks see it.
pub struct Observations<'a> {
    /// The issuer the target file names: what the metadata must echo.
    pub expected_issuer: &'a str,
    pub exchanges: &'a [Exchange],
    /// The `seq` of the last exchange of each step kind.
    pub last_by_step: &'a HashMap<StepKind, u32>,
    pub metadata: Option<&'a MetadataObs>,
    pub jwks: Option<&'a Document>,
    pub flow: Option<&'a FlowObs>,
    /// What the TLS probe found, per host.
    pub tls: Option<&'a [crate::fapi::tls_probe::HostReport]>,
    /// The values the `samples` step collected.
    pub samples: Option<&'a Samples>,
}

impl Observations<'_> {
    /// Why a step's exchange is missing: the flow stopped earlier, or the step was not in it.
    pub fn why_missing(&self) -> String {
        if let Some(fl) = self.flow {
            if let Some(r) = fl.stages.iter().find(|r| r.result != StageResult::Accepted) {
                return format!(
                    "the step did not run because an earlier stage did not succeed: {}",
                    flow::describe(r)
                );
            }
            if let Some(why) = &fl.cut_short {
                return format!("the step did not run: {why}");
            }
        }
        "the step this check reads did not run".to_owned()
    }

    /// The last exchange of `step`, or the item's last exchange.
    pub fn exchange_of(&self, step: Option<StepKind>) -> Option<&Exchange> {
        match step {
            Some(kind) => {
                let seq = self.last_by_step.get(&kind)?;
                self.exchanges.iter().find(|e| e.seq == *seq)
            }
            None => self.exchanges.last(),
        }
    }
}

/// The catalogue ids that checks cite, so a unit test can prove each exists.
pub const CITED: &[&str] = &[
    metadata::REQ_ISSUER_MATCHES,
    metadata::REQ_ISSUER_WELL_FORMED,
    metadata::REQ_ENDPOINTS_HTTPS,
    metadata::REQ_NO_NONE_ALG,
    http::REQ_CONTENT_TYPE,
    http::REQ_HSTS,
    http::REQ_NO_CORS,
    jwks::REQ_PUBLIC_ONLY,
    jwks::REQ_UNIQUE_KIDS,
    jwks::REQ_RSA_SIZE,
    flow::REQ_PAR_CREATED,
    flow::REQ_ISS,
    flow::REQ_REDIRECT_303,
    flow::REQ_SENDER_CONSTRAINED,
    flow::REQ_STATE,
    flow::REQ_NO_ROTATION,
    tls::REQ_LEGACY,
    tls::REQ_SUITES,
    tls::REQ_BROWSER_SUITES,
    tls::REQ_CERTIFICATE,
    flow::REQ_PAR_EXPIRY,
    http::REQ_CHALLENGE,
    id_token::REQ_SIGNED,
    id_token::REQ_NONCE,
    id_token::REQ_NO_KEY_URLS,
    id_token::REQ_USERINFO_SUB,
    nonce::REQ_AS_CHALLENGE,
    nonce::REQ_RS_CHALLENGE,
    nonce::REQ_ONE_HEADER,
    nonce::REQ_SYNTAX,
    flow::REQ_PUSHED_WIN,
    entropy::REQ_ENTROPY,
    entropy::REQ_REQUEST_URI_RANDOM,
];

#[cfg(test)]
pub(crate) mod testkit {
    //! Hand-made exchanges and observations for check unit tests: no network.
    use super::*;
    use crate::evidence::{RecordedRequest, RecordedResponse};

    pub fn exchange(seq: u32, status: u16, headers: &[(&str, &str)], body: &str) -> Exchange {
        Exchange {
            seq,
            label: "test".into(),
            request: RecordedRequest {
                method: "GET".into(),
                url: "https://as.example/x".into(),
                headers: vec![],
                body: None,
            },
            response: Some(RecordedResponse {
                status,
                http_version: "HTTP/1.1".into(),
                tls_version: None,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body: body.into(),
                body_lossy: false,
                body_truncated: false,
                body_bytes: body.len() as u64,
            }),
            error: None,
            elapsed_ms: 1,
            jwts: vec![],
            attachments: vec![],
        }
    }

    pub fn failed_exchange(seq: u32, error: &str) -> Exchange {
        let mut e = exchange(seq, 0, &[], "");
        e.response = None;
        e.error = Some(error.into());
        e
    }

    pub fn doc(json: Value) -> Document {
        Document {
            url: "https://as.example/.well-known/openid-configuration".into(),
            exchange: Some(1),
            json: Some(json),
            problem: None,
        }
    }

    pub fn missing_doc() -> Document {
        Document {
            url: "https://as.example/.well-known/openid-configuration".into(),
            exchange: Some(1),
            json: None,
            problem: Some("HTTP 404".into()),
        }
    }

    /// What one check test observed; every part is optional.
    #[derive(Default)]
    pub struct Parts {
        pub metadata: Option<Document>,
        pub jwks: Option<Document>,
        pub flow: Option<FlowObs>,
        pub tls: Option<Vec<crate::fapi::tls_probe::HostReport>>,
        pub samples: Option<Samples>,
    }

    /// Runs `f` on observations made of `parts`, with the issuer `https://as.example`.
    pub fn observe<R>(parts: Parts, f: impl FnOnce(&Observations<'_>) -> R) -> R {
        let meta = parts.metadata.map(|doc| MetadataObs {
            document: MetadataDocument::Openid,
            doc,
        });
        let map = HashMap::new();
        let obs = Observations {
            expected_issuer: "https://as.example",
            exchanges: &[],
            last_by_step: &map,
            metadata: meta.as_ref(),
            jwks: parts.jwks.as_ref(),
            flow: parts.flow.as_ref(),
            tls: parts.tls.as_deref(),
            samples: parts.samples.as_ref(),
        };
        f(&obs)
    }

    pub fn with_metadata<R>(m: Document, f: impl FnOnce(&Observations<'_>) -> R) -> R {
        observe(
            Parts {
                metadata: Some(m),
                ..Default::default()
            },
            f,
        )
    }

    pub fn with_jwks<R>(j: Document, f: impl FnOnce(&Observations<'_>) -> R) -> R {
        observe(
            Parts {
                jwks: Some(j),
                ..Default::default()
            },
            f,
        )
    }
}
