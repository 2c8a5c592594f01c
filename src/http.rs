//! The recording HTTP layer: the only place that sends. Every exchange becomes evidence.
//!
//! Redirects are never followed automatically (they are evidence, and may point off-target).
//! Bodies are capped, every request has a deadline, and every recorded string passes through
//! the redactor before it is stored, so nothing downstream can leak a secret.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Diagnostic;
use crate::evidence::{Attachment, DecodedJwt, Exchange, RecordedRequest, RecordedResponse};
use crate::fapi::jose::find_jwts;
use crate::login::capture;
use crate::login::page::Page;
use crate::redact::Redactor;
use crate::target::Target;

/// JSON members of a response whose values are bearer credentials: shown shortened everywhere.
const BEARER_MEMBERS: &[&str] = &["access_token", "refresh_token", "device_code", "code"];
/// Cookie values at least this long are hidden wherever they appear (a page may print its
/// session, as oidc-provider's development pages do); shorter ones (`1`, `en`, `true`) carry no
/// credential, and hiding them would blank out every occurrence of the text in the reports.
const MIN_SECRET_COOKIE: usize = 8;

/// A request to send, built by the fapi client.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// What the item was doing, e.g. `discovery (openid-configuration)`.
    pub label: String,
    pub method: reqwest::Method,
    pub url: url::Url,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body>,
}

#[derive(Debug, Clone)]
pub enum Body {
    Form(Vec<(String, String)>),
    Json(Value),
}

impl RequestSpec {
    pub fn get(label: impl Into<String>, url: url::Url) -> Self {
        RequestSpec {
            label: label.into(),
            method: reqwest::Method::GET,
            url,
            headers: Vec::new(),
            body: None,
        }
    }
}

/// The unredacted response, for the protocol client's own use. Never reaches a report.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub truncated: bool,
}

/// An exchange seen by another user agent (the browser), to be recorded like one of ours.
pub struct Observed<'a> {
    /// Label, method and URL (its `headers` and `body` are not used).
    pub spec: &'a RequestSpec,
    /// The request headers as sent.
    pub headers: &'a [(String, String)],
    /// The request body as sent.
    pub body: Option<String>,
    pub raw: Option<&'a RawResponse>,
    pub http_version: Option<String>,
    pub tls_version: Option<String>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

impl RawResponse {
    /// The first header of that name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Collects one item's exchanges, in order. Shared with the runner so that a timed-out item
/// keeps the evidence gathered before the deadline.
#[derive(Clone, Default)]
pub struct Recorder {
    inner: Arc<Mutex<Vec<Exchange>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores an exchange under the next sequence number and returns that number.
    pub fn push(&self, mut ex: Exchange) -> u32 {
        let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        ex.seq = u32::try_from(v.len() + 1).unwrap_or(u32::MAX);
        let seq = ex.seq;
        v.push(ex);
        seq
    }

    /// Adds already-redacted attachments to the exchange `seq` (no-op if there is none).
    pub fn attach(&self, seq: u32, attachments: Vec<Attachment>) {
        let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(ex) = v.iter_mut().find(|e| e.seq == seq) {
            ex.attachments.extend(attachments);
        }
    }

    /// Scrubs every recorded exchange again: for values that became known as bearer values only
    /// after the exchange that carried them was recorded (a `form_post` page shows the code
    /// before the browser posts it).
    pub fn rescrub(&self, r: &Redactor) {
        let mut v = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for ex in v.iter_mut() {
            ex.request.url = r.scrub(&ex.request.url);
            if let Some(b) = &mut ex.request.body {
                *b = r.scrub(b);
            }
            if let Some(resp) = &mut ex.response {
                resp.body = r.scrub(&resp.body);
                for (_, v) in &mut resp.headers {
                    *v = r.scrub(v);
                }
            }
            for a in &mut ex.attachments {
                if a.encoding == "text" {
                    a.data = r.scrub(&a.data);
                }
            }
            for j in &mut ex.jwts {
                scrub_value(&mut j.header, r);
                scrub_value(&mut j.claims, r);
            }
        }
    }

    pub fn snapshot(&self) -> Vec<Exchange> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The HTTP clients for one target: one without a client certificate, one per mTLS client.
pub struct Http {
    plain: reqwest::Client,
    /// For the one handshake per origin that learns the TLS version (see `fapi::tls`).
    tls_config: Option<Arc<rustls::ClientConfig>>,
    tls_versions: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Option<String>>>>>,
    connect_timeout: Duration,
    with_cert: HashMap<String, reqwest::Client>,
    redactor: Arc<Redactor>,
    extra_headers: Vec<(String, String)>,
    max_body: u64,
    request_timeout: Duration,
}

impl Http {
    /// Builds the clients. TLS verification is always on; a CA bundle replaces the system roots.
    pub fn new(target: &Target, redactor: Arc<Redactor>) -> Result<Self, Diagnostic> {
        let build = |identity: Option<&[u8]>| -> Result<reqwest::Client, Diagnostic> {
            let mut b = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(target.connect_timeout)
                .user_agent(concat!("fapi-harness/", env!("CARGO_PKG_VERSION")))
                .tls_version_min(reqwest::tls::Version::TLS_1_2);
            if let Some(pem) = &target.ca_bundle {
                let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|e| {
                    Diagnostic::new(format!("ca_bundle does not load: {e}")).in_file(&target.file)
                })?;
                b = b.tls_certs_only(certs);
            }
            if let Some(id) = identity {
                let identity = reqwest::Identity::from_pem(id).map_err(|e| {
                    Diagnostic::new(format!("client certificate does not load: {e}"))
                        .in_file(&target.file)
                })?;
                b = b.identity(identity);
            }
            b.build().map_err(|e| {
                Diagnostic::new(format!("cannot build the HTTP client: {e}")).in_file(&target.file)
            })
        };
        let plain = build(None)?;
        let mut with_cert = HashMap::new();
        for c in &target.clients {
            if let Some(cert) = &c.cert {
                with_cert.insert(c.name.clone(), build(Some(&cert.identity_pem))?);
                if let Some(pem) = impostor_identity(&cert.identity_pem) {
                    with_cert.insert(impostor_name(&c.name), build(Some(&pem))?);
                }
            }
        }
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        Ok(Http {
            plain,
            tls_config: crate::fapi::tls::client_config(target.ca_bundle.as_deref())
                .ok()
                .map(Arc::new),
            tls_versions: Default::default(),
            connect_timeout: target.connect_timeout,
            with_cert,
            redactor,
            extra_headers: target.extra_headers.clone(),
            max_body: target.max_body_bytes,
            request_timeout: target.request_timeout,
        })
    }

    pub fn redactor(&self) -> &Redactor {
        &self.redactor
    }

    /// The evidence cap per response body (`http.max_body_bytes`).
    pub fn max_body(&self) -> u64 {
        self.max_body
    }

    /// Records an exchange that another user agent made (the browser login driver): the same
    /// redaction, bearer-value registration and JWT decoding as `send`.
    pub fn record_observed(&self, o: Observed<'_>, recorder: &Recorder) -> u32 {
        if let Some(r) = o.raw {
            self.register_response_secrets(&o.spec.url, r);
        }
        let mut ex = self.record(
            o.spec,
            o.headers,
            o.body,
            o.raw,
            o.http_version,
            o.error,
            o.elapsed_ms,
        );
        if let Some(resp) = &mut ex.response {
            resp.tls_version = o.tls_version.map(|t| self.redactor.scrub(&t));
        }
        recorder.push(ex)
    }

    /// The TLS client configuration requests use (trust roots, no client certificate).
    pub fn tls_config(&self) -> Option<Arc<rustls::ClientConfig>> {
        self.tls_config.clone()
    }

    /// Sends `spec` (with the named client's certificate, if any), records the exchange and
    /// returns its sequence number and the raw response. A transport failure is recorded, not
    /// returned as an error: it is an observation about the target.
    pub async fn send(
        &self,
        spec: RequestSpec,
        cert_of: Option<&str>,
        recorder: &Recorder,
    ) -> (u32, Option<RawResponse>) {
        let client = cert_of
            .and_then(|n| self.with_cert.get(n))
            .unwrap_or(&self.plain);
        let mut headers = self.extra_headers.clone();
        headers.extend(spec.headers.iter().cloned());
        let mut req = client.request(spec.method.clone(), spec.url.clone());
        for (k, v) in &headers {
            req = req.header(k, v);
        }
        // reqwest sets Content-Type itself for these bodies; it is recorded so the evidence shows
        // the request exactly as sent.
        let body_text = match &spec.body {
            Some(Body::Form(pairs)) => {
                req = req.form(pairs);
                headers.push((
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                ));
                Some(serde_urlencoded_pairs(pairs))
            }
            Some(Body::Json(v)) => {
                req = req.json(v);
                headers.push(("content-type".into(), "application/json".into()));
                Some(v.to_string())
            }
            None => None,
        };
        let started = Instant::now();
        let result = tokio::time::timeout(self.request_timeout, self.execute(req)).await;
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (raw, meta, error) = match result {
            Ok(Ok((raw, meta))) => (Some(raw), Some(meta), None),
            Ok(Err(e)) => (None, None, Some(describe_error(&e))),
            Err(_) => (
                None,
                None,
                Some(format!(
                    "no complete response within {} s",
                    self.request_timeout.as_secs()
                )),
            ),
        };
        if let Some(r) = &raw {
            self.register_response_secrets(&spec.url, r);
        }
        let tls = match raw {
            Some(_) => self.tls_version(&spec.url).await,
            None => None,
        };
        let mut ex = self.record(
            &spec,
            &headers,
            body_text,
            raw.as_ref(),
            meta,
            error,
            elapsed_ms,
        );
        if let Some(resp) = &mut ex.response {
            resp.tls_version = tls;
        }
        let seq = recorder.push(ex);
        (seq, raw)
    }

    /// The TLS version and suite of an https origin, learned once per run.
    async fn tls_version(&self, url: &url::Url) -> Option<String> {
        if url.scheme() != "https" {
            return None;
        }
        let config = self.tls_config.clone()?;
        let host = url
            .host_str()?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = url.port_or_known_default()?;
        let origin = format!("{host}:{port}");
        let cell = self
            .tls_versions
            .lock()
            .await
            .entry(origin)
            .or_default()
            .clone();
        cell.get_or_init(|| async {
            crate::fapi::tls::negotiated(config, &host, port, self.connect_timeout)
                .await
                .ok()
        })
        .await
        .clone()
    }

    async fn execute(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<(RawResponse, String), reqwest::Error> {
        let mut resp = req.send().await?;
        let status = resp.status().as_u16();
        let version = format!("{:?}", resp.version());
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp.chunk().await? {
            let room = usize::try_from(self.max_body)
                .unwrap_or(usize::MAX)
                .saturating_sub(body.len());
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                // Stop reading: the rest may be endless. Dropping the response closes the stream.
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok((
            RawResponse {
                status,
                headers,
                body,
                truncated,
            },
            version,
        ))
    }

    /// Tokens and codes the target hands out, and the cookies it sets, are registered before
    /// anything is recorded, so the very response that carries them already hides them: codes
    /// and tokens in a JSON body, in a redirect (query, fragment or JARM `response`) and in a
    /// page's forms (`form_post`) are shortened; cookie values are hidden.
    fn register_response_secrets(&self, url: &url::Url, r: &RawResponse) {
        if let Ok(Value::Object(o)) = serde_json::from_slice::<Value>(&r.body) {
            for m in BEARER_MEMBERS {
                if let Some(Value::String(s)) = o.get(*m) {
                    self.redactor.add_shortened(s);
                }
            }
        }
        let mut params = Vec::new();
        for (k, v) in &r.headers {
            if k.eq_ignore_ascii_case("location")
                && let Ok(u) = url.join(v)
            {
                params.extend(capture::from_url(&u).params);
            }
            if k.eq_ignore_ascii_case("set-cookie")
                && let Some((_, rest)) = v.split_once('=')
            {
                let value = rest
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches('"');
                if value.len() >= MIN_SECRET_COOKIE {
                    self.redactor.add_secret(value);
                }
            }
        }
        let html = r.headers.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("content-type") && v.to_ascii_lowercase().contains("html")
        });
        if html {
            let text = String::from_utf8_lossy(&r.body);
            if text.to_ascii_lowercase().contains("<form") {
                for form in Page::parse(&text, url).forms() {
                    params.extend(form.fields);
                }
            }
        }
        for value in capture::bearer_values(&params) {
            self.redactor.add_shortened(&value);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        spec: &RequestSpec,
        headers: &[(String, String)],
        body_text: Option<String>,
        raw: Option<&RawResponse>,
        http_version: Option<String>,
        error: Option<String>,
        elapsed_ms: u64,
    ) -> Exchange {
        let r = &self.redactor;
        let mut jwts: Vec<DecodedJwt> = Vec::new();
        for (k, v) in headers {
            jwts.extend(find_jwts(v, &format!("request header {k}")));
        }
        if let Some(b) = &body_text {
            jwts.extend(find_jwts(&url_decoded(b), "request body"));
        }
        let response = raw.map(|raw| {
            let text = String::from_utf8_lossy(&raw.body);
            let lossy = matches!(text, std::borrow::Cow::Owned(_));
            for (k, v) in &raw.headers {
                jwts.extend(find_jwts(v, &format!("response header {k}")));
            }
            jwts.extend(find_jwts(&text, "response body"));
            RecordedResponse {
                status: raw.status,
                http_version: http_version.clone().unwrap_or_default(),
                tls_version: None,
                headers: raw
                    .headers
                    .iter()
                    .map(|(k, v)| (r.scrub(k), r.scrub_header(k, v)))
                    .collect(),
                body: r.scrub(&text),
                body_lossy: lossy,
                body_truncated: raw.truncated,
                body_bytes: raw.body.len() as u64,
            }
        });
        for j in &mut jwts {
            scrub_value(&mut j.header, r);
            scrub_value(&mut j.claims, r);
            j.found_in = r.scrub(&j.found_in);
        }
        Exchange {
            seq: 0,
            label: r.scrub(&spec.label),
            request: RecordedRequest {
                method: spec.method.to_string(),
                url: r.scrub(spec.url.as_str()),
                headers: headers
                    .iter()
                    .map(|(k, v)| (r.scrub(k), r.scrub_header(k, v)))
                    .collect(),
                body: body_text.map(|b| r.scrub(&b)),
            },
            response,
            error: error.map(|e| r.scrub(&e)),
            elapsed_ms,
            jwts,
            attachments: Vec::new(),
        }
    }
}

/// The key under which a client's impostor certificate is kept.
pub fn impostor_name(client: &str) -> String {
    format!("{client}#impostor")
}

/// A self-signed certificate with the same subject and names as the client's, under a fresh key:
/// what an attacker without the CA could present (RFC8705-2-2 negative tests).
fn impostor_identity(identity_pem: &[u8]) -> Option<Vec<u8>> {
    let mut reader = identity_pem;
    let leaf = rustls_pemfile::certs(&mut reader).next()?.ok()?;
    let (_, parsed) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let mut params = rcgen::CertificateParams::default();
    for attr in parsed.subject().iter_attributes() {
        let arcs: Vec<u64> = attr.attr_type().iter()?.collect();
        if let Ok(value) = attr.as_str() {
            params
                .distinguished_name
                .push(rcgen::DnType::from_oid(&arcs), value);
        }
    }
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).ok()?;
    let cert = params.self_signed(&key).ok()?;
    let mut pem = cert.pem().into_bytes();
    pem.extend_from_slice(key.serialize_pem().as_bytes());
    Some(pem)
}

fn serde_urlencoded_pairs(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn url_decoded(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Redacts every string inside a decoded JSON value (claims may echo a secret).
pub fn scrub_value(v: &mut Value, r: &Redactor) {
    match v {
        Value::String(s) => *s = r.scrub(s),
        Value::Array(a) => a.iter_mut().for_each(|x| scrub_value(x, r)),
        Value::Object(o) => o.values_mut().for_each(|x| scrub_value(x, r)),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// A transport error in one line, with the underlying cause (TLS alert, refused, reset).
fn describe_error(e: &reqwest::Error) -> String {
    let mut msg = if e.is_connect() {
        "connection failed".to_owned()
    } else if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_body() || e.is_decode() {
        "response body failed".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}
