//! `login.mode: browser`: a headless Chromium (chromiumoxide over the DevTools protocol) walks
//! the AS's login and consent pages, for targets whose pages need scripts.
//!
//! - **One Chromium per run**, launched on the first login that needs it and killed when the run
//!   ends. Every login gets its own browser context (an incognito profile: cookies, storage and
//!   cache are not shared), so logins run concurrently without seeing each other's sessions.
//! - **Capture without contacting the client.** `Fetch.enable` pauses every request to a
//!   registered redirect URI before it leaves the browser; the harness reads the URL (query and
//!   fragment) or the POST body (`form_post`) and answers the request itself with a tiny page.
//! - **Evidence.** Main-frame navigations (requests, redirects with their status, responses and
//!   the HTML served) are recorded as exchanges labelled `browser: …` through the same redaction
//!   as `http.rs`. When a step fails, a screenshot and the page's HTML are attached.
//! - **Trust.** With a `ca_bundle`, Chromium trusts exactly those CAs on top of its own roots
//!   through a throw-away NSS database (`certutil`), with normal verification (chain, host name,
//!   validity); see docs/architecture.md for why not `--ignore-certificate-errors-spki-list`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chromiumoxide::Page;
use chromiumoxide::browser::{Browser as Cdp, BrowserConfig};
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::fetch;
use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::network::{self, ResourceType};
use chromiumoxide::cdp::browser_protocol::page::{
    CaptureScreenshotFormat, CreateIsolatedWorldParams, NavigateParams,
};
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::cdp::js_protocol::runtime::EvaluateParams;
use chromiumoxide::page::ScreenshotParams;
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

use super::{End, Journey, ResponseMode, Scene, capture};
use crate::evidence::Attachment;
use crate::fapi::authorize::{self, Landing};
use crate::http::{Http, Observed, RawResponse, Recorder, RequestSpec};
use crate::target::{Login, LoginStep};

/// Beyond the login timeout, time to take the screenshot and close the browser context.
pub const EVIDENCE_GRACE: Duration = Duration::from_secs(10);
/// The path of the browser binary, instead of searching `PATH`.
pub const ENV_EXECUTABLE: &str = "FAPI_HARNESS_CHROMIUM";
/// Set to `1` to run Chromium without its sandbox (containers without user namespaces).
pub const ENV_NO_SANDBOX: &str = "FAPI_HARNESS_CHROMIUM_NO_SANDBOX";
/// Extra Chromium arguments, separated by white space (e.g. `--proxy-server=…`, or
/// `--host-resolver-rules=…` to keep a test browser on loopback).
pub const ENV_ARGS: &str = "FAPI_HARNESS_CHROMIUM_ARGS";
/// Searched in `PATH`, in this order.
const EXECUTABLES: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];
/// How long a page without a `wait_for` step may take to show a form that some step matches.
const SETTLE: Duration = Duration::from_secs(5);
/// Pages (documents) one login may pass through, and steps it may take.
const MAX_PAGES: usize = 30;
const MAX_ACTIONS: usize = 12;
const POLL: Duration = Duration::from_millis(100);
/// How long a captured redirect waits for the record of the redirect that led there.
const REDIRECT_RECORD_WAIT: Duration = Duration::from_secs(1);
/// How long to wait for a document's body from the browser.
const BODY_WAIT: Duration = Duration::from_secs(3);
/// The page the browser shows at the redirect URI instead of contacting it.
const CAPTURED_PAGE: &str = "<!DOCTYPE html><title>fapi-harness</title><p>The authorization \
     response was captured by fapi-harness; the redirect URI was not contacted.</p>";

/// The run's Chromium, launched on first use.
pub struct Browser {
    ca_bundle: Option<Vec<u8>>,
    running: OnceCell<Result<Arc<Running>, String>>,
}

struct Running {
    cdp: Option<Cdp>,
    handler: tokio::task::JoinHandle<()>,
    /// Profile directory and, with a CA bundle, the HOME holding the NSS database.
    dir: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handler.abort();
        if let Some(mut cdp) = self.cdp.take() {
            if let Some(child) = cdp.get_mut_child() {
                let child = child.as_mut_inner();
                let _ = child.start_kill();
                // Reap it, so that it no longer writes into the profile being removed.
                for _ in 0..40 {
                    if !matches!(child.try_wait(), Ok(None)) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            drop(cdp);
        }
        for _ in 0..40 {
            if std::fs::remove_dir_all(&self.dir).is_ok() || !self.dir.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Running {
    fn cdp(&self) -> &Cdp {
        self.cdp.as_ref().expect("present until drop")
    }
}

impl Browser {
    pub fn new(ca_bundle: Option<Vec<u8>>) -> Self {
        Browser {
            ca_bundle,
            running: OnceCell::new(),
        }
    }

    async fn running(&self) -> Result<Arc<Running>, String> {
        self.running
            .get_or_init(|| async { launch(self.ca_bundle.as_deref()).await.map(Arc::new) })
            .await
            .clone()
    }

    /// One login: from `start` to the authorization response, within `login.timeout`.
    pub async fn journey(
        &self,
        http: &Http,
        login: &Login,
        start: url::Url,
        scene: &Scene,
        recorder: &Recorder,
    ) -> Journey {
        let deadline = Instant::now() + login.timeout;
        let running = match self.running().await {
            Ok(r) => r,
            Err(why) => return stuck(why, None),
        };
        let cdp = running.cdp();
        let context = match cdp
            .create_browser_context(CreateBrowserContextParams::default())
            .await
        {
            Ok(c) => c,
            Err(e) => return stuck(format!("the browser cannot open a context: {e}"), None),
        };
        // Closes the context (and its page) even when the item's timeout drops this future.
        let _guard = ContextGuard {
            running: running.clone(),
            context: Some(context.clone()),
        };
        match open_page(cdp, &context).await {
            Ok(page) => {
                let flow = Flow {
                    page,
                    http,
                    login,
                    scene,
                    recorder,
                    deadline,
                    main_frame: String::new(),
                    shared: Mutex::new(Shared::default()),
                    notify: Notify::new(),
                    typed: Mutex::new(Vec::new()),
                };
                flow.run(start).await
            }
            Err(e) => stuck(format!("the browser cannot open a page: {e}"), None),
        }
    }
}

/// Disposes a login's browser context when the login ends or is abandoned.
struct ContextGuard {
    running: Arc<Running>,
    context: Option<BrowserContextId>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let (Some(context), Ok(rt)) = (self.context.take(), tokio::runtime::Handle::try_current())
        else {
            return;
        };
        let running = self.running.clone();
        rt.spawn(async move {
            let _ = running.cdp().dispose_browser_context(context).await;
        });
    }
}

async fn open_page(cdp: &Cdp, context: &BrowserContextId) -> Result<Page, String> {
    let mut params = CreateTargetParams::new("about:blank");
    params.browser_context_id = Some(context.clone());
    cdp.new_page(params).await.map_err(|e| e.to_string())
}

fn stuck(why: String, exchange: Option<u32>) -> Journey {
    Journey {
        end: End::Stuck { why, exchange },
        redirects: Vec::new(),
        last_exchange: exchange,
    }
}

/// The browser binary: `$FAPI_HARNESS_CHROMIUM`, else the first of `EXECUTABLES` on `PATH`.
pub fn find_executable() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(ENV_EXECUTABLE).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if is_executable(&p) {
            Ok(p)
        } else {
            Err(format!(
                "{ENV_EXECUTABLE}={} is not an executable file",
                p.display()
            ))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in EXECUTABLES {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    Err(format!(
        "login mode browser needs Chromium, and none of {} is on PATH \
         (Debian/Ubuntu: apt-get install chromium; or set {ENV_EXECUTABLE} to the browser's path)",
        EXECUTABLES.join(", ")
    ))
}

fn is_executable(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        p.is_file()
    }
}

/// Chromium refuses to start its sandbox as root ("Running as root without --no-sandbox is not
/// supported"), which is how CI containers run; elsewhere the sandbox stays on.
fn running_as_root() -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        // /proc/self belongs to the process's effective user.
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

async fn launch(ca_bundle: Option<&[u8]>) -> Result<Running, String> {
    let exe = find_executable()?;
    let dir = std::env::temp_dir().join(format!(
        "fapi-harness-browser-{}-{}",
        std::process::id(),
        crate::fapi::pkce::random_token(8)
    ));
    let profile = dir.join("profile");
    std::fs::create_dir_all(&profile).map_err(|e| {
        format!(
            "cannot create the browser profile {}: {e}",
            profile.display()
        )
    })?;
    let mut b = BrowserConfig::builder()
        .chrome_executable(&exe)
        .user_data_dir(&profile)
        // chromiumoxide ignores certificate errors unless told otherwise.
        .respect_https_errors()
        // An http redirect URI must stay http, or the capture pattern would miss it.
        .disable_https_first()
        .launch_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(30))
        .window_size(1024, 768);
    if let Some(pem) = ca_bundle {
        let home = dir.join("home");
        nss_trust(&home, pem).await?;
        b = b.env("HOME", home.display().to_string());
    }
    if let Ok(extra) = std::env::var(ENV_ARGS) {
        for (k, v) in extra_args(&extra) {
            b = match v {
                Some(v) => b.arg((k.as_str(), v.as_str())),
                None => b.arg(k),
            };
        }
    }
    let no_sandbox = std::env::var(ENV_NO_SANDBOX).is_ok_and(|v| v == "1");
    if running_as_root() || no_sandbox {
        b = b.no_sandbox();
    }
    let config = b.build()?;
    let (cdp, mut handler) = Cdp::launch(config).await.map_err(|e| {
        let _ = std::fs::remove_dir_all(&dir);
        format!("cannot start the browser {}: {e}", exe.display())
    })?;
    let handler = tokio::spawn(async move {
        // Errors here are about single messages (the connection itself ends the stream).
        while handler.next().await.is_some() {}
    });
    Ok(Running {
        cdp: Some(cdp),
        handler,
        dir,
    })
}

/// `--a=x y --b` → `a` = `x y`, `b`: a word that does not start with `--` continues the value
/// before it (`--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1`).
fn extra_args(s: &str) -> Vec<(String, Option<String>)> {
    let mut words: Vec<String> = Vec::new();
    for w in s.split_whitespace() {
        match words.last_mut() {
            Some(last) if !w.starts_with("--") => {
                last.push(' ');
                last.push_str(w);
            }
            _ => words.push(w.to_owned()),
        }
    }
    words
        .iter()
        .map(|w| {
            let w = w.trim_start_matches('-');
            match w.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (w.to_owned(), None),
            }
        })
        .collect()
}

/// A throw-away NSS database under `home/.pki/nssdb` (where Chromium on Linux looks) in which
/// every certificate of the CA bundle is a trusted TLS anchor.
async fn nss_trust(home: &Path, pem: &[u8]) -> Result<(), String> {
    let db = home.join(".pki").join("nssdb");
    std::fs::create_dir_all(&db).map_err(|e| format!("cannot create {}: {e}", db.display()))?;
    let db_arg = format!("sql:{}", db.display());
    let certutil = |args: Vec<String>| async move {
        let out = tokio::process::Command::new("certutil")
            .args(&args)
            .output()
            .await
            .map_err(|e| {
                format!(
                    "the browser must trust the target's ca_bundle, which takes NSS's certutil \
                     (Debian/Ubuntu: apt-get install libnss3-tools): {e}"
                )
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "certutil {} failed: {}",
                args.first().map(String::as_str).unwrap_or(""),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    };
    certutil(vec![
        "-N".into(),
        "-d".into(),
        db_arg.clone(),
        "--empty-password".into(),
    ])
    .await?;
    let mut reader = pem;
    let certs: Vec<_> = rustls_pemfile::certs(&mut reader)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err("ca_bundle holds no certificate".into());
    }
    for (i, der) in certs.iter().enumerate() {
        let file = home.join(format!("ca-{i}.der"));
        std::fs::write(&file, der.as_ref())
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        certutil(vec![
            "-A".into(),
            "-d".into(),
            db_arg.clone(),
            "-t".into(),
            "C,,".into(),
            "-n".into(),
            format!("fapi-harness ca_bundle {i}"),
            "-i".into(),
            file.display().to_string(),
        ])
        .await?;
    }
    Ok(())
}

/// What the event pump learned, read by the driver.
#[derive(Default)]
struct Shared {
    /// Main-frame document requests still waiting for their response, by network request id.
    pending: HashMap<String, Pending>,
    /// Main-frame documents that arrived: (exchange, HTTP status, URL).
    docs: Vec<(u32, u16, String)>,
    /// (status, exchange) of each redirect of a main-frame navigation.
    redirects: Vec<(u16, u32)>,
    /// The redirect that sent the browser to a redirect URI, and its target.
    delivery: Option<(u16, u32)>,
    captured: Option<Captured>,
    /// A main-frame navigation failed (certificate, connection, too many redirects).
    failure: Option<(String, u32)>,
    last_exchange: Option<u32>,
    navigations: usize,
}

struct Pending {
    label: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
    started: Instant,
    response: Option<network::Response>,
}

#[derive(Clone)]
struct Captured {
    url: url::Url,
    params: Vec<(String, String)>,
    mode: ResponseMode,
    exchange: u32,
    /// The request came from a redirect, whose record may arrive just after.
    from_redirect: bool,
    at: Instant,
}

struct Flow<'a> {
    page: Page,
    http: &'a Http,
    login: &'a Login,
    scene: &'a Scene,
    recorder: &'a Recorder,
    deadline: Instant,
    main_frame: String,
    shared: Mutex<Shared>,
    notify: Notify,
    /// Values typed so far: masked on the page before a screenshot.
    typed: Mutex<Vec<String>>,
}

/// What the driver waits for.
enum Seen {
    Captured,
    Failed(String, u32),
    Page,
    Timeout,
}

impl Flow<'_> {
    fn shared(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(mut self, start: url::Url) -> Journey {
        self.main_frame = match self.page.mainframe().await {
            Ok(Some(f)) => f.inner().clone(),
            _ => self.page.target_id().inner().clone(),
        };
        macro_rules! listen {
            ($t:ty) => {
                match self.page.event_listener::<$t>().await {
                    Ok(s) => s,
                    Err(e) => {
                        return stuck(format!("the browser does not report events: {e}"), None)
                    }
                }
            };
        }
        let paused = listen!(fetch::EventRequestPaused);
        let sent = listen!(network::EventRequestWillBeSent);
        let received = listen!(network::EventResponseReceived);
        let finished = listen!(network::EventLoadingFinished);
        let failed = listen!(network::EventLoadingFailed);
        let patterns: Vec<fetch::RequestPattern> = self
            .scene
            .redirect_uris
            .iter()
            .map(|u| fetch::RequestPattern {
                url_pattern: Some(capture_pattern(u)),
                resource_type: None,
                request_stage: Some(fetch::RequestStage::Request),
            })
            .collect();
        let enable = fetch::EnableParams {
            patterns: Some(patterns),
            handle_auth_requests: None,
        };
        if let Err(e) = self.page.execute(enable).await {
            return stuck(
                format!("the browser cannot intercept the redirect URIs: {e}"),
                None,
            );
        }
        let pump = self.pump(paused, sent, received, finished, failed);
        tokio::select! {
            j = self.drive(start) => j,
            () = pump => stuck("the browser's event stream ended".into(), None),
        }
    }

    /// Handles the browser's events until they end: records exchanges, answers paused requests.
    async fn pump(
        &self,
        mut paused: chromiumoxide::listeners::EventStream<fetch::EventRequestPaused>,
        mut sent: chromiumoxide::listeners::EventStream<network::EventRequestWillBeSent>,
        mut received: chromiumoxide::listeners::EventStream<network::EventResponseReceived>,
        mut finished: chromiumoxide::listeners::EventStream<network::EventLoadingFinished>,
        mut failed: chromiumoxide::listeners::EventStream<network::EventLoadingFailed>,
    ) {
        // Paused requests are answered in their own loop: a network handler waiting for a
        // response body must never hold up the request the browser is waiting on.
        let answer = async {
            while let Some(e) = paused.next().await {
                self.on_paused(&e).await;
                self.notify.notify_waiters();
            }
        };
        let observe = async {
            loop {
                tokio::select! {
                    Some(e) = sent.next() => self.on_sent(&e),
                    Some(e) = received.next() => self.on_received(&e),
                    Some(e) = finished.next() => self.on_finished(e.request_id.inner()).await,
                    Some(e) = failed.next() => self.on_failed(&e),
                    else => break,
                }
                self.notify.notify_waiters();
            }
        };
        tokio::join!(answer, observe);
    }

    fn redirect_target(&self, url: &str) -> Option<url::Url> {
        let u = url::Url::parse(url).ok()?;
        match authorize::classify(&u, &self.scene.redirect_uris, &[]) {
            Landing::Registered { .. } => Some(u),
            _ => None,
        }
    }

    fn on_sent(&self, e: &network::EventRequestWillBeSent) {
        if e.r#type != Some(ResourceType::Document)
            || e.frame_id.as_ref().map(|f| f.inner()) != Some(&self.main_frame)
        {
            return;
        }
        let id = e.request_id.inner().clone();
        let url = full_url(&e.request);
        let to_redirect_uri = self.redirect_target(&url).is_some();
        let mut sh = self.shared();
        let mut hop = None;
        if let Some(resp) = &e.redirect_response
            && let Some(prev) = sh.pending.remove(&id)
        {
            let status = u16::try_from(resp.status).unwrap_or(0);
            let seq = self.record(&prev, Some(resp), Vec::new(), None);
            sh.redirects.push((status, seq));
            sh.last_exchange = Some(seq);
            if to_redirect_uri {
                sh.delivery = Some((status, seq));
            }
            hop = Some(sh.redirects.len());
        }
        if to_redirect_uri {
            // Never sent: the capture records it.
            return;
        }
        sh.navigations += 1;
        let label = match hop {
            Some(n) => format!("browser: redirect hop {n}"),
            None if sh.navigations == 1 => "browser: authorization request".to_owned(),
            None if e.request.method == "POST" => "browser: form submission".to_owned(),
            None => "browser: navigation".to_owned(),
        };
        sh.pending.insert(
            id,
            Pending {
                label,
                method: e.request.method.clone(),
                url,
                headers: headers(e.request.headers.inner()),
                body: post_body(&e.request),
                started: Instant::now(),
                response: None,
            },
        );
    }

    fn on_received(&self, e: &network::EventResponseReceived) {
        if let Some(p) = self.shared().pending.get_mut(e.request_id.inner()) {
            p.response = Some(e.response.clone());
        }
    }

    async fn on_finished(&self, id: &str) {
        let Some(p) = self.shared().pending.remove(id) else {
            return;
        };
        // A document that a script replaced at once may have no body to give.
        let body = match tokio::time::timeout(
            BODY_WAIT,
            self.page
                .execute(network::GetResponseBodyParams::new(id.to_owned())),
        )
        .await
        {
            Ok(Ok(r)) if r.result.base64_encoded => {
                STANDARD.decode(&r.result.body).unwrap_or_default()
            }
            Ok(Ok(r)) => r.result.body.clone().into_bytes(),
            _ => Vec::new(),
        };
        let seq = self.record(&p, p.response.as_ref(), body, None);
        let status = p
            .response
            .as_ref()
            .map(|r| u16::try_from(r.status).unwrap_or(0))
            .unwrap_or(0);
        let mut sh = self.shared();
        sh.docs.push((seq, status, p.url.clone()));
        sh.last_exchange = Some(seq);
    }

    fn on_failed(&self, e: &network::EventLoadingFailed) {
        let mut sh = self.shared();
        let Some(p) = sh.pending.remove(e.request_id.inner()) else {
            return;
        };
        let seq = self.record(&p, None, Vec::new(), Some(e.error_text.clone()));
        sh.last_exchange = Some(seq);
        // An aborted navigation was replaced by another one (a script or a second submit).
        if e.canceled != Some(true) && e.error_text != "net::ERR_ABORTED" {
            sh.failure = Some((
                format!("the browser could not load {}: {}", p.url, e.error_text),
                seq,
            ));
        }
    }

    async fn on_paused(&self, e: &fetch::EventRequestPaused) {
        let url = full_url(&e.request);
        let Some(u) = self.redirect_target(&url) else {
            // The pattern is a prefix; this is another address.
            let _ = self
                .page
                .execute(fetch::ContinueRequestParams::new(e.request_id.clone()))
                .await;
            return;
        };
        let body = post_body(&e.request);
        let response = if e.request.method == "POST" {
            let fields: Vec<(String, String)> =
                url::form_urlencoded::parse(body.as_deref().unwrap_or("").as_bytes())
                    .into_owned()
                    .collect();
            capture::from_form_post(&u, &fields)
        } else {
            capture::from_url(&u)
        };
        let bearer = capture::bearer_values(&response.params);
        for v in &bearer {
            self.http.redactor().add_shortened(v);
        }
        if !bearer.is_empty() {
            // A form_post page showed the code in its body before it was known to be one.
            self.recorder.rescrub(self.http.redactor());
        }
        let pending = Pending {
            label: "browser: authorization response at the redirect URI (captured, not sent)"
                .into(),
            method: e.request.method.clone(),
            url: url.clone(),
            headers: headers(e.request.headers.inner()),
            body,
            started: Instant::now(),
            response: None,
        };
        let seq = self.record(&pending, None, Vec::new(), None);
        {
            let mut sh = self.shared();
            sh.last_exchange = Some(seq);
            sh.captured.get_or_insert(Captured {
                url: response.url,
                params: response.params,
                mode: response.mode,
                exchange: seq,
                from_redirect: e.redirected_request_id.is_some(),
                at: Instant::now(),
            });
        }
        self.notify.notify_waiters();
        let mut fulfil = fetch::FulfillRequestParams::new(e.request_id.clone(), 200);
        fulfil.response_headers = Some(vec![
            fetch::HeaderEntry::new("content-type", "text/html; charset=utf-8"),
            fetch::HeaderEntry::new("cache-control", "no-store"),
        ]);
        fulfil.body = Some(STANDARD.encode(CAPTURED_PAGE).into());
        if self.page.execute(fulfil).await.is_err() {
            let _ = self
                .page
                .execute(fetch::FailRequestParams::new(
                    e.request_id.clone(),
                    network::ErrorReason::Aborted,
                ))
                .await;
        }
    }

    /// Records one main-frame exchange through the HTTP layer's redaction.
    fn record(
        &self,
        p: &Pending,
        resp: Option<&network::Response>,
        body: Vec<u8>,
        error: Option<String>,
    ) -> u32 {
        let url = url::Url::parse(&p.url)
            .or_else(|_| url::Url::parse("about:blank"))
            .expect("about:blank parses");
        let spec = RequestSpec {
            label: p.label.clone(),
            method: reqwest::Method::from_bytes(p.method.as_bytes())
                .unwrap_or(reqwest::Method::GET),
            url,
            headers: Vec::new(),
            body: None,
        };
        let max = usize::try_from(self.http.max_body()).unwrap_or(usize::MAX);
        let truncated = body.len() > max;
        let raw = resp.map(|r| RawResponse {
            status: u16::try_from(r.status).unwrap_or(0),
            headers: headers(r.headers.inner()),
            body: body[..body.len().min(max)].to_vec(),
            truncated,
        });
        let http_version = resp.and_then(|r| r.protocol.as_deref()).map(protocol_name);
        let tls_version = resp.and_then(|r| r.security_details.as_ref()).map(|s| {
            format!(
                "{} {}",
                s.protocol.replace("TLS ", "TLSv").replace('.', "_"),
                s.cipher
            )
        });
        let elapsed_ms = u64::try_from(p.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.http.record_observed(
            Observed {
                spec: &spec,
                headers: &p.headers,
                body: p.body.clone(),
                raw: raw.as_ref(),
                http_version,
                tls_version,
                error,
                elapsed_ms,
            },
            self.recorder,
        )
    }

    /// Waits until the response is captured, a navigation failed, or more than `docs_seen`
    /// documents arrived; `until` bounds the wait.
    async fn wait(&self, docs_seen: usize, until: Instant) -> Seen {
        loop {
            {
                let sh = self.shared();
                if let Some(c) = &sh.captured {
                    // The redirect's own record follows the paused request closely.
                    if !c.from_redirect
                        || sh.delivery.is_some()
                        || c.at.elapsed() >= REDIRECT_RECORD_WAIT
                        || Instant::now() >= until
                    {
                        return Seen::Captured;
                    }
                } else if let Some((why, seq)) = &sh.failure {
                    return Seen::Failed(why.clone(), *seq);
                } else if sh.docs.len() > docs_seen {
                    return Seen::Page;
                }
            }
            if Instant::now() >= until {
                return Seen::Timeout;
            }
            let _ = tokio::time::timeout(POLL, self.notify.notified()).await;
        }
    }

    async fn drive(&self, start: url::Url) -> Journey {
        // chromiumoxide answers Page.navigate only when the page has loaded, which a page that
        // submits itself (form_post) never does; the network events tell how it went.
        let page = self.page.clone();
        let navigation = tokio::spawn(async move {
            let _ = page.execute(NavigateParams::new(start.as_str())).await;
        });
        let _abort = AbortOnDrop(navigation);
        let mut docs_seen = 0;
        let mut last_step: Option<usize> = None;
        let mut actions = 0;
        loop {
            match self.wait(docs_seen, self.deadline).await {
                Seen::Captured => return self.response(),
                Seen::Failed(why, seq) => return self.fail(why, Some(seq)).await,
                Seen::Timeout => return self.timeout(last_step).await,
                Seen::Page => {}
            }
            let (seq, status, url) = {
                let sh = self.shared();
                docs_seen = sh.docs.len();
                sh.docs.last().cloned().expect("a document arrived")
            };
            if docs_seen > MAX_PAGES {
                return self
                    .fail(
                        format!("more than {MAX_PAGES} pages without an authorization response"),
                        Some(seq),
                    )
                    .await;
            }
            if status >= 400 {
                self.attach_page(seq, "the error page").await;
                return self.journey(End::ErrorPage {
                    status,
                    exchange: Some(seq),
                });
            }
            let step = match self.choose_step(docs_seen).await {
                Choice::Step(i) => i,
                Choice::Other(Seen::Page) => continue,
                Choice::Other(Seen::Captured) => return self.response(),
                Choice::Other(Seen::Failed(why, seq)) => return self.fail(why, Some(seq)).await,
                Choice::Other(Seen::Timeout) => return self.timeout(last_step).await,
                Choice::NoStep(title) => {
                    return self
                        .fail(
                            format!(
                                "no login step matches the page at {url} (title {title:?}): an \
                                 unexpected page, or login.steps need another step"
                            ),
                            Some(seq),
                        )
                        .await;
                }
            };
            let name = &self.login.steps[step].name;
            if last_step == Some(step) {
                return self
                    .fail(
                        format!(
                            "login step {name:?} matched again on the page that answered it: the \
                             AS showed the same form again (wrong credentials?)"
                        ),
                        Some(seq),
                    )
                    .await;
            }
            actions += 1;
            if actions > MAX_ACTIONS {
                return self
                    .fail(
                        format!("more than {MAX_ACTIONS} login steps taken"),
                        Some(seq),
                    )
                    .await;
            }
            if let Err(why) = self.act(step).await {
                return self
                    .fail(format!("login step {name:?}: {why}"), Some(seq))
                    .await;
            }
            last_step = Some(step);
        }
    }

    fn journey(&self, end: End) -> Journey {
        let sh = self.shared();
        Journey {
            end,
            redirects: sh.redirects.clone(),
            last_exchange: sh.last_exchange,
        }
    }

    fn response(&self) -> Journey {
        let (end, redirects, last) = {
            let sh = self.shared();
            let c = sh.captured.clone().expect("captured");
            let (status, exchange) = match (c.mode, sh.delivery) {
                (ResponseMode::FormPost, _) | (_, None) => (None, c.exchange),
                (_, Some((status, seq))) => (Some(status), seq),
            };
            (
                End::Response {
                    url: c.url,
                    params: c.params,
                    mode: c.mode,
                    status,
                    exchange: Some(exchange),
                },
                sh.redirects.clone(),
                sh.last_exchange,
            )
        };
        Journey {
            end,
            redirects,
            last_exchange: last,
        }
    }

    /// Stuck, with a screenshot and the page's HTML attached to `seq` (or to a new exchange).
    async fn fail(&self, why: String, seq: Option<u32>) -> Journey {
        let seq = match seq {
            Some(s) => s,
            None => self.record(
                &Pending {
                    label: "browser: page when the login stopped".into(),
                    method: "GET".into(),
                    url: self.page.url().await.ok().flatten().unwrap_or_default(),
                    headers: Vec::new(),
                    body: None,
                    started: Instant::now(),
                    response: None,
                },
                None,
                Vec::new(),
                Some(why.clone()),
            ),
        };
        self.attach_page(seq, "the page when the login stopped")
            .await;
        self.journey(End::Stuck {
            why,
            exchange: Some(seq),
        })
    }

    async fn timeout(&self, last_step: Option<usize>) -> Journey {
        let after = last_step
            .map(|i| format!(" (after step {:?})", self.login.steps[i].name))
            .unwrap_or_default();
        let seq = self.shared().last_exchange;
        self.fail(
            format!(
                "the login did not reach the redirect URI within {} s{after} (login.timeout_secs)",
                self.login.timeout.as_secs()
            ),
            seq,
        )
        .await
    }

    /// Attaches the page's HTML (redacted) and a screenshot taken after masking every typed
    /// value on the page, within the evidence grace period.
    async fn attach_page(&self, seq: u32, what: &str) {
        let work = async {
            let mut out = Vec::new();
            if let Some(Value::String(html)) = self
                .eval("document.documentElement ? document.documentElement.outerHTML : ''")
                .await
            {
                let mut html = self.http.redactor().scrub(&html);
                let max = usize::try_from(self.http.max_body()).unwrap_or(usize::MAX);
                if html.len() > max {
                    let mut cut = max;
                    while !html.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    html.truncate(cut);
                }
                out.push(Attachment::html(
                    format!("HTML of {what} (DOM after scripts, redacted)"),
                    html,
                ));
            }
            let typed = self.typed.lock().unwrap_or_else(|e| e.into_inner()).clone();
            let masked = self.eval(&mask_script(&typed)).await == Some(Value::Bool(true));
            if masked {
                let shot = self
                    .page
                    .screenshot(
                        ScreenshotParams::builder()
                            .format(CaptureScreenshotFormat::Png)
                            .build(),
                    )
                    .await;
                if let Ok(png) = shot {
                    out.push(Attachment::png(
                        format!("screenshot of {what} (typed values masked)"),
                        &png,
                    ));
                }
            }
            out
        };
        let budget = EVIDENCE_GRACE - Duration::from_secs(2);
        if let Ok(attachments) = tokio::time::timeout(budget, work).await {
            self.recorder.attach(seq, attachments);
        }
    }

    /// Evaluates `js` in an isolated world of the current document (it shares the DOM, not the
    /// page's scripts, which therefore cannot observe or tamper with it).
    async fn eval(&self, js: &str) -> Option<Value> {
        let world = self
            .page
            .execute(
                CreateIsolatedWorldParams::builder()
                    .frame_id(self.main_frame.clone())
                    .world_name("fapi-harness")
                    .build()
                    .ok()?,
            )
            .await
            .ok()?;
        let params = EvaluateParams::builder()
            .expression(js)
            .context_id(world.result.execution_context_id)
            .return_by_value(true)
            .build()
            .ok()?;
        let r = self.page.execute(params).await.ok()?;
        if r.result.exception_details.is_some() {
            return None;
        }
        r.result.result.value.clone()
    }

    /// Polls the page until a step matches, a new page arrives, or patience runs out.
    async fn choose_step(&self, docs_seen: usize) -> Choice {
        let patient = self.login.steps.iter().any(|s| s.wait_for.is_some());
        let until = if patient {
            self.deadline
        } else {
            (Instant::now() + SETTLE).min(self.deadline)
        };
        let js = match_script(&self.login.steps);
        let mut title = String::new();
        loop {
            if let Some(v) = self.eval(&js).await
                && v["ready"] == json!(true)
            {
                if let Some(i) = v["step"].as_u64() {
                    return Choice::Step(usize::try_from(i).unwrap_or(usize::MAX));
                }
                title = v["title"].as_str().unwrap_or("").to_owned();
            }
            let poll_until = (Instant::now() + POLL * 2).min(until);
            match self.wait(docs_seen, poll_until).await {
                Seen::Timeout if Instant::now() >= until => {
                    return if Instant::now() >= self.deadline {
                        Choice::Other(Seen::Timeout)
                    } else {
                        Choice::NoStep(title)
                    };
                }
                Seen::Timeout => {}
                other => return Choice::Other(other),
            }
        }
    }

    /// Fills the step's fields and submits.
    async fn act(&self, i: usize) -> Result<(), String> {
        let step = &self.login.steps[i];
        for (selector, value) in &step.fill {
            let kind = self
                .eval(&format!("({FOCUS_JS})({})", json!(selector)))
                .await;
            match kind.as_ref().and_then(Value::as_str) {
                Some("select" | "checkbox" | "radio") => {
                    let set = format!("({SET_JS})({}, {})", json!(selector), json!(value));
                    if self.eval(&set).await != Some(Value::Bool(true)) {
                        return Err(format!("cannot set the field {selector}"));
                    }
                }
                Some(_) => {
                    self.typed
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(value.clone());
                    self.page
                        .execute(InsertTextParams::new(value.clone()))
                        .await
                        .map_err(|e| format!("cannot type into {selector}: {e}"))?;
                }
                None => return Err(format!("the field {selector} is not on the page")),
            }
        }
        match &step.submit {
            Some(sel) => {
                let clicked = match self.page.find_element(sel.clone()).await {
                    Ok(el) => el.click().await.is_ok(),
                    Err(_) => false,
                };
                if !clicked {
                    let js = format!(
                        "(() => {{ const e = document.querySelector({}); if (!e) return false; e.click(); return true; }})()",
                        json!(sel)
                    );
                    if self.eval(&js).await != Some(Value::Bool(true)) {
                        return Err(format!("the submit button {sel} is not on the page"));
                    }
                }
            }
            None => {
                let first = step.fill.first().map(|(s, _)| s.as_str());
                let js = format!("({SUBMIT_JS})({})", json!(first));
                if self.eval(&js).await != Some(Value::Bool(true)) {
                    return Err(
                        "no form to submit (set `submit` to the button's selector)".to_owned()
                    );
                }
            }
        }
        Ok(())
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

enum Choice {
    Step(usize),
    /// No step matched; the page's title.
    NoStep(String),
    Other(Seen),
}

/// The first step whose conditions hold: `when` (if set) and `wait_for` (if set) are on the
/// page; a step without `when` also needs every field it fills (or, filling nothing, its
/// submit button or its `wait_for`).
fn match_script(steps: &[LoginStep]) -> String {
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            json!({
                "when": s.when,
                "wait_for": s.wait_for,
                "fill": s.fill.iter().map(|(k, _)| k).collect::<Vec<_>>(),
                "submit": s.submit,
            })
        })
        .collect();
    format!(
        r#"((steps) => {{
  const q = (s) => {{ try {{ return document.querySelector(s); }} catch (e) {{ return null; }} }};
  if (document.readyState === 'loading') return {{ ready: false }};
  const title = document.title;
  for (let i = 0; i < steps.length; i++) {{
    const s = steps[i];
    if (s.when !== null && !q(s.when)) continue;
    if (s.wait_for !== null && !q(s.wait_for)) continue;
    if (s.when === null) {{
      if (s.fill.length > 0) {{ if (!s.fill.every((f) => q(f))) continue; }}
      else if (!((s.submit !== null && q(s.submit)) || s.wait_for !== null)) continue;
    }}
    return {{ ready: true, step: i, title }};
  }}
  return {{ ready: true, step: null, title }};
}})({})"#,
        Value::Array(steps)
    )
}

/// Focuses and empties a field; returns its kind (`text`, `select`, `checkbox`, `radio`).
const FOCUS_JS: &str = r#"(sel) => {
  const e = document.querySelector(sel);
  if (!e) return null;
  e.scrollIntoView({ block: 'center' });
  e.focus();
  if (e.tagName === 'SELECT') return 'select';
  if (e.type === 'checkbox' || e.type === 'radio') return e.type;
  if ('value' in e) { e.value = ''; e.dispatchEvent(new Event('input', { bubbles: true })); }
  return 'text';
}"#;

/// Sets a select's value or a checkbox/radio's state (`true`, `on`, `1`, `yes` check it).
const SET_JS: &str = r#"(sel, v) => {
  const e = document.querySelector(sel);
  if (!e) return false;
  if (e.tagName === 'SELECT') e.value = v;
  else e.checked = ['true', 'on', '1', 'yes'].includes(String(v).toLowerCase());
  e.dispatchEvent(new Event('input', { bubbles: true }));
  e.dispatchEvent(new Event('change', { bubbles: true }));
  return true;
}"#;

/// Submits the form of the first filled field, or the page's only form.
const SUBMIT_JS: &str = r#"(first) => {
  const e = first ? document.querySelector(first) : null;
  const f = e && e.form ? e.form : (document.forms.length === 1 ? document.forms[0] : null);
  if (!f) return false;
  if (f.requestSubmit) f.requestSubmit(); else f.submit();
  return true;
}"#;

/// Masks the page before a screenshot: password fields are emptied, and every value the
/// harness typed is replaced wherever it shows (field values, text, attributes).
fn mask_script(typed: &[String]) -> String {
    format!(
        r#"((secrets) => {{
  const R = '[REDACTED]';
  secrets = secrets.filter((s) => s.length > 0);
  const has = (v) => typeof v === 'string' && secrets.some((s) => v.includes(s));
  const red = (v) => {{ for (const s of secrets) v = v.split(s).join(R); return v; }};
  for (const e of document.querySelectorAll('input, textarea')) {{
    if (e.type === 'password') e.value = '';
    else if (has(e.value)) e.value = red(e.value);
  }}
  const root = document.body || document.documentElement;
  if (root) {{
    const w = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let n;
    while ((n = w.nextNode())) if (has(n.nodeValue)) n.nodeValue = red(n.nodeValue);
    for (const el of root.querySelectorAll('*'))
      for (const a of Array.from(el.attributes)) if (has(a.value)) el.setAttribute(a.name, red(a.value));
  }}
  return true;
}})({})"#,
        json!(typed)
    )
}

/// The Fetch URL pattern for a redirect URI: its address without query or fragment, then `*`
/// (`*`, `?` and `\` escaped). Matches are checked exactly afterwards.
fn capture_pattern(u: &url::Url) -> String {
    let mut base = u.clone();
    base.set_query(None);
    base.set_fragment(None);
    let mut out = String::new();
    for c in base.as_str().chars() {
        if matches!(c, '*' | '?' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

fn full_url(r: &network::Request) -> String {
    match &r.url_fragment {
        Some(f) if !f.is_empty() => format!("{}{f}", r.url),
        _ => r.url.clone(),
    }
}

fn headers(v: &Value) -> Vec<(String, String)> {
    let Some(o) = v.as_object() else {
        return Vec::new();
    };
    o.iter()
        .flat_map(|(k, v)| {
            // Chromium joins repeated headers (Set-Cookie) with newlines.
            v.as_str()
                .unwrap_or_default()
                .split('\n')
                .map(|x| (k.clone(), x.to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn post_body(r: &network::Request) -> Option<String> {
    let entries = r.post_data_entries.as_ref()?;
    let mut bytes = Vec::new();
    for e in entries {
        if let Some(b) = &e.bytes {
            let s: &str = b.as_ref();
            bytes.extend(STANDARD.decode(s).unwrap_or_default());
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

fn protocol_name(p: &str) -> String {
    match p {
        "http/1.1" => "HTTP/1.1".into(),
        "http/1.0" => "HTTP/1.0".into(),
        "h2" => "HTTP/2.0".into(),
        "h3" => "HTTP/3.0".into(),
        other => other.to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_patterns_escape_wildcards_and_drop_the_query() {
        let u = url::Url::parse("https://client.example/cb*x?keep=1#f").unwrap();
        assert_eq!(capture_pattern(&u), r"https://client.example/cb\*x*");
        let u = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(capture_pattern(&u), "http://127.0.0.1:8080/*");
    }

    #[test]
    fn repeated_headers_are_split() {
        let h = headers(&json!({"set-cookie": "a=1\nb=2", "location": "https://x/"}));
        assert_eq!(h.len(), 3);
        assert!(h.contains(&("set-cookie".into(), "b=2".into())));
    }

    #[test]
    fn scripts_carry_selectors_and_typed_values_as_json() {
        let step = LoginStep {
            name: "login".into(),
            when: Some("form[action='/login']".into()),
            wait_for: None,
            fill: vec![("[name=\"password\"]".into(), "s3cret".into())],
            submit: None,
        };
        let js = match_script(std::slice::from_ref(&step));
        assert!(js.contains(r#""when":"form[action='/login']""#), "{js}");
        assert!(
            !js.contains("s3cret"),
            "the match script never carries values"
        );
        let mask = mask_script(&["a\"b</script>".into()]);
        assert!(mask.contains(r#"["a\"b</script>"]"#), "{mask}");
    }

    #[test]
    fn extra_arguments_keep_values_with_spaces() {
        let a = extra_args("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1 --mute-audio");
        assert_eq!(
            a,
            vec![
                (
                    "host-resolver-rules".to_owned(),
                    Some("MAP * ~NOTFOUND, EXCLUDE 127.0.0.1".to_owned())
                ),
                ("mute-audio".to_owned(), None),
            ]
        );
    }

    #[test]
    fn protocols_read_like_the_http_layer() {
        assert_eq!(protocol_name("h2"), "HTTP/2.0");
        assert_eq!(protocol_name("http/1.1"), "HTTP/1.1");
    }
}
