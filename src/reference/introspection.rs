//! Token introspection (RFC 7662) and revocation (RFC 7009), both client-authenticated.
//!
//! A client learns about and revokes only its own tokens: FAPI2-MS-6.2 warns against handing
//! introspection data to parties that should not have it.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::app::App;
use super::client_auth::{Endpoint, authenticate};
use super::fault::Fault;
use super::oauth::{OAuthError, Params, json_no_store};
use super::tls::PeerCert;

/// `POST /introspect`.
pub async fn introspect(
    State(app): State<Arc<App>>,
    Extension(peer): Extension<PeerCert>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| -> Result<Value, OAuthError> {
        let params = Params::form(&headers, &body)?;
        let client = authenticate(&app, &params, &peer, Endpoint::Other)?;
        let token = params.require("token")?;
        let now = app.now();
        if let Some(at) = app
            .store
            .access
            .get(token, now)
            .filter(|t| t.client_id == client.client_id)
        {
            let mut body = json!({
                "active": true,
                "iss": app.urls.issuer,
                "client_id": at.client_id,
                "sub": at.sub,
                "scope": at.scope,
                "token_type": at.binding.token_type(),
                "iat": at.iat,
                "exp": at.exp,
            });
            // The fault forgets the binding, as an introspection written before DPoP and mTLS.
            if let (Some(cnf), false) =
                (at.binding.cnf(), app.fault(Fault::IntrospectionWithoutCnf))
            {
                body["cnf"] = cnf;
            }
            return Ok(body);
        }
        if let Some(rt) = app
            .store
            .refresh
            .get(token, now)
            .filter(|t| t.client_id == client.client_id)
        {
            return Ok(json!({
                "active": true,
                "iss": app.urls.issuer,
                "client_id": rt.client_id,
                "sub": rt.sub,
                "scope": rt.scope,
            }));
        }
        // RFC 7662 §2.2: unknown, expired and foreign tokens all look the same.
        Ok(json!({ "active": false }))
    })();
    match result {
        Ok(body) => json_no_store(StatusCode::OK, body),
        Err(e) => e.into_response(),
    }
}

/// `POST /revoke`.
pub async fn revoke(
    State(app): State<Arc<App>>,
    Extension(peer): Extension<PeerCert>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = (|| -> Result<(), OAuthError> {
        let params = Params::form(&headers, &body)?;
        let client = authenticate(&app, &params, &peer, Endpoint::Other)?;
        let token = params.require("token")?;
        let now = app.now();
        let owner = app
            .store
            .access
            .get(token, now)
            .map(|t| t.client_id)
            .or_else(|| app.store.refresh.get(token, now).map(|t| t.client_id));
        match owner {
            Some(owner) if owner != client.client_id => Err(OAuthError::bad_request(
                "unauthorized_client",
                "the token was issued to another client",
            )),
            Some(_) => {
                app.store.access.remove(token);
                // RFC 7009 §2.1: revoking a refresh token should end its access tokens too.
                if let Some(rt) = app.store.refresh.take(token, now) {
                    app.store.revoke_grant(&rt.grant_id);
                }
                Ok(())
            }
            // RFC 7009 §2.2: an unknown token is not an error.
            None => Ok(()),
        }
    })();
    match result {
        Ok(()) => json_no_store(StatusCode::OK, json!({})),
        Err(e) => e.into_response(),
    }
}
