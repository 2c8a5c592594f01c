//! The user agent without a browser: follows the AS's redirects (`none`) and fills its forms
//! (`http-form`), with the session's cookie jar. It never requests a redirect URI: the
//! authorization response is read from the redirect or the `form_post` page that points there.

use super::page::{Method, Page, PageKind};
use super::{End, Journey, Scene, Session, capture};
use crate::fapi::authorize::{self, Landing};
use crate::http::{Body, Http, RawResponse, Recorder, RequestSpec};
use crate::target::{Login, LoginMode, LoginStep};

/// At most this many redirects in a row inside the AS before the user agent gives up (loop
/// protection). A submitted form starts a new count.
const MAX_HOPS: usize = 10;

/// A page a form step can act on: declared HTML, or undeclared and looking like markup.
fn is_html(r: &RawResponse) -> bool {
    match r.header("content-type") {
        Some(ct) => ct.to_ascii_lowercase().contains("html"),
        None => r.body.trim_ascii_start().starts_with(b"<"),
    }
}

/// The next request of the user agent.
struct Request {
    label: String,
    method: Method,
    url: url::Url,
    /// The form fields of a POST, and the origin of the page that sent them.
    form: Option<(Vec<(String, String)>, String)>,
}

/// What a page leads to.
enum Next {
    End(End),
    Request(Request),
}

fn stuck(why: String, exchange: u32) -> Next {
    Next::End(End::Stuck {
        why,
        exchange: Some(exchange),
    })
}

/// One journey's state.
struct Walk<'a> {
    http: &'a Http,
    login: &'a Login,
    scene: &'a Scene,
    session: &'a mut Session,
    recorder: &'a Recorder,
    redirects: Vec<(u16, u32)>,
    last_exchange: Option<u32>,
    /// Steps already taken: each acts at most once per journey, so a page that comes back
    /// (refused credentials) cannot make the harness submit it forever.
    used: Vec<bool>,
    /// The step whose form led to the current page.
    last_step: Option<usize>,
}

pub async fn journey(
    http: &Http,
    login: &Login,
    start: url::Url,
    scene: &Scene,
    session: &mut Session,
    recorder: &Recorder,
) -> Journey {
    let mut walk = Walk {
        http,
        login,
        scene,
        session,
        recorder,
        redirects: Vec::new(),
        last_exchange: None,
        used: vec![false; login.steps.len()],
        last_step: None,
    };
    let end = walk.run(start).await;
    Journey {
        end,
        redirects: walk.redirects,
        last_exchange: walk.last_exchange,
    }
}

impl Walk<'_> {
    async fn run(&mut self, start: url::Url) -> End {
        let mut req = Request {
            label: "authorization request".into(),
            method: Method::Get,
            url: start,
            form: None,
        };
        let mut hops = 0;
        loop {
            let (seq, raw) = self.send(&req).await;
            let Some(r) = raw else {
                return End::Stuck {
                    why: format!("no response to the {}", req.label),
                    exchange: Some(seq),
                };
            };
            let location = r.header("location").and_then(|l| req.url.join(l).ok());
            if let (true, Some(next)) = ((300..400).contains(&r.status), location) {
                self.redirects.push((r.status, seq));
                match authorize::classify(&next, &self.scene.redirect_uris, &self.scene.as_origins)
                {
                    Landing::Registered { .. } => {
                        return capture::from_url(&next).into_end(Some(r.status), Some(seq));
                    }
                    Landing::Elsewhere(url) => {
                        return End::Elsewhere {
                            url,
                            exchange: Some(seq),
                        };
                    }
                    Landing::AsOrigin(url) => {
                        hops += 1;
                        if hops >= MAX_HOPS {
                            return End::Stuck {
                                why: format!(
                                    "more than {MAX_HOPS} redirects inside the AS (loop?)"
                                ),
                                exchange: Some(seq),
                            };
                        }
                        req = Request {
                            label: format!("authorization redirect hop {}", self.redirects.len()),
                            method: Method::Get,
                            url,
                            form: None,
                        };
                        continue;
                    }
                }
            }
            hops = 0;
            match self.on_page(&req.url, &r, seq) {
                Next::End(end) => return end,
                Next::Request(next) => req = next,
            }
        }
    }

    /// Sends with the session's cookies for the URL, and keeps the cookies the answer sets.
    async fn send(&mut self, req: &Request) -> (u32, Option<RawResponse>) {
        let mut headers: Vec<(String, String)> =
            self.session.cookie_header(&req.url).into_iter().collect();
        let body = req.form.clone().map(|(fields, origin)| {
            // Browsers send the page's origin with a form POST; CSRF defences may insist on it.
            headers.push(("Origin".into(), origin));
            Body::Form(fields)
        });
        let spec = RequestSpec {
            label: req.label.clone(),
            method: match req.method {
                Method::Get => reqwest::Method::GET,
                Method::Post => reqwest::Method::POST,
            },
            url: req.url.clone(),
            headers,
            body,
        };
        let (seq, raw) = self.http.send(spec, None, self.recorder).await;
        self.last_exchange = Some(seq);
        if let Some(r) = &raw {
            self.session.store(&req.url, &r.headers);
        }
        (seq, raw)
    }

    /// A response that is not a redirect: a page to act on, an error page, or the end.
    fn on_page(&mut self, url: &url::Url, r: &RawResponse, seq: u32) -> Next {
        let steps = &self.login.steps;
        let after = self.last_step.map(|i| steps[i].name.clone());
        let page = is_html(r).then(|| Page::parse(&String::from_utf8_lossy(&r.body), url));
        let kind = page.as_ref().map(|p| p.kind(&self.scene.redirect_uris));
        // An error in form_post mode arrives with HTTP 400 (OAuth 2.0 Form Post Response Mode
        // §2), so the response is looked for before the status.
        if let Some(PageKind::FormPost { action, params }) = &kind {
            return Next::End(
                capture::from_form_post(action, params).into_end(Some(r.status), Some(seq)),
            );
        }
        // A login or consent page is a page to act on, whatever its status (some servers answer
        // 401 with their login form); any other answer with an error status is an error page.
        let error_status = (400..600).contains(&r.status);
        let actionable = matches!(kind, Some(PageKind::Login | PageKind::Consent));
        if error_status && !actionable {
            return match &after {
                Some(step) => stuck(after_step_error(step, r.status, kind.as_ref()), seq),
                None => Next::End(End::ErrorPage {
                    status: r.status,
                    exchange: Some(seq),
                }),
            };
        }
        if !error_status && !(200..300).contains(&r.status) {
            return stuck(
                format!(
                    "HTTP {} without a usable Location, after the {}",
                    r.status,
                    self.label_of_last()
                ),
                seq,
            );
        }
        let (Some(page), Some(kind)) = (page, kind) else {
            return stuck(
                format!(
                    "HTTP {} with a {} answer, not a page a login step can act on",
                    r.status,
                    r.header("content-type").unwrap_or("untyped")
                ),
                seq,
            );
        };
        if let Some(i) = self.last_step
            && page.applies(&steps[i])
        {
            let why = if kind == PageKind::Login {
                format!(
                    "the login was refused: the login page came back after step `{}`{}",
                    steps[i].name,
                    refusal_detail(&page)
                )
            } else {
                format!(
                    "the page of step `{}` came back after it was submitted ({}; {})",
                    steps[i].name,
                    kind.describe(),
                    page.summary()
                )
            };
            return stuck(why, seq);
        }
        // An error page is filled only by a step that names it with `when` or `wait_for`: a step
        // that merely finds its fields (or fills nothing) must not turn a refusal into a login.
        let may_act = |s: &LoginStep| {
            !matches!(kind, PageKind::Error { .. }) || s.when.is_some() || s.wait_for.is_some()
        };
        if let Some(i) = (0..steps.len())
            .find(|&i| !self.used[i] && may_act(&steps[i]) && page.applies(&steps[i]))
        {
            self.used[i] = true;
            self.last_step = Some(i);
            return self.take_step(i, &page, seq);
        }
        let mode = self.login.mode;
        let why = match (&kind, mode) {
            // Shown instead of a redirect, before any login: the AS refused the request.
            (PageKind::Error { .. }, _) if after.is_none() => {
                return Next::End(End::ErrorPage {
                    status: r.status,
                    exchange: Some(seq),
                });
            }
            (PageKind::Error { .. }, _) => {
                after_step_error(after.as_deref().unwrap_or_default(), r.status, Some(&kind))
            }
            (PageKind::Login, LoginMode::HttpForm)
                if (0..steps.len()).any(|i| self.used[i] && page.applies(&steps[i])) =>
            {
                format!(
                    "the login was refused: the login page came back{}",
                    refusal_detail(&page)
                )
            }
            (PageKind::Login, LoginMode::HttpForm) => format!(
                "a login page, but no login step matches ({}); check the steps' `fill` and `when`",
                page.summary()
            ),
            (PageKind::Consent, LoginMode::HttpForm) => format!(
                "a consent page that no step handles ({}); add a step that presses its approve button",
                page.summary()
            ),
            (PageKind::Unknown, LoginMode::HttpForm) => format!(
                "an unexpected page that no login step matches (HTTP {}; {})",
                r.status,
                page.summary()
            ),
            (_, mode) => format!(
                "{} (HTTP {}; {}), which login mode {} cannot get past; use `login: {{ mode: http-form, steps: … }}`",
                kind.describe(),
                r.status,
                page.summary(),
                mode.as_str()
            ),
        };
        stuck(why, seq)
    }

    /// Fills and submits step `i`'s form. The form is never sent off the AS: a form aimed at a
    /// redirect URI is the authorization response, read without sending it; any other origin
    /// ends the journey.
    fn take_step(&self, i: usize, page: &Page, seq: u32) -> Next {
        let step = &self.login.steps[i];
        let sub = match page.submission(&step.fill, step.submit.as_deref()) {
            Ok(s) => s,
            Err(why) => return stuck(format!("step `{}`: {why}", step.name), seq),
        };
        match authorize::classify(&sub.url, &self.scene.redirect_uris, &self.scene.as_origins) {
            Landing::Registered { .. } => {
                let captured = match sub.method {
                    Method::Post => capture::from_form_post(&sub.url, &sub.fields),
                    Method::Get => capture::from_url(&sub.url),
                };
                Next::End(captured.into_end(None, Some(seq)))
            }
            Landing::Elsewhere(u) => stuck(
                format!(
                    "step `{}` would send its form to {}, outside the AS; it was not sent",
                    step.name,
                    u.origin().ascii_serialization()
                ),
                seq,
            ),
            Landing::AsOrigin(url) => Next::Request(Request {
                label: format!("login step `{}` ({} form)", step.name, sub.method.as_str()),
                method: sub.method,
                url,
                form: (sub.method == Method::Post)
                    .then(|| (sub.fields, page.url().origin().ascii_serialization())),
            }),
        }
    }

    fn label_of_last(&self) -> String {
        match self.last_step {
            Some(i) => format!("login step `{}`", self.login.steps[i].name),
            None => "authorization request".into(),
        }
    }
}

/// What the page says about the refusal, when it has an alert ("Invalid username or password").
fn refusal_detail(page: &Page) -> String {
    page.alert()
        .map(|a| format!(" (the page says: “{a}”)"))
        .unwrap_or_default()
}

/// An error after a login step: the AS may refuse at the point of authorization, but the login
/// itself may have failed too (a lost cookie, a locked account), and the harness cannot tell the
/// two apart, so this is not taken as a refusal of the request.
fn after_step_error(step: &str, status: u16, kind: Option<&PageKind>) -> String {
    let message = match kind {
        Some(PageKind::Error {
            message: Some(m), ..
        }) => format!(": {m}"),
        _ => String::new(),
    };
    format!(
        "an error page (HTTP {status}) after step `{step}`{message}; the login may have failed, so it is not taken as the AS refusing the request"
    )
}

#[cfg(test)]
mod tests {
    //! The user agent against a scripted AS on plain HTTP: each route answers with a fixed
    //! status, headers and body, and every request is logged, so a test can show what the harness
    //! did and did not send.

    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::http::{HeaderMap, Method as HttpMethod, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};

    use super::*;
    use crate::login::ResponseMode;
    use crate::redact::Redactor;
    use crate::target::{LoginStep, Target};

    /// (method, path, body) of every request the AS saw.
    type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

    /// path → (status, extra headers, body). `{base}` in headers and bodies is the AS origin.
    type Routes = Vec<(&'static str, u16, Vec<(&'static str, String)>, String)>;

    struct As {
        base: url::Url,
        seen: Seen,
        _server: tokio::task::JoinHandle<()>,
    }

    async fn serve(routes: Routes) -> As {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let origin = base.as_str().trim_end_matches('/').to_owned();
        let seen: Seen = Arc::default();
        let log = seen.clone();
        let app = Router::new().fallback(
            move |method: HttpMethod, uri: Uri, _h: HeaderMap, body: Bytes| {
                let (routes, log, origin) = (routes.clone(), log.clone(), origin.clone());
                async move {
                    log.lock().unwrap().push((
                        method.to_string(),
                        uri.path().to_owned(),
                        String::from_utf8_lossy(&body).into_owned(),
                    ));
                    let Some((_, status, headers, body)) =
                        routes.iter().find(|(p, ..)| *p == uri.path())
                    else {
                        return StatusCode::NOT_FOUND.into_response();
                    };
                    let mut res: Response = (
                        StatusCode::from_u16(*status).unwrap(),
                        body.replace("{base}", &origin),
                    )
                        .into_response();
                    res.headers_mut()
                        .insert("content-type", "text/html".parse().unwrap());
                    for (k, v) in headers {
                        res.headers_mut()
                            .insert(*k, v.replace("{base}", &origin).parse().unwrap());
                    }
                    res
                }
            },
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        As {
            base,
            seen,
            _server: task,
        }
    }

    fn target(login: Login) -> Target {
        Target {
            name: "t".into(),
            file: "t.yaml".into(),
            issuer: "http://127.0.0.1".into(),
            discovery_url: None,
            ca_bundle: None,
            connect_timeout: std::time::Duration::from_secs(2),
            request_timeout: std::time::Duration::from_secs(5),
            extra_headers: Vec::new(),
            max_body_bytes: 1 << 20,
            clients: Vec::new(),
            sender_constraints: Vec::new(),
            resources: Vec::new(),
            login,
        }
    }

    fn steps(steps: Vec<LoginStep>) -> Login {
        Login {
            mode: if steps.is_empty() {
                LoginMode::None
            } else {
                LoginMode::HttpForm
            },
            steps,
            ..Login::default()
        }
    }

    fn login_step() -> LoginStep {
        LoginStep {
            name: "login".into(),
            when: None,
            wait_for: None,
            fill: vec![
                (r#"[name="username"]"#.into(), "alice".into()),
                (r#"[name="password"]"#.into(), "pw-Secret".into()),
            ],
            submit: None,
        }
    }

    const CB: &str = "https://client.example/cb";

    async fn walk(a: &As, login: Login) -> (Journey, Recorder) {
        let t = target(login);
        let http = Http::new(&t, Arc::new(Redactor::new())).unwrap();
        let scene = Scene {
            redirect_uris: vec![url::Url::parse(CB).unwrap()],
            as_origins: vec![a.base.clone()],
            purpose: crate::login::Purpose {
                label: "test".into(),
                redirect_uri: None,
                state: None,
            },
        };
        let recorder = Recorder::new();
        let mut session = Session::default();
        let j = journey(
            &http,
            &t.login,
            a.base.join("/authorize").unwrap(),
            &scene,
            &mut session,
            &recorder,
        )
        .await;
        (j, recorder)
    }

    fn login_page(action: &str) -> String {
        format!(
            r#"<title>Sign in</title><form method="post" action="{action}"><input name="username"><input type="password" name="password"><button>Sign in</button></form>"#
        )
    }

    fn why(j: &Journey) -> &str {
        match &j.end {
            End::Stuck { why, .. } => why,
            other => panic!("not stuck: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_200_error_page_before_any_step_is_an_error_page() {
        let a = serve(vec![(
            "/authorize",
            200,
            vec![],
            "<h1>Oops, something went wrong</h1><p>invalid_request</p>".into(),
        )])
        .await;
        // A step that would apply anywhere does not turn the refusal into a login.
        let anywhere = LoginStep {
            name: "any".into(),
            fill: Vec::new(),
            ..login_step()
        };
        for login in [steps(vec![]), steps(vec![anywhere])] {
            let (j, _) = walk(&a, login).await;
            assert!(
                matches!(
                    j.end,
                    End::ErrorPage {
                        status: 200,
                        exchange: Some(1)
                    }
                ),
                "{:?}",
                j.end
            );
        }
    }

    #[tokio::test]
    async fn a_login_form_leads_through_redirects_to_the_response() {
        let a = serve(vec![
            (
                "/authorize",
                303,
                vec![("location", "/login".into())],
                String::new(),
            ),
            (
                "/login",
                200,
                vec![("set-cookie", "sid=abcdefgh12; Path=/; HttpOnly".into())],
                login_page("/login/post"),
            ),
            (
                "/login/post",
                303,
                vec![("location", format!("{CB}?code=c0de-value&state=s"))],
                String::new(),
            ),
        ])
        .await;
        let (j, rec) = walk(&a, steps(vec![login_step()])).await;
        match &j.end {
            End::Response {
                params,
                mode,
                status,
                exchange,
                ..
            } => {
                assert_eq!(*mode, ResponseMode::Query);
                assert_eq!(*status, Some(303));
                assert_eq!(*exchange, Some(3));
                assert!(params.contains(&("code".into(), "c0de-value".into())));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            j.redirects.iter().map(|r| r.0).collect::<Vec<_>>(),
            [303, 303]
        );
        let seen = a.seen.lock().unwrap().clone();
        assert_eq!(seen[2].0, "POST");
        assert_eq!(seen[2].2, "username=alice&password=pw-Secret");
        // The cookie went back with the form.
        let post = &rec.snapshot()[2];
        assert_eq!(post.label, "login step `login` (POST form)");
        let header = |name: &str| {
            post.request
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("Cookie").as_deref(), Some("[REDACTED]"));
        assert_eq!(
            header("Origin"),
            Some(a.base.origin().ascii_serialization())
        );
        assert!(
            !seen.iter().any(|(_, p, _)| p.contains("cb")),
            "the redirect URI is never requested"
        );
    }

    #[tokio::test]
    async fn a_login_page_with_http_401_is_a_page_to_act_on_not_an_error_page() {
        let a = serve(vec![
            ("/authorize", 401, vec![], login_page("/post")),
            (
                "/post",
                303,
                vec![("location", format!("{CB}?code=c0de-value"))],
                String::new(),
            ),
        ])
        .await;
        let (j, _) = walk(&a, steps(vec![login_step()])).await;
        assert!(matches!(j.end, End::Response { .. }), "{:?}", j.end);
        let (j, _) = walk(&a, steps(vec![])).await;
        assert!(
            why(&j).starts_with("a login page (HTTP 401; "),
            "{}",
            why(&j)
        );
    }

    #[tokio::test]
    async fn a_refused_login_ends_once_without_a_loop() {
        let a = serve(vec![("/authorize", 200, vec![], login_page("/authorize"))]).await;
        let (j, _) = walk(&a, steps(vec![login_step()])).await;
        assert!(why(&j).starts_with("the login was refused"), "{}", why(&j));
        let posts = a
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.0 == "POST")
            .count();
        assert_eq!(posts, 1);
    }

    #[tokio::test]
    async fn an_error_page_after_a_step_is_not_taken_as_a_refusal() {
        let a = serve(vec![
            ("/authorize", 200, vec![], login_page("/post")),
            ("/post", 400, vec![], "<h1>Session expired</h1>".into()),
        ])
        .await;
        let (j, _) = walk(&a, steps(vec![login_step()])).await;
        assert!(why(&j).contains("after step `login`"), "{}", why(&j));
        assert!(matches!(
            j.end,
            End::Stuck {
                exchange: Some(2),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_form_to_another_origin_is_never_sent() {
        let a = serve(vec![(
            "/authorize",
            200,
            vec![],
            login_page("https://evil.example/steal"),
        )])
        .await;
        let (j, rec) = walk(&a, steps(vec![login_step()])).await;
        assert!(why(&j).contains("outside the AS"), "{}", why(&j));
        assert_eq!(
            rec.snapshot().len(),
            1,
            "only the authorization request was sent"
        );
    }

    #[tokio::test]
    async fn a_form_post_error_with_http_400_is_the_response() {
        let page = format!(
            r#"<form method="post" action="{CB}"><input type="hidden" name="error" value="access_denied"><input type="hidden" name="state" value="s"></form>"#
        );
        let a = serve(vec![("/authorize", 400, vec![], page)]).await;
        let (j, _) = walk(&a, steps(vec![])).await;
        match j.end {
            End::Response {
                mode,
                params,
                status,
                ..
            } => {
                assert_eq!(mode, ResponseMode::FormPost);
                assert_eq!(status, Some(400));
                assert_eq!(params[0], ("error".into(), "access_denied".into()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn pages_without_a_step_say_what_they_are() {
        let consent = r#"<form method="post" action="/c"><button name="decision" value="approve">Approve</button></form>"#;
        let a = serve(vec![("/authorize", 200, vec![], consent.into())]).await;
        let (j, _) = walk(&a, steps(vec![login_step()])).await;
        assert!(
            why(&j).starts_with("a consent page that no step handles"),
            "{}",
            why(&j)
        );
        assert!(why(&j).contains("buttons Approve"), "{}", why(&j));
        let (j, _) = walk(&a, steps(vec![])).await;
        assert!(
            why(&j).starts_with("a consent page (HTTP 200; ")
                && why(&j).contains("login mode none cannot get past"),
            "{}",
            why(&j)
        );
        let a = serve(vec![("/authorize", 200, vec![], login_page("/x"))]).await;
        let other = LoginStep {
            fill: vec![("#otp".into(), "1".into())],
            ..login_step()
        };
        let (j, _) = walk(&a, steps(vec![other])).await;
        assert!(why(&j).contains("no login step matches"), "{}", why(&j));
        assert!(why(&j).contains("fields username, password"), "{}", why(&j));
    }

    #[tokio::test]
    async fn a_consent_page_that_comes_back_is_reported() {
        let consent = r#"<form method="post" action="/authorize"><button>Continue</button></form>"#;
        let a = serve(vec![("/authorize", 200, vec![], consent.into())]).await;
        let step = LoginStep {
            name: "consent".into(),
            fill: Vec::new(),
            ..login_step()
        };
        let (j, _) = walk(&a, steps(vec![step])).await;
        assert!(
            why(&j).starts_with("the page of step `consent` came back"),
            "{}",
            why(&j)
        );
    }

    #[tokio::test]
    async fn a_redirect_loop_ends_with_its_last_redirect_as_evidence() {
        let a = serve(vec![(
            "/authorize",
            302,
            vec![("location", "/authorize".into())],
            String::new(),
        )])
        .await;
        let (j, _) = walk(&a, steps(vec![])).await;
        assert!(why(&j).contains("more than 10 redirects"), "{}", why(&j));
        assert!(matches!(
            j.end,
            End::Stuck {
                exchange: Some(10),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_hostile_page_nested_20000_deep_ends_quickly() {
        let deep = "<div>".repeat(20_000);
        let a = serve(vec![("/authorize", 200, vec![], deep)]).await;
        let started = std::time::Instant::now();
        let (j, _) = walk(&a, steps(vec![login_step()])).await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(
            why(&j).contains("not read: its elements nest more than"),
            "{}",
            why(&j)
        );
    }

    #[tokio::test]
    async fn a_get_form_to_the_redirect_uri_is_read_not_sent() {
        let page = format!(
            r#"<title>Done</title><form action="{CB}"><input type="hidden" name="code" value="xyz"><button>Continue to the app</button></form>"#
        );
        let a = serve(vec![("/authorize", 200, vec![], page)]).await;
        let step = LoginStep {
            name: "finish".into(),
            fill: Vec::new(),
            ..login_step()
        };
        let (j, rec) = walk(&a, steps(vec![step])).await;
        match j.end {
            End::Response { url, params, .. } => {
                assert_eq!(url.as_str(), format!("{CB}?code=xyz"));
                assert_eq!(params, [("code".to_owned(), "xyz".to_owned())]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(rec.snapshot().len(), 1);
    }
}
