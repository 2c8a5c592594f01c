//! End to end: the binary runs the FAPI 2.0 plan's discovery slice against an HTTPS double, and
//! each item passes when the double conforms and fails when its matching fault is switched on.

mod support;

use serde_json::json;
use support::{TestAs, fapi2_plan, outcome_of, run};

#[test]
fn conformant_double_passes_every_item() {
    let double = TestAs::start();
    let target = double.target("");
    let out = double.path("out");
    let (code, stderr, report) = run(&fapi2_plan(), &target, &out, &["--skip-tag", "flow"]);
    assert_eq!(code, 0, "{stderr}");
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 26, "{stderr}");
    for r in results {
        assert_eq!(r["outcome"], "PASS", "{}: {}", r["key"]["id"], r["reason"]);
    }
    assert_eq!(report["schema_version"], 1);
    let tls = results[0]["exchanges"][0]["response"]["tls_version"]
        .as_str()
        .unwrap_or("");
    assert!(
        tls.starts_with("TLSv1_3 TLS13_"),
        "negotiated TLS is recorded: {tls}"
    );
    // Shared discovery: the openid document was fetched once, yet each item carries it as evidence.
    assert!(
        results
            .iter()
            .all(|r| !r["exchanges"].as_array().unwrap().is_empty())
    );
    for f in ["junit.xml", "report.html", "report.json"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
    assert!(stderr.contains("26 items"), "{stderr}");
}

/// Each row: a fault applied to the double, the item that must catch it, and the outcome.
#[test]
fn each_item_fails_against_its_fault() {
    type Fault = fn(&mut support::Behavior);
    let table: Vec<(&str, Fault, &str, &str)> = vec![
        (
            "metadata 404",
            |b| b.metadata = serde_json::Value::Null,
            "FAPI2-SP-5.3.2.1-1",
            "FAIL",
        ),
        (
            "issuer mismatch",
            |b| b.metadata["issuer"] = json!("https://other.example"),
            "FAPI2-SP-5.3.2.1-1",
            "FAIL",
        ),
        (
            "no PAR endpoint",
            |b| {
                drop(
                    b.metadata
                        .as_object_mut()
                        .unwrap()
                        .remove("pushed_authorization_request_endpoint"),
                )
            },
            "FAPI2-SP-5.3.2.1-1",
            "FAIL",
        ),
        (
            "wrong content type",
            |b| b.headers.push(("content-type".into(), "text/plain".into())),
            "FAPI2-SP-5.3.2.1-1",
            "FAIL",
        ),
        (
            "http endpoint",
            |b| b.metadata["token_endpoint"] = json!("http://127.0.0.1/token"),
            "FAPI2-SP-5.2.1-1.a",
            "FAIL",
        ),
        (
            "client_secret_basic",
            |b| {
                b.metadata["token_endpoint_auth_methods_supported"] =
                    json!(["private_key_jwt", "client_secret_basic"])
            },
            "FAPI2-SP-5.3.2.1-6",
            "FAIL",
        ),
        (
            "password grant",
            |b| b.metadata["grant_types_supported"] = json!(["authorization_code", "password"]),
            "FAPI2-SP-5.3.2.1-2",
            "FAIL",
        ),
        (
            "plain PKCE",
            |b| b.metadata["code_challenge_methods_supported"] = json!(["S256", "plain"]),
            "FAPI2-SP-5.3.2.2-5",
            "FAIL",
        ),
        (
            "no code response type",
            |b| b.metadata["response_types_supported"] = json!(["token"]),
            "FAPI2-SP-5.3.2.2-1",
            "FAIL",
        ),
        (
            "PAR not required",
            |b| b.metadata["require_pushed_authorization_requests"] = json!(false),
            "RFC9126-5-1",
            "WARN",
        ),
        (
            "no iss parameter",
            |b| {
                drop(
                    b.metadata
                        .as_object_mut()
                        .unwrap()
                        .remove("authorization_response_iss_parameter_supported"),
                )
            },
            "RFC9207-2.3-3",
            "FAIL",
        ),
        (
            "alg none",
            |b| {
                b.metadata["request_object_signing_alg_values_supported"] = json!(["PS256", "none"])
            },
            "FAPI2-SP-5.4.1-1.3",
            "FAIL",
        ),
        (
            "RS256 id tokens",
            |b| b.metadata["id_token_signing_alg_values_supported"] = json!(["PS256", "RS256"]),
            "FAPI2-SP-5.4.1-1.2/id-token",
            "FAIL",
        ),
        (
            "HS256 assertions",
            |b| b.metadata["token_endpoint_auth_signing_alg_values_supported"] = json!(["HS256"]),
            "FAPI2-SP-5.4.1-1.2/client-auth",
            "FAIL",
        ),
        (
            "RS256 DPoP",
            |b| b.metadata["dpop_signing_alg_values_supported"] = json!(["RS256"]),
            "RFC9449-5.1-1",
            "FAIL",
        ),
        (
            "no mTLS binding",
            |b| b.metadata["tls_client_certificate_bound_access_tokens"] = json!(false),
            "RFC8705-3.3-1",
            "WARN",
        ),
        (
            "no openid scope",
            |b| b.metadata["scopes_supported"] = json!(["accounts"]),
            "OIDD-3-8",
            "FAIL",
        ),
        (
            "issuer with query",
            |b| b.metadata["issuer"] = json!("https://127.0.0.1/?tenant=x"),
            "RFC8414-2-1",
            "FAIL",
        ),
        (
            "private JWK",
            |b| b.jwks["keys"][0]["d"] = json!("c2VjcmV0"),
            "FAPI2-SP-5.4.2-1",
            "FAIL",
        ),
        (
            "duplicate kid",
            |b| {
                let k = b.jwks["keys"][0].clone();
                b.jwks["keys"].as_array_mut().unwrap().push(k)
            },
            "FAPI2-SP-5.4.2-3",
            "WARN",
        ),
        (
            "weak EC curve",
            |b| b.jwks["keys"][0]["crv"] = json!("P-192"),
            "FAPI2-SP-5.4.1-2",
            "FAIL",
        ),
        ("no HSTS", |b| b.headers.clear(), "FAPI2-SP-5.2.3-1", "FAIL"),
        (
            "CORS",
            |b| {
                b.headers
                    .push(("access-control-allow-origin".into(), "*".into()))
            },
            "FAPI2-SP-5.2.3-3",
            "FAIL",
        ),
    ];
    let double = TestAs::start();
    let target = double.target("");
    let conformant = double.behavior.lock().unwrap().clone();
    let mut failures = Vec::new();
    for (name, fault, id, expected) in table {
        double.set(|b| *b = conformant.clone());
        double.set(fault);
        let out = double.path(&format!("out-{}", name.replace(' ', "-")));
        let (code, stderr, report) = run(&fapi2_plan(), &target, &out, &["--only", id]);
        let got = outcome_of(&report, id);
        if got != expected {
            failures.push(format!(
                "{name}: {id} was {got}, expected {expected}\n{stderr}"
            ));
        }
        let want_code = if expected == "FAIL" { 1 } else { 0 };
        if code != want_code {
            failures.push(format!("{name}: exit {code}, expected {want_code}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unreachable_target_is_error_not_fail() {
    let double = TestAs::start();
    let target = double.write(
        "down.yaml",
        "target: down\nissuer: https://127.0.0.1:9\nca_bundle: ca.pem\nclients:\n  - name: one\n    client_id: c\n    auth_method: private_key_jwt\n    signing_key: { pem: \"${file:client.key}\" }\n    redirect_uris: [https://client.example/cb]\n",
    );
    let out = double.path("out-down");
    let (code, stderr, report) = run(
        &fapi2_plan(),
        &target,
        &out,
        &["--only", "FAPI2-SP-5.3.2.1-1"],
    );
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        outcome_of(&report, "FAPI2-SP-5.3.2.1-1"),
        "ERROR",
        "{stderr}"
    );
    let reason = report["results"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("no response"), "{reason}");
}

#[test]
fn untrusted_certificate_is_refused_by_default() {
    // Without the double's CA the harness must not connect: TLS verification is on by default.
    let double = TestAs::start();
    let target = double.write(
        "no-ca.yaml",
        &format!("target: no-ca\nissuer: {}\nclients:\n  - name: one\n    client_id: c\n    auth_method: private_key_jwt\n    signing_key: {{ pem: \"${{file:client.key}}\" }}\n    redirect_uris: [https://client.example/cb]\n", double.issuer),
    );
    let out = double.path("out-no-ca");
    let (code, _, report) = run(
        &fapi2_plan(),
        &target,
        &out,
        &["--only", "FAPI2-SP-5.3.2.1-1"],
    );
    assert_eq!(code, 1);
    assert_eq!(outcome_of(&report, "FAPI2-SP-5.3.2.1-1"), "ERROR");
    let err = report["results"][0]["exchanges"][0]["error"]
        .as_str()
        .unwrap_or("");
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn tls_probe_passes_rustls_and_fails_a_legacy_server() {
    let double = TestAs::start();
    let target = double.target("");
    let out = double.path("out-tls-ok");
    let args = ["--only", "FAPI2-SP-5.2.1-2", "--only", "FAPI2-SP-5.2.2-1"];
    let (code, stderr, report) = run(&fapi2_plan(), &target, &out, &args);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(outcome_of(&report, "FAPI2-SP-5.2.1-2"), "PASS");
    assert_eq!(outcome_of(&report, "FAPI2-SP-5.2.2-1"), "PASS");

    let legacy = support::start_accept_anything_tls(&double);
    double
        .set(|b| b.metadata["token_endpoint"] = json!(format!("https://127.0.0.1:{legacy}/token")));
    let out = double.path("out-tls-bad");
    let (code, stderr, report) = run(&fapi2_plan(), &target, &out, &args);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(outcome_of(&report, "FAPI2-SP-5.2.1-2"), "FAIL");
    assert_eq!(outcome_of(&report, "FAPI2-SP-5.2.2-1"), "FAIL");
    let reason = report["results"][1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("TLS_RSA_WITH_NULL_SHA"),
        "enumerates the accepted suites: {reason}"
    );
}
