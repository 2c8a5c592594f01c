//! DPoP proof validation (RFC 9449 §4.3) for the PAR, token, userinfo and resource endpoints,
//! and the server-provided nonces of §8.
//!
//! Returns the proof key's thumbprint; what it is bound to is the caller's business.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::app::App;
use super::client_auth::FUTURE_SKEW_SECS;
use super::fault::Fault;
use super::jws;
use super::state::random_value;
use crate::target::keys::thumbprint;

/// The `DPoP` request header.
pub static DPOP: HeaderName = HeaderName::from_static("dpop");
/// The `DPoP-Nonce` response header.
pub static DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Proofs older than this are refused (RFC 9449 §11.1: accept only for a limited time); the
/// `jti` cache keeps entries exactly this long, so a replay is caught while a proof is usable.
const MAX_AGE_SECS: i64 = 300;
/// The `dpop-max-age-5s` fault's window: shorter than ordinary network latency plus clock skew.
const FAULTY_MAX_AGE_SECS: i64 = 5;
/// The claims RFC 9449 §4.2 defines, for the `dpop-extra-claims-rejected` fault.
const KNOWN_CLAIMS: [&str; 6] = ["jti", "htm", "htu", "iat", "ath", "nonce"];
/// How long a server nonce stays valid.
const NONCE_LIFETIME_SECS: i64 = 300;
/// A `jti` is a random string; kilobytes of it only fill the replay cache (RFC 9449 §11.1).
const MAX_JTI_LEN: usize = 256;
/// JWK members that only a private key has (RFC 9449 §4.3 check 7).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the proof must match.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The HTTP method of the request.
    pub method: &'a str,
    /// The endpoint URL, without query or fragment.
    pub url: &'a str,
    /// The access token the proof must cover with `ath` (RS and userinfo only).
    pub access_token: Option<&'a str>,
    /// Which server's nonce is required, if any (nonce mode).
    pub nonce: Option<NonceServer>,
}

/// Which server issued a nonce: RFC 9449 §9, nonces are accepted only by the server that issued
/// them, so the AS and the RS keep their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceServer {
    As,
    Rs,
}

impl NonceServer {
    fn store(self, app: &App) -> &super::state::ExpiringMap<()> {
        match self {
            NonceServer::As => &app.store.dpop_nonces,
            NonceServer::Rs => &app.store.rs_dpop_nonces,
        }
    }

    /// Whether the fault that accepts any nonce value is on for this server.
    fn any_nonce_accepted(self, app: &App) -> bool {
        match self {
            NonceServer::As => app.fault(Fault::DpopNonceNotChecked),
            NonceServer::Rs => app.fault(Fault::RsDpopNonceNotChecked),
        }
    }
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpopError {
    /// `invalid_dpop_proof`, with the reason.
    Invalid(String),
    /// `use_dpop_nonce`: retry with the nonce in the `DPoP-Nonce` header.
    UseNonce,
    /// The server failed (the `dpop-long-jti-server-error` fault): HTTP 500.
    Internal,
}

/// A validated proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof key.
    pub jkt: String,
}

/// The key of the request's first `DPoP` header, read without checking anything else (for the
/// `par-dpop-proof-unchecked` fault).
pub fn key_unchecked(headers: &HeaderMap) -> Option<Proof> {
    let token = headers.get(&DPOP)?.to_str().ok()?;
    let proof = jws::parse_with(token, jws::Decoding::Lenient).ok()?;
    let jwk = proof.header.get("jwk").filter(|j| j.is_object())?;
    Some(Proof {
        jkt: thumbprint(jwk),
    })
}

/// Validates the request's `DPoP` header, if there is one.
pub fn validate(
    app: &App,
    headers: &HeaderMap,
    expect: Expect<'_>,
) -> Result<Option<Proof>, DpopError> {
    let invalid = |why: &str| Err(DpopError::Invalid(why.to_owned()));
    let mut values = headers.get_all(&DPOP).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() && !app.fault(Fault::DpopFirstHeaderUsed) {
        return invalid("more than one DPoP header");
    }
    let Ok(token) = value.to_str() else {
        return invalid("the DPoP header is not ASCII");
    };
    let decoding = if app.fault(Fault::DpopLenientParsing) {
        jws::Decoding::Lenient
    } else {
        jws::Decoding::Strict
    };
    let proof = jws::parse_with(token, decoding).map_err(|e| DpopError::Invalid(e.0.to_owned()))?;
    if proof.header_str("typ") != Some("dpop+jwt") && !app.fault(Fault::DpopTypNotChecked) {
        return invalid("typ must be dpop+jwt");
    }
    if proof.has_crit() && !app.fault(Fault::JwsCritIgnored) {
        return invalid("crit lists an extension this server does not understand");
    }
    let alg_allowed = |a: &jws::Alg| match a {
        jws::Alg::None => app.fault(Fault::DpopAlgNone),
        jws::Alg::Hs256 => app.fault(Fault::DpopHs256KeyConfusion),
        a => a.is_fapi(),
    };
    let Some(alg) = proof.alg().filter(alg_allowed) else {
        return invalid("alg must be PS256, ES256 or EdDSA");
    };
    let Some(jwk) = proof.header.get("jwk").filter(|j| j.is_object()) else {
        return invalid("the jwk header is missing");
    };
    if PRIVATE_MEMBERS.iter().any(|m| jwk.get(*m).is_some())
        && !app.fault(Fault::DpopPrivateJwkAccepted)
    {
        return invalid("the jwk header holds a private key");
    }
    if !signature_ok(app, &proof, jwk, alg) {
        return invalid("the signature does not verify with the jwk header");
    }
    let defined = |c: &String| KNOWN_CLAIMS.contains(&c.as_str());
    if app.fault(Fault::DpopExtraClaimsRejected) && !proof.claims.keys().all(defined) {
        return invalid("the proof carries claims this server does not know");
    }
    let (Some(jti), Some(htm), Some(htu), Some(iat)) = (
        proof.claim_str("jti"),
        proof.claim_str("htm"),
        proof.claim_str("htu"),
        proof.claim_time("iat"),
    ) else {
        return invalid("jti, htm, htu and iat are all required");
    };
    if jti.len() > MAX_JTI_LEN {
        // The fault's replay cache has a fixed-width column; the insert fails.
        if app.fault(Fault::DpopLongJtiServerError) {
            return Err(DpopError::Internal);
        }
        return invalid("jti is too long");
    }
    if !app.fault(Fault::DpopHtuHtmNotChecked) {
        if htm != expect.method {
            return invalid("htm does not match the request method");
        }
        let matches = if app.fault(Fault::DpopHtuExactMatch) {
            htu.split(['?', '#']).next() == Some(expect.url)
        } else {
            same_uri(htu, expect.url)
        };
        if !matches {
            return invalid("htu does not match the request URL");
        }
    }
    let now = app.now();
    let skew = if app.fault(Fault::DpopNoClockSkew) {
        0
    } else {
        FUTURE_SKEW_SECS
    };
    let max_age = if app.fault(Fault::DpopMaxAge5s) {
        FAULTY_MAX_AGE_SECS
    } else {
        MAX_AGE_SECS
    };
    if !app.fault(Fault::DpopIatNotChecked) && (iat > now + skew || iat < now - max_age) {
        return invalid("iat is outside the acceptance window");
    }
    if let Some(token) = expect.access_token {
        let ath = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            token.as_bytes(),
        ));
        if proof.claim_str("ath") != Some(ath.as_str()) {
            return invalid("ath does not match the access token");
        }
    }
    if let Some(server) = expect.nonce {
        let accepted = match proof.claim_str("nonce") {
            Some(n) => server.any_nonce_accepted(app) || server.store(app).get(n, now).is_some(),
            // The fault hands nonces out but never insists on them (RFC 9449 §11.3 forbids that).
            None => app.fault(Fault::DpopNonceOptional),
        };
        if !accepted {
            return Err(DpopError::UseNonce);
        }
    }
    let jkt = thumbprint(jwk);
    let key = format!("{jkt}\u{0}{jti}");
    if !app
        .store
        .dpop_jtis
        .insert_new(key, (), now + MAX_AGE_SECS + FUTURE_SKEW_SECS, now)
    {
        return invalid("the proof's jti was already used");
    }
    Ok(Some(Proof { jkt }))
}

/// Whether the proof verifies with its `jwk` header, or the faults let it pass unverified.
fn signature_ok(app: &App, proof: &jws::Jws, jwk: &serde_json::Value, alg: jws::Alg) -> bool {
    if app.fault(Fault::DpopSignatureNotVerified) {
        return true;
    }
    if alg == jws::Alg::Hs256 {
        // Only the key-confusion fault lets HS256 through: its library is handed the proof's
        // key as JSON text and uses it as whatever the token's alg needs; for HS256, a secret
        // the proof itself discloses.
        return proof.verify_hmac(jwk.to_string().as_bytes());
    }
    proof.verify(jwk, alg)
}

/// Whether `htu` names `expected`, ignoring query and fragment and comparing the normalised
/// forms (RFC 9449 §4.3 checks 9 and the SHOULD on syntax-based normalisation).
fn same_uri(htu: &str, expected: &str) -> bool {
    let Ok(mut got) = url::Url::parse(htu) else {
        return false;
    };
    got.set_query(None);
    got.set_fragment(None);
    url::Url::parse(expected).is_ok_and(|want| want == got)
}

/// A fresh server nonce (RFC 9449 §8), remembered for a while by the server that issues it.
pub fn issue_nonce(app: &App, server: NonceServer) -> Option<String> {
    let nonce = if app.fault(Fault::DpopNonceQuoted) {
        // The fault's mistake: an HTTP quoted-string, as if DPoP-Nonce were an auth-param.
        format!("\"{}\"", random_value())
    } else {
        random_value()
    };
    let now = app.now();
    server
        .store(app)
        .insert(nonce.clone(), (), now + NONCE_LIFETIME_SECS, now)
        .then_some(nonce)
}

/// The `DPoP-Nonce` headers of a response that provides a nonce: one, or two with the
/// `dpop-nonce-two-headers` fault (RFC 9449 §8 allows at most one). None when the store is full.
pub fn nonce_headers(app: &App, server: NonceServer) -> Option<Vec<String>> {
    let copies = if app.fault(Fault::DpopNonceTwoHeaders) {
        2
    } else {
        1
    };
    (0..copies).map(|_| issue_nonce(app, server)).collect()
}

/// With the `dpop-nonce-optional` fault, a successful response to a request with a DPoP proof
/// hands out a fresh nonce (as RFC 9449 §8.2 allows) that later proofs need not carry.
pub fn hand_out_nonce(app: &App, server: NonceServer, request: &HeaderMap, res: &mut Response) {
    if !(app.dpop_nonce && app.fault(Fault::DpopNonceOptional) && request.contains_key(&DPOP)) {
        return;
    }
    if let Some(v) = issue_nonce(app, server).and_then(|n| HeaderValue::from_str(&n).ok()) {
        res.headers_mut().insert(DPOP_NONCE.clone(), v);
    }
}

/// The `algs` parameter of a DPoP challenge (RFC 9449 §7.1).
pub fn algs_challenge() -> String {
    format!("algs=\"{}\"", super::metadata::FAPI_ALGS.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_ignores_query_fragment_and_case() {
        assert!(same_uri(
            "https://127.0.0.1:8443/token",
            "https://127.0.0.1:8443/token"
        ));
        assert!(same_uri(
            "HTTPS://127.0.0.1:8443/token?x=1#f",
            "https://127.0.0.1:8443/token"
        ));
        assert!(!same_uri(
            "https://127.0.0.1:8443/par",
            "https://127.0.0.1:8443/token"
        ));
        assert!(!same_uri("not a url", "https://127.0.0.1:8443/token"));
    }
}
