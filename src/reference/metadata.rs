//! The AS metadata document (RFC 8414, OpenID Connect Discovery), served identically at both
//! well-known paths.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::app::App;
use super::fault::Fault;

/// The scopes the AS grants; `accounts` is what the RS demands.
pub const SCOPES: &[&str] = &["openid", "accounts"];

/// The JWS algorithms FAPI 2.0 allows (FAPI2-SP-5.4.1-1.2).
pub const FAPI_ALGS: &[&str] = &["PS256", "ES256", "EdDSA"];

/// `GET /.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub async fn metadata(State(app): State<Arc<App>>) -> Response {
    (StatusCode::OK, axum::Json(document(&app))).into_response()
}

fn document(app: &App) -> Value {
    let u = &app.urls;
    let issuer = if app.fault(Fault::MetadataIssuerMismatch) {
        format!("{}/", u.issuer)
    } else {
        u.issuer.clone()
    };
    let mut auth_methods = vec!["private_key_jwt", "tls_client_auth"];
    if app.fault(Fault::MetadataAuthMethodNone) {
        auth_methods.push("none");
    }
    if app.fault(Fault::MetadataClientSecretBasic) {
        auth_methods.push("client_secret_basic");
    }
    let mut grants = vec!["authorization_code", "refresh_token"];
    if app.fault(Fault::MetadataPasswordGrant) {
        grants.push("password");
    }
    json!({
        "issuer": issuer,
        "authorization_endpoint": u.authorization,
        "token_endpoint": u.token,
        "pushed_authorization_request_endpoint": u.par,
        "require_pushed_authorization_requests": true,
        "jwks_uri": u.jwks,
        "userinfo_endpoint": u.userinfo,
        "introspection_endpoint": u.introspection,
        "revocation_endpoint": u.revocation,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grants,
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "token_endpoint_auth_signing_alg_values_supported": FAPI_ALGS,
        "introspection_endpoint_auth_methods_supported": ["private_key_jwt", "tls_client_auth"],
        "introspection_endpoint_auth_signing_alg_values_supported": FAPI_ALGS,
        "revocation_endpoint_auth_methods_supported": ["private_key_jwt", "tls_client_auth"],
        "revocation_endpoint_auth_signing_alg_values_supported": FAPI_ALGS,
        "dpop_signing_alg_values_supported": FAPI_ALGS,
        "tls_client_certificate_bound_access_tokens": true,
        "authorization_response_iss_parameter_supported": true,
        "id_token_signing_alg_values_supported": ["PS256"],
        "subject_types_supported": ["public"],
        "scopes_supported": SCOPES,
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "name"],
        "request_parameter_supported": false,
        // Same host: every endpoint asks for an optional client certificate (RFC 8705 §5).
        "mtls_endpoint_aliases": {
            "token_endpoint": u.token,
            "pushed_authorization_request_endpoint": u.par,
            "userinfo_endpoint": u.userinfo,
            "introspection_endpoint": u.introspection,
            "revocation_endpoint": u.revocation,
        },
    })
}
