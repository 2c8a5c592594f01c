//! DPoP proofs (RFC 9449 §4), with the mutations that break them on purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::jose;
use super::mutation::{Mutation, Mutations};
use super::pkce::random_token;
use crate::target::keys::{SigningKey, parse_signing_key};

/// A fresh ES256 key for DPoP proofs. Each flow gets its own, as a client would.
pub fn generate_key() -> Result<SigningKey, String> {
    let pair =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    parse_signing_key(&pair.serialize_pem(), None, None).map_err(|e| e.message)
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
fn public_jwk(key: &SigningKey) -> Value {
    let mut jwk = key.public_jwk.clone();
    if let Some(o) = jwk.as_object_mut() {
        o.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y" | "n" | "e"));
    }
    jwk
}

/// Builds a proof signed by `key` (`now` is the server's clock in seconds).
pub fn proof(
    key: &SigningKey,
    target: &ProofFor<'_>,
    mutations: &[Mutation],
    now: i64,
) -> Result<String, String> {
    let htu = target.htu.split(['?', '#']).next().unwrap_or(target.htu);
    let htu = if mutations.has(&Mutation::DpopWrongHtu) {
        "https://wrong.example/other".to_owned()
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
    let mut claims = json!({"jti": random_token(16), "htm": htm, "htu": htu, "iat": now + offset});
    if let Some(o) = claims.as_object_mut() {
        if let (Some(at), false) = (target.access_token, mutations.has(&Mutation::DpopOmitAth)) {
            o.insert("ath".into(), json!(ath(at)));
        }
        if let Some(n) = target.nonce {
            o.insert("nonce".into(), json!(n));
        }
    }
    let typ = if mutations.has(&Mutation::DpopWrongTyp) {
        "JWT"
    } else {
        "dpop+jwt"
    };
    let header = json!({"typ": typ, "jwk": public_jwk(key)});
    if mutations.has(&Mutation::DpopAlgNone) {
        return Ok(jose::unsigned(header, &claims));
    }
    jose::sign(header, &claims, key)
}

#[cfg(test)]
mod tests {
    use super::*;

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
