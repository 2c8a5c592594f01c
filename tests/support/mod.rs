//! A small HTTPS authorization-server double for end-to-end tests of the binary.
//!
//! It serves metadata, a JWK Set and an authorization endpoint over TLS on 127.0.0.1, with knobs
//! to break each one, to echo what it receives (redaction tests) and to send hostile content.
#![allow(dead_code)]

pub mod oidc_provider;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde_json::{Value, json};

/// What the double serves. Tests mutate it before or between runs.
#[derive(Clone)]
pub struct Behavior {
    pub metadata: Value,
    pub jwks: Value,
    /// Extra response headers on every response.
    pub headers: Vec<(String, String)>,
    /// Response body of the authorization endpoint.
    pub authorize_body: String,
    /// Echo request headers back in the body and as response headers.
    pub echo: bool,
    /// Raw body bytes served at `/hostile` with this content type.
    pub hostile: Option<(Vec<u8>, String)>,
    /// Delay before answering the JWK Set.
    pub jwks_delay: Duration,
    /// Replaces both metadata documents with a misbehaving response.
    pub discovery_raw: Option<RawBody>,
    /// The authorization endpoint answers 302 to this location instead of its error page.
    pub authorize_redirect: Option<String>,
    /// When set, the double completes a code flow and issues this ID token: PAR answers 201,
    /// the authorization endpoint redirects (303) to the pushed `redirect_uri` with a code, the
    /// pushed `state` and `iss`, and the token endpoint answers 200 with an access token and
    /// this `id_token`. It checks nothing it receives. Unset, PAR refuses every push
    /// (400 `invalid_request`) and the token endpoint is 404.
    pub id_token: Option<String>,
    /// The parameters of the last pushed authorization request.
    pub pushed: Vec<(String, String)>,
    /// The token response's `expires_in`, if any.
    pub expires_in: Option<u64>,
    /// What `/revoke` answers: a status and a JSON body. `/resource` serves every request.
    pub revocation: (u16, Value),
    /// What `/introspect` answers: a status and a JSON body.
    pub introspection: (u16, Value),
}

/// A misbehaving response body, for the hostile-target tests.
#[derive(Clone)]
pub enum RawBody {
    /// These bytes with this content type.
    Bytes(Vec<u8>, String),
    /// `HUGE_BODY_BYTES` of JSON white space, streamed so that the double never holds it all.
    Huge,
    /// Headers at once, then one byte a second for `TRICKLE_SECS`: longer than any request
    /// timeout a test sets, yet bounded so that a stray connection cannot outlive the test run.
    Trickle,
}

/// Size of `RawBody::Huge`: 100 MB, far above any body cap.
pub const HUGE_BODY_BYTES: usize = 100 * 1024 * 1024;
static HUGE_CHUNK: [u8; 64 * 1024] = [b' '; 64 * 1024];
const TRICKLE_SECS: u64 = 120;

fn raw_response(raw: &RawBody) -> Response {
    use axum::body::{Body, Bytes};
    use std::convert::Infallible;
    let (body, ct) = match raw {
        RawBody::Bytes(b, ct) => (Body::from(b.clone()), ct.clone()),
        RawBody::Huge => {
            let chunks = HUGE_BODY_BYTES / HUGE_CHUNK.len();
            let stream = futures_util::stream::iter(
                (0..chunks).map(|_| Ok::<_, Infallible>(Bytes::from_static(&HUGE_CHUNK))),
            );
            (Body::from_stream(stream), "application/json".into())
        }
        RawBody::Trickle => {
            let stream = futures_util::stream::unfold(0, |i| async move {
                if i >= TRICKLE_SECS {
                    return None;
                }
                if i > 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Some((Ok::<_, Infallible>(Bytes::from_static(b" ")), i + 1))
            });
            (Body::from_stream(stream), "application/json".into())
        }
    };
    ([("content-type", ct)], body).into_response()
}

pub struct TestAs {
    pub issuer: String,
    pub dir: tempfile::TempDir,
    pub behavior: Arc<Mutex<Behavior>>,
    pub runtime: tokio::runtime::Runtime,
}

fn conformant(issuer: &str) -> Behavior {
    Behavior {
        metadata: json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/token"),
            "pushed_authorization_request_endpoint": format!("{issuer}/par"),
            "jwks_uri": format!("{issuer}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "tls_client_auth"],
            "token_endpoint_auth_signing_alg_values_supported": ["PS256", "ES256"],
            "id_token_signing_alg_values_supported": ["PS256"],
            "dpop_signing_alg_values_supported": ["PS256", "ES256"],
            "tls_client_certificate_bound_access_tokens": true,
            "require_pushed_authorization_requests": true,
            "authorization_response_iss_parameter_supported": true,
            "scopes_supported": ["openid", "accounts"],
        }),
        jwks: json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}),
        headers: vec![(
            "Strict-Transport-Security".into(),
            "max-age=63072000; includeSubDomains".into(),
        )],
        authorize_body: "<html><body>invalid_request: use PAR</body></html>".into(),
        echo: false,
        hostile: None,
        jwks_delay: Duration::ZERO,
        discovery_raw: None,
        authorize_redirect: None,
        id_token: None,
        pushed: Vec::new(),
        expires_in: Some(60),
        revocation: (200, json!({})),
        introspection: (200, json!({"active": false})),
    }
}

fn with_headers(b: &Behavior, mut resp: Response, req_headers: &HeaderMap) -> Response {
    for (k, v) in &b.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            resp.headers_mut().insert(k, v);
        }
    }
    if b.echo {
        for (k, v) in req_headers {
            if let Ok(name) = HeaderName::try_from(format!("x-echo-{}", k.as_str())) {
                resp.headers_mut().insert(name, v.clone());
            }
        }
    }
    resp
}

fn json_resp(b: &Behavior, v: &Value, req_headers: &HeaderMap) -> Response {
    let mut body = v.clone();
    if b.echo
        && let Some(o) = body.as_object_mut()
    {
        let echoed: serde_json::Map<String, Value> = req_headers
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into()),
                )
            })
            .collect();
        o.insert("echo".into(), Value::Object(echoed));
    }
    let resp = ([("content-type", "application/json")], body.to_string()).into_response();
    with_headers(b, resp, req_headers)
}

async fn metadata(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap) -> Response {
    let b = s.lock().unwrap().clone();
    if let Some(raw) = &b.discovery_raw {
        return with_headers(&b, raw_response(raw), &h);
    }
    if b.metadata.is_null() {
        return with_headers(&b, (StatusCode::NOT_FOUND, "not found").into_response(), &h);
    }
    json_resp(&b, &b.metadata, &h)
}

async fn jwks(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap) -> Response {
    let b = s.lock().unwrap().clone();
    tokio::time::sleep(b.jwks_delay).await;
    json_resp(&b, &b.jwks, &h)
}

/// The request URI PAR hands out; the double serves one flow at a time.
const REQUEST_URI: &str = "urn:ietf:params:oauth:request_uri:test-double";

/// PAR, POST only, so that other methods get axum's 405 (RFC 9126 §2.3).
async fn par(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap, body: String) -> Response {
    let mut b = s.lock().unwrap();
    if b.id_token.is_none() {
        let refusal = axum::Json(json!({"error": "invalid_request"}));
        return (StatusCode::BAD_REQUEST, refusal).into_response();
    }
    b.pushed = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let created = json!({"request_uri": REQUEST_URI, "expires_in": 60});
    let mut resp = json_resp(&b, &created, &h);
    *resp.status_mut() = StatusCode::CREATED;
    resp
}

/// Where the authorization endpoint sends the user agent in a completed flow.
fn code_redirect(b: &Behavior, issuer: &str) -> Option<String> {
    let pushed = |k: &str| {
        b.pushed
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let mut to = url::Url::parse(pushed("redirect_uri")?).ok()?;
    to.query_pairs_mut()
        .append_pair("code", "test-double-code")
        .append_pair("state", pushed("state").unwrap_or(""))
        .append_pair("iss", issuer);
    Some(to.into())
}

async fn token(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap) -> Response {
    let b = s.lock().unwrap().clone();
    let Some(id_token) = &b.id_token else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut tokens = json!({"access_token": "test-double-access-token", "token_type": "DPoP",
        "id_token": id_token});
    if let Some(secs) = b.expires_in {
        tokens["expires_in"] = json!(secs);
    }
    json_resp(&b, &tokens, &h)
}

async fn revoke(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap) -> Response {
    let b = s.lock().unwrap().clone();
    canned(&b, &b.revocation, &h)
}

async fn introspect(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap) -> Response {
    let b = s.lock().unwrap().clone();
    canned(&b, &b.introspection, &h)
}

/// A JSON answer with the status a test chose.
fn canned(b: &Behavior, (status, body): &(u16, Value), h: &HeaderMap) -> Response {
    let mut resp = json_resp(b, body, h);
    *resp.status_mut() = StatusCode::from_u16(*status).unwrap();
    resp
}

/// A protected resource that serves any request, token or not.
async fn resource(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap) -> Response {
    let b = s.lock().unwrap().clone();
    json_resp(&b, &json!({"accounts": []}), &h)
}

async fn authorize(
    State(s): State<Arc<Mutex<Behavior>>>,
    h: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let b = s.lock().unwrap().clone();
    let issuer = b.metadata["issuer"].as_str().unwrap_or_default().to_owned();
    let pushed_flow =
        b.id_token.is_some() && uri.query().is_some_and(|q| q.contains("request_uri="));
    if let (true, Some(to)) = (pushed_flow, code_redirect(&b, &issuer)) {
        let resp = (StatusCode::SEE_OTHER, [("location", to)]).into_response();
        return with_headers(&b, resp, &h);
    }
    if let Some(to) = &b.authorize_redirect {
        let resp = (StatusCode::FOUND, [("location", to.as_str())]).into_response();
        return with_headers(&b, resp, &h);
    }
    let resp = (
        StatusCode::BAD_REQUEST,
        [("content-type", "text/html")],
        b.authorize_body.clone(),
    )
        .into_response();
    with_headers(&b, resp, &h)
}

async fn hostile(State(s): State<Arc<Mutex<Behavior>>>, h: HeaderMap) -> Response {
    let b = s.lock().unwrap().clone();
    let (body, ct) = b.hostile.clone().unwrap_or_default();
    let resp = ([("content-type", ct)], body).into_response();
    with_headers(&b, resp, &h)
}

impl TestAs {
    /// Starts the double on a free loopback port with conformant behaviour.
    pub fn start() -> TestAs {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let runtime = runtime();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = format!("https://127.0.0.1:{}", addr.port());

        let ca_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fapi-harness test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer_ca = rcgen::Issuer::new(ca_params, ca_key);
        let srv_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let srv_params =
            rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .unwrap();
        let srv_cert = srv_params.signed_by(&srv_key, &issuer_ca).unwrap();

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        let client_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        std::fs::write(dir.path().join("client.key"), client_key.serialize_pem()).unwrap();

        let behavior = Arc::new(Mutex::new(conformant(&issuer)));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(metadata))
            .route("/.well-known/oauth-authorization-server", get(metadata))
            .route("/jwks", get(jwks))
            .route("/authorize", any(authorize))
            .route("/par", post(par))
            .route("/token", post(token))
            .route("/revoke", post(revoke))
            .route("/introspect", post(introspect))
            .route("/resource", get(resource))
            .route("/hostile", any(hostile))
            .with_state(behavior.clone());

        let certs = vec![srv_cert.der().clone()];
        let key = rustls::pki_types::PrivateKeyDer::try_from(srv_key.serialize_der()).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        runtime.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                    .await;
                });
            }
        });
        TestAs {
            issuer,
            dir,
            behavior,
            runtime,
        }
    }

    pub fn set(&self, f: impl FnOnce(&mut Behavior)) {
        f(&mut self.behavior.lock().unwrap());
    }

    /// Writes a target file for this double; `extra` is appended verbatim (YAML).
    pub fn target(&self, extra: &str) -> PathBuf {
        let path = self.dir.path().join("target.yaml");
        let yaml = format!(
            "target: test-double\nissuer: {}\nca_bundle: ca.pem\nclients:\n  - name: one\n    client_id: client-1\n    auth_method: private_key_jwt\n    signing_key: {{ pem: \"${{file:client.key}}\" }}\n    redirect_uris: [https://client.example/cb]\n{extra}",
            self.issuer
        );
        std::fs::write(&path, yaml).unwrap();
        path
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).unwrap();
        p
    }
}

/// The JUnit schema reports are validated against (its header comment says where it comes from).
pub fn junit_xsd() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/junit.xsd")
}

/// Lines of xmllint's complaint kept in a failure message; a broken report can yield thousands.
const SCHEMA_ERROR_LINES: usize = 40;

/// Whether xmllint (Debian package `libxml2-utils`) can run. Without it the schema checks are
/// skipped with a notice on stderr, so that `cargo test` works on a fresh machine, unless
/// `FAPI_HARNESS_REQUIRE_XMLLINT=1` (as in `.ci/run`, which installs it) makes that a failure: a
/// schema check that silently does not run would read as a pass.
pub fn xmllint_available() -> bool {
    let found = std::process::Command::new("xmllint")
        .arg("--version")
        .output()
        .is_ok();
    if !found {
        let why = "xmllint is not installed, so JUnit is not checked against its schema: \
                   install libxml2-utils (apt-get install libxml2-utils)";
        assert!(
            std::env::var("FAPI_HARNESS_REQUIRE_XMLLINT").as_deref() != Ok("1"),
            "FAPI_HARNESS_REQUIRE_XMLLINT=1, but {why}"
        );
        // Straight to stderr, past the test harness's capture, so that the skip is seen.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "SKIPPED the JUnit schema check: {why}");
    }
    found
}

/// Validates a JUnit file against `tests/fixtures/junit.xsd` with xmllint. `Err` carries
/// xmllint's complaint; without xmllint see `xmllint_available`.
pub fn junit_schema_check(file: &Path) -> Result<(), String> {
    if !xmllint_available() {
        return Ok(());
    }
    let output = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(junit_xsd())
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run xmllint: {e}"));
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().take(SCHEMA_ERROR_LINES).collect();
    Err(lines.join("\n"))
}

/// Panics unless the JUnit file validates against the schema.
pub fn assert_junit_schema_valid(file: &Path) {
    if let Err(e) = junit_schema_check(file) {
        panic!(
            "{} does not validate against tests/fixtures/junit.xsd:\n{e}",
            file.display()
        );
    }
}

/// The repository's FAPI 2.0 SP plan.
pub fn fapi2_plan() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test-plans/fapi2-security-profile.yaml")
}

pub fn bin() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("fapi-harness").unwrap();
    c.env("NO_COLOR", "1");
    c
}

/// Runs the plan against the double, returning (exit code, stderr, report.json).
pub fn run(plan: &Path, target: &Path, out: &Path, extra_args: &[&str]) -> (i32, String, Value) {
    let output = bin()
        .args(["run", "--plan"])
        .arg(plan)
        .arg("--target")
        .arg(target)
        .arg("--out")
        .arg(out)
        .args(extra_args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = std::fs::read_to_string(out.join("report.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), stderr, json)
}

/// The outcome of item `id` in a JSON report.
pub fn outcome_of<'a>(report: &'a Value, id: &str) -> &'a str {
    report["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["key"]["id"] == id))
        .and_then(|r| r["outcome"].as_str())
        .unwrap_or("(absent)")
}

/// A TCP server that answers every ClientHello with a ServerHello agreeing to the offered version
/// and the first offered suite: a stand-in for a server that accepts legacy TLS and weak suites
/// (no TLS library will play that part). Returns its port; it serves until the test ends.
pub fn start_accept_anything_tls(runtime_holder: &TestAs) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = runtime_holder
        .runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime_holder.runtime.spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let Ok(n) = tcp.read(&mut buf).await else {
                    return;
                };
                let hello = &buf[..n];
                // record(5) + type(1) + len(3) → client version at 9, random 11..43, sid len at 43
                let (Some(v), Some(&sid)) = (hello.get(9..11), hello.get(43)) else {
                    return;
                };
                let at = 44 + usize::from(sid);
                let Some(first_suite) = hello.get(at + 2..at + 4) else {
                    return;
                };
                let mut body = vec![0x02, 0x00, 0x00, 0x26, v[0], v[1]];
                body.extend_from_slice(&[9u8; 32]);
                body.push(0);
                body.extend_from_slice(first_suite);
                body.push(0);
                let mut record = vec![0x16, 0x03, 0x01, 0x00, body.len() as u8];
                record.extend(body);
                let _ = tcp.write_all(&record).await;
            });
        }
    });
    port
}

/// Most connections a misbehaving TCP server below accepts: more than any one run opens, and a
/// bound so that its accept loop ends.
const MAX_RAW_CONNECTIONS: usize = 64;

/// How a raw TCP server below mistreats each connection.
#[derive(Clone, Copy)]
pub enum RawTcp {
    /// Answers the ClientHello with bytes that are no TLS record.
    GarbageHandshake,
    /// Accepts, then resets the connection (zero linger makes the close an RST).
    Reset,
}

/// Starts a TCP server on 127.0.0.1 that breaks every connection as `how` says; returns its port.
pub fn start_raw_tcp(runtime_holder: &TestAs, how: RawTcp) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = runtime_holder
        .runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    runtime_holder.runtime.spawn(async move {
        for _ in 0..MAX_RAW_CONNECTIONS {
            let Ok((mut tcp, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                match how {
                    RawTcp::GarbageHandshake => {
                        let mut buf = vec![0u8; 4096];
                        let _ = tcp.read(&mut buf).await;
                        let _ = tcp
                            .write_all(b"HTTP/1.1 200 OK\r\n\r\n<script>alert(1)</script>\x00\xff")
                            .await;
                    }
                    RawTcp::Reset => {
                        let _ = tcp.set_zero_linger();
                    }
                }
            });
        }
    });
    port
}

/// A small multi-threaded runtime for a server a test runs in-process; it must outlive the server.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The reference target in a runtime of its own (keep the runtime as long as the server).
pub fn start_reference(
    opts: fapi_harness::reference::ReferenceOptions,
) -> (
    tokio::runtime::Runtime,
    fapi_harness::reference::ReferenceServer,
) {
    let runtime = runtime();
    let server = runtime
        .block_on(fapi_harness::reference::start(opts))
        .unwrap();
    (runtime, server)
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
