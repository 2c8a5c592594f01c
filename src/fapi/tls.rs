//! TLS facts about an origin, learned from one handshake made with the harness's own settings.
//!
//! reqwest does not expose the negotiated protocol, so each https origin gets one extra
//! handshake per run (cached by `http.rs`); its version and cipher suite go into the evidence.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls_platform_verifier::ConfigVerifierExt;

/// The client configuration the harness trusts with: the CA bundle if given, else the system.
pub fn client_config(ca_bundle: Option<&[u8]>) -> Result<rustls::ClientConfig, String> {
    match ca_bundle {
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            let mut reader = pem;
            for cert in rustls_pemfile::certs(&mut reader) {
                let cert = cert.map_err(|e| format!("CA bundle: {e}"))?;
                roots.add(cert).map_err(|e| format!("CA bundle: {e}"))?;
            }
            Ok(rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth())
        }
        None => rustls::ClientConfig::with_platform_verifier().map_err(|e| e.to_string()),
    }
}

/// `TLSv1_3 TLS13_AES_256_GCM_SHA384` for `host:port`, or why the handshake failed.
pub async fn negotiated(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<String, String> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("bad server name {host}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| e.to_string())?;
        let tls = connector
            .connect(name, tcp)
            .await
            .map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let version = conn
            .protocol_version()
            .map(|v| format!("{v:?}"))
            .unwrap_or_default();
        let suite = conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite()))
            .unwrap_or_default();
        Ok(format!("{version} {suite}").trim().to_owned())
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| "handshake timed out".to_owned())?
}
