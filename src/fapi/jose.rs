//! JOSE helpers: decode compact JWS (for evidence and for checks), verify signatures against a
//! JWK, and sign with full control of the header.
//!
//! Decoding is bounded: oversized or deeply nested segments are refused rather than parsed, since
//! a hostile server may send megabyte headers or claims nested thousands of levels deep.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::evidence::DecodedJwt;

/// Segments beyond this are not decoded (a hostile server may send megabyte headers).
const MAX_SEGMENT: usize = 64 * 1024;
/// At most this many JWTs are decoded per text.
const MAX_JWTS: usize = 16;

/// JWS algorithms FAPI 2.0 permits (FAPI2-SP-5.4.1-1.2). `Ed25519` is the fully-specified name of
/// EdDSA with Ed25519 (RFC 9864), which the note to FAPI 2.0 SP 5.4.1 allows.
pub const FAPI_ALGS: &[&str] = &["PS256", "ES256", "EdDSA", "Ed25519"];

/// A compact JWS, decoded but not verified.
#[derive(Clone, Debug)]
pub struct Jws {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    /// `header.payload` exactly as received: what the signature covers.
    signing_input: String,
    signature: String,
}

/// Why a token could not be decoded as a compact JWS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JwsError {
    /// It is no JWS: not three segments, not base64url, not a JSON object.
    Malformed(String),
    /// It may be well formed, but the harness does not read it: a segment beyond its size or
    /// nesting bounds, or an encrypted token (JWE) it holds no key for.
    Unreadable(String),
}

impl std::fmt::Display for JwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JwsError::Malformed(why) | JwsError::Unreadable(why) => f.write_str(why),
        }
    }
}

/// Decodes a compact JWS whose header and payload are JSON objects.
pub fn parse(token: &str) -> Result<Jws, JwsError> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, c, sig] = parts.as_slice() else {
        return Err(match parts.len() {
            5 => JwsError::Unreadable("an encrypted JWT (JWE, five segments)".into()),
            n => JwsError::Malformed(format!("{n} dot-separated segments, not three")),
        });
    };
    if sig.len() > MAX_SEGMENT {
        return Err(too_long("signature", sig.len()));
    }
    Ok(Jws {
        header: segment(h, "header")?,
        claims: segment(c, "payload")?,
        signing_input: format!("{h}.{c}"),
        signature: (*sig).to_owned(),
    })
}

fn too_long(what: &str, len: usize) -> JwsError {
    JwsError::Unreadable(format!(
        "the {what} is {len} bytes, beyond the {} KiB the harness decodes",
        MAX_SEGMENT / 1024
    ))
}

fn segment(seg: &str, what: &str) -> Result<Map<String, Value>, JwsError> {
    if seg.len() > MAX_SEGMENT {
        return Err(too_long(what, seg.len()));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(seg.trim_end_matches('='))
        .map_err(|_| JwsError::Malformed(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(JwsError::Malformed(format!(
            "the {what} is not a JSON object"
        ))),
        // serde_json gives up at 128 levels of nesting with this error rather than recursing on.
        Err(e) if e.to_string().starts_with("recursion limit exceeded") => {
            Err(JwsError::Unreadable(format!(
                "the {what} nests deeper than the 128 levels the harness decodes"
            )))
        }
        Err(e) => Err(JwsError::Malformed(format!("the {what} is not JSON: {e}"))),
    }
}

/// Decodes a compact JWS (three segments) into header and claims, if both are JSON objects.
pub fn decode_unverified(token: &str) -> Option<(Value, Value)> {
    let jws = parse(token).ok()?;
    Some((Value::Object(jws.header), Value::Object(jws.claims)))
}

impl Jws {
    /// The header's `alg`.
    pub fn alg(&self) -> Option<&str> {
        self.header.get("alg").and_then(Value::as_str)
    }

    /// The header's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// Whether the signature verifies under `jwk` with the header's algorithm, which must be a
    /// FAPI algorithm. `Err` says why the key cannot verify it (see `key_fits`) or why the
    /// signature is unreadable.
    pub fn verify(&self, jwk: &Map<String, Value>) -> Result<bool, String> {
        let alg = self.alg().unwrap_or("(none)");
        if !key_fits(jwk, alg) {
            return Err(format!("the key cannot verify {alg} signatures"));
        }
        let member = |m: &str| {
            jwk.get(m)
                .and_then(Value::as_str)
                .ok_or_else(|| format!("the key has no `{m}`"))
        };
        let (key, algorithm) = match alg {
            "PS256" => (
                jsonwebtoken::DecodingKey::from_rsa_components(member("n")?, member("e")?),
                jsonwebtoken::Algorithm::PS256,
            ),
            "ES256" => (
                jsonwebtoken::DecodingKey::from_ec_components(member("x")?, member("y")?),
                jsonwebtoken::Algorithm::ES256,
            ),
            _ => (
                jsonwebtoken::DecodingKey::from_ed_components(member("x")?),
                jsonwebtoken::Algorithm::EdDSA,
            ),
        };
        let key = key.map_err(|e| format!("the key is unreadable: {e}"))?;
        jsonwebtoken::crypto::verify(
            &self.signature,
            self.signing_input.as_bytes(),
            &key,
            algorithm,
        )
        .map_err(|e| format!("the signature cannot be checked: {e}"))
    }
}

/// Whether `jwk` can verify `alg` signatures: `alg` is a FAPI algorithm, the key's type and curve
/// fit it, its `use` (if any) is `sig` and its `alg` (if any) is `alg` (RFC 7517 §4.2, §4.4).
pub fn key_fits(jwk: &Map<String, Value>, alg: &str) -> bool {
    let s = |m: &str| jwk.get(m).and_then(Value::as_str);
    let kind_fits = match alg {
        "PS256" => s("kty") == Some("RSA"),
        "ES256" => s("kty") == Some("EC") && s("crv") == Some("P-256"),
        "EdDSA" | "Ed25519" => s("kty") == Some("OKP") && s("crv") == Some("Ed25519"),
        _ => false,
    };
    kind_fits && s("use").is_none_or(|u| u == "sig") && s("alg").is_none_or(|a| a == alg)
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

    #[test]
    fn parse_says_whether_a_token_is_malformed_or_beyond_the_bounds() {
        let malformed = |t: &str| matches!(parse(t), Err(JwsError::Malformed(_)));
        let unreadable = |t: &str| matches!(parse(t), Err(JwsError::Unreadable(_)));
        assert!(parse(&jwt(r#"{"alg":"ES256"}"#, r#"{"a":1}"#)).is_ok());
        assert!(malformed("a.b"));
        assert!(malformed("!!.e30.x"));
        assert!(malformed(&jwt(r#"{"alg":"ES256"}"#, "[1]")));
        assert!(malformed(&jwt(r#"{"alg":"ES256"#, "{}")));
        assert!(unreadable("a.b.c.d.e"));
        assert!(unreadable(&jwt(
            &format!(r#"{{"alg":"ES256","x":"{}"}}"#, "a".repeat(100_000)),
            "{}"
        )));
    }

    #[test]
    fn deep_nesting_stops_at_serde_jsons_recursion_limit() {
        // serde_json refuses nesting beyond 128 levels with an error; parsing never recurses
        // 10,000 deep (which would overflow the stack). `segment` relies on that error's wording.
        let nested = |levels: usize| {
            format!(
                r#"{{"sub":"deep","x":{}1{}}}"#,
                r#"{"a":"#.repeat(levels),
                "}".repeat(levels)
            )
        };
        let err = serde_json::from_str::<Value>(&nested(10_000)).unwrap_err();
        assert!(
            err.to_string().starts_with("recursion limit exceeded"),
            "{err}"
        );
        assert_eq!(
            parse(&jwt(r#"{"alg":"PS256"}"#, &nested(1_000))).unwrap_err(),
            JwsError::Unreadable(
                "the payload nests deeper than the 128 levels the harness decodes".into()
            )
        );
        // At 10,000 levels the segment is already beyond the size bound.
        assert!(matches!(
            parse(&jwt(r#"{"alg":"PS256"}"#, &nested(10_000))),
            Err(JwsError::Unreadable(_))
        ));
    }

    #[test]
    fn keys_fit_only_their_fapi_algorithm() {
        let key = |v: Value| v.as_object().unwrap().clone();
        let ec = key(serde_json::json!({"kty": "EC", "crv": "P-256", "x": "", "y": ""}));
        assert!(key_fits(&ec, "ES256"));
        assert!(!key_fits(&ec, "PS256") && !key_fits(&ec, "none") && !key_fits(&ec, "HS256"));
        let enc = key(serde_json::json!({"kty": "RSA", "use": "enc"}));
        assert!(!key_fits(&enc, "PS256"));
        let rs = key(serde_json::json!({"kty": "RSA", "alg": "RS256"}));
        assert!(!key_fits(&rs, "PS256"));
        let ed = key(serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": ""}));
        assert!(key_fits(&ed, "EdDSA") && key_fits(&ed, "Ed25519"));
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
pub fn unsigned(header: Value, claims: &Value) -> String {
    format!("{}.", signing_input(header, "none", claims))
}

/// `base64url(header).base64url(claims)`, the header's `alg` set to `alg`: what a JWS signs.
fn signing_input(mut header: Value, alg: &str, claims: &Value) -> String {
    if let Some(h) = header.as_object_mut() {
        h.insert("alg".into(), Value::String(alg.into()));
    }
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// An HS256 JWS whose MAC is keyed with `secret`: only for negative tests, where the secret is
/// public key material, as in the algorithm-confusion attack (RFC 8725 §2.1, §3.1).
pub fn sign_hs256(header: Value, claims: &Value, secret: &[u8]) -> String {
    let signing_input = signing_input(header, "HS256", claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mac = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()))
}

/// A header parameter no recipient understands, for the `crit` probes.
pub const UNKNOWN_CRIT: &str = "urn:example:fapi-harness-unknown";

/// Marks `header` as using an extension the recipient cannot know: `crit` names it and the
/// header carries it. RFC 7515 §4.1.11: a recipient that does not understand a parameter listed
/// in `crit` must reject the JWS.
pub fn add_unknown_crit(header: &mut Value) {
    if let Some(h) = header.as_object_mut() {
        h.insert("crit".into(), serde_json::json!([UNKNOWN_CRIT]));
        h.insert(UNKNOWN_CRIT.into(), Value::Bool(true));
    }
}

#[cfg(test)]
mod sign_tests {
    use super::*;
    use crate::target::keys::{SigningKey, parse_signing_key};

    fn key(alg: &'static rcgen::SignatureAlgorithm, jose_alg: Option<&str>) -> SigningKey {
        let pair = if alg == &rcgen::PKCS_RSA_SHA256 {
            rcgen::KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048).unwrap()
        } else {
            rcgen::KeyPair::generate_for(alg).unwrap()
        };
        parse_signing_key(&pair.serialize_pem(), jose_alg, Some("k")).unwrap()
    }

    fn jwk(k: &SigningKey) -> Map<String, Value> {
        k.public_jwk.as_object().unwrap().clone()
    }

    #[test]
    fn signatures_by_each_fapi_algorithm_verify_and_tampered_ones_do_not() {
        let keys = [
            key(&rcgen::PKCS_ECDSA_P256_SHA256, None),
            key(&rcgen::PKCS_ED25519, None),
            key(&rcgen::PKCS_RSA_SHA256, Some("PS256")),
        ];
        for k in &keys {
            let token = sign(
                serde_json::json!({"typ": "JWT"}),
                &serde_json::json!({"a": 1}),
                k,
            )
            .unwrap();
            let jws = parse(&token).unwrap();
            assert_eq!(jws.alg(), Some(k.alg.as_str()));
            assert_eq!(jws.verify(&jwk(k)), Ok(true), "{}", k.alg.as_str());
            let tampered = format!(
                "{}.{}.{}",
                token.split('.').next().unwrap(),
                URL_SAFE_NO_PAD.encode(r#"{"a":2}"#),
                token.rsplit('.').next().unwrap()
            );
            assert_eq!(parse(&tampered).unwrap().verify(&jwk(k)), Ok(false));
        }
        let es =
            parse(&sign(serde_json::json!({}), &serde_json::json!({}), &keys[0]).unwrap()).unwrap();
        assert!(
            es.verify(&jwk(&keys[2])).is_err(),
            "an RSA key cannot verify ES256"
        );
        let other = key(&rcgen::PKCS_ECDSA_P256_SHA256, None);
        assert_eq!(es.verify(&jwk(&other)), Ok(false));
    }

    #[test]
    fn hs256_tokens_carry_the_mac_of_their_secret() {
        let token = sign_hs256(
            serde_json::json!({"kid": "k"}),
            &serde_json::json!({"a": 1}),
            b"secret",
        );
        let jws = parse(&token).unwrap();
        assert_eq!(jws.alg(), Some("HS256"));
        assert_eq!(jws.kid(), Some("k"));
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"secret");
        let mac = URL_SAFE_NO_PAD.decode(sig).unwrap();
        assert!(aws_lc_rs::hmac::verify(&mac_key, input.as_bytes(), &mac).is_ok());
        let k = key(&rcgen::PKCS_ECDSA_P256_SHA256, None);
        assert!(jws.verify(&jwk(&k)).is_err(), "no FAPI key verifies HS256");
    }

    #[test]
    fn unknown_crit_is_listed_and_present() {
        let mut h = serde_json::json!({"typ": "JWT"});
        add_unknown_crit(&mut h);
        assert_eq!(h["crit"], serde_json::json!([UNKNOWN_CRIT]));
        assert_eq!(h[UNKNOWN_CRIT], true);
    }

    #[test]
    fn unsigned_tokens_decode_but_never_verify() {
        let k = key(&rcgen::PKCS_ECDSA_P256_SHA256, None);
        let none = unsigned(serde_json::json!({}), &serde_json::json!({"b": 2}));
        assert!(none.ends_with('.'));
        let jws = parse(&none).unwrap();
        assert_eq!(jws.alg(), Some("none"));
        assert!(jws.verify(&jwk(&k)).is_err());
    }
}
