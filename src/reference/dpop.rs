//! DPoP proof validation (RFC 9449 §4.3) for the PAR, token, userinfo and resource endpoints,
//! and the server-provided nonces of §8.
//!
//! Returns the proof key's thumbprint; what it is bound to is the caller's business.

use axum::http::{HeaderMap, HeaderName};
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
    /// Whether a server nonce is required (nonce mode at the AS).
    pub nonce: bool,
}

/// Why a proof was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DpopError {
    /// `invalid_dpop_proof`, with the reason.
    Invalid(String),
    /// `use_dpop_nonce`: retry with the nonce in the `DPoP-Nonce` header.
    UseNonce,
}

/// A validated proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 thumbprint of the proof key.
    pub jkt: String,
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
    let alg_allowed =
        |a: &jws::Alg| a.is_fapi() || (*a == jws::Alg::None && app.fault(Fault::DpopAlgNone));
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
    if !proof.verify(jwk, alg) && !app.fault(Fault::DpopSignatureNotVerified) {
        return invalid("the signature does not verify with the jwk header");
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
        return invalid("jti is too long");
    }
    if !app.fault(Fault::DpopHtuHtmNotChecked) {
        if htm != expect.method {
            return invalid("htm does not match the request method");
        }
        if !same_uri(htu, expect.url) {
            return invalid("htu does not match the request URL");
        }
    }
    let now = app.now();
    let skew = if app.fault(Fault::DpopNoClockSkew) {
        0
    } else {
        FUTURE_SKEW_SECS
    };
    if !app.fault(Fault::DpopIatNotChecked) && (iat > now + skew || iat < now - MAX_AGE_SECS) {
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
    if expect.nonce {
        let known = proof
            .claim_str("nonce")
            .is_some_and(|n| app.store.dpop_nonces.get(n, now).is_some());
        if !known {
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

/// A fresh server nonce (RFC 9449 §8), remembered for a while.
pub fn issue_nonce(app: &App) -> Option<String> {
    let nonce = random_value();
    let now = app.now();
    app.store
        .dpop_nonces
        .insert(nonce.clone(), (), now + NONCE_LIFETIME_SECS, now)
        .then_some(nonce)
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
