//! The clients pre-registered at the reference AS: two per authentication method, each with its
//! keys, a client certificate from the test CA, and exactly one redirect URI.
//!
//! Every client has a certificate so that mTLS-bound tokens work with `private_key_jwt` too.

use crate::plan::ClientAuth;
use crate::target::keys::{SigningKey, parse_signing_key};

use super::pki::{IssuedCert, Pki};

/// A registered client.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    /// The `client_id`.
    pub client_id: String,
    /// How it authenticates at PAR, token, introspection and revocation.
    pub auth: ClientAuth,
    /// Its `private_key_jwt` key (the AS keeps only the public JWK in use).
    pub signing_key: Option<SigningKey>,
    /// PKCS#8 PEM of `signing_key`, for the target file the harness reads.
    pub signing_key_pem: Option<String>,
    /// Its client certificate, issued by the test CA.
    pub cert: IssuedCert,
    /// The only redirect URI registered for it.
    pub redirect_uri: String,
}

/// The key a `private_key_jwt` client signs its assertions with.
#[derive(Clone, Copy)]
enum KeySpec {
    /// P-256, ES256.
    Ec,
    /// RSA 2048, PS256.
    Rsa,
}

impl KeySpec {
    fn generate(self) -> Result<(SigningKey, String), String> {
        let pair = match self {
            KeySpec::Ec => rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            KeySpec::Rsa => {
                rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
            }
        }
        .map_err(|e| format!("cannot generate a client key: {e}"))?;
        let pem = pair.serialize_pem();
        // An RSA key would default to PS256 anyway; naming it keeps RS256 out of reach.
        let alg = match self {
            KeySpec::Ec => "ES256",
            KeySpec::Rsa => "PS256",
        };
        let parsed = parse_signing_key(&pem, Some(alg), None).map_err(|e| e.message)?;
        Ok((parsed, pem))
    }
}

/// Makes the four reference clients. `base` is the origin of their redirect URIs: the AS's own
/// (`https://127.0.0.1:PORT`), because the harness reads them from `Location` and never follows,
/// or another loopback port where a manual login's listener receives the redirect.
pub fn generate(pki: &Pki, base: &str) -> Result<Vec<RegisteredClient>, String> {
    let specs = [
        ("client-pkj-1", ClientAuth::PrivateKeyJwt, Some(KeySpec::Ec)),
        (
            "client-pkj-2",
            ClientAuth::PrivateKeyJwt,
            Some(KeySpec::Rsa),
        ),
        ("client-mtls-1", ClientAuth::TlsClientAuth, None),
        ("client-mtls-2", ClientAuth::TlsClientAuth, None),
    ];
    specs
        .into_iter()
        .map(|(id, auth, key_spec)| {
            let (signing_key, signing_key_pem) = match key_spec {
                Some(spec) => {
                    let (k, pem) = spec.generate()?;
                    (Some(k), Some(pem))
                }
                None => (None, None),
            };
            let cert = pki
                .issue_client(id)
                .map_err(|e| format!("cannot issue a client certificate: {e}"))?;
            Ok(RegisteredClient {
                client_id: id.to_owned(),
                auth,
                signing_key,
                signing_key_pem,
                cert,
                redirect_uri: format!("{base}/cb/{id}"),
            })
        })
        .collect()
}
