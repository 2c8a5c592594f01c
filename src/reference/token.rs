//! The token endpoint (RFC 6749 §3.2): the authorization code and refresh token grants, issuing
//! only sender-constrained access tokens (DPoP or mTLS) and, for `openid`, a PS256 ID token.
//!
//! Access and refresh tokens are opaque random strings; their meaning lives in the store.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::app::App;
use super::authorize::USERNAME;
use super::client_auth::{Endpoint, authenticate};
use super::dpop::{self, Expect, NonceServer, Proof};
use super::fault::Fault;
use super::jws;
use super::oauth::{OAuthError, Params, json_no_store};
use super::par::{dpop_error, is_unreserved};
use super::pki::x5t_s256;
use super::registry::RegisteredClient;
use super::state::{AccessRecord, Binding, Pkce, RefreshRecord, random_value};
use super::tls::PeerCert;

/// Short-lived access tokens limit the damage of a leak (FAPI2-SP-6.1). 60 s, so that the timed
/// check that access tokens expire at the RS waits no longer than the code-expiry check.
pub const ACCESS_TOKEN_LIFETIME_SECS: i64 = 60;
/// The `dpop-long-lived-tokens` fault's lifetime: what RFC 9449 §11.2 warns against for a
/// server that does not use nonces.
const LONG_LIVED_DPOP_TOKEN_SECS: i64 = 86_400;
/// Refresh tokens outlive any test run.
const REFRESH_TOKEN_LIFETIME_SECS: i64 = 86_400;
/// ID tokens are read once, right after issue.
const ID_TOKEN_LIFETIME_SECS: i64 = 300;

/// `POST /token`.
pub async fn token(
    State(app): State<Arc<App>>,
    Extension(peer): Extension<PeerCert>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut res = match handle(&app, &peer, &headers, &body) {
        // RFC 6749 §5.1: token responses must not be cached.
        Ok(body) if app.fault(Fault::TokenResponseCacheable) => {
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        Ok(body) => json_no_store(StatusCode::OK, body),
        Err(e) => return e.into_response(),
    };
    dpop::hand_out_nonce(&app, NonceServer::As, &headers, &mut res);
    res
}

fn handle(
    app: &App,
    peer: &PeerCert,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, OAuthError> {
    let params = Params::form(headers, body)?;
    let client = authenticate(app, &params, peer, Endpoint::Token)?;
    let proof = dpop::validate(
        app,
        headers,
        Expect {
            method: "POST",
            url: &app.urls.token,
            access_token: None,
            nonce: app.dpop_nonce.then_some(NonceServer::As),
        },
    )
    .map_err(|e| dpop_error(app, e))?;
    match params.require("grant_type")? {
        "authorization_code" => code_grant(app, client, &params, peer, proof),
        "refresh_token" => refresh_grant(app, client, &params, peer, proof),
        "password" if app.fault(Fault::PasswordGrantAccepted) => {
            password_grant(app, client, &params, peer, proof)
        }
        // FAPI2-SP-5.3.2.1-2 rejects the password grant; client_credentials is not offered.
        other => Err(OAuthError::bad_request(
            "unsupported_grant_type",
            format!("grant_type `{other}` is not supported"),
        )),
    }
}

fn invalid_grant(why: &str) -> OAuthError {
    OAuthError::bad_request("invalid_grant", why)
}

fn code_grant(
    app: &App,
    client: &RegisteredClient,
    params: &Params,
    peer: &PeerCert,
    proof: Option<Proof>,
) -> Result<Value, OAuthError> {
    let code = params.require("code")?;
    let now = app.now();
    let record = app
        .store
        .codes
        .get(code, now)
        .ok_or_else(|| invalid_grant("the code is unknown or expired"))?;
    let request = &record.request;
    if request.client_id != client.client_id && !app.fault(Fault::CodeNotBoundToClient) {
        return Err(invalid_grant("the code was issued to another client"));
    }
    if params.get("redirect_uri") != Some(request.redirect_uri.as_str()) {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    if !app.fault(Fault::PkceVerifierNotChecked) {
        check_pkce(request.pkce.as_ref(), params.get("code_verifier"))?;
    }
    if let Some(jkt) = &request.dpop_jkt
        && !app.fault(Fault::DpopJktNotEnforced)
        && proof.as_ref().map(|p| &p.jkt) != Some(jkt)
    {
        return Err(invalid_grant(
            "the code is bound to another DPoP key (RFC 9449 §10)",
        ));
    }
    let binding = binding(app, peer, proof)?;
    // Marking the code used is the one atomic step, so two racing redemptions cannot both win.
    let first_use = app
        .store
        .codes
        .update(code, now, |r| !std::mem::replace(&mut r.used, true));
    if first_use != Some(true) && !app.fault(Fault::CodeReusable) {
        // RFC 6749 §4.1.2: a reused code should revoke what it already bought.
        app.store.revoke_grant(&record.grant_id);
        return Err(invalid_grant(
            "the code was already used; its tokens are revoked",
        ));
    }
    issue(
        app,
        client,
        Grant {
            sub: &record.sub,
            scope: &request.scope,
            grant_id: &record.grant_id,
            auth_time: record.auth_time,
            nonce: request.nonce.as_deref(),
        },
        binding,
        None,
    )
}

/// RFC 7636 §4.6: the verifier must hash to the challenge; a code with a challenge needs one.
fn check_pkce(pkce: Option<&Pkce>, verifier: Option<&str>) -> Result<(), OAuthError> {
    let Some(pkce) = pkce else {
        return Ok(());
    };
    let Some(verifier) = verifier else {
        return Err(invalid_grant("code_verifier is missing"));
    };
    if !(43..=128).contains(&verifier.len()) || !is_unreserved(verifier) {
        return Err(invalid_grant("code_verifier is malformed"));
    }
    let matches = match pkce {
        Pkce::S256(challenge) => {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
            URL_SAFE_NO_PAD.encode(digest) == *challenge
        }
        Pkce::Plain(challenge) => verifier == challenge,
    };
    if matches {
        Ok(())
    } else {
        Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ))
    }
}

fn refresh_grant(
    app: &App,
    client: &RegisteredClient,
    params: &Params,
    peer: &PeerCert,
    proof: Option<Proof>,
) -> Result<Value, OAuthError> {
    let token = params.require("refresh_token")?;
    let now = app.now();
    let record = app
        .store
        .refresh
        .get(token, now)
        .ok_or_else(|| invalid_grant("the refresh token is unknown, revoked or expired"))?;
    if record.client_id != client.client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    let scope = match params.get("scope") {
        Some(s)
            if s.split(' ')
                .all(|w| record.scope.split(' ').any(|g| g == w)) =>
        {
            s.to_owned()
        }
        Some(_) => {
            return Err(OAuthError::bad_request(
                "invalid_scope",
                "a refresh cannot widen the granted scope",
            ));
        }
        None => record.scope.clone(),
    };
    let binding = binding(app, peer, proof)?;
    // FAPI2-SP-5.3.2.1-9: no rotation, the client keeps its refresh token.
    let keep = if app.fault(Fault::RefreshTokenRotation) {
        app.store.refresh.remove(token);
        None
    } else {
        Some(token)
    };
    issue(
        app,
        client,
        Grant {
            sub: &record.sub,
            scope: &scope,
            grant_id: &record.grant_id,
            auth_time: record.auth_time,
            nonce: None,
        },
        binding,
        keep,
    )
}

/// Only reachable with the `password-grant-accepted` fault.
fn password_grant(
    app: &App,
    client: &RegisteredClient,
    params: &Params,
    peer: &PeerCert,
    proof: Option<Proof>,
) -> Result<Value, OAuthError> {
    let pass_ok = params
        .get("password")
        .is_some_and(|p| p == app.login_password);
    if params.get("username") != Some(USERNAME) || !pass_ok {
        return Err(invalid_grant("wrong username or password"));
    }
    let binding = binding(app, peer, proof)?;
    let grant_id = random_value();
    issue(
        app,
        client,
        Grant {
            sub: USERNAME,
            scope: params.get("scope").unwrap_or("accounts"),
            grant_id: &grant_id,
            auth_time: app.now(),
            nonce: None,
        },
        binding,
        None,
    )
}

/// FAPI2-SP-5.3.2.1-4: a DPoP proof binds to its key, else the client certificate binds
/// (RFC 8705 §3); with neither there is no token.
fn binding(app: &App, peer: &PeerCert, proof: Option<Proof>) -> Result<Binding, OAuthError> {
    match (proof, &peer.0) {
        (Some(p), _) => Ok(Binding::Dpop(p.jkt)),
        (None, Some(cert)) => Ok(Binding::Mtls(x5t_s256(cert))),
        (None, None) if app.fault(Fault::BearerTokens) => Ok(Binding::Unbound),
        (None, None) => Err(OAuthError::bad_request(
            "invalid_request",
            "tokens are sender-constrained: send a DPoP proof or connect with a client certificate",
        )),
    }
}

/// What the tokens are issued for.
struct Grant<'a> {
    sub: &'a str,
    scope: &'a str,
    grant_id: &'a str,
    auth_time: i64,
    nonce: Option<&'a str>,
}

/// Issues an access token, a refresh token (`keep_refresh` or a new one) and, for `openid`, an
/// ID token, and returns the token response.
fn issue(
    app: &App,
    client: &RegisteredClient,
    grant: Grant<'_>,
    binding: Binding,
    keep_refresh: Option<&str>,
) -> Result<Value, OAuthError> {
    let now = app.now();
    let token_type = binding.token_type();
    let lifetime = if app.fault(Fault::DpopLongLivedTokens)
        && !app.dpop_nonce
        && matches!(binding, Binding::Dpop(_))
    {
        LONG_LIVED_DPOP_TOKEN_SECS
    } else {
        ACCESS_TOKEN_LIFETIME_SECS
    };
    let access_token = access_token_jwt(app, client, &grant, &binding, now, now + lifetime)?;
    let access = AccessRecord {
        client_id: client.client_id.clone(),
        sub: grant.sub.to_owned(),
        scope: grant.scope.to_owned(),
        binding,
        grant_id: grant.grant_id.to_owned(),
        iat: now,
        exp: now + lifetime,
    };
    if !app
        .store
        .access
        .insert(access_token.clone(), access, now + lifetime, now)
    {
        return Err(OAuthError::unavailable());
    }
    let refresh_token = match keep_refresh {
        Some(rt) => rt.to_owned(),
        None => {
            let rt = random_value();
            let record = RefreshRecord {
                client_id: client.client_id.clone(),
                sub: grant.sub.to_owned(),
                scope: grant.scope.to_owned(),
                grant_id: grant.grant_id.to_owned(),
                auth_time: grant.auth_time,
            };
            if !app
                .store
                .refresh
                .insert(rt.clone(), record, now + REFRESH_TOKEN_LIFETIME_SECS, now)
            {
                return Err(OAuthError::unavailable());
            }
            rt
        }
    };
    let mut body = json!({
        "access_token": access_token,
        "token_type": token_type,
        "expires_in": lifetime,
        "refresh_token": refresh_token,
        "scope": grant.scope,
    });
    if grant.scope.split(' ').any(|s| s == "openid") {
        body["id_token"] = Value::String(id_token(app, client, &grant, now)?);
    }
    Ok(body)
}

/// An RFC 9068 JWT access token. The RS still looks it up in the store, like an opaque one (so
/// revocation reaches it); the client can read its binding (RFC 9449 §6.1, RFC 8705 §3.1).
fn access_token_jwt(
    app: &App,
    client: &RegisteredClient,
    grant: &Grant<'_>,
    binding: &Binding,
    now: i64,
    exp: i64,
) -> Result<String, OAuthError> {
    let header = json!({ "alg": "PS256", "typ": "at+jwt", "kid": app.key.key.kid });
    let mut claims = json!({
        "iss": app.urls.issuer,
        "sub": grant.sub,
        "aud": app.urls.resource,
        "client_id": client.client_id,
        "iat": now,
        "exp": exp,
        "jti": random_value(),
        "scope": grant.scope,
    });
    if let (Some(cnf), false) = (binding.cnf(), app.fault(Fault::JwtAccessTokenWithoutCnf)) {
        claims["cnf"] = cnf;
    }
    jws::sign(&header, &claims, &app.key.key).map_err(|_| OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: "the access token could not be signed".into(),
        headers: Vec::new(),
    })
}

/// OIDC Core §2 ID token, PS256 (FAPI2-SP-5.4.1-1.2); the `id-token-*` faults break one part.
fn id_token(
    app: &App,
    client: &RegisteredClient,
    grant: &Grant<'_>,
    now: i64,
) -> Result<String, OAuthError> {
    let mut header = json!({ "alg": "PS256", "typ": "JWT", "kid": app.key.key.kid });
    if app.fault(Fault::IdTokenBogusKid) {
        header["kid"] = Value::String("retired-2019".into());
    }
    if app.fault(Fault::IdTokenJkuHeader) {
        header["jku"] = Value::String(app.urls.jwks.clone());
    }
    let aud = if app.fault(Fault::IdTokenWrongAud) {
        &app.urls.issuer
    } else {
        &client.client_id
    };
    let exp = if app.fault(Fault::IdTokenExpired) {
        now - 600
    } else {
        now + ID_TOKEN_LIFETIME_SECS
    };
    let mut claims = json!({
        "iss": app.urls.issuer,
        "sub": grant.sub,
        "aud": aud,
        "exp": exp,
        "iat": now,
        "auth_time": grant.auth_time,
    });
    if let Some(nonce) = grant.nonce {
        claims["nonce"] = Value::String(if app.fault(Fault::IdTokenWrongNonce) {
            random_value()
        } else {
            nonce.to_owned()
        });
    }
    if app.fault(Fault::IdTokenAlgNone) {
        return Ok(crate::fapi::jose::unsigned(header, &claims));
    }
    jws::sign(&header, &claims, &app.key.key).map_err(|_| OAuthError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        error: "server_error",
        description: "the ID token could not be signed".into(),
        headers: Vec::new(),
    })
}
