//! The AS's own signing key (RSA 2048, PS256) and the JWK Set that publishes it at `jwks_uri`.
//!
//! Only public members are served; the `jwks-private-key` fault adds the private ones, which is
//! why this file can read them out of the PKCS#8 key at all.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::app::App;
use super::fault::Fault;
use crate::target::keys::{SigningKey, parse_signing_key};

/// The AS's signing key.
pub struct AsKey {
    /// Ready to sign PS256.
    pub key: SigningKey,
    /// The RSA private members (`d`, `p`, …) as JWK members, for the leak fault only.
    private_members: serde_json::Map<String, Value>,
}

impl AsKey {
    /// Generates a fresh RSA 2048 key (FAPI2-SP-5.4.1-2) for PS256.
    pub fn generate() -> Result<AsKey, String> {
        let pair =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .map_err(|e| format!("cannot generate the AS signing key: {e}"))?;
        let key =
            parse_signing_key(&pair.serialize_pem(), Some("PS256"), None).map_err(|e| e.message)?;
        let private_members = rsa_private_members(&pair.serialize_der()).unwrap_or_default();
        Ok(AsKey {
            key,
            private_members,
        })
    }

    /// The JWK Set document.
    pub fn jwks(&self, leak_private: bool) -> Value {
        let mut jwk = self.key.public_jwk.clone();
        if leak_private && let Some(obj) = jwk.as_object_mut() {
            obj.extend(self.private_members.clone());
        }
        json!({ "keys": [jwk] })
    }
}

/// `GET /jwks`.
pub async fn jwks(State(app): State<Arc<App>>) -> Response {
    super::oauth::json_no_store(
        axum::http::StatusCode::OK,
        app.key.jwks(app.faults.on(Fault::JwksPrivateKey)),
    )
}

/// Reads `d`, `p`, `q`, `dp`, `dq`, `qi` from a PKCS#8 RSA key (RFC 5208 around RFC 8017
/// `RSAPrivateKey`). aws-lc-rs does not expose them, and a hand-walk of the DER is small.
fn rsa_private_members(pkcs8: &[u8]) -> Option<serde_json::Map<String, Value>> {
    let (info, _) = der_item(pkcs8, 0x30)?;
    let (_version, rest) = der_item(info, 0x02)?;
    let (_alg, rest) = der_item(rest, 0x30)?;
    let (octets, _) = der_item(rest, 0x04)?;
    let (mut rsa, _) = der_item(octets, 0x30)?;
    let mut ints = Vec::new();
    while !rsa.is_empty() {
        let (int, rest) = der_item(rsa, 0x02)?;
        let first = int
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(int.len().saturating_sub(1));
        ints.push(int.get(first..)?.to_vec());
        rsa = rest;
    }
    // version, n, e, d, p, q, dp, dq, qi
    let names = ["d", "p", "q", "dp", "dq", "qi"];
    let values = ints.get(3..9)?;
    Some(
        names
            .iter()
            .zip(values)
            .map(|(n, v)| ((*n).to_owned(), Value::String(URL_SAFE_NO_PAD.encode(v))))
            .collect(),
    )
}

/// One DER item with the expected tag: its content and what follows it.
fn der_item(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (len_bytes, rest) = rest.split_at_checked(n)?;
        (
            len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
            rest,
        )
    };
    rest.split_at_checked(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_only_public_members_unless_leaking() {
        let key = AsKey::generate().unwrap();
        let public = key.jwks(false);
        let jwk = &public["keys"][0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "PS256");
        assert!(jwk.get("d").is_none());
        let leaked = key.jwks(true);
        for member in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                leaked["keys"][0][member]
                    .as_str()
                    .is_some_and(|s| s.len() > 100),
                "{member}"
            );
        }
    }

    #[test]
    fn der_walk_refuses_truncated_input() {
        assert!(der_item(&[0x30, 0x05, 0x01], 0x30).is_none());
        assert!(der_item(&[0x02, 0x01, 0x00], 0x30).is_none());
        assert!(rsa_private_members(&[0x30, 0x00]).is_none());
    }
}
