//! End to end: concurrency, deterministic order, sharding, per-item timeout and Ctrl-C.

mod support;

use std::time::{Duration, Instant};

use support::{TestAs, bin, run};

/// A plan of `n` items that each wait `secs` seconds and then check the metadata issuer.
fn waiting_plan(double: &TestAs, n: usize, secs: u64) -> std::path::PathBuf {
    let mut yaml = String::from(
        "plan: waits\ntitle: Waits\nspec: test\nprofile: fapi2-security-profile\nitems:\n",
    );
    for i in 0..n {
        yaml.push_str(&format!(
            "  - id: WAIT-{i:02}\n    title: wait {i}\n    level: must\n    refs: [OIDD-4-1]\n    tags: [slow]\n    flow:\n      - wait: {{ seconds: {secs}, reason: test wait }}\n      - discovery: {{}}\n    expect: [issuer_matches]\n"
        ));
    }
    double.write(&format!("waits-{n}-{secs}.yaml"), &yaml)
}

fn ids(report: &serde_json::Value) -> Vec<String> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn sixteen_one_second_items_overlap_with_jobs_16() {
    let double = TestAs::start();
    let plan = waiting_plan(&double, 16, 1);
    let target = double.target("");
    let started = Instant::now();
    let (code, stderr, report) = run(&plan, &target, &double.path("out"), &["--jobs", "16"]);
    let wall = started.elapsed();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["stats"]["pass"], 16);
    // Serially this is 16 s. Concurrently it is about 1 s plus process start-up; the bound is
    // generous so a loaded CI machine does not flake, yet far below the serial time.
    assert!(wall < Duration::from_secs(6), "took {wall:?}");
    assert!(
        report["elapsed_ms"].as_u64().unwrap() < 4000,
        "{}",
        report["elapsed_ms"]
    );
}

#[test]
fn report_order_is_plan_order_whatever_the_completion_order() {
    let double = TestAs::start();
    // Later items finish first: item i waits (n - i) * 0 s except the first, which waits 1 s.
    let mut yaml = String::from(
        "plan: order\ntitle: Order\nspec: test\nprofile: fapi2-security-profile\nitems:\n",
    );
    for i in 0..8 {
        let wait = if i == 0 { 1 } else { 0 };
        yaml.push_str(&format!(
            "  - id: ORD-{i}\n    title: t\n    level: must\n    refs: [OIDD-4-1]\n    flow:\n      - wait: {{ seconds: {wait} }}\n      - discovery: {{}}\n    expect: [issuer_matches]\n"
        ));
    }
    let plan = double.write("order.yaml", &yaml);
    let target = double.target("");
    let (_, _, a) = run(&plan, &target, &double.path("a"), &["--jobs", "8"]);
    let (_, _, b) = run(&plan, &target, &double.path("b"), &["--jobs", "1"]);
    let expected: Vec<String> = (0..8).map(|i| format!("ORD-{i}")).collect();
    assert_eq!(ids(&a), expected);
    assert_eq!(ids(&b), expected);
    let junit = std::fs::read_to_string(double.path("a").join("junit.xml")).unwrap();
    let positions: Vec<usize> = expected
        .iter()
        .filter_map(|id| junit.find(&format!("\"{id}: ")))
        .collect();
    assert_eq!(
        positions.len(),
        expected.len(),
        "every item is a JUnit case"
    );
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "JUnit order differs from plan order"
    );
}

#[test]
fn shards_partition_the_plan_exactly() {
    let double = TestAs::start();
    let target = double.target("");
    let plan = support::fapi2_plan();
    let (_, _, full) = run(
        &plan,
        &target,
        &double.path("full"),
        &["--skip-tag", "flow"],
    );
    let mut all = ids(&full);
    all.sort();
    let mut union = Vec::new();
    for k in 1..=3 {
        let (code, stderr, part) = run(
            &plan,
            &target,
            &double.path(&format!("s{k}")),
            &["--shard", &format!("{k}/3"), "--skip-tag", "flow"],
        );
        assert_eq!(code, 0, "{stderr}");
        let part_ids = ids(&part);
        assert!(!part_ids.is_empty());
        union.extend(part_ids);
    }
    union.sort();
    assert_eq!(union, all, "shards must cover every item exactly once");
}

#[test]
fn item_timeout_is_an_error_with_the_evidence_so_far() {
    let double = TestAs::start();
    double.set(|b| b.jwks_delay = Duration::from_secs(30));
    let yaml = "plan: t\ntitle: T\nspec: s\nprofile: fapi2-security-profile\nitems:\n  - id: SLOW\n    title: slow\n    level: must\n    refs: [OIDD-4-1]\n    flow:\n      - discovery: {}\n      - fetch_jwks\n    expect: [issuer_matches]\n";
    let plan = double.write("timeout.yaml", yaml);
    let target = double.target("");
    let started = Instant::now();
    let (code, stderr, report) = run(
        &plan,
        &target,
        &double.path("out"),
        &["--item-timeout", "1"],
    );
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(code, 1, "{stderr}");
    let r = &report["results"][0];
    assert_eq!(r["outcome"], "ERROR");
    assert!(
        r["reason"].as_str().unwrap().contains("timed out"),
        "{}",
        r["reason"]
    );
    assert_eq!(
        r["exchanges"].as_array().unwrap().len(),
        1,
        "the discovery exchange before the deadline is kept"
    );
}

/// A deliberate wait is the plan's, not the target's or the harness's work: it does not count
/// against `--item-timeout`, and a wait beyond `--max-wait` is not made (the item SKIPs).
#[test]
fn waits_do_not_count_against_the_item_timeout_and_respect_max_wait() {
    let double = TestAs::start();
    let plan = waiting_plan(&double, 1, 3);
    let target = double.target("");
    let (code, stderr, report) = run(
        &plan,
        &target,
        &double.path("out"),
        &["--item-timeout", "1"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["results"][0]["outcome"], "PASS", "{report}");

    let started = Instant::now();
    let (code, stderr, report) = run(&plan, &target, &double.path("out2"), &["--max-wait", "2"]);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(code, 0, "{stderr}");
    let r = &report["results"][0];
    assert_eq!(r["outcome"], "SKIP", "{r}");
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("beyond --max-wait 2 s"),
        "{}",
        r["reason"]
    );
}

#[test]
fn ctrl_c_writes_partial_reports_and_exits_1() {
    let double = TestAs::start();
    let plan = waiting_plan(&double, 4, 30);
    let target = double.target("");
    let out = double.path("out");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("fapi-harness"))
        .args(["run", "--plan"])
        .arg(&plan)
        .arg("--target")
        .arg(&target)
        .arg("--out")
        .arg(&out)
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        assert!(
            Instant::now() < deadline,
            "harness did not stop after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(1));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true);
    assert_eq!(report["stats"]["error"], 4);
    assert!(out.join("junit.xml").exists() && out.join("report.html").exists());
}

#[test]
fn help_and_version_and_completions() {
    let help = bin().arg("--help").output().unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("Examples:") && text.contains("Exit codes"),
        "{text}"
    );
    let v = bin().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("fapi-harness "));
    let c = bin().args(["completions", "bash"]).output().unwrap();
    assert!(c.status.success() && String::from_utf8_lossy(&c.stdout).contains("fapi-harness"));
}

#[test]
fn explain_shows_requirement_and_items() {
    let out = bin()
        .args(["explain", "FAPI2-SP-5.3.2.1-1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("publish discovery metadata"), "{text}");
    assert!(text.contains("plan item FAPI2-SP-5.3.2.1-1"), "{text}");
    assert!(
        text.contains("fapi2-security-profile-final-discovery-end-point-verification"),
        "{text}"
    );
    let unknown = bin()
        .args(["explain", "FAPI2-SP-9.9.9-9"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("did you mean"));
}

/// FAPI2-SP-5.3.2.3 asks for the userinfo `sub` comparison only where userinfo is offered: against
/// an AS whose metadata has no `userinfo_endpoint`, the item SKIPs with that reason after a
/// completed flow.
#[test]
fn the_userinfo_item_skips_when_the_as_offers_no_userinfo() {
    let double = TestAs::start();
    double.set(|b| b.id_token = Some("not-judged-here".into()));
    let id = "FAPI2-SP-5.3.2.3-p1/userinfo";
    let (code, stderr, report) = run(
        &support::fapi2_plan(),
        &double.target(""),
        &double.path("out"),
        &[
            "--only",
            id,
            "--variant",
            "client_auth=private_key_jwt",
            "--variant",
            "sender_constraint=dpop",
            "--variant",
            "openid=openid",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    let r = &report["results"][0];
    assert_eq!(
        (r["key"]["id"].as_str(), r["outcome"].as_str()),
        (Some(id), Some("SKIP")),
        "{r}"
    );
    assert!(
        r["reason"]
            .as_str()
            .is_some_and(|s| s.contains("no userinfo_endpoint")),
        "{r}"
    );
}

/// Runs one FAPI 2.0 item against the double in one variant, with a resource at `/resource`.
fn run_rs_item(double: &TestAs, id: &str, extra: &[&str]) -> serde_json::Value {
    let target = double.target(&format!(
        "resources:\n  - url: {}/resource\n",
        double.issuer
    ));
    let mut args = vec![
        "--only",
        id,
        "--variant",
        "client_auth=private_key_jwt",
        "--variant",
        "sender_constraint=dpop",
        "--variant",
        "openid=openid",
    ];
    args.extend(extra);
    let (_, stderr, report) = run(&support::fapi2_plan(), &target, &double.path("out"), &args);
    let r = report["results"][0].clone();
    assert_eq!(r["key"]["id"].as_str(), Some(id), "{stderr}");
    r
}

/// Runs item `id` (see `run_rs_item`) and asserts its outcome and that its reason mentions
/// `because`; returns the result.
fn expect_outcome(double: &TestAs, id: &str, outcome: &str, because: &str) -> serde_json::Value {
    let r = run_rs_item(double, id, &[]);
    assert_eq!(r["outcome"].as_str(), Some(outcome), "{r}");
    let reason = r["reason"].as_str().unwrap_or_default();
    assert!(reason.contains(because), "{reason}");
    r
}

/// FAPI2-SP-5.3.4-3 asks the RS to honour revocation "only if the AS gives the means": without a
/// `revocation_endpoint`, or when the AS answers `unsupported_token_type` (RFC 7009 §2.2.1), the
/// item SKIPs with the reason. A refused revocation is no verdict on the RS: ERROR. An RS that
/// serves the revoked token FAILs.
#[test]
fn the_revoked_token_item_needs_the_means_to_revoke() {
    let double = TestAs::start();
    double.set(|b| b.id_token = Some("not-judged-here".into()));
    let id = "FAPI2-SP-5.3.4-3/revoked-token";
    expect_outcome(&double, id, "SKIP", "no revocation_endpoint");

    let revoke = format!("{}/revoke", double.issuer);
    double.set(|b| {
        b.metadata["revocation_endpoint"] = revoke.clone().into();
        b.revocation = (400, serde_json::json!({"error": "unsupported_token_type"}));
    });
    let r = expect_outcome(&double, id, "SKIP", "unsupported_token_type");
    let labels: Vec<&str> = r["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["label"].as_str())
        .collect();
    assert!(
        labels.contains(&"revocation request (access token)"),
        "{labels:?}"
    );

    double.set(|b| b.revocation = (401, serde_json::json!({"error": "invalid_client"})));
    expect_outcome(&double, id, "ERROR", "refused at revocation");

    double.set(|b| b.revocation = (200, serde_json::json!({})));
    expect_outcome(&double, id, "FAIL", "accepted");
}

/// The expired-token item waits out the advertised lifetime: without `expires_in` there is no
/// expiry to wait out, and a lifetime beyond `--max-wait` is not waited for; both SKIP at once.
#[test]
fn the_expired_token_item_skips_without_an_advertised_lifetime_or_beyond_max_wait() {
    let double = TestAs::start();
    double.set(|b| {
        b.id_token = Some("not-judged-here".into());
        b.expires_in = None;
    });
    let id = "FAPI2-SP-5.3.4-3/expired-token";
    let started = Instant::now();
    expect_outcome(&double, id, "SKIP", "no expires_in");

    double.set(|b| b.expires_in = Some(3600));
    expect_outcome(&double, id, "SKIP", "3605 s, beyond --max-wait 300 s");
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// The introspection items need the AS to show this client its token: without an
/// `introspection_endpoint`, with a refusal or with `active: false` for the token it just issued
/// (RFC 7662 §2.2), they SKIP with the reason; an active token without `cnf` FAILs.
#[test]
fn the_introspection_item_needs_an_as_that_introspects_for_the_client() {
    let double = TestAs::start();
    double.set(|b| b.id_token = Some("not-judged-here".into()));
    let id = "RFC9449-6.2-1";
    expect_outcome(&double, id, "SKIP", "no introspection_endpoint");

    let endpoint = format!("{}/introspect", double.issuer);
    double.set(|b| b.metadata["introspection_endpoint"] = endpoint.clone().into());
    expect_outcome(&double, id, "SKIP", "active: false");

    double.set(|b| b.introspection = (401, serde_json::json!({"error": "invalid_client"})));
    expect_outcome(&double, id, "SKIP", "HTTP 401, error=invalid_client");

    double.set(|b| b.introspection = (200, serde_json::json!({"active": true})));
    expect_outcome(&double, id, "FAIL", "no DPoP binding");
}
