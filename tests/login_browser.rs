//! `login.mode: browser` end to end: headless Chromium logs in on the reference target's HTML
//! form and on oidc-provider's own login and consent pages (OP_INTERACTIONS=dev), several logins
//! at once; a wrong password is ERROR with a screenshot and the page HTML as evidence; and no
//! password or cookie value reaches report.json, junit.xml, report.html or the console.
//!
//! Needs the `browser` feature and Chromium (`apt-get install chromium libnss3-tools`). Without
//! Chromium the tests print a skip notice and pass, unless FAPI_HARNESS_REQUIRE_BROWSER=1 (set
//! by .ci/run), which makes them fail.
#![cfg(feature = "browser")]

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use fapi_harness::reference::{ReferenceOptions, ReferenceServer};
use serde_json::Value;
use support::oidc_provider::{self, OidcProvider};

const PASSWORD: &str = "Tr0ub4dor-browser-pw-93e1";
/// Keeps Chromium on loopback: pages that load web fonts or trackers must not reach the internet.
const LOOPBACK_ONLY: &str = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1";
const ITEMS: &[&str] = &["FAPI2-SP-5.3.2.2-2", "FAPI2-SP-5.3.2.2-11", "RFC9207-2-1"];

/// Whether the browser tests can run here; without Chromium they are skipped with a notice, or
/// fail when FAPI_HARNESS_REQUIRE_BROWSER=1.
fn browser_available(test: &str) -> bool {
    let missing = match fapi_harness::login::browser::find_executable() {
        Err(e) => Some(e),
        Ok(_) if which("certutil").is_none() => {
            Some("certutil is missing (apt-get install libnss3-tools)".to_owned())
        }
        Ok(_) => None,
    };
    let Some(why) = missing else {
        return true;
    };
    if std::env::var("FAPI_HARNESS_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
        panic!("{test}: FAPI_HARNESS_REQUIRE_BROWSER=1 but the browser cannot run: {why}");
    }
    notice(&format!(
        "SKIPPED {test}: {why}; set FAPI_HARNESS_REQUIRE_BROWSER=1 to make this a failure"
    ));
    false
}

/// Straight to the terminal: the test harness captures `eprintln!` of passing tests, and a skip
/// must not go unnoticed.
fn notice(msg: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{msg}");
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

struct Run {
    code: i32,
    console: String,
    report: Value,
    out: PathBuf,
}

fn run(target: &Path, out: &Path, envs: &[(&str, String)], extra: &[&str]) -> Run {
    let mut cmd = support::bin();
    cmd.args(["run", "--plan"])
        .arg(support::fapi2_plan())
        .arg("--target")
        .arg(target)
        .arg("--out")
        .arg(out)
        .args(["--variant", "client_auth=private_key_jwt"])
        .args(["--variant", "sender_constraint=dpop"])
        .env("FAPI_HARNESS_CHROMIUM_ARGS", LOOPBACK_ONLY)
        .timeout(Duration::from_secs(240));
    for id in ITEMS {
        cmd.args(["--only", id]);
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.args(extra);
    let output = cmd.output().unwrap();
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(out.join("report.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    Run {
        code: output.status.code().unwrap_or(-1),
        console,
        report,
        out: out.to_owned(),
    }
}

fn results<'a>(report: &'a Value, id: &str) -> Vec<&'a Value> {
    report["results"]
        .as_array()
        .map(|rs| rs.iter().filter(|r| r["key"]["id"] == id).collect())
        .unwrap_or_default()
}

fn assert_all_pass(r: &Run) {
    for id in ITEMS {
        let rs = results(&r.report, id);
        assert!(!rs.is_empty(), "{id} did not run:\n{}", r.console);
        for x in rs {
            assert_eq!(
                x["outcome"], "PASS",
                "{id} {}: {}\n{}",
                x["variant"], x["reason"], r.console
            );
        }
    }
    assert_eq!(r.code, 0, "{}", r.console);
}

/// Every exchange of every item whose label says the browser made it.
fn browser_exchanges(report: &Value) -> Vec<&Value> {
    report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["exchanges"].as_array().into_iter().flatten())
        .filter(|e| {
            e["label"]
                .as_str()
                .is_some_and(|l| l.starts_with("browser: "))
        })
        .collect()
}

/// No secret in any output; cookie values (by their names) only ever show as `[REDACTED]`.
fn assert_no_secrets(r: &Run, secrets: &[&str], cookie_names: &[&str]) {
    let mut outputs = vec![("console".to_owned(), r.console.clone())];
    for f in ["report.json", "junit.xml", "report.html"] {
        let text = std::fs::read_to_string(r.out.join(f))
            .unwrap_or_else(|e| panic!("{f} was not written: {e}"));
        outputs.push((f.to_owned(), text));
    }
    for (name, text) in &outputs {
        for s in secrets {
            assert!(!text.contains(s), "{name} contains the secret {s:?}");
            let b64 = base64::engine::general_purpose::STANDARD.encode(s);
            assert!(!text.contains(&b64), "{name} contains the secret in base64");
        }
        for c in cookie_names {
            for (i, _) in text.match_indices(&format!("{c}=")) {
                let value: String = text[i + c.len() + 1..]
                    .chars()
                    .take_while(|ch| !matches!(ch, ';' | '"' | ' ' | '\n' | '&' | '<'))
                    .collect();
                assert!(
                    value.is_empty() || value == "[REDACTED]",
                    "{name} shows cookie {c} with value {value:?}"
                );
            }
        }
    }
}

/// The reference target with its HTML login form, as a target file using browser login.
fn reference(dir: &Path, password: &str) -> (tokio::runtime::Runtime, ReferenceServer, PathBuf) {
    let (rt, server) = support::start_reference(ReferenceOptions {
        login_form: true,
        login_password: PASSWORD.into(),
        ..Default::default()
    });
    let target = server.write_target(dir).unwrap();
    let yaml = std::fs::read_to_string(&target).unwrap();
    let login = format!(
        "login:\n  mode: browser\n  timeout_secs: 40\n  steps:\n\
         \x20   - name: login\n      when: \"form[action='/login']\"\n      wait_for: \"input[name=password]\"\n\
         \x20     fill: {{ username: alice, password: \"{password}\" }}\n      submit: \"button[type=submit]\"\n\
         \x20   - name: consent\n      when: \"form[action='/consent']\"\n      submit: \"button[value=approve]\"\n"
    );
    // The reference writes http-form steps for its pages; this test writes its own, with waits.
    let start = yaml
        .find("login:\n")
        .expect("the reference target has a login section");
    // The section ends at the first line after it that is not indented.
    let end = yaml[start..]
        .match_indices('\n')
        .map(|(i, _)| start + i + 1)
        .find(|&i| !yaml[i..].starts_with(' '))
        .unwrap_or(yaml.len());
    let yaml = format!("{}{login}{}", &yaml[..start], &yaml[end..]);
    assert!(yaml.contains("mode: browser"), "{yaml}");
    std::fs::write(&target, yaml).unwrap();
    (rt, server, target)
}

#[test]
fn reference_html_login_passes_in_the_browser() {
    if !browser_available("reference_html_login_passes_in_the_browser") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rt, server, target) = reference(dir.path(), PASSWORD);
    let r = run(&target, &dir.path().join("out"), &[], &[]);
    rt.block_on(server.shutdown());
    assert_all_pass(&r);
    let exchanges = browser_exchanges(&r.report);
    let labels: Vec<&str> = exchanges
        .iter()
        .filter_map(|e| e["label"].as_str())
        .collect();
    for want in [
        "browser: authorization request",
        "browser: form submission",
        "browser: authorization response at the redirect URI (captured, not sent)",
    ] {
        assert!(labels.contains(&want), "no {want:?} in {labels:?}");
    }
    // The redirect to the client is recorded with its status (FAPI2-SP-5.3.2.2-11 judges it) and
    // the code in it is shortened.
    let redirect = exchanges
        .iter()
        .find(|e| e["response"]["status"] == 303)
        .expect("a 303 redirect exchange");
    let location = redirect["response"]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| {
            h[0].as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case("location"))
        })
        .and_then(|h| h[1].as_str())
        .unwrap();
    assert!(location.contains("code="), "{location}");
    assert!(
        location.contains("chars]"),
        "the code is not shortened: {location}"
    );
    // The login POST's body is recorded with the password redacted.
    let post = exchanges
        .iter()
        .find(|e| e["label"] == "browser: form submission")
        .unwrap();
    assert!(
        post["request"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("password=[REDACTED]")),
        "{post}"
    );
    assert_no_secrets(&r, &[PASSWORD], &[]);
}

#[test]
fn a_wrong_password_is_error_with_screenshot_and_page_html() {
    if !browser_available("a_wrong_password_is_error_with_screenshot_and_page_html") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let wrong = "not-the-Password-4711";
    let (rt, server, target) = reference(dir.path(), wrong);
    let started = Instant::now();
    let r = run(
        &target,
        &dir.path().join("out"),
        &[],
        &["--only", "FAPI2-SP-5.3.2.2-2"],
    );
    rt.block_on(server.shutdown());
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the wrong password was noticed only at the timeout"
    );
    assert_eq!(r.code, 1, "{}", r.console);
    let flow = results(&r.report, "FAPI2-SP-5.3.2.2-2");
    assert!(!flow.is_empty(), "{}", r.console);
    for x in &flow {
        assert_eq!(x["outcome"], "ERROR", "{}", x["reason"]);
        let attachments: Vec<&Value> = x["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|e| e["attachments"].as_array().into_iter().flatten())
            .collect();
        let png = attachments
            .iter()
            .find(|a| a["media_type"] == "image/png")
            .unwrap_or_else(|| panic!("no screenshot in {}", x["exchanges"]));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png["data"].as_str().unwrap())
            .unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let html = attachments
            .iter()
            .find(|a| a["media_type"] == "text/html")
            .expect("no page HTML");
        let html = html["data"].as_str().unwrap();
        assert!(html.contains("Wrong username or password"), "{html}");
        let reason = x["reason"].as_str().unwrap_or("");
        assert!(
            reason.contains("wrong credentials") || reason.contains("same form"),
            "{reason}"
        );
    }
    let report_html = std::fs::read_to_string(r.out.join("report.html")).unwrap();
    assert!(
        report_html.contains("<img alt=\"screenshot"),
        "no screenshot in the HTML report"
    );
    assert!(report_html.contains("src=\"data:image/png;base64,"));
    assert_no_secrets(&r, &[wrong, PASSWORD], &[]);
}

#[test]
fn oidc_provider_login_and_consent_pages_pass_in_the_browser() {
    if !browser_available("oidc_provider_login_and_consent_pages_pass_in_the_browser") {
        return;
    }
    if let Some(why) = oidc_provider::missing() {
        if std::env::var("FAPI_HARNESS_REQUIRE_BROWSER").is_ok_and(|v| v == "1") {
            panic!("FAPI_HARNESS_REQUIRE_BROWSER=1 but {why}");
        }
        notice(&format!("SKIPPED the oidc-provider browser test: {why}"));
        return;
    }
    let op = OidcProvider::start();
    let dir = tempfile::tempdir().unwrap();
    let pki = oidc_provider::fixtures().join("pki");
    let yaml = std::fs::read_to_string(oidc_provider::fixtures().join("target-pkj-dpop.yaml"))
        .unwrap()
        .replace("pki/", &format!("{}/", pki.display()))
        .replace(
            "login: { mode: none }",
            &format!(
                "login:\n  mode: browser\n  steps:\n\
                 \x20   - name: login\n      when: \"input[name=prompt][value=login]\"\n\
                 \x20     fill: {{ login: alice, password: \"{PASSWORD}\" }}\n      submit: button.login-submit\n\
                 \x20   - name: consent\n      when: \"input[name=prompt][value=consent]\"\n      submit: button.login-submit\n"
            ),
        );
    assert!(yaml.contains("mode: browser"));
    let target = dir.path().join("target.yaml");
    std::fs::write(&target, yaml).unwrap();
    let r = run(
        &target,
        &dir.path().join("out"),
        &[
            ("OP_ISSUER", op.issuer.clone()),
            ("RS_URL", op.resource.clone()),
        ],
        &[],
    );
    drop(op);
    assert_all_pass(&r);
    // The AS's session cookies (set on its login and consent pages) never show.
    assert_no_secrets(
        &r,
        &[PASSWORD],
        &["_interaction", "_interaction_resume", "_session", "_grant"],
    );
    let labels: Vec<String> = browser_exchanges(&r.report)
        .iter()
        .filter_map(|e| e["label"].as_str().map(str::to_owned))
        .collect();
    assert!(
        labels
            .iter()
            .filter(|l| *l == "browser: form submission")
            .count()
            >= 2,
        "login and consent were not both submitted: {labels:?}"
    );
}

/// The browser trusts the target's CA bundle, and verification stays on for everything else: a
/// server with a certificate from another CA is refused (with the page as evidence), while the
/// reference AS (issued by the bundle's CA) loads and its 400 page ends the journey as an error
/// page with a screenshot.
#[test]
fn the_browser_trusts_the_ca_bundle_and_nothing_else() {
    use fapi_harness::http::{Http, Recorder};
    use fapi_harness::login::{End, Purpose, Scene, browser::Browser};
    if !browser_available("the_browser_trusts_the_ca_bundle_and_nothing_else") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (rt, server, target) = reference(dir.path(), PASSWORD);
    let other_ca = support::TestAs::start();
    let redactor = std::sync::Arc::new(fapi_harness::redact::Redactor::new());
    let target = fapi_harness::target::load_target(&target, &redactor).unwrap();
    let http = Http::new(&target, redactor.clone()).unwrap();
    let browser = Browser::new(target.ca_bundle.clone());
    let scene = Scene {
        redirect_uris: target.clients[0].redirect_uris.clone(),
        as_origins: Vec::new(),
        purpose: Purpose {
            label: "test".into(),
            redirect_uri: None,
            state: None,
        },
    };
    let journey = |url: String| {
        let recorder = Recorder::new();
        let j = rt.block_on(browser.journey(
            &http,
            &target.login,
            url::Url::parse(&url).unwrap(),
            &scene,
            &recorder,
        ));
        (j, recorder.snapshot())
    };

    let (j, evidence) = journey(format!("{}/authorize", other_ca.issuer));
    let End::Stuck { why, exchange } = &j.end else {
        panic!("a foreign CA's certificate was accepted: {:?}", j.end);
    };
    assert!(why.contains("ERR_CERT"), "{why}");
    let ex = evidence.iter().find(|e| Some(e.seq) == *exchange).unwrap();
    assert!(ex.error.as_deref().is_some_and(|e| e.contains("ERR_CERT")));
    assert!(!ex.attachments.is_empty(), "no page evidence");

    let (j, evidence) = journey(format!("{}/authorize?client_id=nobody", server.issuer()));
    let End::ErrorPage { status, exchange } = &j.end else {
        panic!("the bundle's CA was not trusted: {:?}", j.end);
    };
    assert_eq!(*status, 400);
    let ex = evidence.iter().find(|e| Some(e.seq) == *exchange).unwrap();
    assert_eq!(ex.label, "browser: authorization request");
    assert!(
        ex.response
            .as_ref()
            .unwrap()
            .body
            .contains("Authorization failed")
    );
    assert!(ex.attachments.iter().any(|a| a.media_type == "image/png"));
    drop(browser);
    rt.block_on(server.shutdown());
}

/// The authorization response is read from a redirect's query, a redirect's fragment and a
/// `form_post` page's POST, and the redirect URI itself is never contacted.
#[test]
fn responses_are_captured_from_query_fragment_and_form_post() {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::{Html, IntoResponse};
    use fapi_harness::http::{Http, Recorder};
    use fapi_harness::login::{End, Purpose, ResponseMode, Scene, browser::Browser};
    use fapi_harness::target::{Login, LoginMode};
    if !browser_available("responses_are_captured_from_query_fragment_and_form_post") {
        return;
    }
    let double = support::TestAs::start();
    let redactor = std::sync::Arc::new(fapi_harness::redact::Redactor::new());
    let target = fapi_harness::target::load_target(&double.target(""), &redactor).unwrap();
    let http = Http::new(&target, redactor.clone()).unwrap();
    let redirect = |status: StatusCode, to: &'static str| {
        move || async move { (status, [(header::LOCATION, HeaderValue::from_static(to))]) }
    };
    let app = axum::Router::new()
        .route(
            "/query",
            axum::routing::get(redirect(
                StatusCode::SEE_OTHER,
                "https://client.example/cb?code=Q-code-0123456789&state=s1",
            )),
        )
        .route(
            "/fragment",
            axum::routing::get(redirect(
                StatusCode::FOUND,
                "https://client.example/cb#code=F-code-0123456789&state=s2",
            )),
        )
        .route(
            "/form",
            axum::routing::get(|| async {
                Html(
                    "<form method=post action=https://client.example/cb>\
                     <input type=hidden name=code value=P-code-0123456789>\
                     <input type=hidden name=state value=s3></form>\
                     <script>document.forms[0].submit()</script>",
                )
                .into_response()
            }),
        );
    let listener = double
        .runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    double.runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let login = Login {
        mode: LoginMode::Browser,
        timeout: Duration::from_secs(20),
        ..Default::default()
    };
    let scene = Scene {
        redirect_uris: vec![url::Url::parse("https://client.example/cb").unwrap()],
        as_origins: Vec::new(),
        purpose: Purpose {
            label: "test".into(),
            redirect_uri: None,
            state: None,
        },
    };
    let browser = Browser::new(target.ca_bundle.clone());
    for (path, want_mode, want_status, code) in [
        ("query", ResponseMode::Query, Some(303), "Q-code-0123456789"),
        (
            "fragment",
            ResponseMode::Fragment,
            Some(302),
            "F-code-0123456789",
        ),
        ("form", ResponseMode::FormPost, None, "P-code-0123456789"),
    ] {
        let recorder = Recorder::new();
        let j = double.runtime.block_on(browser.journey(
            &http,
            &login,
            url::Url::parse(&format!("{base}/{path}")).unwrap(),
            &scene,
            &recorder,
        ));
        let End::Response {
            params,
            mode,
            status,
            ..
        } = &j.end
        else {
            let html: Vec<String> = recorder
                .snapshot()
                .iter()
                .flat_map(|e| {
                    e.attachments
                        .iter()
                        .filter(|a| a.encoding == "text")
                        .map(|a| a.data.clone())
                })
                .collect();
            panic!("{path}: no response captured: {:?} {html:?}", j.end);
        };
        assert_eq!(*mode, want_mode, "{path}");
        assert_eq!(*status, want_status, "{path}");
        assert!(
            params.contains(&("code".to_owned(), code.to_owned())),
            "{path}: {params:?}"
        );
        if let Some(s) = want_status {
            assert_eq!(j.redirects.len(), 1, "{path}");
            assert_eq!(j.redirects[0].0, s, "{path}");
        }
        let evidence = serde_json::to_string(&recorder.snapshot()).unwrap();
        assert!(
            evidence.contains("captured, not sent"),
            "{path}: {evidence}"
        );
        assert!(
            !evidence.contains(code),
            "{path}: the code is not shortened"
        );
    }
}
