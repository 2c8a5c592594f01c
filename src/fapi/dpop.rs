//! DPoP proofs (RFC 9449 §4), with the mutations that break them on purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::jose;
use super::mutation::{Mutation, Mutations, flip_char};
use super::pkce::random_token;
use crate::target::keys::{SigningKey, parse_signing_key};

/// A DPoP key: the signing key, and its private scalar for the one negative test that sends it on
/// purpose (`dpop_jwk_private`, RFC 9449 §4.3 check 7).
#[derive(Clone)]
pub struct DpopKey {
    pub signing: SigningKey,
    /// base64url `d` of the P-256 key (RFC 7518 §6.2.2.1).
    d: String,
}

impl DpopKey {
    /// The private scalar, so the flow can register it with the redactor before it is sent.
    pub fn private_scalar(&self) -> &str {
        &self.d
    }
}

/// A fresh ES256 key for DPoP proofs. Each flow gets its own, as a client would.
pub fn generate_key() -> Result<DpopKey, String> {
    use aws_lc_rs::encoding::AsBigEndian;
    let pair =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let ec = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &pair.serialize_der(),
    )
    .map_err(|e| e.to_string())?;
    let d = ec.private_key().as_be_bytes().map_err(|e| e.to_string())?;
    Ok(DpopKey {
        signing: parse_signing_key(&pair.serialize_pem(), None, None).map_err(|e| e.message)?,
        d: URL_SAFE_NO_PAD.encode(d.as_ref()),
    })
}

/// `ath`: base64url SHA-256 of the access token (RFC 9449 §4.2).
pub fn ath(access_token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

/// What a proof is for.
pub struct ProofFor<'a> {
    pub htm: &'a str,
    /// The request URL; query and fragment are removed as RFC 9449 §4.2 requires.
    pub htu: &'a str,
    pub access_token: Option<&'a str>,
    pub nonce: Option<&'a str>,
}

/// The public JWK that goes into the proof header: only public members (RFC 9449 §4.2).
pub fn public_jwk(key: &SigningKey) -> Value {
    let mut jwk = key.public_jwk.clone();
    if let Some(o) = jwk.as_object_mut() {
        o.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"));
    }
    jwk
}

/// `url` with an upper-case scheme and host and an explicit port (the default one when the URL
/// has none): equivalent under RFC 3986 §6.2.2.1 and §6.2.3, different as a string.
fn unnormalised(url: &str) -> String {
    let Ok(u) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let port = u
        .port_or_known_default()
        .map(|p| format!(":{p}"))
        .unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        u.scheme().to_ascii_uppercase(),
        u.host_str().unwrap_or_default().to_ascii_uppercase(),
        u.path()
    )
}

/// Builds a proof signed by `key` (`now` is the server's clock in seconds).
pub fn proof(
    key: &DpopKey,
    target: &ProofFor<'_>,
    mutations: &[Mutation],
    now: i64,
) -> Result<String, String> {
    let htu = target.htu.split(['?', '#']).next().unwrap_or(target.htu);
    let htu = if mutations.has(&Mutation::DpopWrongHtu) {
        "https://wrong.example/other".to_owned()
    } else if mutations.has(&Mutation::DpopHtuUnnormalised) {
        unnormalised(htu)
    } else {
        htu.to_owned()
    };
    let htm = if mutations.has(&Mutation::DpopWrongHtm) {
        if target.htm == "GET" { "POST" } else { "GET" }
    } else {
        target.htm
    };
    let offset = mutations
        .find_map(|m| match m {
            Mutation::DpopIatOffset(s) => Some(*s),
            _ => None,
        })
        .unwrap_or(0);
    let jti = match mutations.find_map(|m| match m {
        Mutation::DpopJtiLength(n) => Some(*n),
        _ => None,
    }) {
        Some(n) => random_token(n).chars().take(n).collect(),
        None => random_token(16),
    };
    let mut claims = json!({"jti": jti, "htm": htm, "htu": htu, "iat": now + offset});
    if let Some(o) = claims.as_object_mut() {
        if let (Some(at), false) = (target.access_token, mutations.has(&Mutation::DpopOmitAth)) {
            o.insert("ath".into(), json!(ath(at)));
        }
        if let Some(n) = target.nonce {
            o.insert("nonce".into(), json!(n));
        }
        if mutations.has(&Mutation::DpopNbfExp) {
            o.insert("nbf".into(), json!(now + offset));
            o.insert("exp".into(), json!(now + offset + 300));
        }
    }
    let typ = if mutations.has(&Mutation::DpopWrongTyp) {
        "JWT"
    } else {
        "dpop+jwt"
    };
    let mut jwk = public_jwk(&key.signing);
    if mutations.has(&Mutation::DpopJwkPrivate) {
        jwk["d"] = json!(key.d);
    }
    let mut header = json!({"typ": typ, "jwk": jwk});
    if mutations.has(&Mutation::DpopUnknownCrit) {
        jose::add_unknown_crit(&mut header);
    }
    if mutations.has(&Mutation::DpopAlgNone) {
        return Ok(jose::unsigned(header, &claims));
    }
    if mutations.has(&Mutation::DpopHs256Jwk) {
        // The only key a proof names is its own `jwk`; a verifier that lets the token pick HS256
        // and feeds that key, as JSON, to HMAC accepts this forgery.
        let secret = header["jwk"].to_string();
        return Ok(jose::sign_hs256(header, &claims, secret.as_bytes()));
    }
    if mutations.has(&Mutation::DpopJwkOtherKey) {
        return sign(header, &claims, &generate_key()?.signing, mutations);
    }
    sign(header, &claims, &key.signing, mutations)
}

/// Signs the proof, breaking its encoding or its signature where the mutations ask. The broken
/// segments are what gets signed, so nothing but the intended defect is wrong.
fn sign(
    mut header: Value,
    claims: &Value,
    key: &SigningKey,
    mutations: &[Mutation],
) -> Result<String, String> {
    let alg = key.alg.jsonwebtoken();
    header["alg"] = serde_json::to_value(alg).map_err(|e| e.to_string())?;
    let mut header_json = header.to_string();
    if mutations.has(&Mutation::DpopInvalidJsonHeader) {
        header_json.push('}');
    }
    let mut h = URL_SAFE_NO_PAD.encode(header_json);
    if mutations.has(&Mutation::DpopBadBase64url) {
        h.insert(h.len() / 2, '!');
    }
    let jws = jose::sign_segments(&h, &URL_SAFE_NO_PAD.encode(claims.to_string()), key, alg)?;
    match (
        mutations.has(&Mutation::DpopBadSignature),
        jws.rsplit_once('.'),
    ) {
        (true, Some((input, sig))) => Ok(format!("{input}.{}", flip_char(sig))),
        _ => Ok(jws),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unnormalised_htu_differs_only_in_case_and_port() {
        assert_eq!(
            unnormalised("https://as.example/token"),
            "HTTPS://AS.EXAMPLE:443/token"
        );
        assert_eq!(
            unnormalised("https://127.0.0.1:8443/token"),
            "HTTPS://127.0.0.1:8443/token"
        );
        let a = url::Url::parse(&unnormalised("https://as.example/token")).unwrap();
        assert_eq!(a.as_str(), "https://as.example/token");
    }

    #[test]
    fn proof_carries_htm_htu_without_query_and_ath() {
        let key = generate_key().unwrap();
        let p = proof(
            &key,
            &ProofFor {
                htm: "GET",
                htu: "https://rs.example/a?x=1#f",
                access_token: Some("tok"),
                nonce: Some("n1"),
            },
            &[],
            100,
        )
        .unwrap();
        let (h, c) = jose::decode_unverified(&p).unwrap();
        assert_eq!(h["typ"], "dpop+jwt");
        assert!(h["jwk"].get("d").is_none());
        assert_eq!(c["htu"], "https://rs.example/a");
        assert_eq!(c["htm"], "GET");
        assert_eq!(c["ath"], ath("tok"));
        assert_eq!(c["nonce"], "n1");
        assert_eq!(c["iat"], 100);
    }

    #[test]
    fn mutations_break_one_thing_each() {
        let key = generate_key().unwrap();
        let t = ProofFor {
            htm: "POST",
            htu: "https://as.example/token",
            access_token: Some("t"),
            nonce: None,
        };
        let claims =
            |m: &[Mutation]| jose::decode_unverified(&proof(&key, &t, m, 100).unwrap()).unwrap();
        assert_eq!(claims(&[Mutation::DpopWrongHtm]).1["htm"], "GET");
        assert_ne!(
            claims(&[Mutation::DpopWrongHtu]).1["htu"],
            "https://as.example/token"
        );
        assert_eq!(claims(&[Mutation::DpopIatOffset(-400)]).1["iat"], -300);
        assert!(claims(&[Mutation::DpopOmitAth]).1.get("ath").is_none());
        assert_eq!(claims(&[Mutation::DpopWrongTyp]).0["typ"], "JWT");
        assert_eq!(claims(&[Mutation::DpopAlgNone]).0["alg"], "none");
    }
}

#[cfg(test)]
mod malformed_tests {
    use super::*;
    use crate::target::keys::thumbprint;

    fn target() -> ProofFor<'static> {
        ProofFor {
            htm: "POST",
            htu: "https://as.example/token",
            access_token: None,
            nonce: None,
        }
    }

    /// Whether the proof's signature verifies with the ES256 key in its own `jwk` header (read
    /// past a stray `!` or trailing bytes, as a lenient parser would).
    fn verifies(proof: &str) -> bool {
        let (h, _) = proof.split_once('.').unwrap();
        let raw = URL_SAFE_NO_PAD.decode(h.replace('!', "")).unwrap();
        let header: Value = serde_json::Deserializer::from_slice(&raw)
            .into_iter()
            .next()
            .unwrap()
            .unwrap();
        let dk = jsonwebtoken::DecodingKey::from_ec_components(
            header["jwk"]["x"].as_str().unwrap(),
            header["jwk"]["y"].as_str().unwrap(),
        )
        .unwrap();
        let (msg, sig) = proof.rsplit_once('.').unwrap();
        jsonwebtoken::crypto::verify(sig, msg.as_bytes(), &dk, jsonwebtoken::Algorithm::ES256)
            .unwrap_or(false)
    }

    #[test]
    fn a_correct_proof_verifies_with_its_jwk() {
        let key = generate_key().unwrap();
        assert!(verifies(&proof(&key, &target(), &[], 1).unwrap()));
    }

    #[test]
    fn encoding_defects_are_signed_so_only_the_encoding_is_wrong() {
        let key = generate_key().unwrap();
        let b64 = proof(&key, &target(), &[Mutation::DpopBadBase64url], 1).unwrap();
        assert!(b64.split('.').next().unwrap().contains('!'));
        assert!(jose::decode_unverified(&b64).is_none());
        assert!(verifies(&b64));
        let json = proof(&key, &target(), &[Mutation::DpopInvalidJsonHeader], 1).unwrap();
        let h = URL_SAFE_NO_PAD
            .decode(json.split('.').next().unwrap())
            .unwrap();
        assert!(serde_json::from_slice::<Value>(&h).is_err());
        assert!(h.ends_with(b"}}"));
        assert!(verifies(&json));
    }

    #[test]
    fn signature_and_key_defects() {
        let key = generate_key().unwrap();
        let flipped = proof(&key, &target(), &[Mutation::DpopBadSignature], 1).unwrap();
        assert!(jose::decode_unverified(&flipped).is_some());
        assert!(!verifies(&flipped));
        let other = proof(&key, &target(), &[Mutation::DpopJwkOtherKey], 1).unwrap();
        let (h, _) = jose::decode_unverified(&other).unwrap();
        assert_eq!(thumbprint(&h["jwk"]), thumbprint(&key.signing.public_jwk));
        assert!(!verifies(&other));
        let private = proof(&key, &target(), &[Mutation::DpopJwkPrivate], 1).unwrap();
        let (h, _) = jose::decode_unverified(&private).unwrap();
        assert_eq!(h["jwk"]["d"], key.private_scalar());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(key.private_scalar()).unwrap().len(),
            32
        );
        assert!(verifies(&private));
    }

    #[test]
    fn hs256_proof_is_keyed_with_its_jwk_json() {
        let key = generate_key().unwrap();
        let token = proof(&key, &target(), &[Mutation::DpopHs256Jwk], 1).unwrap();
        let (h, _) = jose::decode_unverified(&token).unwrap();
        assert_eq!(h["alg"], "HS256");
        assert_eq!(thumbprint(&h["jwk"]), thumbprint(&key.signing.public_jwk));
        // The secret is the jwk member's text as it stands in the header.
        let secret = h["jwk"].to_string();
        let header_text = URL_SAFE_NO_PAD.decode(token.split('.').next().unwrap());
        assert!(
            String::from_utf8(header_text.unwrap())
                .unwrap()
                .contains(&secret)
        );
        let mac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        assert!(aws_lc_rs::hmac::verify(&mac, input.as_bytes(), &sig).is_ok());
    }

    #[test]
    fn crit_proof_is_correctly_signed() {
        let key = generate_key().unwrap();
        let token = proof(&key, &target(), &[Mutation::DpopUnknownCrit], 1).unwrap();
        let (h, _) = jose::decode_unverified(&token).unwrap();
        assert_eq!(h["crit"], json!([jose::UNKNOWN_CRIT]));
        assert_eq!(h[jose::UNKNOWN_CRIT], true);
        assert!(verifies(&token));
    }
}
