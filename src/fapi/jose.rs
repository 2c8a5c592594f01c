//! JOSE helpers for evidence: find JWTs in text and decode them without verification.
//!
//! Decoding is for reading only; nothing here trusts a token. Bounded: oversized or deeply
//! nested segments are skipped rather than parsed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::evidence::DecodedJwt;

/// Segments beyond this are not decoded (a hostile server may send megabyte headers).
const MAX_SEGMENT: usize = 64 * 1024;
/// At most this many JWTs are decoded per text.
const MAX_JWTS: usize = 16;

/// Decodes a compact JWS (three segments) into header and claims, if both are JSON objects.
pub fn decode_unverified(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let (h, c, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || h.len() > MAX_SEGMENT || c.len() > MAX_SEGMENT {
        return None;
    }
    let header = decode_segment(h)?;
    let claims = decode_segment(c)?;
    (header.is_object() && claims.is_object()).then_some((header, claims))
}

fn decode_segment(seg: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(seg.trim_end_matches('=')).ok()?;
    // serde_json refuses nesting beyond 128 levels, so a hostile deeply nested segment fails here.
    serde_json::from_slice(&bytes).ok()
}

/// Finds compact JWTs anywhere in `text` and decodes them, labelled with `found_in`.
pub fn find_jwts(text: &str, found_in: &str) -> Vec<DecodedJwt> {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    text.split(|c: char| !(is_b64(c) || c == '.'))
        .filter(|t| t.starts_with("eyJ") && t.matches('.').count() == 2)
        .filter_map(|t| {
            decode_unverified(t).map(|(header, claims)| DecodedJwt {
                found_in: found_in.to_owned(),
                header,
                claims,
            })
        })
        .take(MAX_JWTS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(header: &str, claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn decodes_jwts_inside_json_and_headers() {
        let t = jwt(r#"{"alg":"PS256","kid":"k"}"#, r#"{"iss":"https://as"}"#);
        let body = format!(r#"{{"id_token":"{t}","x":1}}"#);
        let found = find_jwts(&body, "response body");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].header["alg"], "PS256");
        assert_eq!(found[0].claims["iss"], "https://as");
    }

    #[test]
    fn ignores_non_jwts_and_hostile_segments() {
        assert!(find_jwts("eyJ.notjson.x and a.b.c", "x").is_empty());
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let t = jwt(r#"{"alg":"none"}"#, &deep);
        assert!(find_jwts(&t, "x").is_empty());
        let huge = jwt(
            &format!(r#"{{"alg":"none","x":"{}"}}"#, "a".repeat(100_000)),
            "{}",
        );
        assert!(find_jwts(&huge, "x").is_empty());
    }
}

/// Signs a JWS with full control of the header (the engine sometimes must build wrong tokens on
/// purpose). `alg` is the key's own algorithm.
pub fn sign(
    header: Value,
    claims: &Value,
    key: &crate::target::keys::SigningKey,
) -> Result<String, String> {
    sign_as(header, claims, key, key.alg.jsonwebtoken())
}

/// Like `sign`, with an explicit algorithm (e.g. RS256 with a PS256 key, to test rejection).
pub fn sign_as(
    mut header: Value,
    claims: &Value,
    key: &crate::target::keys::SigningKey,
    alg: jsonwebtoken::Algorithm,
) -> Result<String, String> {
    if let Some(h) = header.as_object_mut() {
        h.insert(
            "alg".into(),
            serde_json::to_value(alg).map_err(|e| e.to_string())?,
        );
    }
    sign_segments(
        &URL_SAFE_NO_PAD.encode(header.to_string()),
        &URL_SAFE_NO_PAD.encode(claims.to_string()),
        key,
        alg,
    )
}

/// Signs header and payload segments exactly as given, so a negative test can sign a segment that
/// is not well-formed base64url or JSON: the signature itself then verifies.
pub fn sign_segments(
    header: &str,
    payload: &str,
    key: &crate::target::keys::SigningKey,
    alg: jsonwebtoken::Algorithm,
) -> Result<String, String> {
    let signing_input = format!("{header}.{payload}");
    let sig = jsonwebtoken::crypto::sign(signing_input.as_bytes(), key.encoding_key(), alg)
        .map_err(|e| format!("signing failed: {e}"))?;
    Ok(format!("{signing_input}.{sig}"))
}

/// An unsecured JWS (`alg: none`, empty signature): only for negative tests (RFC 8725 §2.1).
pub fn unsigned(mut header: Value, claims: &Value) -> String {
    if let Some(h) = header.as_object_mut() {
        h.insert("alg".into(), Value::String("none".into()));
    }
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

#[cfg(test)]
mod sign_tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_unsigned_ones_decode() {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem();
        let key = crate::target::keys::parse_signing_key(&pem, None, Some("k")).unwrap();
        let jwt = sign(
            serde_json::json!({"typ": "dpop+jwt"}),
            &serde_json::json!({"a": 1}),
            &key,
        )
        .unwrap();
        let (h, c) = decode_unverified(&jwt).unwrap();
        assert_eq!(h["alg"], "ES256");
        assert_eq!(c["a"], 1);
        let dk = jsonwebtoken::DecodingKey::from_ec_components(
            key.public_jwk["x"].as_str().unwrap(),
            key.public_jwk["y"].as_str().unwrap(),
        )
        .unwrap();
        let (msg, sig) = jwt.rsplit_once('.').unwrap();
        assert!(
            jsonwebtoken::crypto::verify(sig, msg.as_bytes(), &dk, jsonwebtoken::Algorithm::ES256)
                .unwrap()
        );
        let none = unsigned(serde_json::json!({}), &serde_json::json!({"b": 2}));
        assert!(none.ends_with('.'));
    }
}
