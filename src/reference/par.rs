//! The pushed authorization request endpoint (RFC 9126) and the validation of authorization
//! request parameters it shares with the authorization endpoint.
//!
//! FAPI 2.0 makes PAR mandatory (FAPI2-SP-5.3.2.2-2, -3), so this is where requests are checked.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::app::App;
use super::client_auth::{Endpoint, authenticate};
use super::dpop::{self, DPOP_NONCE, DpopError, Expect, NonceServer};
use super::fault::Fault;
use super::metadata::SCOPES;
use super::oauth::{OAuthError, Params, json_no_store};
use super::registry::RegisteredClient;
use super::state::{AuthorizationRequest, Pkce, random_value};
use super::tls::PeerCert;

/// FAPI2-SP-5.3.2.2-12 wants less than 600 s; 60 s is ample for a redirect (Note 2 asks for
/// more than 30).
const REQUEST_URI_LIFETIME_SECS: i64 = 60;
/// What the `par-long-expiry` fault answers instead.
const FAULTY_REQUEST_URI_LIFETIME_SECS: i64 = 600;
/// The longest nonce the `nonce-max-32` fault takes; FAPI2-SP-5.3.2.2-14 asks for 64.
const FAULTY_MAX_NONCE_LEN: usize = 32;
/// The `state-truncated` and `nonce-truncated` faults' column width.
const FAULTY_COLUMN_CHARS: usize = 255;
/// RFC 9126 §2.2 example prefix for request URIs.
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Scope when the client asks for none (RFC 6749 §3.3 allows a documented default).
const DEFAULT_SCOPE: &str = "openid accounts";

/// `POST /par`.
pub async fn push(
    State(app): State<Arc<App>>,
    Extension(peer): Extension<PeerCert>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&app, &peer, &headers, &body) {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

fn handle(
    app: &App,
    peer: &PeerCert,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let params = Params::form(headers, body)?;
    let client = authenticate(app, &params, peer, Endpoint::Par)?;
    if params.get("request_uri").is_some() && !app.fault(Fault::ParRequestUriIgnored) {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "request_uri is not allowed in a pushed request (RFC 9126 §2.1)",
        ));
    }
    if params.get("request").is_some() {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "request objects are not supported; send the parameters in the form body",
        ));
    }
    let mut request = validate_request(app, client, &params)?;
    if app.fault(Fault::ParDpopProofRefused) && headers.contains_key(&dpop::DPOP) {
        return Err(OAuthError::bad_request(
            "invalid_request",
            "DPoP proofs are not accepted here; bind the code with dpop_jkt",
        ));
    }
    let proof = if app.fault(Fault::ParDpopProofUnchecked) {
        dpop::key_unchecked(headers)
    } else {
        dpop::validate(
            app,
            headers,
            Expect {
                method: "POST",
                url: &app.urls.par,
                access_token: None,
                nonce: app.dpop_nonce.then_some(NonceServer::As),
            },
        )
        .map_err(|e| dpop_error(app, e))?
    };
    // RFC 9449 §10.1: a proof at PAR binds the code like dpop_jkt; both must then agree.
    request.dpop_jkt = match (request.dpop_jkt.take(), proof) {
        (Some(jkt), Some(p)) if jkt != p.jkt && !app.fault(Fault::ParDpopJktMismatchAccepted) => {
            return Err(OAuthError::bad_request(
                "invalid_dpop_proof",
                "dpop_jkt does not match the key of the DPoP proof",
            ));
        }
        (Some(jkt), _) => Some(jkt),
        // The fault checks the proof but forgets that it binds.
        (None, _) if app.fault(Fault::ParDpopProofNotBinding) => None,
        (None, proof) => proof.map(|p| p.jkt),
    };
    let expires_in = if app.fault(Fault::ParLongExpiry) {
        FAULTY_REQUEST_URI_LIFETIME_SECS
    } else {
        REQUEST_URI_LIFETIME_SECS
    };
    let request_uri = if app.fault(Fault::RequestUriCounter) {
        // Unique, so the server works, but the next one is one more than the last.
        let seq = app.store.request_uri_seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{REQUEST_URI_PREFIX}req-{seq:024}")
    } else {
        format!("{REQUEST_URI_PREFIX}{}", random_value())
    };
    let now = app.now();
    // The fault keeps the request far beyond the lifetime it announces.
    let kept_for = if app.fault(Fault::RequestUriNeverExpires) {
        expires_in * 10
    } else {
        expires_in
    };
    if !app
        .store
        .pushed
        .insert(request_uri.clone(), request, now + kept_for, now)
    {
        return Err(OAuthError::unavailable());
    }
    // RFC 9126 §2.2: a stored request is a created resource, hence 201.
    let status = if app.fault(Fault::ParStatus200) {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(json_no_store(
        status,
        json!({ "request_uri": request_uri, "expires_in": expires_in }),
    ))
}

/// Turns a DPoP failure into the AS error response (RFC 9449 §5, §8).
pub fn dpop_error(app: &App, e: DpopError) -> OAuthError {
    match e {
        DpopError::Invalid(why) => OAuthError::bad_request("invalid_dpop_proof", why),
        DpopError::Internal => OAuthError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            error: "server_error",
            description: "the DPoP replay cache could not store the proof".into(),
            headers: Vec::new(),
        },
        DpopError::UseNonce => {
            let mut err = OAuthError::bad_request(
                "use_dpop_nonce",
                "send the DPoP-Nonce value as nonce in the proof",
            );
            if app.fault(Fault::DpopNonceChallengeMalformed) {
                // The fault answers like a resource server (RFC 9449 §9), not as §8 asks.
                err.status = StatusCode::UNAUTHORIZED;
            }
            match dpop::nonce_headers(app, NonceServer::As) {
                Some(nonces) => nonces
                    .into_iter()
                    .fold(err, |e, n| e.with_header(DPOP_NONCE.clone(), n)),
                None => OAuthError::unavailable(),
            }
        }
    }
}

/// Validates authorization request parameters for `client` (RFC 6749 §4.1.1, RFC 7636 §4.3,
/// FAPI2-SP-5.3.2.2) into a request the authorization endpoint can serve.
pub fn validate_request(
    app: &App,
    client: &RegisteredClient,
    params: &Params,
) -> Result<AuthorizationRequest, OAuthError> {
    let invalid = |why: &str| OAuthError::bad_request("invalid_request", why);
    match params.require("response_type")? {
        "code" => {}
        // The fault runs the code flow whatever was asked for.
        _ if app.fault(Fault::ResponseTypeNotChecked) => {}
        _ => {
            return Err(OAuthError::bad_request(
                "unsupported_response_type",
                "only response_type=code is supported (FAPI2-SP-5.3.2.2-1)",
            ));
        }
    }
    let redirect_uri = match params.get("redirect_uri") {
        Some(uri) => uri,
        None if app.fault(Fault::ParRedirectUriOptional) => client.redirect_uri.as_str(),
        None => return Err(invalid("redirect_uri is required (FAPI2-SP-5.3.2.2-6)")),
    };
    // Exact string comparison, no normalisation (RFC 9700 §4.1.3). RFC 9126 §2.4 (and FAPI 2.0
    // SP §7) would let an AS take unregistered URIs from authenticated clients at PAR; this one
    // chooses not to, which is equally conformant.
    // The fault takes any per-request URI, as RFC 9126 §2.4 allows, but forgets that FAPI 2.0
    // allows plain http only for loopback (FAPI2-SP-5.3.2.2-8).
    // The other fault takes per-request https URIs even from the pushes it did not authenticate
    // (RFC 9126 §7.2 allows them only from authenticated clients).
    let scheme = url::Url::parse(redirect_uri).map(|u| u.scheme().to_owned());
    let per_request = match scheme.as_deref() {
        Ok("https") => {
            app.fault(Fault::ParHttpRedirectUri) || app.fault(Fault::ParUnauthenticatedRedirectUris)
        }
        Ok("http") => app.fault(Fault::ParHttpRedirectUri),
        _ => false,
    };
    if redirect_uri != client.redirect_uri && !per_request {
        return Err(invalid("redirect_uri is not registered for this client"));
    }
    let scope = params.get("scope").unwrap_or(DEFAULT_SCOPE);
    if let Some(unknown) = scope.split(' ').find(|s| !SCOPES.contains(s)) {
        return Err(OAuthError::bad_request(
            "invalid_scope",
            format!("unknown scope `{unknown}`"),
        ));
    }
    let pkce = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (None, _) if app.fault(Fault::PkceNotRequired) => None,
        (None, _) => return Err(invalid("code_challenge is required (PKCE with S256)")),
        (Some(c), Some("S256"))
            if (c.len() == 43 && is_unreserved(c))
                || app.fault(Fault::PkceChallengeFormatNotChecked) =>
        {
            Some(Pkce::S256(c.to_owned()))
        }
        (Some(_), Some("S256")) => {
            return Err(invalid("an S256 code_challenge is 43 base64url characters"));
        }
        (Some(c), None | Some("plain")) if app.fault(Fault::PkcePlainAccepted) => {
            Some(Pkce::Plain(c.to_owned()))
        }
        (Some(_), _) => return Err(invalid("code_challenge_method must be S256")),
    };
    if app.fault(Fault::StateRequired) && params.get("state").is_none() {
        return Err(invalid("state is required"));
    }
    let nonce = params.get("nonce");
    if app.fault(Fault::NonceMax32) && nonce.is_some_and(|n| n.len() > FAULTY_MAX_NONCE_LEN) {
        return Err(invalid("nonce is too long"));
    }
    Ok(AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scope: scope.to_owned(),
        state: params
            .get("state")
            .map(|v| stored(v, app.fault(Fault::StateTruncated))),
        nonce: nonce.map(|v| stored(v, app.fault(Fault::NonceTruncated))),
        pkce,
        dpop_jkt: params.get("dpop_jkt").map(str::to_owned),
    })
}

/// A value as the server keeps it: whole, or with a truncation fault cut to a fixed-width
/// column's size (at a character boundary).
fn stored(value: &str, truncated: bool) -> String {
    if !truncated {
        return value.to_owned();
    }
    value.chars().take(FAULTY_COLUMN_CHARS).collect()
}

/// RFC 7636 §4.1 `unreserved` characters only.
pub fn is_unreserved(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}
