//! Key and certificate material of the target's clients: parsing, algorithm choice, public JWKs,
//! and the check that a client certificate belongs to its key.
//!
//! Private key bytes live only in `SigningKey` and never print: `Debug` shows the kid and alg.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// A JWS algorithm FAPI 2.0 permits (FAPI2-SP-5.4.1-1: PS256, ES256, EdDSA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwsAlg {
    Ps256,
    Es256,
    EdDsa,
}

impl JwsAlg {
    pub fn parse(s: &str) -> Option<JwsAlg> {
        match s {
            "PS256" => Some(JwsAlg::Ps256),
            "ES256" => Some(JwsAlg::Es256),
            "EdDSA" => Some(JwsAlg::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlg::Ps256 => "PS256",
            JwsAlg::Es256 => "ES256",
            JwsAlg::EdDsa => "EdDSA",
        }
    }

    pub fn jsonwebtoken(self) -> Algorithm {
        match self {
            JwsAlg::Ps256 => Algorithm::PS256,
            JwsAlg::Es256 => Algorithm::ES256,
            JwsAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// What kind of key a PEM held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Rsa,
    EcP256,
    Ed25519,
}

impl KeyKind {
    fn default_alg(self) -> JwsAlg {
        match self {
            KeyKind::Rsa => JwsAlg::Ps256,
            KeyKind::EcP256 => JwsAlg::Es256,
            KeyKind::Ed25519 => JwsAlg::EdDsa,
        }
    }

    fn fits(self, alg: JwsAlg) -> bool {
        self.default_alg() == alg
    }
}

/// A client's signing key, ready to sign, with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub alg: JwsAlg,
    pub kid: String,
    pub kind: KeyKind,
    encoding: EncodingKey,
    /// Public JWK (with `kid` and `alg`), for DPoP `jwk` headers and for thumbprints.
    pub public_jwk: Value,
    /// DER SubjectPublicKeyInfo, to compare with a certificate's key.
    pub spki_der: Vec<u8>,
}

impl SigningKey {
    pub fn encoding_key(&self) -> &EncodingKey {
        &self.encoding
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(kid={}, alg={})", self.kid, self.alg.as_str())
    }
}

/// Why key material was refused. Never carries key bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError {
    pub message: String,
    pub hint: String,
}

fn key_error(message: impl Into<String>, hint: impl Into<String>) -> KeyError {
    KeyError {
        message: message.into(),
        hint: hint.into(),
    }
}

/// Parses a private key PEM and prepares it for signing with `alg` (or the key's natural alg).
pub fn parse_signing_key(
    pem: &str,
    alg: Option<&str>,
    kid: Option<&str>,
) -> Result<SigningKey, KeyError> {
    if !pem.contains("-----BEGIN") {
        return Err(key_error(
            "signing key is not PEM (no -----BEGIN line)",
            "give a PKCS#8 PEM private key, e.g. pem: ${file:keys/client.key}",
        ));
    }
    if pem.contains("ENCRYPTED PRIVATE KEY") {
        return Err(key_error(
            "signing key is encrypted",
            "decrypt it first: openssl pkcs8 -in key.pem -nocrypt -out key-plain.pem",
        ));
    }
    let pair = rcgen::KeyPair::from_pem(pem).map_err(|e| {
        key_error(
            format!("signing key PEM does not parse: {e}"),
            "use an unencrypted PKCS#8 (BEGIN PRIVATE KEY), PKCS#1 RSA or SEC1 EC key",
        )
    })?;
    let spki_der = rcgen::PublicKeyData::subject_public_key_info(&pair);
    let (kind, mut jwk) = public_jwk_from_spki(&spki_der)?;
    let alg = match alg {
        None => kind.default_alg(),
        Some(a) => {
            let parsed = JwsAlg::parse(a).ok_or_else(|| {
                key_error(
                    format!("unsupported signing alg `{a}`"),
                    "FAPI 2.0 allows PS256, ES256 and EdDSA (FAPI2-SP-5.4.1-1)",
                )
            })?;
            if !kind.fits(parsed) {
                return Err(key_error(
                    format!("alg `{a}` does not fit a {kind:?} key"),
                    format!("use {} for this key", kind.default_alg().as_str()),
                ));
            }
            parsed
        }
    };
    let pem_bytes = pem.as_bytes();
    let encoding = match kind {
        KeyKind::Rsa => EncodingKey::from_rsa_pem(pem_bytes),
        KeyKind::EcP256 => EncodingKey::from_ec_pem(pem_bytes),
        KeyKind::Ed25519 => EncodingKey::from_ed_pem(pem_bytes),
    }
    .map_err(|e| {
        key_error(
            format!("signing key cannot be used for {}: {e}", alg.as_str()),
            "convert it to PKCS#8: openssl pkcs8 -topk8 -nocrypt -in key.pem",
        )
    })?;
    let kid = kid.map(str::to_owned).unwrap_or_else(|| thumbprint(&jwk));
    if let Some(obj) = jwk.as_object_mut() {
        obj.insert("kid".into(), Value::String(kid.clone()));
        obj.insert("alg".into(), Value::String(alg.as_str().into()));
        obj.insert("use".into(), Value::String("sig".into()));
    }
    Ok(SigningKey {
        alg,
        kid,
        kind,
        encoding,
        public_jwk: jwk,
        spki_der,
    })
}

/// The public JWK (RFC 7517) of a DER SubjectPublicKeyInfo.
pub fn public_jwk_from_spki(spki_der: &[u8]) -> Result<(KeyKind, Value), KeyError> {
    let (_, spki) = SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| {
        key_error(
            format!("public key does not parse: {e}"),
            "use an RSA, P-256 or Ed25519 key",
        )
    })?;
    let b64 = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
    let oid = spki.algorithm.algorithm.to_id_string();
    if oid == "1.3.101.112" {
        let x = spki.subject_public_key.data.as_ref();
        return Ok((
            KeyKind::Ed25519,
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(x)}),
        ));
    }
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => {
            if rsa.key_size() < 2048 {
                return Err(key_error(
                    format!("RSA key has {} bits", rsa.key_size()),
                    "FAPI requires RSA keys of at least 2048 bits (FAPI2-SP-5.4.1-2)",
                ));
            }
            let n = strip_leading_zeros(rsa.modulus);
            let e = strip_leading_zeros(rsa.exponent);
            Ok((
                KeyKind::Rsa,
                json!({"kty": "RSA", "n": b64(n), "e": b64(e)}),
            ))
        }
        Ok(PublicKey::EC(point)) => {
            let data = point.data();
            // Uncompressed P-256 point: 0x04 || X (32) || Y (32).
            if data.len() != 65 || data.first() != Some(&4) {
                return Err(key_error(
                    "EC key is not an uncompressed P-256 key",
                    "FAPI 2.0 uses P-256 for ES256",
                ));
            }
            Ok((
                KeyKind::EcP256,
                json!({"kty": "EC", "crv": "P-256", "x": b64(&data[1..33]), "y": b64(&data[33..65])}),
            ))
        }
        _ => Err(key_error(
            format!("unsupported key type (OID {oid})"),
            "use an RSA (≥2048 bits), P-256 or Ed25519 key",
        )),
    }
}

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b
        .iter()
        .position(|&x| x != 0)
        .unwrap_or(b.len().saturating_sub(1));
    &b[first..]
}

/// The PEM text (`-----BEGIN PUBLIC KEY-----`, 64-character base64 lines, a final newline) of a
/// DER SubjectPublicKeyInfo: what `openssl pkey -pubout` writes, and the string a verifier that
/// confuses algorithms would use as an HMAC secret (RFC 8725 §2.1).
pub fn public_key_pem(spki_der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki_der);
    let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url), over the required members in lexical order.
pub fn thumbprint(jwk: &Value) -> String {
    let get = |k: &str| jwk.get(k).and_then(Value::as_str).unwrap_or("");
    let canonical = match get("kty") {
        "RSA" => format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, get("e"), get("n")),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            get("crv"),
            get("x"),
            get("y")
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            get("crv"),
            get("x")
        ),
        other => format!(r#"{{"kty":"{other}"}}"#),
    };
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, canonical.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A client certificate with its key, verified to belong together.
#[derive(Clone)]
pub struct ClientCert {
    /// Certificate chain PEM followed by the key PEM, as reqwest's `Identity::from_pem` wants.
    pub identity_pem: Vec<u8>,
    pub subject: String,
    /// RFC 8705 `x5t#S256`: SHA-256 of the leaf certificate DER, base64url.
    pub x5t_s256: String,
}

impl fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientCert(subject={})", self.subject)
    }
}

/// Parses a certificate PEM and its key PEM and checks that the certificate's key is that key.
pub fn parse_client_cert(cert_pem: &str, key_pem: &str) -> Result<ClientCert, KeyError> {
    let mut reader = cert_pem.as_bytes();
    let certs: Vec<_> = rustls_pemfile::certs(&mut reader)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            key_error(
                format!("certificate PEM does not parse: {e}"),
                "give a PEM certificate (BEGIN CERTIFICATE)",
            )
        })?;
    let leaf = certs.first().ok_or_else(|| {
        key_error(
            "certificate PEM holds no certificate",
            "give a PEM certificate (BEGIN CERTIFICATE)",
        )
    })?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| {
        key_error(
            format!("certificate does not parse: {e}"),
            "give an X.509 certificate in PEM",
        )
    })?;
    let pair = rcgen::KeyPair::from_pem(key_pem).map_err(|e| {
        key_error(
            format!("certificate key PEM does not parse: {e}"),
            "use an unencrypted PKCS#8, PKCS#1 RSA or SEC1 EC key",
        )
    })?;
    if cert.public_key().raw != rcgen::PublicKeyData::subject_public_key_info(&pair).as_slice() {
        return Err(key_error(
            "certificate does not match its key",
            "mtls.cert and mtls.key must be the certificate and the private key of one key pair",
        ));
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, leaf.as_ref());
    let mut identity_pem = cert_pem.trim_end().as_bytes().to_vec();
    identity_pem.push(b'\n');
    identity_pem.extend_from_slice(key_pem.as_bytes());
    Ok(ClientCert {
        identity_pem,
        subject: cert.subject().to_string(),
        x5t_s256: URL_SAFE_NO_PAD.encode(digest.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem_of(alg: &'static rcgen::SignatureAlgorithm) -> String {
        rcgen::KeyPair::generate_for(alg).unwrap().serialize_pem()
    }

    #[test]
    fn public_key_pem_is_the_usual_spki_pem() {
        for alg in [&rcgen::PKCS_ECDSA_P256_SHA256, &rcgen::PKCS_ED25519] {
            let pair = rcgen::KeyPair::generate_for(alg).unwrap();
            let key = parse_signing_key(&pair.serialize_pem(), None, None).unwrap();
            assert_eq!(public_key_pem(&key.spki_der), pair.public_key_pem());
        }
        let rsa =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap();
        let key = parse_signing_key(&rsa.serialize_pem(), Some("PS256"), None).unwrap();
        let pem = public_key_pem(&key.spki_der);
        assert_eq!(pem, rsa.public_key_pem());
        assert!(pem.lines().all(|l| l.len() <= 64) && pem.ends_with("-----END PUBLIC KEY-----\n"));
    }

    #[test]
    fn picks_alg_from_key_type() {
        let ec = parse_signing_key(&pem_of(&rcgen::PKCS_ECDSA_P256_SHA256), None, None).unwrap();
        assert_eq!(ec.alg, JwsAlg::Es256);
        assert_eq!(ec.public_jwk["kty"], "EC");
        let ed = parse_signing_key(&pem_of(&rcgen::PKCS_ED25519), None, Some("k1")).unwrap();
        assert_eq!(ed.alg, JwsAlg::EdDsa);
        assert_eq!(ed.kid, "k1");
    }

    #[test]
    fn rejects_mismatched_alg_and_garbage() {
        let ec = pem_of(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(
            parse_signing_key(&ec, Some("PS256"), None)
                .unwrap_err()
                .message
                .contains("does not fit")
        );
        assert!(
            parse_signing_key(&ec, Some("RS256"), None)
                .unwrap_err()
                .message
                .contains("unsupported")
        );
        assert!(
            parse_signing_key("hello", None, None)
                .unwrap_err()
                .message
                .contains("not PEM")
        );
        let broken = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(parse_signing_key(broken, None, None).is_err());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let k = parse_signing_key(&pem_of(&rcgen::PKCS_ECDSA_P256_SHA256), None, Some("kid-1"))
            .unwrap();
        assert_eq!(format!("{k:?}"), "SigningKey(kid=kid-1, alg=ES256)");
    }

    #[test]
    fn cert_must_match_key() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["client".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let ok = parse_client_cert(&cert.pem(), &key.serialize_pem()).unwrap();
        assert_eq!(ok.x5t_s256.len(), 43);
        let other = pem_of(&rcgen::PKCS_ECDSA_P256_SHA256);
        let err = parse_client_cert(&cert.pem(), &other).unwrap_err();
        assert_eq!(err.message, "certificate does not match its key");
        assert!(parse_client_cert("nope", &other).is_err());
    }

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1 example key and its thumbprint.
        let jwk = json!({"kty":"RSA","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
        assert_eq!(
            thumbprint(&jwk),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
