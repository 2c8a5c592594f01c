//! `manual`: a person logs in (a hardware token, a banking app) and the harness captures where
//! the AS sends their browser.
//!
//! Logins run one at a time: a person has one browser and one pair of hands. Each gets a prompt
//! on stderr that says which item it is for and how long is left. The redirect is captured by a
//! local HTTPS listener at the redirect URI's host and port when that host is this machine, or
//! read from the final address the person pastes at the prompt (always offered, so that a
//! browser that refuses the listener's certificate is no dead end).
//!
//! The person's browser keeps its session at the AS, so later logins may go straight through
//! without a second login; that is the only session reuse. The harness never replays a code or
//! a `request_uri`: every login starts from the item's own authorization request.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use super::{End, Journey, Purpose, Scene, capture};
use crate::evidence::{Exchange, RecordedRequest};
use crate::fapi::authorize::{self, Landing};
use crate::fapi::jose::find_jwts;
use crate::http::{Recorder, scrub_value};
use crate::redact::Redactor;
use crate::target::{ListenerIdentity, Login, ManualOptions};

/// How often the prompt says how long is left.
const REMIND_EVERY: Duration = Duration::from_secs(60);
/// A form_post body or a relayed fragment is a few parameters; anything larger is refused.
const MAX_CAPTURE_BODY: usize = 64 * 1024;
/// Marks the relay page's POST of `location.hash` (a form_post cannot set a header).
const RELAY_HEADER: &str = "x-fapi-harness-relay";
/// A browser that never finishes its handshake must not hold a task for long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// At the end of the run, answers still being written get this long.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The certificate made at run time is valid this long: one run, with room to spare.
const CERT_DAYS: i64 = 7;
const SKIPPED: &str = "the person skipped this login at the prompt (an error page at the AS, or no way to log in); the authorization response was not observed";
const CLOSED_WHILE_WAITING: &str =
    "stdin was closed (end of input) before the final address was pasted";

pub struct Manual {
    options: ManualOptions,
    timeout: Duration,
    /// How many logins the run needs at most (0: unknown).
    expected: AtomicUsize,
    /// One login at a time; tokio's mutex is fair, so logins go in the order they queued.
    turn: tokio::sync::Mutex<Turn>,
    /// One listener per `host:port`, shared by every login; a failed start is kept, with why.
    listeners: tokio::sync::Mutex<HashMap<String, Result<Arc<Listener>, String>>>,
}

#[derive(Default)]
struct Turn {
    /// Logins begun so far.
    begun: usize,
    /// Started at the first login: a run that needs no person never reads stdin.
    stdin: Option<Stdin>,
}

/// The lines the person types, read by a thread of its own: a blocking read cannot be
/// cancelled, and tokio would wait for it at shutdown.
struct Stdin {
    lines: mpsc::UnboundedReceiver<String>,
    /// End of input: nobody can paste anything any more.
    closed: bool,
}

impl Stdin {
    fn start() -> Stdin {
        let (tx, lines) = mpsc::unbounded_channel();
        let spawned = std::thread::Builder::new()
            .name("manual-login-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().split(b'\n') {
                    let Ok(line) = line else { return };
                    if tx
                        .send(String::from_utf8_lossy(&line).into_owned())
                        .is_err()
                    {
                        return;
                    }
                }
            });
        Stdin {
            lines,
            // Without a reader thread nothing can be pasted: the same as a closed stdin.
            closed: spawned.is_err(),
        }
    }

    /// Drops what was typed while no login was waiting: it answered no prompt.
    fn drain(&mut self) {
        loop {
            match self.lines.try_recv() {
                Ok(_) => {}
                Err(mpsc::error::TryRecvError::Empty) => return,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            }
        }
    }
}

/// An authorization response as the person's browser delivered it.
struct Captured {
    /// The redirect URI as requested (with the query, or with the relayed fragment) and the
    /// response read from it.
    response: capture::Captured,
    method: String,
    headers: Vec<(String, String)>,
    /// A form_post body.
    body: Option<String>,
    how: &'static str,
}

/// How a login ended.
enum Answer {
    Captured(Captured),
    /// The person pasted a URL that is neither at the AS nor a redirect URI.
    Elsewhere(url::Url),
    /// No authorization response; why.
    Nothing(String),
}

/// What a pasted line meant.
enum Pasted {
    Answer(Answer),
    /// Not usable; the message says why (none for an empty line).
    Again(Option<&'static str>),
}

impl Manual {
    pub fn new(login: &Login) -> Self {
        Manual {
            options: login.manual.clone(),
            timeout: login.timeout,
            expected: AtomicUsize::new(0),
            turn: tokio::sync::Mutex::default(),
            listeners: tokio::sync::Mutex::default(),
        }
    }

    pub fn expect_logins(&self, n: usize) {
        self.expected.store(n, Ordering::Relaxed);
    }

    /// At the end of the run: lets every listener finish the page it is answering.
    pub async fn finish(&self) {
        let listeners: Vec<_> = self.listeners.lock().await.drain().collect();
        for (_, listener) in listeners {
            if let Ok(l) = listener {
                l.stop().await;
            }
        }
    }

    /// Waits for the person's turn, asks them to log in, and waits for the authorization
    /// response within the login timeout.
    pub async fn authorize(
        &self,
        redactor: &Redactor,
        start: url::Url,
        scene: &Scene,
        recorder: &Recorder,
    ) -> Journey {
        let mut turn = self.turn.lock().await;
        turn.begun += 1;
        let n = turn.begun;
        let title = match self.expected.load(Ordering::Relaxed) {
            total if total >= n => format!("manual login {n} of at most {total}"),
            _ => format!("manual login {n}"),
        };
        let asked = recorder.push(handed_out(&start, redactor));
        let listener = if self.options.listen {
            Some(self.listener_for(&scene.purpose).await)
        } else {
            None
        };
        let stdin = turn.stdin.get_or_insert_with(Stdin::start);
        stdin.drain();
        let listening = listener.as_ref().and_then(|l| l.as_ref().ok());
        if stdin.closed && listening.is_none() {
            let why = match &listener {
                Some(Err(e)) => format!(
                    "stdin is closed (end of input), so nobody can paste the final address, and the redirect listener is not available ({e})"
                ),
                _ => "stdin is closed (end of input), so nobody can paste the final address of the login".to_owned(),
            };
            say(&format!(
                "{title} for {}: cannot ask, {why}",
                scene.purpose.label
            ));
            return stuck(format!("manual login: {why}"), Some(asked));
        }
        say(&prompt(
            &title,
            &scene.purpose,
            &start,
            redactor,
            self.timeout,
            listener.as_ref(),
            !stdin.closed,
        ));
        if self.options.open {
            let url = start.to_string();
            tokio::spawn(async move {
                if let Err(e) = open_in_browser(&url).await {
                    say(&format!(
                        "  (could not open a browser: {e}; open the URL yourself)"
                    ));
                }
            });
        }

        let expected = listening.map(|l| l.inbox.expect(scene.purpose.state.clone()));
        let began = Instant::now();
        let answer = self.answer(&title, stdin, expected, scene).await;
        let elapsed = began.elapsed();
        match answer {
            Answer::Captured(c) => {
                let seq = recorder.push(captured_exchange(&c, elapsed, redactor));
                say(&format!(
                    "{title}: redirect captured ({}). Thank you.",
                    c.how
                ));
                Journey {
                    // The redirect happened in the person's browser, out of the harness's sight.
                    end: c.response.into_end(None, Some(seq)),
                    redirects: Vec::new(),
                    last_exchange: Some(seq),
                }
            }
            Answer::Elsewhere(url) => {
                let seq = recorder.push(pasted_exchange(&url, elapsed, redactor));
                say(&format!(
                    "{title}: the browser ended at neither the AS nor a redirect URI; recorded."
                ));
                Journey {
                    end: End::Elsewhere {
                        url,
                        exchange: Some(seq),
                    },
                    redirects: Vec::new(),
                    last_exchange: Some(seq),
                }
            }
            Answer::Nothing(why) => {
                say(&format!("{title} ended: {why}"));
                stuck(format!("manual login: {why}"), Some(asked))
            }
        }
    }

    /// Waits for the listener or the prompt, within the login timeout, reminding the person
    /// how long is left.
    async fn answer(
        &self,
        title: &str,
        stdin: &mut Stdin,
        mut expected: Option<Expected>,
        scene: &Scene,
    ) -> Answer {
        let began = Instant::now();
        let deadline = began + self.timeout;
        let mut remind = tokio::time::interval_at(began + REMIND_EVERY, REMIND_EVERY);
        loop {
            tokio::select! {
                got = async {
                    match expected.as_mut() {
                        Some(e) => (&mut e.rx).await,
                        None => std::future::pending().await,
                    }
                } => match got {
                    Ok(c) => return Answer::Captured(c),
                    // The listener is gone; the prompt may still get an answer.
                    Err(_) => expected = None,
                },
                line = stdin.lines.recv(), if !stdin.closed => match line {
                    Some(line) => match pasted(&line, scene) {
                        Pasted::Answer(a) => return a,
                        Pasted::Again(Some(why)) => say(&format!("  {why}")),
                        Pasted::Again(None) => {}
                    },
                    None => {
                        stdin.closed = true;
                        if expected.is_none() {
                            return Answer::Nothing(CLOSED_WHILE_WAITING.to_owned());
                        }
                        say("  (stdin closed: waiting for the listener only)");
                    }
                },
                _ = remind.tick() => {
                    let left = deadline.saturating_duration_since(Instant::now()).as_secs();
                    say(&format!("  … {title}: {left} s left"));
                }
                () = tokio::time::sleep_until(deadline) => {
                    return Answer::Nothing(format!(
                        "no authorization response was captured within {} s (login.timeout_secs): \
                         the person did not finish the login in time",
                        self.timeout.as_secs()
                    ));
                }
            }
        }
    }

    /// The listener for the redirect URI's `host:port`, started at its first use.
    async fn listener_for(&self, purpose: &Purpose) -> Result<Arc<Listener>, String> {
        let uri = purpose
            .redirect_uri
            .as_ref()
            .ok_or("the request names no redirect URI")?;
        let key = format!(
            "{}:{}",
            uri.host_str().unwrap_or_default(),
            uri.port_or_known_default().unwrap_or_default()
        );
        let mut listeners = self.listeners.lock().await;
        if let Some(l) = listeners.get(&key) {
            return l.clone();
        }
        let started = Listener::start(uri, self.options.listener_identity.as_ref())
            .await
            .map(Arc::new);
        listeners.insert(key, started.clone());
        started
    }
}

fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

fn stuck(why: String, exchange: Option<u32>) -> Journey {
    Journey {
        end: End::Stuck { why, exchange },
        redirects: Vec::new(),
        last_exchange: exchange,
    }
}

fn prompt(
    title: &str,
    purpose: &Purpose,
    start: &url::Url,
    redactor: &Redactor,
    timeout: Duration,
    listener: Option<&Result<Arc<Listener>, String>>,
    can_paste: bool,
) -> String {
    let rule = "=".repeat(72);
    let shown = redactor.scrub(start.as_str());
    let mut t = format!(
        "\n{rule}\n{title} — {}\nOpen this URL in your browser and log in; you have {} s:\n\n    {shown}\n\n",
        purpose.label,
        timeout.as_secs()
    );
    if shown != start.as_str() {
        t.push_str("(Parts of this URL equal a secret of the target and are hidden; the login cannot work this way. Remove that value from the target's secrets.)\n");
    }
    match listener {
        Some(Ok(l)) => {
            t.push_str(&format!(
                "The harness listens for the redirect at {}.\n",
                l.origin
            ));
            if let Some(fp) = &l.fingerprint {
                t.push_str(&format!(
                    "Your browser will warn about that site's certificate: the harness made it for\n\
                     this run. If the browser shows this SHA-256 fingerprint, proceed to the site:\n    {fp}\n"
                ));
            }
        }
        Some(Err(why)) => t.push_str(&format!(
            "The harness does not listen for the redirect: {why}.\n"
        )),
        None => {}
    }
    if can_paste {
        t.push_str(
            "Or paste the address your browser ends on (the redirect URI with ?code=… or #…) here\n\
             and press Enter. Type `skip` if the AS shows an error page or you cannot log in.\n",
        );
    }
    t.push_str(&rule);
    t
}

/// Opens `url` with the desktop's opener. The URL is one argument, never a shell word.
async fn open_in_browser(url: &str) -> Result<(), String> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let mut child = tokio::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    // Some openers stay in the foreground with the browser; still running means it started.
    match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
        Ok(Ok(status)) if !status.success() => Err(format!("{program} exited with {status}")),
        Ok(Err(e)) => Err(format!("{program}: {e}")),
        _ => Ok(()),
    }
}

/// Reads a pasted line: the final address of the login, or `skip`.
fn pasted(line: &str, scene: &Scene) -> Pasted {
    let line = line.trim();
    if line.is_empty() {
        return Pasted::Again(None);
    }
    if line.eq_ignore_ascii_case("skip") {
        return Pasted::Answer(Answer::Nothing(SKIPPED.to_owned()));
    }
    let Ok(url) = url::Url::parse(line) else {
        return Pasted::Again(Some(
            "That is not a URL: paste the whole address from the browser's address bar.",
        ));
    };
    match authorize::classify(&url, &scene.redirect_uris, &scene.as_origins) {
        Landing::Registered { params } if params.is_empty() => Pasted::Again(Some(
            "That address carries no authorization response: paste it with its ?… or #… part.",
        )),
        Landing::Registered { .. } => Pasted::Answer(Answer::Captured(Captured {
            response: capture::from_url(&url),
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            how: "pasted at the prompt",
        })),
        Landing::AsOrigin(_) => Pasted::Again(Some(
            "That address is at the AS, not a redirect URI: finish the login, then paste the address the browser ends on.",
        )),
        Landing::Elsewhere(u) => Pasted::Answer(Answer::Elsewhere(u)),
    }
}

fn state_of(params: &[(String, String)]) -> Option<&str> {
    params
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.as_str())
}

/// Codes and tokens the person delivers are bearer values, shown shortened like those the
/// harness receives itself; a JARM `response` carries a code, so it is shortened too.
fn register_bearer_values(params: &[(String, String)], redactor: &Redactor) {
    for v in capture::bearer_values(params) {
        redactor.add_shortened(&v);
    }
}

/// Evidence of the authorization request: the URL handed to the person, which their browser
/// requested. The harness saw no response.
fn handed_out(start: &url::Url, redactor: &Redactor) -> Exchange {
    let mut jwts = find_jwts(&decoded(start.as_str()), "authorization URL");
    for j in &mut jwts {
        scrub_value(&mut j.header, redactor);
        scrub_value(&mut j.claims, redactor);
    }
    Exchange {
        seq: 0,
        label: "manual login: authorization URL given to the person".into(),
        request: RecordedRequest {
            method: "GET".into(),
            url: redactor.scrub(start.as_str()),
            headers: Vec::new(),
            body: None,
        },
        response: None,
        error: None,
        elapsed_ms: 0,
        jwts,
        attachments: Vec::new(),
    }
}

fn captured_exchange(c: &Captured, elapsed: Duration, redactor: &Redactor) -> Exchange {
    register_bearer_values(&c.response.params, redactor);
    let mut jwts = find_jwts(&decoded(c.response.url.as_str()), "authorization response");
    if let Some(b) = &c.body {
        jwts.extend(find_jwts(&decoded(b), "authorization response (form_post)"));
    }
    for j in &mut jwts {
        scrub_value(&mut j.header, redactor);
        scrub_value(&mut j.claims, redactor);
    }
    Exchange {
        seq: 0,
        label: format!("manual login: redirect captured ({})", c.how),
        request: RecordedRequest {
            method: c.method.clone(),
            url: redactor.scrub(c.response.url.as_str()),
            headers: c
                .headers
                .iter()
                .map(|(k, v)| (redactor.scrub(k), redactor.scrub_header(k, v)))
                .collect(),
            body: c.body.as_deref().map(|b| redactor.scrub(b)),
        },
        response: None,
        error: None,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        jwts,
        attachments: Vec::new(),
    }
}

fn pasted_exchange(url: &url::Url, elapsed: Duration, redactor: &Redactor) -> Exchange {
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    register_bearer_values(&params, redactor);
    Exchange {
        seq: 0,
        label: "manual login: final address pasted (not a redirect URI)".into(),
        request: RecordedRequest {
            method: "GET".into(),
            url: redactor.scrub(url.as_str()),
            headers: Vec::new(),
            body: None,
        },
        response: None,
        error: None,
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        jwts: Vec::new(),
        attachments: Vec::new(),
    }
}

/// Query or form text with its parameters percent-decoded, so JWTs inside can be found.
fn decoded(text: &str) -> String {
    let query = text.split_once(['?', '#']).map_or(text, |(_, q)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// A local HTTPS server at a redirect URI's host and port. It stops when dropped, or gracefully
/// with `stop`.
struct Listener {
    inbox: Arc<Inbox>,
    /// `https://host:port`, for the prompt.
    origin: String,
    /// SHA-256 of the certificate made at run time, for the person to compare with the
    /// browser's warning; `None` with the target's own certificate.
    fingerprint: Option<String>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

impl Listener {
    async fn start(
        redirect_uri: &url::Url,
        given: Option<&ListenerIdentity>,
    ) -> Result<Listener, String> {
        if redirect_uri.scheme() != "https" {
            return Err(format!(
                "the redirect URI {redirect_uri} is not https, and the listener serves https only"
            ));
        }
        let addrs = loopback_addrs(redirect_uri)?;
        let port = redirect_uri.port_or_known_default().unwrap_or(443);
        let host = redirect_uri
            .host_str()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let (config, fingerprint) = tls_identity(&host, given)?;
        let mut sockets = Vec::new();
        for (i, ip) in addrs.iter().enumerate() {
            match TcpListener::bind((*ip, port)).await {
                Ok(s) => sockets.push(s),
                Err(e) if i == 0 => {
                    return Err(format!(
                        "cannot listen on {}: {e}",
                        std::net::SocketAddr::from((*ip, port))
                    ));
                }
                // `localhost` may also be ::1; a machine without IPv6 still has 127.0.0.1.
                Err(_) => {}
            }
        }
        let mut origin = redirect_uri.clone();
        origin.set_path("/");
        origin.set_query(None);
        origin.set_fragment(None);
        let inbox = Arc::new(Inbox {
            origin: origin.clone(),
            waiting: Mutex::default(),
            next_id: AtomicU64::new(0),
        });
        let router = Router::new()
            .fallback(receive)
            .layer(DefaultBodyLimit::max(MAX_CAPTURE_BODY))
            .with_state(inbox.clone());
        let (stop, stopped) = watch::channel(false);
        let tasks = sockets
            .into_iter()
            .map(|socket| {
                tokio::spawn(serve(
                    socket,
                    config.clone(),
                    router.clone(),
                    stopped.clone(),
                ))
            })
            .collect();
        Ok(Listener {
            inbox,
            origin: origin.as_str().trim_end_matches('/').to_owned(),
            fingerprint,
            stop,
            tasks: Mutex::new(tasks),
        })
    }

    /// Stops accepting and lets the connections finish what they are answering.
    async fn stop(&self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for task in tasks {
            // A serve task never panics; a join error leaves nothing to wait for.
            let _ = task.await;
        }
    }
}

/// Accepts TLS connections on `socket` and serves `router` on them until `stop` changes; then
/// shuts down gracefully. The last login's page is written after its response was handed to the
/// flow, and the run may be over by then: without the grace, the person's browser would see
/// the connection drop instead of "you can close this tab".
async fn serve(
    socket: TcpListener,
    config: Arc<rustls::ServerConfig>,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = socket.accept() => match accepted {
                Ok((tcp, _)) => {
                    tokio::spawn(serve_connection(
                        acceptor.clone(),
                        tcp,
                        router.clone(),
                        graceful.watcher(),
                    ));
                }
                // Out of file descriptors and the like: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
    drop(socket);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown()).await;
}

async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: tokio::net::TcpStream,
    router: Router,
    watcher: hyper_util::server::graceful::Watcher,
) {
    // A browser that refuses the certificate ends here; the prompt offers the paste instead.
    let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await else {
        return;
    };
    let builder =
        hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    let service = hyper_util::service::TowerToHyperService::new(router);
    // A browser closing its connection mid-request is nothing to report.
    let _ = watcher
        .watch(builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service))
        .await;
}

/// The addresses to bind for a redirect URI, only if its host is this machine: the listener
/// never listens beyond loopback.
fn loopback_addrs(uri: &url::Url) -> Result<Vec<IpAddr>, String> {
    match uri.host() {
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() => Ok(vec![ip.into()]),
        Some(url::Host::Ipv6(ip)) if ip.is_loopback() => Ok(vec![ip.into()]),
        Some(url::Host::Domain(d)) if d.eq_ignore_ascii_case("localhost") => {
            Ok(vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()])
        }
        _ => Err(format!(
            "the redirect URI's host {} is not this machine (127.0.0.1, ::1 or localhost)",
            uri.host_str().unwrap_or("(none)")
        )),
    }
}

/// The listener's TLS configuration: the target's certificate, or one made now for `host`
/// with its fingerprint.
fn tls_identity(
    host: &str,
    given: Option<&ListenerIdentity>,
) -> Result<(Arc<rustls::ServerConfig>, Option<String>), String> {
    let (identity, fingerprint) = match given {
        Some(id) => (id.clone(), None),
        None => {
            let (id, fingerprint) = make_identity(host)?;
            (id, Some(fingerprint))
        }
    };
    server_config(&identity.cert_pem, &identity.key_pem).map(|c| (c, fingerprint))
}

/// A self-signed certificate for `host`, and its SHA-256 fingerprint as browsers show it.
fn make_identity(host: &str) -> Result<(ListenerIdentity, String), String> {
    let made = |e: rcgen::Error| format!("cannot make a certificate for {host}: {e}");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(made)?;
    let mut params = rcgen::CertificateParams::new(vec![host.to_owned()]).map_err(made)?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        format!("fapi-harness manual login ({host})"),
    );
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(CERT_DAYS);
    let cert = params.self_signed(&key).map_err(made)?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.der());
    let hex: Vec<String> = digest.as_ref().iter().map(|b| format!("{b:02X}")).collect();
    let identity = ListenerIdentity {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    };
    Ok((identity, hex.join(":")))
}

fn server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<rustls::ServerConfig>, String> {
    let bad = |e: String| format!("the listener's certificate cannot be used: {e}");
    let certs = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("no private key in the PEM".into()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The logins waiting for a response on one listener.
struct Inbox {
    /// `https://host:port/`: captured URLs are built on it, never on the request's Host header.
    origin: url::Url,
    waiting: Mutex<Vec<Waiting>>,
    next_id: AtomicU64,
}

struct Waiting {
    id: u64,
    state: Option<String>,
    tx: oneshot::Sender<Captured>,
}

/// A login's place in an inbox; leaving it (dropping) removes the place.
struct Expected {
    inbox: Arc<Inbox>,
    id: u64,
    rx: oneshot::Receiver<Captured>,
}

impl Drop for Expected {
    fn drop(&mut self) {
        self.inbox
            .waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|w| w.id != self.id);
    }
}

impl Inbox {
    fn expect(self: &Arc<Self>, state: Option<String>) -> Expected {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Waiting { id, state, tx });
        Expected {
            inbox: self.clone(),
            id,
            rx,
        }
    }

    /// Hands `c` to the login whose `state` it carries. A response without `state` goes to the
    /// only waiting login, if that is unambiguous. Anything else (a late response to a login
    /// that already timed out, say) goes nowhere: taking it would pair one flow's code with
    /// another flow's PKCE verifier.
    fn deliver(&self, c: Captured) -> bool {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let by_state = state_of(&c.response.params)
            .and_then(|s| waiting.iter().position(|w| w.state.as_deref() == Some(s)));
        let index = by_state.or_else(|| {
            let alone = waiting.len() == 1;
            (alone && (state_of(&c.response.params).is_none() || waiting[0].state.is_none()))
                .then_some(0)
        });
        index.is_some_and(|i| waiting.remove(i).tx.send(c).is_ok())
    }
}

/// Answers everything the person's browser sends to the listener.
async fn receive(
    State(inbox): State<Arc<Inbox>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut url = inbox.origin.clone();
    url.set_path(uri.path());
    url.set_query(uri.query());
    let relay = headers.contains_key(RELAY_HEADER);
    let text = String::from_utf8_lossy(&body).into_owned();
    let (response, form_body) = if method == Method::GET {
        if url.query().is_none() {
            // A fragment never reaches a server; the page posts it back.
            return page(StatusCode::OK, RELAY_PAGE);
        }
        (capture::from_url(&url), None)
    } else if method == Method::POST && relay {
        url.set_fragment(Some(&text));
        (capture::from_url(&url), None)
    } else if method == Method::POST {
        let fields: Vec<(String, String)> = url::form_urlencoded::parse(text.as_bytes())
            .into_owned()
            .collect();
        (capture::from_form_post(&url, &fields), Some(text))
    } else {
        return answer(
            relay,
            StatusCode::METHOD_NOT_ALLOWED,
            "Not an authorization response.",
        );
    };
    if response.params.is_empty() {
        return answer(
            relay,
            StatusCode::BAD_REQUEST,
            "No authorization response in this request.",
        );
    }
    let captured = Captured {
        response,
        method: method.to_string(),
        headers: headers
            .iter()
            .filter(|(k, _)| k.as_str() != RELAY_HEADER)
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: form_body,
        how: "listener",
    };
    match inbox.deliver(captured) {
        true => answer(
            relay,
            StatusCode::OK,
            "fapi-harness has the authorization response. You can close this tab and return to the terminal.",
        ),
        false => answer(
            relay,
            StatusCode::CONFLICT,
            "fapi-harness is not waiting for this response (its login may have timed out already), so nothing was recorded. If the terminal still waits for this login, paste this tab's address there.",
        ),
    }
}

/// A relayed fragment gets the message as text for the relay page to show; a browser
/// navigation gets a page. Neither ever echoes what was received.
fn answer(relay: bool, status: StatusCode, message: &'static str) -> Response {
    if relay {
        return (
            status,
            [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            message,
        )
            .into_response();
    }
    page(
        status,
        &format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>fapi-harness</title></head><body><p>{message}</p></body></html>"
        ),
    )
}

fn page(status: StatusCode, html: &str) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
            // Only the relay page's own script runs, and it may only talk to this listener.
            (
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(
                    "default-src 'none'; script-src 'unsafe-inline'; connect-src 'self'",
                ),
            ),
        ],
        html.to_owned(),
    )
        .into_response()
}

/// Served at the redirect URI without a query: a fragment-encoded response is only in the
/// browser, so this page posts `location.hash` back, then removes it from the address bar.
const RELAY_PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>fapi-harness</title></head>
<body><p id="m">Handing the authorization response to fapi-harness…</p>
<script>
(function () {
  var m = document.getElementById("m");
  var h = location.hash.slice(1);
  if (!h) {
    m.textContent = "No authorization response in this address. fapi-harness waits here for the redirect from the authorization server.";
    return;
  }
  fetch(location.pathname, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-fapi-harness-relay": "fragment" },
    body: h
  }).then(function (r) { return r.text(); })
    .then(function (t) {
      // Delivered: the code need not stay in the address bar and the history.
      history.replaceState(null, "", location.pathname);
      m.textContent = t;
    })
    .catch(function () { m.textContent = "Could not reach fapi-harness: paste this tab's original address at its prompt."; });
})();
</script></body></html>"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::ResponseMode;

    fn scene(state: Option<&str>) -> Scene {
        Scene {
            redirect_uris: vec![url::Url::parse("https://127.0.0.1:9/cb").unwrap()],
            as_origins: vec![url::Url::parse("https://as.example/authorize").unwrap()],
            purpose: Purpose {
                label: "ITEM [v], client c".into(),
                redirect_uri: Some(url::Url::parse("https://127.0.0.1:9/cb").unwrap()),
                state: state.map(str::to_owned),
            },
        }
    }

    fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
        p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn pasted_lines_are_read_as_the_final_address() {
        let s = scene(Some("s1"));
        match pasted("  https://127.0.0.1:9/cb?code=abc&state=s1 \r", &s) {
            Pasted::Answer(Answer::Captured(c)) => {
                assert_eq!(c.response.mode, ResponseMode::Query);
                assert_eq!(get(&c.response.params, "code"), Some("abc"));
            }
            _ => panic!("a redirect URI with a code is a response"),
        }
        match pasted("https://127.0.0.1:9/cb#code=abc&state=s1", &s) {
            Pasted::Answer(Answer::Captured(c)) => {
                assert_eq!(c.response.mode, ResponseMode::Fragment)
            }
            _ => panic!("a fragment response is a response"),
        }
        assert!(matches!(
            pasted("https://as.example/login?x=1", &s),
            Pasted::Again(Some(_))
        ));
        assert!(matches!(pasted("not a url", &s), Pasted::Again(Some(_))));
        assert!(matches!(
            pasted("https://127.0.0.1:9/cb", &s),
            Pasted::Again(Some(_))
        ));
        assert!(matches!(pasted("", &s), Pasted::Again(None)));
        assert!(matches!(
            pasted("SKIP", &s),
            Pasted::Answer(Answer::Nothing(_))
        ));
        assert!(matches!(
            pasted("https://evil.example/cb?code=abc", &s),
            Pasted::Answer(Answer::Elsewhere(_))
        ));
    }

    #[test]
    fn only_loopback_hosts_are_listened_on() {
        let addrs = |u: &str| loopback_addrs(&url::Url::parse(u).unwrap());
        assert_eq!(
            addrs("https://127.0.0.1:8443/cb").unwrap(),
            vec![IpAddr::from(Ipv4Addr::LOCALHOST)]
        );
        assert_eq!(
            addrs("https://[::1]:8443/cb").unwrap(),
            vec![IpAddr::from(Ipv6Addr::LOCALHOST)]
        );
        assert_eq!(addrs("https://LocalHost/cb").unwrap().len(), 2);
        assert!(addrs("https://client.example/cb").is_err());
        assert!(addrs("https://10.0.0.1/cb").is_err());
        assert!(addrs("https://0.0.0.0/cb").is_err());
    }

    fn captured(params: &[(&str, &str)]) -> Captured {
        Captured {
            response: capture::Captured {
                url: url::Url::parse("https://127.0.0.1:9/cb").unwrap(),
                params: params
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                mode: ResponseMode::Query,
            },
            method: "GET".into(),
            headers: Vec::new(),
            body: None,
            how: "listener",
        }
    }

    #[test]
    fn responses_are_routed_by_state() {
        let inbox = Arc::new(Inbox {
            origin: url::Url::parse("https://127.0.0.1:9/").unwrap(),
            waiting: Mutex::default(),
            next_id: AtomicU64::new(0),
        });
        let mut a = inbox.expect(Some("a".into()));
        let mut b = inbox.expect(Some("b".into()));
        assert!(inbox.deliver(captured(&[("code", "1"), ("state", "b")])));
        assert!(b.rx.try_recv().is_ok());
        assert!(a.rx.try_recv().is_err());
        // Unknown state: a stale response, never given to the login that waits.
        assert!(!inbox.deliver(captured(&[("code", "2"), ("state", "zzz")])));
        // No state, and only one login waits: it is that login's (checks judge the missing state).
        drop(b);
        assert!(inbox.deliver(captured(&[("code", "3")])));
        assert_eq!(
            get(&a.rx.try_recv().unwrap().response.params, "code"),
            Some("3")
        );
        drop(a);
        assert!(inbox.waiting.lock().unwrap().is_empty());
        assert!(!inbox.deliver(captured(&[("code", "4"), ("state", "a")])));
    }

    #[test]
    fn evidence_shortens_codes_and_hides_cookies() {
        let redactor = Redactor::new();
        redactor.add_secret("hunter2-password");
        let mut c = captured(&[("code", "CODE-0123456789abcdef"), ("state", "s")]);
        c.response.url =
            url::Url::parse("https://127.0.0.1:9/cb?code=CODE-0123456789abcdef&state=s").unwrap();
        c.headers = vec![
            ("cookie".into(), "session=abc".into()),
            ("x-note".into(), "hunter2-password".into()),
        ];
        let ex = captured_exchange(&c, Duration::from_millis(1500), &redactor);
        let json = serde_json::to_string(&ex).unwrap();
        assert!(!json.contains("CODE-0123456789abcdef"), "{json}");
        assert!(
            json.contains("CODE-0"),
            "shortened, still matchable: {json}"
        );
        assert!(!json.contains("session=abc") && !json.contains("hunter2-password"));
        assert!(ex.label.starts_with("manual login: redirect captured"));
        assert_eq!(ex.elapsed_ms, 1500);
    }

    #[test]
    fn a_made_certificate_names_the_host() {
        let (id, fingerprint) = make_identity("localhost").unwrap();
        assert_eq!(fingerprint.len(), 32 * 3 - 1);
        let der = rustls_pemfile::certs(&mut id.cert_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap();
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        assert!(format!("{:?}", san.value).contains("localhost"));
        assert!(tls_identity("127.0.0.1", None).unwrap().1.is_some());
        assert!(tls_identity("127.0.0.1", Some(&id)).unwrap().1.is_none());
    }

    /// The listener end to end: a browser's GET, form_post and relayed fragment, each handed to
    /// the login waiting for its state.
    #[tokio::test]
    async fn the_listener_captures_every_response_mode() {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let redirect = url::Url::parse(&format!("https://127.0.0.1:{port}/cb")).unwrap();
        let (id, _) = make_identity("127.0.0.1").unwrap();
        let listener = Listener::start(&redirect, Some(&id)).await.unwrap();
        assert_eq!(listener.origin, format!("https://127.0.0.1:{port}"));
        assert!(listener.fingerprint.is_none());
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(id.cert_pem.as_bytes()).unwrap()])
            .build()
            .unwrap();
        let at = |path: &str| format!("https://127.0.0.1:{port}{path}");

        let mut e = listener.inbox.expect(Some("s1".into()));
        let r = client.get(at("/cb?code=c1&state=s1")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("close this tab"));
        let c = (&mut e.rx).await.unwrap();
        assert_eq!(c.response.mode, ResponseMode::Query);
        assert_eq!(get(&c.response.params, "code"), Some("c1"));
        assert_eq!(c.response.url.as_str(), at("/cb?code=c1&state=s1"));

        let mut e = listener.inbox.expect(Some("s2".into()));
        let r = client
            .post(at("/cb"))
            .form(&[("code", "c2"), ("state", "s2")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let c = (&mut e.rx).await.unwrap();
        assert_eq!(c.response.mode, ResponseMode::FormPost);
        assert_eq!(c.body.as_deref(), Some("code=c2&state=s2"));

        let page = client.get(at("/cb")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("connect-src 'self'"));
        assert!(page.text().await.unwrap().contains("location.hash"));
        let mut e = listener.inbox.expect(Some("s3".into()));
        let r = client
            .post(at("/cb"))
            .header(RELAY_HEADER, "fragment")
            .body("code=c3&state=s3")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let c = (&mut e.rx).await.unwrap();
        assert_eq!(c.response.mode, ResponseMode::Fragment);
        assert_eq!(c.response.url.fragment(), Some("code=c3&state=s3"));

        // Nobody waits for this one: refused, and the page echoes nothing it received.
        let r = client
            .get(at("/cb?code=<b>x</b>&state=nobody"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 409);
        assert!(!r.text().await.unwrap().contains("<b>x"));
    }

    #[tokio::test]
    async fn a_busy_port_or_a_remote_host_is_reported() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let busy = url::Url::parse(&format!("https://127.0.0.1:{port}/cb")).unwrap();
        let err = Listener::start(&busy, None).await.err().unwrap();
        assert!(err.contains("cannot listen on 127.0.0.1"), "{err}");
        let remote = url::Url::parse("https://client.example/cb").unwrap();
        let err = Listener::start(&remote, None).await.err().unwrap();
        assert!(err.contains("not this machine"), "{err}");
        let plain = url::Url::parse("http://127.0.0.1:1/cb").unwrap();
        assert!(
            Listener::start(&plain, None)
                .await
                .err()
                .unwrap()
                .contains("https only")
        );
    }
}
