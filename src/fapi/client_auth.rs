//! Client authentication at the token and PAR endpoints: `private_key_jwt` assertions (RFC 7523,
//! OIDC Core §9, FAPI2-SP-5.3.2.1-8) and `tls_client_auth` (RFC 8705 §2), with the mutations that
//! break them on purpose.

use serde_json::{Value, json};

use super::dpop;
use super::jose;
use super::mutation::{AudChoice, Mutation, Mutations};
use super::pkce::random_token;
use crate::plan::ClientAuth;
use crate::target::Client;
use crate::target::keys::{SigningKey, public_key_pem};

/// The JWT bearer client assertion type (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Where the assertion is sent, for the `aud` choices that name an endpoint.
pub struct Audiences<'a> {
    pub issuer: &'a str,
    pub token_endpoint: &'a str,
    pub par_endpoint: &'a str,
}

/// Form parameters that authenticate `client` (nothing but `client_id` for mTLS, whose proof is
/// the certificate). `other` is another client of the target: its key signs, or its `client_id`
/// is sent, when a mutation asks for that.
/// `now` is the server's clock (seconds since the epoch).
pub fn auth_params(
    client: &Client,
    aud: &Audiences<'_>,
    mutations: &[Mutation],
    other: Option<&Client>,
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    let client_id = if mutations.has(&Mutation::OtherClientId) {
        other.ok_or("the target has no second client whose client_id could be sent")?
    } else {
        client
    };
    let mut params = vec![("client_id".to_owned(), client_id.client_id.clone())];
    if mutations.has(&Mutation::NoClientAuth) || client.auth_method == ClientAuth::TlsClientAuth {
        return Ok(params);
    }
    let key = if mutations.has(&Mutation::AssertionSignedByOtherClient) {
        other
            .and_then(|c| c.signing_key.as_ref())
            .ok_or("the target has no second client whose key could sign")?
    } else {
        client
            .signing_key
            .as_ref()
            .ok_or("client has no signing key")?
    };
    let assertion = assertion(&client.client_id, aud, key, mutations, now)?;
    params.push(("client_assertion_type".into(), ASSERTION_TYPE.into()));
    params.push(("client_assertion".into(), assertion));
    Ok(params)
}

/// Builds one client assertion: `iss` = `sub` = client_id, `aud` = the issuer string
/// (FAPI2-SP-5.3.2.1-8), a fresh `jti`, `iat`/`nbf` now and `exp` 60 s later.
pub fn assertion(
    client_id: &str,
    aud: &Audiences<'_>,
    key: &SigningKey,
    mutations: &[Mutation],
    now: i64,
) -> Result<String, String> {
    let offset = mutations.find_map(|m| match m {
        Mutation::AssertionIatOffset(s) => Some(*s),
        _ => None,
    });
    let iat = now + offset.unwrap_or(0);
    let mut claims = json!({
        "iss": client_id,
        "sub": client_id,
        "jti": random_token(16),
        "iat": iat,
        "nbf": iat,
        "exp": iat.max(now) + 60,
    });
    let aud_choice = mutations
        .find_map(|m| match m {
            Mutation::AssertionAud(a) => Some(*a),
            _ => None,
        })
        .unwrap_or(AudChoice::Issuer);
    let aud_value = match aud_choice {
        AudChoice::Issuer => Some(json!(aud.issuer)),
        AudChoice::TokenEndpoint => Some(json!(aud.token_endpoint)),
        AudChoice::ParEndpoint => Some(json!(aud.par_endpoint)),
        AudChoice::IssuerArray => Some(json!([aud.issuer])),
        AudChoice::IssuerAndOther => Some(json!([aud.issuer, "https://other.example"])),
        AudChoice::Foreign => Some(json!("https://evil.example")),
        AudChoice::Missing => None,
    };
    if let (Some(v), Some(o)) = (aud_value, claims.as_object_mut()) {
        o.insert("aud".into(), v);
    }
    if let Some(o) = claims.as_object_mut() {
        if mutations.has(&Mutation::AssertionExpired) {
            o.insert("iat".into(), json!(now - 600));
            o.insert("nbf".into(), json!(now - 600));
            o.insert("exp".into(), json!(now - 300));
        }
        if mutations.has(&Mutation::AssertionOmitExp) {
            o.remove("exp");
        }
        if mutations.has(&Mutation::AssertionOmitNbf) {
            o.remove("nbf");
        }
    }
    sign_assertion(&claims, key, mutations)
}

/// Signs the claims as the client would, or in the one wrong way the mutations ask for.
fn sign_assertion(
    claims: &Value,
    key: &SigningKey,
    mutations: &[Mutation],
) -> Result<String, String> {
    let mut header = json!({"typ": "JWT", "kid": key.kid});
    if mutations.has(&Mutation::AssertionUnknownCrit) {
        jose::add_unknown_crit(&mut header);
    }
    if mutations.has(&Mutation::AssertionAlgNone) {
        return Ok(jose::unsigned(header, claims));
    }
    if mutations.has(&Mutation::AssertionAlgRs256) {
        if key.kind != crate::target::keys::KeyKind::Rsa {
            return Err("RS256 needs an RSA client key".into());
        }
        return jose::sign_as(header, claims, key, jsonwebtoken::Algorithm::RS256);
    }
    if mutations.has(&Mutation::AssertionHs256PublicKey) {
        // Anyone can fetch the client's public key; a verifier that lets the token pick HS256
        // and feeds the key it holds for the client to HMAC accepts this forgery.
        let secret = public_key_pem(&key.spki_der);
        return Ok(jose::sign_hs256(header, claims, secret.as_bytes()));
    }
    if mutations.has(&Mutation::AssertionEmbeddedJwk) {
        return signed_by_embedded_key(claims);
    }
    jose::sign(header, claims, key)
}

/// Signs with a fresh attacker key and carries that key's public JWK in the header, without the
/// client's `kid`: only a verifier that trusts keys the token brings along accepts it.
fn signed_by_embedded_key(claims: &Value) -> Result<String, String> {
    let attacker = dpop::generate_key()?.signing;
    let header = json!({"typ": "JWT", "jwk": dpop::public_jwk(&attacker)});
    jose::sign(header, claims, &attacker)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn key() -> SigningKey {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem();
        crate::target::keys::parse_signing_key(&pem, None, Some("k1")).unwrap()
    }

    const AUD: Audiences<'static> = Audiences {
        issuer: "https://as.example",
        token_endpoint: "https://as.example/token",
        par_endpoint: "https://as.example/par",
    };

    fn claims(m: &[Mutation]) -> (Value, Value) {
        jose::decode_unverified(&assertion("c1", &AUD, &key(), m, 1_000_000).unwrap()).unwrap()
    }

    #[test]
    fn default_assertion_uses_issuer_string() {
        let (h, c) = claims(&[]);
        assert_eq!(h["alg"], "ES256");
        assert_eq!(h["kid"], "k1");
        assert_eq!(c["aud"], "https://as.example");
        assert_eq!(c["iss"], "c1");
        assert_eq!(c["sub"], "c1");
        assert_eq!(c["exp"], 1_000_060);
    }

    #[test]
    fn mutations_change_exactly_their_claim() {
        assert_eq!(
            claims(&[Mutation::AssertionAud(AudChoice::TokenEndpoint)]).1["aud"],
            "https://as.example/token"
        );
        assert_eq!(
            claims(&[Mutation::AssertionAud(AudChoice::IssuerArray)]).1["aud"],
            json!(["https://as.example"])
        );
        assert!(
            claims(&[Mutation::AssertionAud(AudChoice::Missing)])
                .1
                .get("aud")
                .is_none()
        );
        assert_eq!(
            claims(&[Mutation::AssertionIatOffset(70)]).1["iat"],
            1_000_070
        );
        assert!(claims(&[Mutation::AssertionOmitExp]).1.get("exp").is_none());
        assert!(
            claims(&[Mutation::AssertionExpired]).1["exp"]
                .as_i64()
                .unwrap()
                < 1_000_000
        );
        assert_eq!(claims(&[Mutation::AssertionAlgNone]).0["alg"], "none");
    }

    #[test]
    fn hs256_assertion_is_keyed_with_the_client_public_key_pem() {
        let k = key();
        let token = assertion("c1", &AUD, &k, &[Mutation::AssertionHs256PublicKey], 1).unwrap();
        let jws = jose::parse(&token).unwrap();
        assert_eq!((jws.alg(), jws.kid()), (Some("HS256"), Some("k1")));
        let pem = public_key_pem(&k.spki_der);
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        let mac = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, pem.as_bytes());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig);
        assert!(aws_lc_rs::hmac::verify(&mac, input.as_bytes(), &sig.unwrap()).is_ok());
    }

    #[test]
    fn embedded_jwk_assertion_verifies_only_with_its_own_header_key() {
        let k = key();
        let token = assertion("c1", &AUD, &k, &[Mutation::AssertionEmbeddedJwk], 1).unwrap();
        let jws = jose::parse(&token).unwrap();
        assert_eq!(jws.kid(), None);
        let embedded = jws.header["jwk"].as_object().unwrap();
        assert!(embedded.get("d").is_none() && embedded.get("kid").is_none());
        assert_eq!(jws.verify(embedded), Ok(true));
        assert_eq!(jws.verify(k.public_jwk.as_object().unwrap()), Ok(false));
    }

    #[test]
    fn crit_assertion_is_correctly_signed() {
        let k = key();
        let token = assertion("c1", &AUD, &k, &[Mutation::AssertionUnknownCrit], 1).unwrap();
        let jws = jose::parse(&token).unwrap();
        assert_eq!(jws.header["crit"], json!([jose::UNKNOWN_CRIT]));
        assert_eq!(jws.kid(), Some("k1"));
        assert_eq!(jws.verify(k.public_jwk.as_object().unwrap()), Ok(true));
    }
}
