//! The running reference server's shared state and its two routers: the AS (all OAuth
//! endpoints) and the RS (the protected resource), plus the headers every response gets.
//!
//! Handlers live in their own files; this file only wires paths to them.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderValue;
use axum::http::header::STRICT_TRANSPORT_SECURITY;
use axum::response::Response;
use axum::routing::{any, get, post};

use super::fault::{Fault, Faults};
use super::jwks::AsKey;
use super::registry::RegisteredClient;
use super::state::{Clock, Store};
use super::{authorize, introspection, jwks, metadata, par, resource, token};

/// Request bodies beyond this are refused: OAuth requests are small.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The URLs the AS and RS answer on.
#[derive(Debug, Clone)]
pub struct Urls {
    /// `https://127.0.0.1:PORT`, no trailing slash.
    pub issuer: String,
    /// Authorization endpoint.
    pub authorization: String,
    /// PAR endpoint.
    pub par: String,
    /// Token endpoint.
    pub token: String,
    /// JWK Set.
    pub jwks: String,
    /// UserInfo endpoint.
    pub userinfo: String,
    /// Introspection endpoint.
    pub introspection: String,
    /// Revocation endpoint.
    pub revocation: String,
    /// The protected resource on the RS.
    pub resource: String,
}

impl Urls {
    /// The URLs of an AS at `issuer` and an RS at `rs_origin`.
    pub fn new(issuer: &str, rs_origin: &str) -> Urls {
        Urls {
            issuer: issuer.to_owned(),
            authorization: format!("{issuer}/authorize"),
            par: format!("{issuer}/par"),
            token: format!("{issuer}/token"),
            jwks: format!("{issuer}/jwks"),
            userinfo: format!("{issuer}/userinfo"),
            introspection: format!("{issuer}/introspect"),
            revocation: format!("{issuer}/revoke"),
            resource: format!("{rs_origin}/accounts"),
        }
    }
}

/// Everything the handlers share.
pub struct App {
    /// Where everything is.
    pub urls: Urls,
    /// The faults switched on.
    pub faults: Faults,
    /// The server clock (tests advance it).
    pub clock: Clock,
    /// Pushed requests, codes, tokens, replay caches.
    pub store: Store,
    /// The registered clients.
    pub clients: Vec<RegisteredClient>,
    /// The AS signing key.
    pub key: AsKey,
    /// Serve a login and consent form instead of approving automatically.
    pub login_form: bool,
    /// The password of user `alice` on the login form.
    pub login_password: String,
    /// Every login session cookie value handed out, so leak tests can look for them in reports.
    pub login_cookies: std::sync::Mutex<Vec<String>>,
    /// Demand server-provided DPoP nonces at the PAR and token endpoints and the RS (RFC 9449
    /// §8, §9).
    pub dpop_nonce: bool,
}

impl App {
    /// The registered client with this id.
    pub fn client(&self, client_id: &str) -> Option<&RegisteredClient> {
        self.clients.iter().find(|c| c.client_id == client_id)
    }

    /// Now, by the server clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Whether `fault` is on.
    pub fn fault(&self, fault: Fault) -> bool {
        self.faults.on(fault)
    }

    /// Remembers a login session cookie value handed out.
    pub fn note_login_cookie(&self, value: &str) {
        self.login_cookies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(value.to_owned());
    }
}

/// The authorization server's routes.
pub fn as_router(app: Arc<App>) -> Router {
    let mut authorize_route = get(authorize::authorize);
    if app.fault(Fault::CorsAuthorizationEndpoint) {
        authorize_route = authorize_route.options(authorize::cors_preflight);
    }
    // RFC 9126 §2.3: other methods get 405; the fault routes every method to the push handler.
    let par_route = if app.fault(Fault::ParAnyMethod) {
        any(par::push)
    } else {
        post(par::push)
    };
    Router::new()
        .route("/.well-known/openid-configuration", get(metadata::metadata))
        .route(
            "/.well-known/oauth-authorization-server",
            get(metadata::metadata),
        )
        .route("/jwks", get(jwks::jwks))
        .route("/par", par_route)
        .route("/authorize", authorize_route)
        .route("/login", post(authorize::login))
        .route("/consent", post(authorize::consent))
        .route("/token", post(token::token))
        .route("/introspect", post(introspection::introspect))
        .route("/revoke", post(introspection::revoke))
        .route(
            "/userinfo",
            get(resource::userinfo).post(resource::userinfo),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response_with_state(app.clone(), hsts))
        .with_state(app)
}

/// The resource server's routes.
pub fn rs_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/accounts", get(resource::accounts))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response_with_state(app.clone(), hsts))
        .with_state(app)
}

/// FAPI2-SP-5.2.3-1: HSTS against TLS stripping, on every response (two years, as the preload
/// list asks).
async fn hsts(State(app): State<Arc<App>>, mut res: Response) -> Response {
    if !app.fault(Fault::NoHsts) {
        res.headers_mut().insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    res
}
