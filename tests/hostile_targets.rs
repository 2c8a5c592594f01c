//! End to end: a target that misbehaves on purpose (huge or endless bodies, malformed documents,
//! redirect loops, hostile JWTs, broken transports, markup injection) never makes the binary
//! panic or hang, ends the affected item as ERROR or FAIL with evidence, and leaves JUnit
//! well-formed and valid against the JUnit schema (tests/fixtures/junit.xsd), and the HTML report
//! inert.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use support::{RawBody, RawTcp, TestAs};

const DISCOVERY_ITEM: &str = "FAPI2-SP-5.3.2.1-1";
/// An authorization request sent without PAR: the easiest item that drives the authorize step.
const AUTHORIZE_ITEM: &str = "FAPI2-SP-5.3.2.2-3";
/// The item timeout every run here uses.
const ITEM_TIMEOUT: &str = "5";
/// Generous: a run here takes a few seconds; a hang would take the trickle's two minutes.
const WALL_BOUND: Duration = Duration::from_secs(45);
/// One variant, so that the authorize item runs once.
const ONE_VARIANT: [&str; 6] = [
    "--variant",
    "client_auth=private_key_jwt",
    "--variant",
    "sender_constraint=dpop",
    "--variant",
    "openid=oauth",
];

/// Runs the binary with the item timeout, checks everything that must hold whatever the target
/// did, and returns report.json.
fn run_checked(target: &Path, out: &Path, args: &[&str]) -> Value {
    let mut all = vec!["--item-timeout", ITEM_TIMEOUT];
    all.extend_from_slice(args);
    let started = Instant::now();
    let (code, stderr, report) = support::run(&support::fapi2_plan(), target, out, &all);
    let elapsed = started.elapsed();
    assert!(
        !stderr.contains("panicked"),
        "the binary panicked: {stderr}"
    );
    assert!(
        code == 0 || code == 1,
        "exit code {code} (101 is a panic): {stderr}"
    );
    assert!(
        elapsed < WALL_BOUND,
        "the run took {elapsed:?}, beyond the wall bound"
    );
    assert!(report.is_object(), "report.json is missing or not JSON");
    assert_junit_valid(out);
    assert_html_inert(out);
    report
}

fn result<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["results"]
        .as_array()
        .and_then(|rs| rs.iter().find(|r| r["key"]["id"] == id))
        .unwrap_or_else(|| panic!("{id} is not in the report"))
}

/// The item did not pass, and shows the exchange(s) it judged.
fn assert_error_or_fail_with_evidence<'a>(report: &'a Value, id: &str) -> &'a Value {
    let r = result(report, id);
    let outcome = r["outcome"].as_str().unwrap_or("");
    assert!(
        outcome == "ERROR" || outcome == "FAIL",
        "{id} is {outcome}: {}",
        r["reason"]
    );
    assert!(
        r["exchanges"].as_array().is_some_and(|e| !e.is_empty()),
        "{id} carries no exchange as evidence"
    );
    r
}

/// JUnit parses, names every test case and validates against the JUnit schema.
fn assert_junit_valid(out: &Path) {
    support::assert_junit_schema_valid(&out.join("junit.xml"));
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit)
        .unwrap_or_else(|e| panic!("JUnit is not well-formed: {e}"));
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert!(!cases.is_empty(), "JUnit has no test case");
    for c in cases {
        assert!(
            c.attribute("name").is_some_and(|n| !n.is_empty()),
            "a testcase has no name"
        );
    }
}

/// The schema check would pass vacuously if it accepted anything: it must accept the JUnit the
/// writer produces (its snapshot) and reject documents that break the schema.
#[test]
fn the_junit_schema_check_accepts_the_writer_and_rejects_invalid_documents() {
    if !support::xmllint_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let snapshot = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "src/report/snapshots/fapi_harness__report__junit__tests__snapshot_of_a_small_run.snap",
    ))
    .unwrap();
    // The snapshot file is insta's header, a `---` line, then the document.
    let (_, xml) = snapshot.split_once("\n---\n").unwrap();
    let good = dir.path().join("good.xml");
    std::fs::write(&good, xml).unwrap();
    support::assert_junit_schema_valid(&good);

    let suite = |body: &str| {
        format!(
            r#"<testsuites><testsuite name="s" tests="1" failures="0" errors="0">{body}</testsuite></testsuites>"#
        )
    };
    let invalid = [
        ("a test case without a name", suite(r#"<testcase classname="c"/>"#)),
        ("a count that is no number", r#"<testsuites><testsuite name="s" tests="many" failures="0" errors="0"/></testsuites>"#.to_owned()),
        ("a failure after the output", suite(r#"<testcase name="a"><system-out>x</system-out><failure/></testcase>"#)),
        ("both a failure and an error", suite(r#"<testcase name="a"><failure/><error/></testcase>"#)),
        ("an unknown element", suite(r#"<testcase name="a"><script>alert(1)</script></testcase>"#)),
        ("an element that is no document root", r#"<property name="a" value="b"/>"#.to_owned()),
        ("a document that is not well-formed", suite(r#"<testcase name="a">"#)),
    ];
    for (what, xml) in invalid {
        let path = dir.path().join("bad.xml");
        std::fs::write(&path, xml).unwrap();
        assert!(
            support::junit_schema_check(&path).is_err(),
            "the schema check accepted {what}"
        );
    }
}

/// Every tag of `html` as (tag name, [(attribute name, value)]), lowercased names. Enough of an
/// HTML tokenizer to see attributes: escaped server text contains no `<`, so any attribute found
/// here is one a browser would honour.
fn tags(html: &str) -> Vec<(String, Vec<(String, String)>)> {
    let b = html.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    // Each pass consumes at least one byte, so the loop ends.
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        if html[i..].starts_with("<!--") {
            i += html[i..].find("-->").map_or(b.len() - i, |e| e + 3);
            continue;
        }
        i += 1;
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'-') {
            i += 1;
        }
        let name = html[start..i].to_ascii_lowercase();
        let mut attrs = Vec::new();
        while i < b.len() && b[i] != b'>' {
            if b[i].is_ascii_whitespace() || b[i] == b'/' {
                i += 1;
                continue;
            }
            let a = i;
            while i < b.len() && !b" \t\r\n=>/".contains(&b[i]) {
                i += 1;
            }
            let attr = html[a..i].to_ascii_lowercase();
            let mut value = String::new();
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < b.len() && b[j] == b'=' {
                i = j + 1;
                while i < b.len() && b[i].is_ascii_whitespace() {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    let v = i + 1;
                    i = v + b[v..].iter().position(|&c| c == q).unwrap_or(b.len() - v);
                    value = html[v..i].to_owned();
                    i += 1;
                } else {
                    let v = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = html[v..i].to_owned();
                }
            }
            if !attr.is_empty() {
                attrs.push((attr, value));
            }
        }
        found.push((name, attrs));
    }
    found
}

fn assert_html_inert(out: &Path) {
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        !html.to_ascii_lowercase().contains("<script"),
        "HTML contains a script element"
    );
    for (tag, attrs) in tags(&html) {
        assert_ne!(tag, "script", "HTML contains a script element");
        for (name, value) in attrs {
            assert!(
                !name.starts_with("on"),
                "<{tag}> has an event handler attribute {name}={value:?}"
            );
            assert!(
                !value.trim().to_ascii_lowercase().starts_with("javascript:"),
                "<{tag}> has a javascript: URL in {name}"
            );
        }
    }
}

/// The inertness check would pass vacuously if `tags` saw no attributes; it must see these.
#[test]
fn the_html_check_sees_handlers_and_javascript_urls() {
    let t = tags(
        r#"<p class=x>&#60;b onclick=no&#62;</p><img src=x onerror=alert(1)><a href = 'javascript:x'>"#,
    );
    let attrs: Vec<(String, String)> = t.into_iter().flat_map(|(_, a)| a).collect();
    assert!(
        attrs.contains(&("onerror".into(), "alert(1)".into())),
        "{attrs:?}"
    );
    assert!(
        !attrs.iter().any(|(n, _)| n == "onclick"),
        "escaped text is no tag: {attrs:?}"
    );
    assert!(
        attrs.contains(&("href".into(), "javascript:x".into())),
        "{attrs:?}"
    );
}

fn discovery_exchange(report: &Value, id: &str) -> Value {
    result(report, id)["exchanges"]
        .as_array()
        .and_then(|e| {
            e.iter()
                .find(|x| x["label"].as_str().is_some_and(|l| l.contains("discovery")))
        })
        .cloned()
        .unwrap_or_else(|| panic!("{id} shows no discovery exchange"))
}

fn out_dir(double: &TestAs, name: &str) -> PathBuf {
    double.path(name)
}

#[test]
fn a_100_mb_discovery_body_is_truncated_at_the_cap() {
    let double = TestAs::start();
    double.set(|b| b.discovery_raw = Some(RawBody::Huge));
    let out = out_dir(&double, "out");
    let report = run_checked(&double.target(""), &out, &["--only", DISCOVERY_ITEM]);
    assert_error_or_fail_with_evidence(&report, DISCOVERY_ITEM);
    let resp = &discovery_exchange(&report, DISCOVERY_ITEM)["response"];
    assert_eq!(resp["body_truncated"], true, "{resp}");
    let kept = resp["body_bytes"].as_u64().unwrap();
    assert!(
        kept > 0 && kept < support::HUGE_BODY_BYTES as u64 / 10,
        "{kept} bytes kept"
    );
}

#[test]
fn a_slowloris_discovery_body_times_out_as_error() {
    let double = TestAs::start();
    double.set(|b| b.discovery_raw = Some(RawBody::Trickle));
    let out = out_dir(&double, "out");
    let target = double.target("timeouts: { request_secs: 2 }\n");
    let started = Instant::now();
    let report = run_checked(&target, &out, &["--only", DISCOVERY_ITEM]);
    assert!(
        started.elapsed() < Duration::from_secs(5 + 10),
        "not within the item timeout"
    );
    let r = assert_error_or_fail_with_evidence(&report, DISCOVERY_ITEM);
    assert_eq!(r["outcome"], "ERROR", "{}", r["reason"]);
    let ex = discovery_exchange(&report, DISCOVERY_ITEM);
    assert!(
        ex["error"]
            .as_str()
            .is_some_and(|e| e.contains("within 2 s")),
        "{ex}"
    );
}

#[test]
fn malformed_discovery_documents_fail_with_evidence() {
    let double = TestAs::start();
    let metadata = double.behavior.lock().unwrap().metadata.to_string();
    let mut invalid_utf8 = br#"{"issuer": "x"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, b'"', b'}']);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "malformed",
            br#"{"issuer": "x", "#.to_vec(),
            "application/json",
        ),
        ("invalid-utf8", invalid_utf8, "application/json"),
        ("wrong-type", metadata.into_bytes(), "text/html"),
        (
            "deeply-nested",
            format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
            "application/json",
        ),
    ];
    let target = double.target("");
    for (name, body, ct) in cases {
        double.set(|b| b.discovery_raw = Some(RawBody::Bytes(body, ct.into())));
        let out = out_dir(&double, name);
        let report = run_checked(&target, &out, &["--only", DISCOVERY_ITEM]);
        let r = assert_error_or_fail_with_evidence(&report, DISCOVERY_ITEM);
        assert!(
            r["findings"].as_array().is_some_and(|f| f
                .iter()
                .any(|f| f["status"] == "violated" || f["status"] == "inconclusive")),
            "{name}: no finding explains the outcome: {r}"
        );
        let resp = &discovery_exchange(&report, DISCOVERY_ITEM)["response"];
        assert_eq!(resp["body_lossy"], name == "invalid-utf8", "{name}: {resp}");
    }
}

#[test]
fn an_oversized_response_head_is_an_error() {
    let double = TestAs::start();
    // 1 MB of header value: beyond what the HTTP client buffers for a response head.
    double.set(|b| {
        b.headers
            .push(("x-big".into(), "<script>".repeat(128 * 1024)))
    });
    let out = out_dir(&double, "out");
    let report = run_checked(&double.target(""), &out, &["--only", DISCOVERY_ITEM]);
    let r = assert_error_or_fail_with_evidence(&report, DISCOVERY_ITEM);
    assert_eq!(r["outcome"], "ERROR", "{}", r["reason"]);
    let ex = discovery_exchange(&report, DISCOVERY_ITEM);
    assert!(ex["error"].as_str().is_some_and(|e| !e.is_empty()), "{ex}");
}

#[test]
fn an_authorization_redirect_loop_stops_at_the_hop_limit() {
    let double = TestAs::start();
    let issuer = double.issuer.clone();
    double.set(|b| b.authorize_redirect = Some(format!("{issuer}/authorize")));
    let out = out_dir(&double, "out");
    let mut args = vec!["--only", AUTHORIZE_ITEM];
    args.extend_from_slice(&ONE_VARIANT);
    let report = run_checked(&double.target(""), &out, &args);
    let r = assert_error_or_fail_with_evidence(&report, AUTHORIZE_ITEM);
    assert_eq!(r["outcome"], "ERROR", "{}", r["reason"]);
    let hops = r["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["label"]
                .as_str()
                .is_some_and(|l| l.contains("authorization"))
        })
        .count();
    assert!((2..=16).contains(&hops), "{hops} authorization requests");
}

#[test]
fn an_authorization_redirect_to_another_host_is_not_followed() {
    let double = TestAs::start();
    double.set(|b| b.authorize_redirect = Some("https://elsewhere.example/".into()));
    let out = out_dir(&double, "out");
    let mut args = vec!["--only", AUTHORIZE_ITEM];
    args.extend_from_slice(&ONE_VARIANT);
    let report = run_checked(&double.target(""), &out, &args);
    let r = assert_error_or_fail_with_evidence(&report, AUTHORIZE_ITEM);
    assert_eq!(r["outcome"], "ERROR", "{}", r["reason"]);
    for e in r["exchanges"].as_array().unwrap() {
        assert!(
            !e["request"]["url"]
                .as_str()
                .unwrap_or("")
                .contains("elsewhere.example"),
            "the harness followed the redirect: {e}"
        );
    }
}

fn compact(header: &str, claims: &str) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    )
}

#[test]
fn hostile_jwts_in_responses_are_decoded_or_skipped() {
    let double = TestAs::start();
    let none = compact(r#"{"alg":"none"}"#, r#"{"sub":"alg-none"}"#);
    let big_header = compact(
        &format!(r#"{{"alg":"PS256","x":"{}"}}"#, "a".repeat(200 * 1024)),
        r#"{"sub":"big-header"}"#,
    );
    let bogus_kid = compact(
        r#"{"alg":"PS256","kid":"no-such-key\u0000../../etc/passwd"}"#,
        r#"{"sub":"bogus-kid"}"#,
    );
    let deep = compact(
        r#"{"alg":"PS256"}"#,
        &format!(
            r#"{{"sub":"deep","x":{}1{}}}"#,
            r#"{"a":"#.repeat(10_000),
            "}".repeat(10_000)
        ),
    );
    double.set(|b| {
        b.metadata["signed_metadata"] = json!(none);
        b.metadata["x_big"] = json!(big_header);
        b.metadata["x_kid"] = json!(bogus_kid);
        b.metadata["x_deep"] = json!(deep);
        b.jwks["keys"][0]["x5c_jwt"] = json!(deep);
        b.headers.push(("x-token".into(), none.clone()));
    });
    let out = out_dir(&double, "out");
    let report = run_checked(
        &double.target(""),
        &out,
        &["--only", DISCOVERY_ITEM, "--only", "FAPI2-SP-5.4.2-*"],
    );
    let ex = discovery_exchange(&report, DISCOVERY_ITEM);
    let subs: Vec<&str> = ex["jwts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["claims"]["sub"].as_str())
        .collect();
    assert!(subs.contains(&"alg-none"), "{subs:?}");
    assert!(subs.contains(&"bogus-kid"), "{subs:?}");
    assert!(
        !subs.contains(&"big-header") && !subs.contains(&"deep"),
        "oversized and deeply nested tokens are skipped: {subs:?}"
    );
}

/// The ID token item, and the one variant it runs in here (it applies to `openid` only).
const ID_TOKEN_ITEM: &str = "FAPI2-SP-5.3.2.3-p1";
const OPENID_VARIANT: [&str; 6] = [
    "--variant",
    "client_auth=private_key_jwt",
    "--variant",
    "sender_constraint=dpop",
    "--variant",
    "openid=openid",
];

/// Claims a client would accept but for `nonce`, which the double cannot know in advance; the
/// test judges the signature finding, which only the hostile part of each token decides.
fn fair_claims(issuer: &str, extra: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    format!(
        r#"{{"iss":"{issuer}","sub":"alice","aud":"client-1","iat":{now},"exp":{},"nonce":"n"{extra}}}"#,
        now + 300
    )
}

#[test]
fn hostile_id_tokens_fail_or_error_with_the_token_exchange_as_evidence() {
    let double = TestAs::start();
    let issuer = double.issuer.clone();
    let claims = fair_claims(&issuer, "");
    let junk_signature = URL_SAFE_NO_PAD.encode([7u8; 256]);
    // (case, token, the outcome it must have)
    let cases = [
        (
            "alg-none",
            compact(r#"{"alg":"none","kid":"k1"}"#, &claims),
            "FAIL",
        ),
        (
            "huge-header",
            compact(
                &format!(
                    r#"{{"alg":"ES256","kid":"k1","x":"{}"}}"#,
                    "a".repeat(200 * 1024)
                ),
                &claims,
            ),
            "ERROR",
        ),
        (
            "bogus-kid",
            format!(
                "{}{junk_signature}",
                compact(
                    r#"{"alg":"ES256","kid":"no-such-key\u0000../../etc/passwd<script>"}"#,
                    &claims
                )
            ),
            "FAIL",
        ),
        (
            "nested-10000-deep",
            compact(
                r#"{"alg":"ES256","kid":"k1"}"#,
                &fair_claims(
                    &issuer,
                    &format!(r#","x":{}{}"#, "[".repeat(10_000), "]".repeat(10_000)),
                ),
            ),
            "ERROR",
        ),
    ];
    let target = double.target("");
    for (name, token, outcome) in cases {
        double.set(|b| b.id_token = Some(token));
        let out = out_dir(&double, name);
        let mut args = vec!["--only", ID_TOKEN_ITEM];
        args.extend_from_slice(&OPENID_VARIANT);
        let report = run_checked(&target, &out, &args);
        let r = assert_error_or_fail_with_evidence(&report, ID_TOKEN_ITEM);
        assert_eq!(r["outcome"], outcome, "{name}: {}", r["reason"]);
        let token_seq = r["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["label"]
                    .as_str()
                    .is_some_and(|l| l.starts_with("token request"))
            })
            .map(|e| e["seq"].clone())
            .unwrap_or_else(|| panic!("{name}: no token exchange in the evidence"));
        let judged = r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["check"] == "id_token_signature" && f["status"] != "held");
        assert!(
            judged.is_some_and(|f| f["exchange"] == token_seq),
            "{name}: the signature finding does not cite the token exchange: {r}"
        );
    }
}

fn broken_transport(how: RawTcp) -> Value {
    let double = TestAs::start();
    let port = support::start_raw_tcp(&double, how);
    let target = double.target(&format!(
        "discovery_url: https://127.0.0.1:{port}/.well-known/openid-configuration\n"
    ));
    let out = out_dir(&double, "out");
    let report = run_checked(&target, &out, &["--only", DISCOVERY_ITEM]);
    let r = assert_error_or_fail_with_evidence(&report, DISCOVERY_ITEM);
    assert_eq!(r["outcome"], "ERROR", "{}", r["reason"]);
    let ex = discovery_exchange(&report, DISCOVERY_ITEM);
    assert!(ex["response"].is_null(), "{ex}");
    assert!(ex["error"].as_str().is_some_and(|e| !e.is_empty()), "{ex}");
    ex
}

#[test]
fn a_garbage_tls_handshake_is_an_error_with_the_transport_error() {
    let ex = broken_transport(RawTcp::GarbageHandshake);
    assert!(
        ex["error"].as_str().unwrap().contains("connection failed"),
        "{ex}"
    );
}

#[test]
fn a_reset_connection_is_an_error_with_the_transport_error() {
    broken_transport(RawTcp::Reset);
}

#[test]
fn markup_in_every_reportable_field_leaves_reports_well_formed_and_inert() {
    const XSS: &str = r#"<script>alert(1)</script>"><img src=x onerror=alert(2)><a href="javascript:alert(3)">]]></testcase><![CDATA[&#0;"#;
    let double = TestAs::start();
    let issuer = double.issuer.clone();
    let jwt = compact(
        &json!({"alg": "none", "kid": XSS}).to_string(),
        &json!({"sub": XSS, XSS: XSS}).to_string(),
    );
    let location = format!(
        "https://client.example/cb?error=<script>alert(4)</script>&error_description=\"><svg onload=alert(5)>&iss={}",
        "javascript:alert(6)"
    );
    double.set(|b| {
        b.metadata["issuer"] = json!(format!("{issuer}/{XSS}"));
        b.metadata[XSS] = json!(XSS);
        b.metadata["x_jwt"] = json!(jwt);
        b.metadata["error_description"] = json!(XSS);
        b.headers.push((
            "x-evil".into(),
            r#""><svg onload=alert(7)> <script>"#.into(),
        ));
        b.authorize_redirect = Some(location);
    });
    let out = out_dir(&double, "out");
    let mut args = vec!["--only", DISCOVERY_ITEM, "--only", AUTHORIZE_ITEM];
    args.extend_from_slice(&ONE_VARIANT);
    let report = run_checked(&double.target(""), &out, &args);
    assert_error_or_fail_with_evidence(&report, DISCOVERY_ITEM);
    let ex = discovery_exchange(&report, DISCOVERY_ITEM);
    assert_eq!(ex["jwts"][0]["header"]["kid"], XSS, "the JWT was decoded");
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"),
        "the hostile content should be shown, escaped"
    );
}

mod parsers {
    //! The parsers that read untrusted text never panic, whatever they are given.

    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn plan_loading_never_panics(text in any::<String>()) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("plan.yaml");
            std::fs::write(&path, &text).unwrap();
            let _ = fapi_harness::plan::load_plan(&path);
        }

        #[test]
        fn plan_loading_never_panics_on_yaml_like_text(
            text in r"(items:|plan:|- |\{|\}|\[|\]|: |id: x|flow:|&a |\*a|!!str |\n|  |'|\x22|#){0,64}"
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("plan.yaml");
            std::fs::write(&path, &text).unwrap();
            let _ = fapi_harness::plan::load_plan(&path);
        }

        #[test]
        fn target_loading_never_panics(
            text in r"(target: t|issuer: |https://a|clients:|- |name: n|\{|\}|\[|\]|: |\$\{env:X\}|\$\{file:|\n|  |'|\x22){0,64}"
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("target.yaml");
            std::fs::write(&path, &text).unwrap();
            let redactor = fapi_harness::redact::Redactor::new();
            let _ = fapi_harness::target::load_target(&path, &redactor);
        }

        #[test]
        fn jwt_decoding_never_panics(text in any::<String>()) {
            let _ = fapi_harness::fapi::jose::find_jwts(&text, "x");
            let _ = fapi_harness::fapi::jose::decode_unverified(&text);
        }

        #[test]
        fn jwt_decoding_never_panics_on_jwt_like_text(text in r"(eyJ|[A-Za-z0-9_-]{0,8}|\.){0,32}") {
            let _ = fapi_harness::fapi::jose::find_jwts(&text, "x");
            let _ = fapi_harness::fapi::jose::decode_unverified(&text);
        }
    }

    #[test]
    fn deeply_nested_plans_and_targets_are_errors_not_stack_overflows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.yaml");
        let redactor = fapi_harness::redact::Redactor::new();
        for nested in [
            "[".repeat(100_000),
            "{a: ".repeat(100_000),
            "- ".repeat(100_000),
            format!("&a [*a, {}]", "*a, ".repeat(10_000)),
        ] {
            std::fs::write(&path, format!("items: {nested}")).unwrap();
            assert!(fapi_harness::plan::load_plan(&path).is_err());
            std::fs::write(&path, format!("clients: {nested}")).unwrap();
            assert!(fapi_harness::target::load_target(&path, &redactor).is_err());
        }
    }
}

/// A large shared document is judged whole but each item keeps only the first 64 KiB of it, so the
/// reports stay small however many items share it.
#[test]
fn a_large_shared_body_is_kept_once_in_full_size_only() {
    let double = support::TestAs::start();
    double.set(|b| {
        let padding = "x".repeat(900 * 1024);
        b.metadata["x_padding"] = serde_json::Value::String(padding);
    });
    let target = double.target("");
    let out = double.path("out-large-shared");
    let (code, stderr, report) = support::run(
        &support::fapi2_plan(),
        &target,
        &out,
        &["--skip-tag", "flow"],
    );
    assert_eq!(
        code, 0,
        "the padded document is still valid metadata: {stderr}"
    );
    let size = std::fs::metadata(out.join("report.json")).unwrap().len();
    assert!(size < 8 * 1024 * 1024, "report.json is {size} bytes");
    let first = &report["results"][0]["exchanges"][0]["response"];
    assert_eq!(first["body_truncated"], true);
}
