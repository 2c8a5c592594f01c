//! Compact JWS as the reference server needs it: parse untrusted tokens, verify them against a
//! JWK with an algorithm the caller chose, and sign the server's own tokens.
//!
//! The caller picks the algorithm from its own policy, never from the token alone (RFC 8725
//! §3.1): `verify` is told which `alg` is acceptable and checks that the key fits it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

/// Tokens longer than this are refused before decoding (a proof or assertion is a few KiB).
const MAX_TOKEN_LEN: usize = 16 * 1024;

/// JWS algorithms the server knows how to check. Only the first three are FAPI 2.0 algorithms;
/// the others exist so that faults can accept them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// ECDSA P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (not allowed by FAPI2-SP-5.4.1-1.2).
    Rs256,
    /// Unsigned (never allowed, FAPI2-SP-5.4.1-1.3).
    None,
    /// HMAC with SHA-256: symmetric, so never allowed where a public key verifies (RFC 8725
    /// §3.1); only the key-confusion faults accept it.
    Hs256,
}

impl Alg {
    /// The algorithm named by a JOSE `alg` value.
    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "PS256" => Some(Alg::Ps256),
            "ES256" => Some(Alg::Es256),
            "EdDSA" => Some(Alg::EdDsa),
            "RS256" => Some(Alg::Rs256),
            "none" => Some(Alg::None),
            "HS256" => Some(Alg::Hs256),
            _ => None,
        }
    }

    /// Whether FAPI 2.0 permits this algorithm (FAPI2-SP-5.4.1-1.2).
    pub fn is_fapi(self) -> bool {
        matches!(self, Alg::Ps256 | Alg::Es256 | Alg::EdDsa)
    }
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone)]
pub struct Jws {
    /// The JOSE header.
    pub header: Map<String, Value>,
    /// The payload, which must be a JSON object.
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

/// Why a token could not be parsed. The text is safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwsError(pub &'static str);

/// Parses a compact JWS with JSON object header and payload.
pub fn parse(token: &str) -> Result<Jws, JwsError> {
    parse_with(token, Decoding::Strict)
}

/// How segments are decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoding {
    /// base64url without padding, one JSON object and nothing after it (RFC 7515 §7.1).
    Strict,
    /// The `dpop-lenient-parsing` fault: characters outside base64url are skipped (as Node's
    /// `Buffer.from(s, "base64")` does) and bytes after the first JSON value are ignored (as a
    /// streaming decoder that reads one value does).
    Lenient,
}

fn decode_object(seg: &str, decoding: Decoding) -> Option<Map<String, Value>> {
    let bytes = match decoding {
        Decoding::Strict => URL_SAFE_NO_PAD.decode(seg).ok()?,
        Decoding::Lenient => {
            let kept: String = seg
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                .collect();
            URL_SAFE_NO_PAD.decode(kept).ok()?
        }
    };
    let value = match decoding {
        Decoding::Strict => serde_json::from_slice(&bytes).ok()?,
        Decoding::Lenient => serde_json::Deserializer::from_slice(&bytes)
            .into_iter::<Value>()
            .next()?
            .ok()?,
    };
    match value {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// Parses a compact JWS, decoding its segments as `decoding` says. The signing input is always
/// the segments as received.
pub fn parse_with(token: &str, decoding: Decoding) -> Result<Jws, JwsError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwsError("the JWT is too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError("not a compact JWS (three dot-separated parts)"));
    };
    let object = |seg: &str| decode_object(seg, decoding);
    let header = object(h).ok_or(JwsError("the JWS header is not a base64url JSON object"))?;
    let claims = object(p).ok_or(JwsError("the JWS payload is not a base64url JSON object"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| JwsError("the JWS signature is not base64url"))?;
    Ok(Jws {
        header,
        claims,
        signing_input: format!("{h}.{p}"),
        signature,
    })
}

impl Jws {
    /// The header's `alg`, if it names an algorithm we know.
    pub fn alg(&self) -> Option<Alg> {
        self.header
            .get("alg")
            .and_then(Value::as_str)
            .and_then(Alg::parse)
    }

    /// A string header parameter.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A string claim.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric date claim, in whole seconds.
    pub fn claim_time(&self, name: &str) -> Option<i64> {
        let v = self.claims.get(name)?;
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    }

    /// Whether the header uses an extension this server must understand (`crit`). The server
    /// understands none, so any `crit` makes the JWS invalid (RFC 7515 §4.1.11).
    pub fn has_crit(&self) -> bool {
        self.header.contains_key("crit")
    }

    /// Whether the signature is the HS256 MAC of the signing input under `secret`.
    pub fn verify_hmac(&self, secret: &[u8]) -> bool {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        aws_lc_rs::hmac::verify(&key, self.signing_input.as_bytes(), &self.signature).is_ok()
    }

    /// Whether the signature verifies under `jwk` with `alg` (and the key type fits `alg`).
    pub fn verify(&self, jwk: &Value, alg: Alg) -> bool {
        let msg = self.signing_input.as_bytes();
        let sig = self.signature.as_slice();
        let field = |name: &str| {
            jwk.get(name)
                .and_then(Value::as_str)
                .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        };
        let kty = jwk.get("kty").and_then(Value::as_str);
        let crv = jwk.get("crv").and_then(Value::as_str);
        match alg {
            Alg::None => sig.is_empty(),
            // A JWK here is a public key; an HMAC needs a secret (see `verify_hmac`).
            Alg::Hs256 => false,
            Alg::Ps256 | Alg::Rs256 => {
                let (Some("RSA"), Some(n), Some(e)) = (kty, field("n"), field("e")) else {
                    return false;
                };
                let params: &signature::RsaParameters = if alg == Alg::Ps256 {
                    &signature::RSA_PSS_2048_8192_SHA256
                } else {
                    &signature::RSA_PKCS1_2048_8192_SHA256
                };
                RsaPublicKeyComponents { n: &n, e: &e }
                    .verify(params, msg, sig)
                    .is_ok()
            }
            Alg::Es256 => {
                let (Some("EC"), Some("P-256"), Some(x), Some(y)) =
                    (kty, crv, field("x"), field("y"))
                else {
                    return false;
                };
                if x.len() != 32 || y.len() != 32 {
                    return false;
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(msg, sig)
                    .is_ok()
            }
            Alg::EdDsa => {
                let (Some("OKP"), Some("Ed25519"), Some(x)) = (kty, crv, field("x")) else {
                    return false;
                };
                UnparsedPublicKey::new(&signature::ED25519, x)
                    .verify(msg, sig)
                    .is_ok()
            }
        }
    }
}

/// Signs `claims` under `header` (which must name the key's algorithm) with `key`.
pub fn sign(
    header: &Value,
    claims: &Value,
    key: &crate::target::keys::SigningKey,
) -> Result<String, jsonwebtoken::errors::Error> {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig =
        jsonwebtoken::crypto::sign(input.as_bytes(), key.encoding_key(), key.alg.jsonwebtoken())?;
    Ok(format!("{input}.{sig}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::keys::parse_signing_key;
    use serde_json::json;

    fn key(alg: &'static rcgen::SignatureAlgorithm) -> crate::target::keys::SigningKey {
        parse_signing_key(
            &rcgen::KeyPair::generate_for(alg).unwrap().serialize_pem(),
            None,
            None,
        )
        .unwrap()
    }

    #[test]
    fn verifies_its_own_signatures_for_each_fapi_alg() {
        for (k, alg) in [
            (key(&rcgen::PKCS_ECDSA_P256_SHA256), Alg::Es256),
            (key(&rcgen::PKCS_ED25519), Alg::EdDsa),
        ] {
            let t = sign(&json!({"alg": k.alg.as_str()}), &json!({"a": 1}), &k).unwrap();
            let jws = parse(&t).unwrap();
            assert_eq!(jws.alg(), Some(alg));
            assert!(jws.verify(&k.public_jwk, alg));
            assert!(
                !jws.verify(&k.public_jwk, Alg::Ps256),
                "key type must fit the alg"
            );
            assert!(!jws.verify(&k.public_jwk, Alg::None));
        }
    }

    #[test]
    fn hmac_verifies_only_under_its_secret_and_never_with_a_jwk() {
        let k = key(&rcgen::PKCS_ECDSA_P256_SHA256);
        let t = crate::fapi::jose::sign_hs256(json!({"crit": ["x"]}), &json!({"a": 1}), b"s");
        let jws = parse(&t).unwrap();
        assert_eq!(jws.alg(), Some(Alg::Hs256));
        assert!(jws.has_crit());
        assert!(jws.verify_hmac(b"s") && !jws.verify_hmac(b"t"));
        assert!(!jws.verify(&k.public_jwk, Alg::Hs256));
    }

    #[test]
    fn tampered_or_malformed_tokens_fail() {
        let k = key(&rcgen::PKCS_ECDSA_P256_SHA256);
        let t = sign(&json!({"alg": "ES256"}), &json!({"a": 1}), &k).unwrap();
        let mut parts: Vec<&str> = t.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(r#"{"a":2}"#);
        parts[1] = &other;
        assert!(
            !parse(&parts.join("."))
                .unwrap()
                .verify(&k.public_jwk, Alg::Es256)
        );
        assert!(parse("a.b").is_err());
        assert!(parse("e30.WzFd.").is_err(), "payload must be an object");
        assert!(parse(&"a".repeat(MAX_TOKEN_LEN + 1)).is_err());
    }

    #[test]
    fn lenient_decoding_skips_stray_characters_and_trailing_bytes() {
        let stray = format!("{}!.e30.", &URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#));
        let trailing = format!("{}.e30.", URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}}"#));
        for t in [&stray, &trailing] {
            assert!(parse(t).is_err(), "{t}");
            let jws = parse_with(t, Decoding::Lenient).unwrap();
            assert_eq!(jws.alg(), Some(Alg::None));
        }
    }
}
