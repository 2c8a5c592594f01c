//! TLS for the reference servers: the rustls configuration (TLS 1.2+, BCP 195 suites, optional
//! client certificate) and our own accept loop, so each request carries the peer certificate.
//!
//! axum's `serve` cannot hand a TLS peer certificate to handlers; this loop performs the
//! handshake, puts the certificate into the request extensions and serves HTTP/1.1 or HTTP/2.

use std::sync::Arc;
use std::time::Duration;

use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::pki::Pki;

/// A client that never finishes its handshake must not hold a task for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The client certificate of the connection a request arrived on, if the client sent one.
#[derive(Clone, Debug, Default)]
pub struct PeerCert(pub Option<CertificateDer<'static>>);

/// Builds the server configuration. `accept_any_client_cert` is the `mtls-untrusted-client-cert`
/// fault: any certificate is taken, whoever issued it.
pub fn server_config(
    pki: &Pki,
    accept_any_client_cert: bool,
) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(bcp195_provider());
    let verifier: Arc<dyn ClientCertVerifier> = if accept_any_client_cert {
        Arc::new(AnyClientCert {
            provider: provider.clone(),
        })
    } else {
        let mut roots = RootCertStore::empty();
        let mut ca = pki.ca_pem.as_bytes();
        for cert in rustls_pemfile::certs(&mut ca) {
            roots.add(cert.map_err(|e| rustls::Error::General(e.to_string()))?)?;
        }
        // Optional: PAR and token requests of private_key_jwt clients come without a certificate.
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?
    };
    let (chain, key) = pki.server_identity();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// aws-lc-rs with the cipher suites spelled out: FAPI2-SP-5.2.2-1 allows only BCP 195
/// recommended suites on TLS 1.2, i.e. ECDHE with an AEAD cipher. rustls has no others today,
/// but an explicit list keeps a future rustls default from widening what we offer.
fn bcp195_provider() -> CryptoProvider {
    use aws_lc_rs::cipher_suite as cs;
    CryptoProvider {
        cipher_suites: vec![
            cs::TLS13_AES_256_GCM_SHA384,
            cs::TLS13_AES_128_GCM_SHA256,
            cs::TLS13_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        ..aws_lc_rs::default_provider()
    }
}

/// Accepts connections on `listener` until `shutdown` changes, serving `router` on each.
pub async fn serve(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    router: Router,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = TlsAcceptor::from(config);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _)) => {
                    connections.spawn(serve_connection(acceptor.clone(), tcp, router.clone()));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(acceptor: TlsAcceptor, tcp: TcpStream, router: Router) {
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        // A failed handshake (wrong version, untrusted client certificate) is the client's
        // problem; rustls already sent the alert.
        return;
    };
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|c| c.clone().into_owned());
    let service = TowerToHyperService::new(router.layer(Extension(PeerCert(peer))));
    // A client closing its connection mid-request is not a server error worth reporting.
    let _ = Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

/// The `mtls-untrusted-client-cert` fault: takes any client certificate, checking only that
/// the client holds its key (the handshake signature), not who issued it.
#[derive(Debug)]
struct AnyClientCert {
    provider: Arc<CryptoProvider>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
