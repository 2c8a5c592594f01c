//! The reference server's test PKI: a CA made at start, the server certificate it signs (SAN
//! 127.0.0.1 and localhost), and the client certificates of the pre-registered clients.
//!
//! Everything is generated in memory with rcgen; nothing here is meant to be trusted beyond a test.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate with its key, in the forms the server and the target file need.
#[derive(Clone)]
pub struct IssuedCert {
    /// PEM of the certificate.
    pub cert_pem: String,
    /// PKCS#8 PEM of its private key.
    pub key_pem: String,
    /// DER of the certificate.
    pub der: CertificateDer<'static>,
    /// The subject DN as x509-parser prints it (what `tls_client_auth` matches on).
    pub subject_dn: String,
}

impl std::fmt::Debug for IssuedCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IssuedCert({})", self.subject_dn)
    }
}

/// The CA and the server certificate.
pub struct Pki {
    /// PEM of the CA certificate: the only root a client of the reference server needs.
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
    /// The server's certificate.
    pub server: IssuedCert,
    server_key_der: Vec<u8>,
}

impl Pki {
    /// Makes a CA and a server certificate; an expired one when `expired_server_cert` is set.
    pub fn generate(expired_server_cert: bool) -> Result<Pki, rcgen::Error> {
        let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = dn("fapi-harness reference test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::IpAddr::V4(
                std::net::Ipv4Addr::LOCALHOST,
            )));
        params.distinguished_name = dn("127.0.0.1");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let now = time::OffsetDateTime::now_utc();
        if expired_server_cert {
            params.not_before = now - time::Duration::days(30);
            params.not_after = now - time::Duration::days(1);
        } else {
            params.not_before = now - time::Duration::days(1);
            params.not_after = now + time::Duration::days(365);
        }
        let cert = params.signed_by(&server_key, &issuer)?;
        let server = issued(cert.der().clone(), cert.pem(), &server_key);
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            issuer,
            server,
            server_key_der: server_key.serialize_der(),
        })
    }

    /// Issues a client certificate with subject `CN=<common_name>`.
    pub fn issue_client(&self, common_name: &str) -> Result<IssuedCert, rcgen::Error> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn(common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(1);
        params.not_after = now + time::Duration::days(365);
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(issued(cert.der().clone(), cert.pem(), &key))
    }

    /// The server certificate chain and key for rustls.
    pub fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        (
            vec![self.server.der.clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_der.clone())),
        )
    }
}

fn dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn issued(der: CertificateDer<'static>, cert_pem: String, key: &KeyPair) -> IssuedCert {
    IssuedCert {
        cert_pem,
        key_pem: key.serialize_pem(),
        subject_dn: subject_dn(&der).unwrap_or_default(),
        der,
    }
}

/// RFC 8705 §3.1: base64url SHA-256 of the certificate DER.
pub fn x5t_s256(der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, der).as_ref())
}

/// The subject DN of a DER certificate, as x509-parser prints it.
pub fn subject_dn(der: &[u8]) -> Option<String> {
    x509_parser::parse_x509_certificate(der)
        .ok()
        .map(|(_, cert)| cert.subject().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_certificates_chain_to_the_ca_and_carry_their_subject() {
        let pki = Pki::generate(false).unwrap();
        let client = pki.issue_client("client-mtls-1").unwrap();
        assert_eq!(client.subject_dn, "CN=client-mtls-1");
        let parsed =
            crate::target::keys::parse_client_cert(&client.cert_pem, &client.key_pem).unwrap();
        assert_eq!(parsed.x5t_s256, x5t_s256(&client.der));
        let (_, ca) = x509_parser::pem::parse_x509_pem(pki.ca_pem.as_bytes()).unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(&client.der).unwrap();
        assert_eq!(
            cert.issuer().to_string(),
            ca.parse_x509().unwrap().subject().to_string()
        );
    }
}
