//! Client authentication at PAR, token, introspection and revocation endpoints: `private_key_jwt`
//! (OIDC Core §9, RFC 7523, with the FAPI 2.0 `aud` rule) and `tls_client_auth` (RFC 8705 §2).
//!
//! Each client uses exactly the method it is registered for; anything else is `invalid_client`.

use serde_json::Value;

use super::app::App;
use super::fault::Fault;
use super::jws::{self, Alg};
use super::oauth::{OAuthError, Params};
use super::pki::subject_dn;
use super::registry::RegisteredClient;
use super::tls::PeerCert;
use crate::plan::ClientAuth;
use crate::target::keys::{SigningKey, public_key_pem};

/// RFC 7523 §2.2.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// FAPI2-SP-5.3.2.1-13: JWTs up to 10 s in the future must pass and beyond 60 s must fail; we
/// take 30 s, the value Note 3 reports ecosystems settling on.
pub const FUTURE_SKEW_SECS: i64 = 30;
/// RFC 7523 §3 lets the AS refuse assertions that expire unreasonably far ahead; this also bounds
/// how long a `jti` must be remembered.
const MAX_ASSERTION_LIFETIME_SECS: i64 = 3600;

/// Which endpoint is authenticating, for the faults that skip authentication at one of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The PAR endpoint.
    Par,
    /// The token endpoint.
    Token,
    /// Introspection or revocation.
    Other,
}

/// Authenticates the client of a back-channel request.
pub fn authenticate<'a>(
    app: &'a App,
    params: &Params,
    peer: &PeerCert,
    endpoint: Endpoint,
) -> Result<&'a RegisteredClient, OAuthError> {
    let assertion = params.get("client_assertion");
    let parsed = assertion
        .map(jws::parse)
        .transpose()
        .map_err(|e| OAuthError::invalid_client(e.0))?;
    let asserted_id = parsed.as_ref().and_then(|j| j.claim_str("iss"));
    let client_id = match (params.get("client_id"), asserted_id) {
        // The fault believes the assertion and drops the parameter.
        (Some(_), Some(asserted)) if app.fault(Fault::ClientIdParamIgnored) => asserted,
        (Some(a), Some(b)) if a != b => {
            return Err(OAuthError::invalid_client(
                "client_id differs from the assertion's iss",
            ));
        }
        (Some(id), _) | (None, Some(id)) => id,
        (None, None) => {
            return Err(OAuthError::invalid_client(
                "the request identifies no client",
            ));
        }
    };
    let client = app
        .client(client_id)
        .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
    let lenient = match endpoint {
        Endpoint::Par => {
            app.fault(Fault::ParUnauthenticated) || app.fault(Fault::ParUnauthenticatedRedirectUris)
        }
        Endpoint::Token => app.fault(Fault::TokenUnauthenticated),
        Endpoint::Other => false,
    };
    match client.auth {
        ClientAuth::PrivateKeyJwt => {
            let Some(jws) = parsed else {
                if lenient {
                    return Ok(client);
                }
                return Err(OAuthError::invalid_client(
                    "this client authenticates with private_key_jwt; client_assertion is missing",
                ));
            };
            if params.get("client_assertion_type") != Some(JWT_BEARER) {
                return Err(OAuthError::invalid_client(format!(
                    "client_assertion_type must be {JWT_BEARER}"
                )));
            }
            check_assertion(app, client, &jws)?;
            Ok(client)
        }
        ClientAuth::TlsClientAuth => {
            if parsed.is_some() {
                return Err(OAuthError::invalid_client(
                    "this client authenticates with tls_client_auth, not a client assertion",
                ));
            }
            let Some(cert) = &peer.0 else {
                if lenient {
                    return Ok(client);
                }
                return Err(OAuthError::invalid_client(
                    "tls_client_auth needs a client certificate",
                ));
            };
            // The TLS layer already verified the chain to the test CA; here the registered
            // subject binds the certificate to this client (RFC 8705 §2.1.2).
            if subject_dn(cert).as_deref() != Some(client.cert.subject_dn.as_str()) {
                return Err(OAuthError::invalid_client(
                    "the client certificate's subject is not the one registered for this client",
                ));
            }
            Ok(client)
        }
    }
}

fn check_assertion(app: &App, client: &RegisteredClient, jws: &jws::Jws) -> Result<(), OAuthError> {
    let bad = |why: &str| {
        Err(OAuthError::invalid_client(format!(
            "client assertion: {why}"
        )))
    };
    let Some(key) = &client.signing_key else {
        return bad("the client has no registered key");
    };
    if jws.has_crit() && !app.fault(Fault::JwsCritIgnored) {
        return bad("crit lists an extension this server does not understand (RFC 7515 §4.1.11)");
    }
    let alg_allowed = match jws.alg() {
        Some(a) if a.is_fapi() => true,
        Some(Alg::None) => app.fault(Fault::AssertionAlgNone),
        Some(Alg::Rs256) => app.fault(Fault::AssertionRs256),
        Some(Alg::Hs256) => app.fault(Fault::AssertionHs256KeyConfusion),
        _ => false,
    };
    let Some(alg) = jws.alg().filter(|_| alg_allowed) else {
        return bad("alg must be PS256, ES256 or EdDSA");
    };
    if !signature_ok(app, key, jws, alg) {
        return bad("the signature does not verify with the client's registered key");
    }
    if jws.claim_str("iss") != Some(client.client_id.as_str())
        || jws.claim_str("sub") != Some(client.client_id.as_str())
    {
        return bad("iss and sub must both be the client_id");
    }
    if !app.fault(Fault::AssertionAudNotChecked) && !audience_ok(app, jws.claims.get("aud")) {
        return bad("aud must be the issuer identifier, as a string (FAPI2-SP-5.3.2.1-8)");
    }
    let now = app.now();
    let Some(exp) = jws.claim_time("exp") else {
        return bad("exp is missing");
    };
    if exp <= now && !app.fault(Fault::AssertionExpNotChecked) {
        return bad("the assertion has expired");
    }
    if exp > now + MAX_ASSERTION_LIFETIME_SECS {
        return bad("exp is more than an hour ahead");
    }
    let skew = if app.fault(Fault::AssertionNoClockSkew) {
        0
    } else {
        FUTURE_SKEW_SECS
    };
    if !app.fault(Fault::AssertionIatFutureAccepted) {
        for claim in ["iat", "nbf"] {
            if jws.claim_time(claim).is_some_and(|t| t > now + skew) {
                return bad(&format!("{claim} is too far in the future"));
            }
        }
    }
    let Some(jti) = jws.claim_str("jti") else {
        return bad("jti is missing");
    };
    let key = format!("{}\u{0}{jti}", client.client_id);
    // Remember the jti for as long as the assertion could be replayed.
    let fresh = app
        .store
        .assertion_jtis
        .insert_new(key, (), exp.max(now) + 1, now);
    if !fresh && !app.fault(Fault::AssertionJtiReplay) {
        return bad("the jti was already used");
    }
    Ok(())
}

/// Whether the assertion verifies with the client's registered key, or, with a fault on, with a
/// key the faulty server wrongly trusts.
fn signature_ok(app: &App, key: &SigningKey, jws: &jws::Jws, alg: Alg) -> bool {
    if alg == Alg::Hs256 {
        // Only the key-confusion fault lets HS256 through: its JWT library is handed the key
        // the server holds for the client, as PEM, and uses it as whatever the token's alg
        // needs; for HS256, an HMAC secret anyone can fetch.
        return jws.verify_hmac(public_key_pem(&key.spki_der).as_bytes());
    }
    // The fault prefers a key the token brings along over the registered one, as node-jose
    // did (CVE-2018-0114).
    let embedded = jws.header.get("jwk").filter(|j| j.is_object());
    if let Some(jwk) = embedded.filter(|_| app.fault(Fault::AssertionEmbeddedJwkTrusted)) {
        return jws.verify(jwk, alg);
    }
    // The fault verifies against every registered key, as a server would that keeps one key
    // store for all clients and never asks whose key matched.
    jws.verify(&key.public_jwk, alg)
        || (app.fault(Fault::AssertionAnyClientKey)
            && app
                .clients
                .iter()
                .filter_map(|c| c.signing_key.as_ref())
                .any(|k| jws.verify(&k.public_jwk, alg)))
}

fn audience_ok(app: &App, aud: Option<&Value>) -> bool {
    let issuer = app.urls.issuer.as_str();
    match aud {
        Some(Value::String(s)) if s == issuer => true,
        Some(Value::String(s)) => {
            app.fault(Fault::AssertionAudEndpointUrl)
                && (*s == app.urls.token || *s == app.urls.par)
        }
        Some(Value::Array(items)) => {
            app.fault(Fault::AssertionAudArray) && items.iter().any(|v| v.as_str() == Some(issuer))
        }
        _ => false,
    }
}
