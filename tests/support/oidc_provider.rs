//! The oidc-provider fixture (`fixtures/oidc-provider`), started by its script with its own
//! devInteractions login and consent pages, for the login tests; killed on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct OidcProvider {
    child: Child,
    pub issuer: String,
    /// The fixture's protected resource.
    pub resource: String,
    /// The server's stderr so far: error events and, with `OP_LOG_COOKIES`, every cookie it set.
    log: Arc<Mutex<Vec<String>>>,
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/oidc-provider")
}

/// Why the fixture cannot run here (Node.js, openssl or its npm packages are missing), if it
/// cannot. Each test decides whether that skips or fails, after its own `FAPI_HARNESS_*` variable.
pub fn missing() -> Option<String> {
    let on_path = |name: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    if !on_path("node") || !on_path("openssl") {
        return Some("node and openssl are needed for the oidc-provider fixture".into());
    }
    if !fixtures().join("node_modules/oidc-provider").is_dir() {
        return Some("fixtures/oidc-provider/node_modules is missing (npm ci)".into());
    }
    None
}

impl OidcProvider {
    /// Starts the fixture on two free loopback ports with devInteractions pages
    /// (`OP_INTERACTIONS=dev`) and cookie logging (`OP_LOG_COOKIES=1`).
    pub fn start() -> OidcProvider {
        let (op, rs) = (super::free_port(), super::free_port());
        let mut child = Command::new(fixtures().join("start.sh"))
            .env("OP_PORT", op.to_string())
            .env("RS_PORT", rs.to_string())
            .env("OP_INTERACTIONS", "dev")
            .env("OP_LOG_COOKIES", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("oidc-provider ") && line.contains("issuer https://") {
                    let _ = ready_tx.send(());
                }
            }
        });
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let server = OidcProvider {
            child,
            issuer: format!("https://127.0.0.1:{op}"),
            resource: format!("https://127.0.0.1:{rs}/accounts"),
            log,
        };
        // The test PKI (gen-pki.sh, RSA keys) may be made first.
        if ready_rx.recv_timeout(Duration::from_secs(120)).is_err() {
            panic!(
                "oidc-provider did not start:\n{}",
                server.log.lock().unwrap().join("\n")
            );
        }
        server
    }

    /// The values of every cookie the AS set so far (long enough to be credentials).
    pub fn cookie_values(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .log
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("[cookie] "))
            .filter_map(|c| c.split_once('=').map(|(_, v)| v.to_owned()))
            .filter(|v| v.len() >= 8)
            .collect();
        v.sort();
        v.dedup();
        v
    }
}
