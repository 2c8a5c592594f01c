//! PKCE (RFC 7636): a fresh verifier per flow and its S256 challenge.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A code verifier and its S256 challenge. Not `Clone`: one flow, one verifier.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

/// 32 random bytes, base64url: a 43-character verifier, the RFC 7636 §4.1 minimum length with
/// 256 bits of entropy.
pub fn generate() -> Pkce {
    let verifier = random_token(32);
    Pkce {
        challenge: s256(&verifier),
        verifier,
    }
}

/// `BASE64URL(SHA256(ASCII(verifier)))` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// `n` random bytes as base64url, for verifiers, state, nonce and jti values.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The system RNG failing is unrecoverable for a security tool; no value is better than a weak one.
    aws_lc_rs::rand::fill(&mut bytes).expect("system random number generator");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_example() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifiers_are_fresh_and_long_enough() {
        let a = generate();
        let b = generate();
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(a.verifier.len(), 43);
        assert_eq!(a.challenge, s256(&a.verifier));
    }
}
