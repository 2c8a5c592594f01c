//! End to end: secrets never reach any output, and hostile server content leaves JUnit
//! well-formed and valid against the JUnit schema, and HTML inert.

mod support;

use base64::Engine;
use serde_json::json;
use support::{TestAs, bin};

const API_KEY: &str = "gw-key-7f3a9c2e-SECRET";
const PASSWORD: &str = "hunter2-Passw0rd!";

fn all_outputs(out: &std::path::Path, console: &str) -> Vec<(String, String)> {
    let mut v = vec![("console".to_owned(), console.to_owned())];
    for f in ["junit.xml", "report.html", "report.json"] {
        v.push((f.to_owned(), std::fs::read_to_string(out.join(f)).unwrap()));
    }
    v
}

#[test]
fn env_secrets_appear_in_no_output_even_when_echoed() {
    let double = TestAs::start();
    // The server echoes every request header in its body and in response headers, and puts the
    // password into the issuer so a failing check quotes it as the "actual" value.
    double.set(|b| {
        b.echo = true;
        b.metadata["issuer"] = json!(format!("https://as.example/{PASSWORD}"));
        b.metadata["x_echo_pct"] = json!(
            percent_encoding::utf8_percent_encode(PASSWORD, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
        );
    });
    let target = double.target(
        "http:\n  headers:\n    x-api-key: \"${env:FAPI_TEST_API_KEY}\"\nsecrets: [\"${env:FAPI_TEST_PASSWORD}\"]\n",
    );
    let out = double.path("out");
    let output = bin()
        .env("FAPI_TEST_API_KEY", API_KEY)
        .env("FAPI_TEST_PASSWORD", PASSWORD)
        .args(["run", "--verbose", "--skip-tag", "flow", "--plan"])
        .arg(support::fapi2_plan())
        .arg("--target")
        .arg(&target)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(1),
        "the issuer mismatch must fail"
    );
    let console = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let forbidden = [
        API_KEY.to_owned(),
        PASSWORD.to_owned(),
        base64::engine::general_purpose::STANDARD.encode(PASSWORD),
        percent_encoding::utf8_percent_encode(PASSWORD, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    ];
    for (name, text) in all_outputs(&out, &console) {
        for secret in &forbidden {
            assert!(!text.contains(secret.as_str()), "{name} leaks {secret}");
        }
        if name != "console" {
            assert!(
                text.contains("[REDACTED]"),
                "{name} shows no redaction marker; was the echo recorded?"
            );
        }
    }
}

#[test]
fn hostile_content_keeps_junit_well_formed_and_html_inert() {
    let double = TestAs::start();
    let mut body = b"<script>alert(1)</script> \"onload=\"alert(2) <a href=\"javascript:alert(3)\">x</a> ]]> </system-out> \x00 \x1b[31m ".to_vec();
    body.extend_from_slice(&[0xff, 0xfe, 0xc3]);
    double.set(|b| {
        b.authorize_body = String::new();
        b.hostile = None;
        b.headers = vec![(
            "x-evil".into(),
            "<script>alert(4)</script> javascript:alert(5)".into(),
        )];
        b.metadata["issuer"] =
            json!("https://x/<script>alert(6)</script>\u{0}\u{1b}]]></system-out>");
        b.metadata["authorization_endpoint"] = json!(format!("{}/hostile", double.issuer));
        b.hostile = Some((body.clone(), "text/html".into()));
    });
    let target = double.target("");
    let out = double.path("out");
    let (code, stderr, _) = support::run(
        &support::fapi2_plan(),
        &target,
        &out,
        &["--skip-tag", "flow"],
    );
    assert_eq!(code, 1, "{stderr}");

    support::assert_junit_schema_valid(&out.join("junit.xml"));
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit)
        .unwrap_or_else(|e| panic!("JUnit is not well-formed: {e}"));
    let cases = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .count();
    assert_eq!(cases, 26);
    assert!(doc.descendants().any(|n| n.has_tag_name("failure")));

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "HTML contains a script element");
    assert!(
        !lower.contains("href=\"javascript:"),
        "HTML contains a javascript: link"
    );
    assert!(
        !lower.contains("\"onload="),
        "HTML contains an unescaped onload attribute"
    );
    assert!(
        // askama escapes `<` as `&#60;`; either entity form is an inert, visible script tag.
        lower.contains("&#60;script&#62;") || lower.contains("&lt;script&gt;"),
        "the hostile body should be shown, escaped"
    );
    assert!(
        html.contains("Content-Security-Policy"),
        "HTML lacks its CSP"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let hostile = json["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"]["id"] == "FAPI2-SP-5.2.3-1")
        .unwrap();
    let request = hostile["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["label"] == "GET authorization_endpoint")
        .unwrap();
    let resp = &request["response"];
    assert_eq!(resp["body_lossy"], true, "invalid UTF-8 is flagged");
}
