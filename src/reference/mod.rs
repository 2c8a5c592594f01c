//! The built-in reference FAPI 2.0 Security Profile authorization server and resource server,
//! with fault switches: the harness's embedded default target and its test bed.
//!
//! This file owns the public API: start, the facts a caller needs (issuer, resource URL, CA),
//! writing a target file for the harness, and shutdown. Both servers listen on 127.0.0.1 only.

mod app;
mod authorize;
mod client_auth;
mod dpop;
pub mod fault;
mod introspection;
mod jwks;
mod jws;
mod metadata;
mod oauth;
mod par;
mod pki;
mod registry;
mod resource;
mod state;
mod tls;
mod token;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use fault::{Fault, UnknownFault};

use app::{App, Urls};
use fault::Faults;
use jwks::AsKey;
use pki::Pki;
use registry::RegisteredClient;
use state::{Clock, Store, random_value};

/// How to start the reference servers.
#[derive(Clone)]
pub struct ReferenceOptions {
    /// Non-conformances to switch on; empty for a conformant server.
    pub faults: Vec<Fault>,
    /// Port of the AS; 0 picks a free one.
    pub as_port: u16,
    /// Port of the RS; 0 picks a free one.
    pub rs_port: u16,
    /// Serve an HTML login and consent form instead of approving automatically.
    pub login_form: bool,
    /// Demand server-provided DPoP nonces at the PAR and token endpoints and the RS (RFC 9449
    /// §8, §9). Faults about nonces switch it on whatever this says.
    pub dpop_nonce: bool,
    /// Password of the user `alice` on the login form; random by default.
    pub login_password: String,
    /// Register the redirect URIs at `https://127.0.0.1:PORT` instead of on the AS's own port:
    /// a port where a manual login's listener can receive the redirect.
    pub redirect_port: Option<u16>,
}

impl Default for ReferenceOptions {
    fn default() -> Self {
        ReferenceOptions {
            faults: Vec::new(),
            as_port: 0,
            rs_port: 0,
            login_form: false,
            dpop_nonce: false,
            login_password: random_value(),
            redirect_port: None,
        }
    }
}

impl std::fmt::Debug for ReferenceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password is a secret; it never prints.
        f.debug_struct("ReferenceOptions")
            .field("faults", &self.faults)
            .field("as_port", &self.as_port)
            .field("rs_port", &self.rs_port)
            .field("login_form", &self.login_form)
            .field("dpop_nonce", &self.dpop_nonce)
            .field("login_password", &crate::redact::REDACTED)
            .field("redirect_port", &self.redirect_port)
            .finish()
    }
}

/// Why the reference servers could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    /// A port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port asked for (0 = any).
        port: u16,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Key or certificate generation failed.
    #[error("cannot generate the test keys and certificates: {0}")]
    Crypto(String),
    /// rustls refused the configuration.
    #[error("cannot configure TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// The running AS and RS. Dropping it stops both servers; `shutdown` also waits for them.
pub struct ReferenceServer {
    app: Arc<App>,
    ca_pem: String,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts the AS and the RS on 127.0.0.1 with fresh keys, certificates and clients.
pub async fn start(opts: ReferenceOptions) -> Result<ReferenceServer, ReferenceError> {
    let bind = |port: u16| async move {
        TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|source| ReferenceError::Bind { port, source })
    };
    let as_listener = bind(opts.as_port).await?;
    let rs_listener = bind(opts.rs_port).await?;
    let port_of = |l: &TcpListener, asked: u16| {
        l.local_addr()
            .map(|a| a.port())
            .map_err(|source| ReferenceError::Bind {
                port: asked,
                source,
            })
    };
    let issuer = format!("https://127.0.0.1:{}", port_of(&as_listener, opts.as_port)?);
    let rs_origin = format!("https://127.0.0.1:{}", port_of(&rs_listener, opts.rs_port)?);
    let faults: Faults = opts.faults.iter().copied().collect();

    // RSA key generation takes a noticeable slice of a second; keep it off the async workers.
    let expired = faults.on(Fault::TlsExpiredCertificate);
    let base = match opts.redirect_port {
        Some(port) => format!("https://127.0.0.1:{port}"),
        None => issuer.clone(),
    };
    let (pki, key, clients) = tokio::task::spawn_blocking(move || -> Result<_, ReferenceError> {
        let pki = Pki::generate(expired).map_err(|e| ReferenceError::Crypto(e.to_string()))?;
        let key = AsKey::generate().map_err(ReferenceError::Crypto)?;
        let clients = registry::generate(&pki, &base).map_err(ReferenceError::Crypto)?;
        Ok((pki, key, clients))
    })
    .await
    .map_err(|e| ReferenceError::Crypto(e.to_string()))??;
    let config = tls::server_config(&pki, faults.on(Fault::MtlsUntrustedClientCert))?;

    let app = Arc::new(App {
        urls: Urls::new(&issuer, &rs_origin),
        faults,
        clock: Clock::default(),
        store: Store::default(),
        clients,
        key,
        login_form: opts.login_form,
        login_password: opts.login_password,
        login_cookies: Default::default(),
        dpop_nonce: opts.dpop_nonce || opts.faults.iter().any(|f| f.needs_dpop_nonce()),
    });
    let (stop, stopped) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(tls::serve(
            as_listener,
            config.clone(),
            app::as_router(app.clone()),
            stopped.clone(),
        )),
        tokio::spawn(tls::serve(
            rs_listener,
            config,
            app::rs_router(app.clone()),
            stopped,
        )),
    ];
    Ok(ReferenceServer {
        app,
        ca_pem: pki.ca_pem.clone(),
        stop,
        tasks,
    })
}

impl ReferenceServer {
    /// The issuer identifier, `https://127.0.0.1:PORT` without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.app.urls.issuer
    }

    /// Whether the servers demand DPoP nonces (asked for, or implied by a fault).
    pub fn dpop_nonce(&self) -> bool {
        self.app.dpop_nonce
    }

    /// The protected resource URL on the RS.
    pub fn resource_url(&self) -> &str {
        &self.app.urls.resource
    }

    /// PEM of the test CA that issued the server and client certificates.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The password of user `alice` on the login form.
    pub fn login_password(&self) -> &str {
        &self.app.login_password
    }

    /// The login session cookie values the login form handed out so far: secrets that must never
    /// reach a report (the leak tests look for them).
    pub fn login_cookies(&self) -> Vec<String> {
        self.app
            .login_cookies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Moves the servers' clock forward, so that expiry can be observed without waiting.
    pub fn advance_clock(&self, secs: u32) {
        self.app.clock.advance(i64::from(secs));
    }

    /// Writes `target.yaml` (the harness target format, `src/target/model.rs`) and the PEM files
    /// it references into `dir`; returns the path of `target.yaml`. With the login form, the
    /// target logs in with `http-form` steps, the password read from `login-password`.
    pub fn write_target(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("ca.pem"), &self.ca_pem)?;
        let faults: Vec<&str> = Fault::ALL
            .iter()
            .filter(|f| self.app.faults.on(**f))
            .map(|f| f.name())
            .collect();
        let name = if faults.is_empty() {
            "fapi-harness reference".to_owned()
        } else {
            format!("fapi-harness reference (faults: {})", faults.join(", "))
        };
        let mut yaml = String::new();
        // Values are ours (URLs, ids, file names), none needs YAML quoting beyond what is used.
        let _ = writeln!(yaml, "target: \"{name}\"");
        let _ = writeln!(yaml, "issuer: {}", self.issuer());
        let _ = writeln!(yaml, "ca_bundle: ca.pem");
        let _ = writeln!(yaml, "sender_constraints: [dpop, mtls]");
        let _ = writeln!(yaml, "resources:\n  - url: {}", self.resource_url());
        if self.app.login_form {
            write_private(&dir.join(LOGIN_PASSWORD_FILE), &self.app.login_password)?;
            let _ = writeln!(
                yaml,
                "login:\n  mode: http-form\n  steps:\n    - name: login\n      fill:\n        username: {}\n        password: ${{file:{LOGIN_PASSWORD_FILE}}}\n    - name: consent\n      submit: \"button[value=approve]\"",
                authorize::USERNAME
            );
        } else {
            let _ = writeln!(yaml, "login:\n  mode: none");
        }
        let _ = writeln!(yaml, "clients:");
        for c in &self.app.clients {
            write_client(dir, &mut yaml, c)?;
        }
        let path = dir.join("target.yaml");
        std::fs::write(&path, yaml)?;
        Ok(path)
    }

    /// Stops both servers and waits until they have let go of their ports.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            // A server task only ends by this signal; a join error would mean it panicked,
            // and there is nothing left to stop then.
            let _ = task.await;
        }
    }

    #[cfg(test)]
    fn app(&self) -> &App {
        &self.app
    }
}

impl Drop for ReferenceServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The file beside `target.yaml` that holds the login form's password.
const LOGIN_PASSWORD_FILE: &str = "login-password";

/// Writes a secret readable by its owner only (where the platform has modes).
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, contents.as_bytes())
}

fn write_client(dir: &Path, yaml: &mut String, c: &RegisteredClient) -> std::io::Result<()> {
    let id = &c.client_id;
    let auth = match c.auth {
        crate::plan::ClientAuth::PrivateKeyJwt => "private_key_jwt",
        crate::plan::ClientAuth::TlsClientAuth => "tls_client_auth",
    };
    let _ = writeln!(
        yaml,
        "  - name: {id}\n    client_id: {id}\n    auth_method: {auth}"
    );
    if let (Some(key), Some(pem)) = (&c.signing_key, &c.signing_key_pem) {
        let file = format!("{id}-signing.key");
        std::fs::write(dir.join(&file), pem)?;
        let _ = writeln!(
            yaml,
            "    signing_key:\n      pem: ${{file:{file}}}\n      alg: {}",
            key.alg.as_str()
        );
    }
    let (cert_file, key_file) = (format!("{id}.crt"), format!("{id}-tls.key"));
    std::fs::write(dir.join(&cert_file), &c.cert.cert_pem)?;
    std::fs::write(dir.join(&key_file), &c.cert.key_pem)?;
    let _ = writeln!(
        yaml,
        "    mtls:\n      cert: ${{file:{cert_file}}}\n      key: ${{file:{key_file}}}"
    );
    let _ = writeln!(yaml, "    redirect_uris:\n      - {}", c.redirect_uri);
    let _ = writeln!(yaml, "    scope: openid accounts");
    Ok(())
}
