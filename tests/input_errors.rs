//! Bad input never panics: every malformed plan, target or argument gives file:line:col where it
//! applies, a hint, and exit code 2, with nothing run.

mod support;

use std::path::Path;

use support::bin;

const GOOD_PLAN: &str = "plan: p\ntitle: P\nspec: S\nprofile: fapi2-security-profile\nitems:\n  - id: A\n    title: a\n    level: must\n    refs: [OIDD-4-1]\n    flow:\n      - discovery: {}\n    expect:\n      - issuer_matches\n";

fn key_pem() -> String {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem()
}

fn target_with(client: &str) -> String {
    format!("target: t\nissuer: https://as.example\nclients:\n{client}")
}

const GOOD_CLIENT: &str = "  - name: one\n    client_id: c1\n    auth_method: private_key_jwt\n    signing_key: { pem: \"${file:key.pem}\" }\n    redirect_uris: [https://client.example/cb]\n";

struct Case {
    name: &'static str,
    plan: String,
    target: Option<String>,
    args: Vec<&'static str>,
    /// Substrings the error output must contain.
    expect: Vec<&'static str>,
}

fn case(name: &'static str, plan: &str, target: Option<String>, expect: Vec<&'static str>) -> Case {
    Case {
        name,
        plan: plan.to_owned(),
        target,
        args: vec![],
        expect,
    }
}

fn run_case(dir: &Path, c: &Case) -> (Option<i32>, String) {
    let plan = dir.join(format!("{}.plan.yaml", c.name));
    std::fs::write(&plan, &c.plan).unwrap();
    let mut cmd = bin();
    if let Some(t) = &c.target {
        let target = dir.join(format!("{}.target.yaml", c.name));
        std::fs::write(&target, t).unwrap();
        cmd.args(["run", "--out"])
            .arg(dir.join("out"))
            .arg("--plan")
            .arg(&plan)
            .arg("--target")
            .arg(&target);
    } else {
        cmd.args(["validate", "--plan"]).arg(&plan);
    }
    cmd.args(&c.args);
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn malformed_inputs_exit_2_with_located_hints() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.pem"), key_pem()).unwrap();
    std::fs::write(
        dir.path().join("garbage.pem"),
        "-----BEGIN PRIVATE KEY-----\nnot base64 at all!\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let other_key = key_pem();
    let cert_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["client".to_string()])
        .unwrap()
        .self_signed(&cert_key)
        .unwrap();
    std::fs::write(dir.path().join("client.crt"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("other.key"), other_key).unwrap();
    std::fs::write(dir.path().join("empty-ca.pem"), "no certificates here\n").unwrap();
    let good_target = target_with(GOOD_CLIENT);

    let cases = vec![
        case(
            "unknown-item-field",
            &GOOD_PLAN.replace("    title: a", "    titel: a"),
            None,
            vec!["unknown field `titel`", ":7:5", "hint:"],
        ),
        case(
            "unknown-step",
            &GOOD_PLAN.replace("discovery: {}", "discover: {}"),
            None,
            vec!["unknown variant `discover`", "fetch_jwks", ":11:9"],
        ),
        case(
            "unknown-check",
            &GOOD_PLAN.replace("- issuer_matches", "- issuer_match"),
            None,
            vec!["unknown variant `issuer_match`", "issuer_matches", ":13:9"],
        ),
        case(
            "bad-level",
            &GOOD_PLAN.replace("level: must", "level: required"),
            None,
            vec!["unknown variant `required`", "must", ":8:12"],
        ),
        case(
            "duplicate-id",
            &format!(
                "{GOOD_PLAN}{}",
                &GOOD_PLAN[GOOD_PLAN.find("  - id").unwrap()..]
            ),
            None,
            vec!["duplicate item id `A`", ":14:9", "first use is on line 6"],
        ),
        case(
            "unknown-ref",
            &GOOD_PLAN.replace("refs: [OIDD-4-1]", "refs: [OIDD-4-99]"),
            None,
            vec![
                "unknown requirement id `OIDD-4-99`",
                ":9:12",
                "did you mean",
            ],
        ),
        case(
            "yaml-syntax",
            &GOOD_PLAN.replace("refs: [OIDD-4-1]", "refs: [OIDD-4-1"),
            None,
            vec!["invalid plan", "plan.yaml:"],
        ),
        case(
            "check-without-step",
            &GOOD_PLAN.replace("- issuer_matches", "- jwks_public_only"),
            None,
            vec![
                "needs a `fetch_jwks` step",
                ":13:9",
                "hint: add `- fetch_jwks`",
            ],
        ),
        case(
            "applies-outside-matrix",
            &GOOD_PLAN.replace(
                "    refs:",
                "    applies: { client_auth: [tls_client_auth] }\n    refs:",
            ),
            None,
            vec!["applies.client_auth names tls_client_auth"],
        ),
        case(
            "no-checks",
            &GOOD_PLAN.replace("    expect:\n      - issuer_matches\n", "    expect: []\n"),
            None,
            vec!["has no checks", "can never fail"],
        ),
        case("empty-plan", "", None, vec!["invalid plan"]),
        case(
            "missing-field",
            &GOOD_PLAN.replace("spec: S\n", ""),
            None,
            vec!["missing field `spec`"],
        ),
        case(
            "target-unknown-field",
            GOOD_PLAN,
            Some(good_target.replace("client_id: c1", "clent_id: c1")),
            vec!["unknown field `clent_id`", "target.yaml:5:5", "client_id"],
        ),
        case(
            "target-env-unset",
            GOOD_PLAN,
            Some(good_target.replace(
                "client_id: c1",
                "client_id: \"${env:FAPI_HARNESS_TEST_UNSET}\"",
            )),
            vec![
                "environment variable FAPI_HARNESS_TEST_UNSET is not set",
                "target.yaml:5:16",
                "export it",
            ],
        ),
        case(
            "target-file-missing",
            GOOD_PLAN,
            Some(good_target.replace("key.pem", "nope.pem")),
            vec!["cannot read", "nope.pem", "relative to the target file"],
        ),
        case(
            "target-bad-pem",
            GOOD_PLAN,
            Some(good_target.replace("key.pem", "garbage.pem")),
            vec!["client `one`", "does not parse", "target.yaml:7:"],
        ),
        case(
            "target-cert-key-mismatch",
            GOOD_PLAN,
            Some(target_with(
                "  - name: m\n    client_id: c\n    auth_method: tls_client_auth\n    mtls: { cert: \"${file:client.crt}\", key: \"${file:other.key}\" }\n    redirect_uris: [https://c.example/cb]\n",
            )),
            vec!["certificate does not match its key"],
        ),
        case(
            "target-method-without-key",
            GOOD_PLAN,
            Some(target_with(
                "  - name: n\n    client_id: c\n    auth_method: private_key_jwt\n    redirect_uris: [https://c.example/cb]\n",
            )),
            vec!["uses private_key_jwt but has no `signing_key`"],
        ),
        case(
            "target-bad-auth-method",
            GOOD_PLAN,
            Some(good_target.replace(
                "auth_method: private_key_jwt",
                "auth_method: client_secret_basic",
            )),
            vec!["unknown variant `client_secret_basic`", "private_key_jwt"],
        ),
        case(
            "target-empty-ca",
            GOOD_PLAN,
            Some(
                format!("{good_target}ca_bundle: empty-ca.pem\n")
                    .replace("clients:", "ca_bundle_x: 1\nclients:")
                    .replace("ca_bundle_x: 1\n", ""),
            ),
            vec!["holds no PEM certificate"],
        ),
        case(
            "manual-listener-cert-alone",
            GOOD_PLAN,
            Some(format!(
                "{good_target}login:\n  mode: manual\n  manual:\n    listener_cert: \"${{file:client.crt}}\"\n"
            )),
            vec![
                "listener_cert and listener_key go together",
                "target.yaml:12:20",
            ],
        ),
        case(
            "manual-listener-pair-mismatch",
            GOOD_PLAN,
            Some(format!(
                "{good_target}login:\n  mode: manual\n  manual:\n    listener_cert: \"${{file:client.crt}}\"\n    listener_key: \"${{file:other.key}}\"\n"
            )),
            vec!["login.manual.listener_cert: certificate does not match its key"],
        ),
        case(
            "target-no-clients",
            GOOD_PLAN,
            Some("target: t\nissuer: https://as.example\nclients: []\n".into()),
            vec!["target has no clients"],
        ),
        case(
            "target-bad-issuer",
            GOOD_PLAN,
            Some(good_target.replace("https://as.example", "as.example")),
            vec!["issuer: `as.example` is not a URL", "target.yaml:2:9"],
        ),
        case(
            "target-bad-submit-selector",
            GOOD_PLAN,
            Some(format!(
                "{good_target}login:\n  mode: http-form\n  steps:\n    - fill: {{ password: pw }}\n      submit: \"button[value=\"\n"
            )),
            vec![
                "login.steps[0].submit: `button[value=` is not a CSS selector",
                "target.yaml:13:15",
                "hint: e.g. `#kc-login`",
            ],
        ),
        case(
            "target-bad-fill-selector",
            GOOD_PLAN,
            Some(format!(
                "{good_target}login:\n  mode: http-form\n  steps:\n    - fill: {{ \"input[name=\": pw }}\n"
            )),
            vec![
                "is neither a field name nor a CSS selector",
                "target.yaml:12:30",
            ],
        ),
        case(
            "target-steps-with-mode-none",
            GOOD_PLAN,
            Some(format!(
                "{good_target}login:\n  mode: none\n  steps:\n    - submit: \"#kc-login\"\n"
            )),
            vec![
                "login.steps: mode none does not use steps",
                "target.yaml:12:15",
                "mode: http-form",
            ],
        ),
        case(
            "target-http-form-without-steps",
            GOOD_PLAN,
            Some(format!("{good_target}login: {{ mode: http-form }}\n")),
            vec!["mode http-form has no steps", "target.yaml"],
        ),
        case(
            "target-bad-response-mode",
            GOOD_PLAN,
            Some(good_target.replace(
                "    redirect_uris:",
                "    response_mode: post\n    redirect_uris:",
            )),
            vec!["unknown variant `post`", "form_post", "target.yaml:8:20"],
        ),
        Case {
            name: "bad-shard",
            plan: GOOD_PLAN.into(),
            target: Some(good_target.clone()),
            args: vec!["--shard", "4/3"],
            expect: vec!["--shard `4/3`"],
        },
        Case {
            name: "bad-variant",
            plan: GOOD_PLAN.into(),
            target: Some(good_target.clone()),
            args: vec!["--variant", "client_auth=basic"],
            expect: vec!["unknown value `basic`", "valid values: private_key_jwt"],
        },
        Case {
            name: "nothing-selected",
            plan: GOOD_PLAN.into(),
            target: Some(good_target.clone()),
            args: vec!["--only", "NOPE*"],
            expect: vec!["no item matches the selection", "cannot pass"],
        },
    ];
    assert!(cases.len() >= 12);
    let mut failures = Vec::new();
    for c in &cases {
        let (code, stderr) = run_case(dir.path(), c);
        if code != Some(2) {
            failures.push(format!("{}: exit {code:?}\n{stderr}", c.name));
        }
        for e in &c.expect {
            if !stderr.contains(e) {
                failures.push(format!("{}: stderr lacks {e:?}\n{stderr}", c.name));
            }
        }
        if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
            failures.push(format!("{}: panic\n{stderr}", c.name));
        }
        if c.target.is_some() && dir.path().join("out").exists() {
            failures.push(format!(
                "{}: reports were written although nothing may run",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}

#[test]
fn missing_and_non_utf8_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["validate", "--plan"])
        .arg(dir.path().join("absent.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot read plan file") && err.contains("built-in plan"),
        "{err}"
    );
    let bin_plan = dir.path().join("binary.yaml");
    std::fs::write(&bin_plan, [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let out = bin()
        .args(["validate", "--plan"])
        .arg(&bin_plan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not UTF-8"));
}

#[test]
fn an_error_message_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.yaml");
    std::fs::write(
        &plan,
        GOOD_PLAN.replace("refs: [OIDD-4-1]", "refs: [OIDD-4-1, FAPI2-SP-5.3.2.1-99]"),
    )
    .unwrap();
    let out = bin()
        .current_dir(dir.path())
        .args(["validate", "--plan", "plan.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr));
}
