//! Protected resources: the RS's `/accounts` and the AS's UserInfo endpoint. Both take the
//! access token only from the `Authorization` header and enforce its sender constraint
//! (FAPI2-SP-5.3.4, RFC 9449 §7, RFC 8705 §3).
//!
//! Errors follow RFC 6750 §3 / RFC 9449 §7.1: 401 with a `WWW-Authenticate` challenge naming
//! the scheme the token was sent with.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::json;

use super::app::App;
use super::dpop::{self, DPOP_NONCE, DpopError, Expect, NonceServer, algs_challenge};
use super::fault::Fault;
use super::oauth::{Params, json_no_store};
use super::pki::x5t_s256;
use super::state::{AccessRecord, Binding};
use super::tls::PeerCert;

/// FAPI's interaction id header, echoed so client and server logs can be joined.
static INTERACTION_ID: HeaderName = HeaderName::from_static("x-fapi-interaction-id");
/// An interaction id is a UUID; anything much longer is not echoed.
const MAX_INTERACTION_ID_LEN: usize = 128;

/// The authorization scheme the token came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Dpop,
    Bearer,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Dpop => "DPoP",
            Scheme::Bearer => "Bearer",
        }
    }
}

/// A refusal: status, RFC 6750 error code (none when no token was sent) and the scheme to
/// challenge with.
struct Refusal {
    status: StatusCode,
    error: Option<&'static str>,
    description: &'static str,
    scheme: Option<Scheme>,
    scope: Option<&'static str>,
    /// `DPoP-Nonce` values to send (a nonce challenge, RFC 9449 §9).
    nonces: Vec<String>,
    /// Answer with the JSON body only, without `WWW-Authenticate` (the
    /// `rs-dpop-nonce-challenge-malformed` fault).
    json_only: bool,
}

impl Refusal {
    fn unauthorized(scheme: Scheme, error: &'static str, description: &'static str) -> Refusal {
        Refusal {
            status: StatusCode::UNAUTHORIZED,
            error: Some(error),
            description,
            scheme: Some(scheme),
            scope: None,
            nonces: Vec::new(),
            json_only: false,
        }
    }

    fn into_response(self, app: &App) -> Response {
        let body = match self.error {
            Some(e) => json!({ "error": e, "error_description": self.description }),
            None => json!({ "error_description": self.description }),
        };
        let mut res = json_no_store(self.status, body);
        for n in &self.nonces {
            if let Ok(v) = HeaderValue::from_str(n) {
                res.headers_mut().append(DPOP_NONCE.clone(), v);
            }
        }
        if app.fault(Fault::RsNoWwwAuthenticate) || self.json_only {
            return res;
        }
        let params = |scheme: Scheme| {
            let mut p = Vec::new();
            if let Some(e) = self.error {
                p.push(format!("error=\"{e}\""));
                p.push(format!("error_description=\"{}\"", self.description));
            }
            if let Some(s) = self.scope {
                p.push(format!("scope=\"{s}\""));
            }
            if scheme == Scheme::Dpop {
                p.push(algs_challenge());
            }
            if p.is_empty() {
                scheme.name().to_owned()
            } else {
                format!("{} {}", scheme.name(), p.join(", "))
            }
        };
        // No token sent: offer both schemes (RFC 9449 §7.1 allows several challenges).
        let schemes = match self.scheme {
            Some(s) => vec![s],
            None => vec![Scheme::Dpop, Scheme::Bearer],
        };
        for s in schemes {
            if let Ok(v) = HeaderValue::from_str(&params(s)) {
                res.headers_mut().append(WWW_AUTHENTICATE, v);
            }
        }
        res
    }
}

/// `GET /accounts` on the RS: needs scope `accounts`.
pub async fn accounts(
    State(app): State<Arc<App>>,
    Extension(peer): Extension<PeerCert>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let res = match check(
        &app,
        &peer,
        &method,
        &headers,
        query.as_deref(),
        Protected {
            url: &app.urls.resource,
            scope: "accounts",
            nonce: app.dpop_nonce.then_some(NonceServer::Rs),
        },
    ) {
        Ok(token) => {
            let mut res = json_no_store(
                StatusCode::OK,
                json!({
                "owner": token.sub,
                "accounts": [
                    { "account_id": "acc-1", "currency": "EUR", "balance": "1024.00" },
                    { "account_id": "acc-2", "currency": "EUR", "balance": "77.50" },
                ],
                }),
            );
            dpop::hand_out_nonce(&app, NonceServer::Rs, &headers, &mut res);
            res
        }
        Err(refusal) => refusal.into_response(&app),
    };
    with_interaction_id(&app, &headers, res)
}

/// `GET` or `POST /userinfo` on the AS: needs scope `openid`.
pub async fn userinfo(
    State(app): State<Arc<App>>,
    Extension(peer): Extension<PeerCert>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let res = match check(
        &app,
        &peer,
        &method,
        &headers,
        query.as_deref(),
        Protected {
            url: &app.urls.userinfo,
            scope: "openid",
            // UserInfo is not part of the nonce demonstration; it never asks for one.
            nonce: None,
        },
    ) {
        Ok(token) => {
            let sub = if app.fault(Fault::UserinfoOtherSub) {
                format!("pairwise-{}", token.sub)
            } else {
                token.sub
            };
            json_no_store(
                StatusCode::OK,
                json!({ "sub": sub, "name": "Alice Example" }),
            )
        }
        Err(refusal) => refusal.into_response(&app),
    };
    with_interaction_id(&app, &headers, res)
}

/// Echoes `x-fapi-interaction-id`, or makes one up when the client sent none.
fn with_interaction_id(app: &App, headers: &HeaderMap, mut res: Response) -> Response {
    if app.fault(Fault::RsNoInteractionId) {
        return res;
    }
    let echoed = headers
        .get(&INTERACTION_ID)
        .filter(|v| v.len() <= MAX_INTERACTION_ID_LEN && v.to_str().is_ok())
        .cloned();
    let id = echoed.or_else(|| HeaderValue::from_str(&uuid_v4()).ok());
    if let Some(id) = id {
        res.headers_mut().insert(INTERACTION_ID.clone(), id);
    }
    res
}

/// A random RFC 4122 version 4 UUID.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    // Same source as `random_value`; fails only without an OS entropy source.
    aws_lc_rs::rand::fill(&mut b).expect("system random number generator is available");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// What a protected endpoint needs: its URL (for `htu`), the scope, and whose DPoP nonces.
struct Protected<'a> {
    url: &'a str,
    scope: &'static str,
    nonce: Option<NonceServer>,
}

/// Finds, validates and sender-checks the access token, then checks its scope.
fn check(
    app: &App,
    peer: &PeerCert,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
    resource: Protected<'_>,
) -> Result<AccessRecord, Refusal> {
    let Protected {
        url,
        scope: needed_scope,
        nonce,
    } = resource;
    let (scheme, token) = presented_token(app, headers, query)?;
    let now = app.now();
    let cached = app
        .fault(Fault::RsAcceptsRevokedTokens)
        .then(|| app.store.rs_token_cache.get(&token, now))
        .flatten();
    let expired = || {
        app.fault(Fault::RsAcceptsExpiredTokens)
            .then(|| app.store.access.get_even_expired(&token))
            .flatten()
    };
    let looked_up = || {
        let record = app.store.access.get(&token, now).or_else(expired)?;
        if app.fault(Fault::RsAcceptsRevokedTokens) {
            app.store
                .rs_token_cache
                .insert(token.clone(), record.clone(), record.exp, now);
        }
        Some(record)
    };
    let record = match cached.or_else(looked_up) {
        Some(record) => record,
        None if app.fault(Fault::RsAcceptsUnknownTokens) => unchecked(&token, needed_scope, now),
        None => {
            return Err(Refusal::unauthorized(
                scheme,
                "invalid_token",
                "the access token is unknown, revoked or expired",
            ));
        }
    };
    match &record.binding {
        Binding::Dpop(jkt) => {
            if scheme == Scheme::Bearer && !app.fault(Fault::RsBearerDowngrade) {
                return Err(Refusal::unauthorized(
                    Scheme::Dpop,
                    "invalid_token",
                    "a DPoP-bound token must be sent with the DPoP scheme",
                ));
            }
            if scheme == Scheme::Dpop {
                let expect = Expect {
                    method: method.as_str(),
                    url,
                    access_token: Some(&token),
                    nonce,
                };
                match dpop::validate(app, headers, expect) {
                    Ok(Some(proof)) if proof.jkt == *jkt => {}
                    Ok(Some(_)) => {
                        return Err(Refusal::unauthorized(
                            Scheme::Dpop,
                            "invalid_token",
                            "the DPoP proof key is not the key the token is bound to",
                        ));
                    }
                    Ok(None) => {
                        return Err(Refusal::unauthorized(
                            Scheme::Dpop,
                            "invalid_token",
                            "a DPoP proof is required",
                        ));
                    }
                    Err(DpopError::Invalid(_)) => {
                        return Err(Refusal::unauthorized(
                            Scheme::Dpop,
                            "invalid_dpop_proof",
                            "the DPoP proof is invalid",
                        ));
                    }
                    Err(DpopError::UseNonce) => return Err(nonce_challenge(app)),
                    Err(DpopError::Internal) => {
                        return Err(Refusal {
                            status: StatusCode::INTERNAL_SERVER_ERROR,
                            error: None,
                            description: "the DPoP replay cache could not store the proof",
                            scheme: None,
                            scope: None,
                            nonces: Vec::new(),
                            json_only: true,
                        });
                    }
                }
            }
        }
        Binding::Mtls(x5t) => {
            if scheme != Scheme::Bearer {
                return Err(Refusal::unauthorized(
                    Scheme::Bearer,
                    "invalid_token",
                    "a certificate-bound token is sent with the Bearer scheme",
                ));
            }
            let presented = peer.0.as_ref().map(|c| {
                if app.fault(Fault::RsMtlsThumbprintHex) {
                    // The fault's mistake: no certificate ever matches the token's base64url.
                    hex_sha256(c)
                } else {
                    x5t_s256(c)
                }
            });
            if presented.as_deref() != Some(x5t.as_str()) && !app.fault(Fault::RsIgnoresMtlsBinding)
            {
                return Err(Refusal::unauthorized(
                    Scheme::Bearer,
                    "invalid_token",
                    "the client certificate is not the one the token is bound to",
                ));
            }
        }
        Binding::Unbound => {}
    }
    if !record.scope.split(' ').any(|s| s == needed_scope) {
        return Err(Refusal {
            status: StatusCode::FORBIDDEN,
            error: Some("insufficient_scope"),
            description: "the token lacks the scope this resource needs",
            scheme: Some(scheme),
            scope: Some(needed_scope),
            nonces: Vec::new(),
            json_only: false,
        });
    }
    Ok(record)
}

/// RFC 9449 §9: 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a `DPoP-Nonce`.
fn nonce_challenge(app: &App) -> Refusal {
    let Some(nonces) = dpop::nonce_headers(app, NonceServer::Rs) else {
        return Refusal {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: None,
            description: "the server is holding too many nonces",
            scheme: None,
            scope: None,
            nonces: Vec::new(),
            json_only: true,
        };
    };
    let malformed = app.fault(Fault::RsDpopNonceChallengeMalformed);
    Refusal {
        // The fault answers like an authorization server (RFC 9449 §8), not as §9 asks.
        status: if malformed {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNAUTHORIZED
        },
        error: Some("use_dpop_nonce"),
        description: "the resource server requires a nonce in the DPoP proof",
        scheme: Some(Scheme::Dpop),
        scope: None,
        nonces,
        json_only: malformed,
    }
}

/// What the `rs-accepts-unknown-tokens` fault makes of a token it never looked up: whatever the
/// request needs, bound to nothing.
fn unchecked(token: &str, scope: &str, now: i64) -> AccessRecord {
    AccessRecord {
        client_id: String::new(),
        sub: super::authorize::USERNAME.to_owned(),
        scope: scope.to_owned(),
        binding: Binding::Unbound,
        grant_id: token.to_owned(),
        iat: now,
        exp: now,
    }
}

/// Hex SHA-256 of a certificate: the familiar fingerprint form, not RFC 8705's base64url.
fn hex_sha256(der: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The token from the `Authorization` header. FAPI2-SP-5.3.4-2 forbids the query string; the
/// `rs-token-in-query` fault takes it from there too.
fn presented_token(
    app: &App,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<(Scheme, String), Refusal> {
    let in_query = query
        .and_then(|q| Params::parse(q.as_bytes()).ok())
        .and_then(|p| p.get("access_token").map(str::to_owned));
    // Refused even next to a header: RFC 6750 §2 allows one method per request.
    if in_query.is_some() && !app.fault(Fault::RsTokenInQuery) {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            error: Some("invalid_request"),
            description: "access tokens are not accepted in the query string",
            scheme: None,
            scope: None,
            nonces: Vec::new(),
            json_only: false,
        });
    }
    let mut auth = headers.get_all(AUTHORIZATION).iter();
    let (first, second) = (auth.next(), auth.next());
    if second.is_some() {
        return Err(Refusal {
            status: StatusCode::BAD_REQUEST,
            error: Some("invalid_request"),
            description: "more than one Authorization header",
            scheme: None,
            scope: None,
            nonces: Vec::new(),
            json_only: false,
        });
    }
    let Some(value) = first else {
        return match in_query {
            Some(token) => {
                let scheme = if headers.contains_key(&dpop::DPOP) {
                    Scheme::Dpop
                } else {
                    Scheme::Bearer
                };
                Ok((scheme, token))
            }
            None => Err(Refusal {
                status: StatusCode::UNAUTHORIZED,
                error: None,
                description: "an access token is required",
                scheme: None,
                scope: None,
                nonces: Vec::new(),
                json_only: false,
            }),
        };
    };
    let text = value.to_str().unwrap_or_default();
    let (name, token) = text.split_once(' ').unwrap_or((text, ""));
    // RFC 9110 §11.1: the scheme name is case-insensitive (the fault compares it exactly).
    let is = |scheme: &str| {
        if app.fault(Fault::RsAuthSchemeCaseSensitive) {
            name == scheme
        } else {
            name.eq_ignore_ascii_case(scheme)
        }
    };
    let scheme = if is("DPoP") {
        Scheme::Dpop
    } else if is("Bearer") {
        Scheme::Bearer
    } else {
        return Err(Refusal {
            status: StatusCode::UNAUTHORIZED,
            error: None,
            description: "use the DPoP or Bearer authorization scheme",
            scheme: None,
            scope: None,
            nonces: Vec::new(),
            json_only: false,
        });
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(Refusal::unauthorized(
            scheme,
            "invalid_token",
            "the access token is empty",
        ));
    }
    Ok((scheme, token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_version_4() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, uuid_v4());
    }
}
