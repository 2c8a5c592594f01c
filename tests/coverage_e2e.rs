//! `coverage` end to end: the shipped plan and explanations account for every in-scope
//! requirement (exit 0); an unexplained gap exits 1 and is named; stale or unknown explanations
//! are located input errors (exit 2).

mod support;

use std::path::{Path, PathBuf};

use support::bin;

const SHIPPED_PLAN: &str = "test-plans/fapi2-security-profile.yaml";
const SHIPPED_EXPLANATIONS: &str = "test-plans/fapi2-security-profile.coverage.yaml";

fn manifest(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn coverage(args: &[&str]) -> (i32, String, String) {
    let out = bin()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("coverage")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The shipped explanations with `edit` applied to their lines, written to a temporary file.
fn edited_explanations(dir: &Path, edit: impl Fn(Vec<String>) -> Vec<String>) -> PathBuf {
    let text = std::fs::read_to_string(manifest(SHIPPED_EXPLANATIONS)).unwrap();
    let lines = edit(text.lines().map(str::to_owned).collect());
    let path = dir.join("edited.coverage.yaml");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn the_shipped_plan_accounts_for_every_in_scope_requirement() {
    for plan in ["fapi2-security-profile", SHIPPED_PLAN] {
        let (code, stdout, stderr) = coverage(&["--plan", plan]);
        assert_eq!(code, 0, "{plan}: {stdout}\n{stderr}");
        assert!(stdout.contains(" 0 missing"), "{plan}: {stdout}");
        assert!(
            stdout.contains(&format!("explanations: {SHIPPED_EXPLANATIONS}")),
            "{plan}: {stdout}"
        );
        assert!(
            stdout.contains("COVERED    FAPI2-SP-5.3.2.2-2"),
            "{plan}: {stdout}"
        );
        assert!(stdout.contains("EXPLAINED  FAPI2-SP-5.2.1-1.b"), "{stdout}");
        assert!(!stdout.contains("MISSING"), "{stdout}");
    }
}

#[test]
fn json_output_has_consistent_totals() {
    let (code, stdout, stderr) =
        coverage(&["--plan", "fapi2-security-profile", "--format", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let t = &v["totals"];
    let rows = v["requirements"].as_array().unwrap();
    assert_eq!(t["in_scope"].as_u64().unwrap() as usize, rows.len());
    for status in ["covered", "explained", "missing"] {
        let n = rows.iter().filter(|r| r["status"] == status).count();
        assert_eq!(t[status].as_u64().unwrap() as usize, n, "{status}");
    }
    assert_eq!(t["missing"], 0);
    let happy = rows
        .iter()
        .find(|r| r["id"] == "FAPI2-SP-5.3.2.2-2")
        .unwrap();
    assert_eq!(happy["status"], "covered");
    assert!(
        happy["items"]
            .as_array()
            .unwrap()
            .contains(&"FAPI2-SP-5.3.2.2-2".into())
    );
    // RFC 9700 rows are in scope only when cited, and the shipped plan cites none.
    assert!(
        rows.iter()
            .all(|r| !r["id"].as_str().unwrap().starts_with("RFC9700-"))
    );
}

#[test]
fn an_unexplained_gap_exits_1_and_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let gap = "FAPI2-SP-5.2.1-4";
    let expl = edited_explanations(dir.path(), |lines| {
        lines
            .into_iter()
            .filter(|l| !l.trim_start().starts_with(&format!("{gap}:")))
            .collect()
    });
    let (code, stdout, stderr) = coverage(&[
        "--plan",
        SHIPPED_PLAN,
        "--explanations",
        expl.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains(&format!("MISSING    {gap}")), "{stdout}");
    assert!(stdout.contains(" 1 missing"), "{stdout}");
    assert!(stderr.contains(gap), "{stderr}");
    assert!(stderr.contains("neither covered nor explained"), "{stderr}");

    // A plan of its own, with no explanations next to it: every uncovered id is MISSING.
    let plan = dir.path().join("mine.yaml");
    std::fs::write(
        &plan,
        "plan: mine\ntitle: M\nspec: S\nprofile: fapi2-security-profile\nitems:\n  - id: A\n    title: a\n    level: must\n    refs: [OIDD-4-1]\n    flow: [ { discovery: {} } ]\n    expect: [ issuer_matches ]\n",
    )
    .unwrap();
    let (code, stdout, stderr) = coverage(&["--plan", plan.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    assert!(stdout.contains("explanations: none"), "{stdout}");
    assert!(stdout.contains("COVERED    OIDD-4-1"), "{stdout}");
    assert!(stdout.contains("MISSING    FAPI2-SP-5.2.3-3"), "{stdout}");
    assert!(stderr.contains("mine.coverage.yaml"), "{stderr}");
}

#[test]
fn stale_and_unknown_explanations_are_located_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let expl = edited_explanations(dir.path(), |mut lines| {
        lines.push("  FAPI2-SP-5.3.2.1-1: \"no longer true\"".to_owned());
        lines.push("  FAPI2-SP-5.3.2.1-99: \"typo\"".to_owned());
        lines.push("  RFC9700-2.1-1: \"not in scope\"".to_owned());
        lines
    });
    let stale_line = std::fs::read_to_string(&expl).unwrap().lines().count() - 2;
    let (code, stdout, stderr) = coverage(&[
        "--plan",
        "fapi2-security-profile",
        "--explanations",
        expl.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stdout.is_empty(),
        "nothing is reported on an input error: {stdout}"
    );
    assert!(
        stderr.contains(
            "stale explanation: `FAPI2-SP-5.3.2.1-1` is covered by FAPI2-SP-5.3.2.1-1, RFC8414-3-1"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("edited.coverage.yaml:{stale_line}:3")),
        "{stderr}"
    );
    assert!(
        stderr.contains("`FAPI2-SP-5.3.2.1-99`, which is not in the requirement catalogue"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean"), "{stderr}");
    assert!(
        stderr.contains("`RFC9700-2.1-1` is not in scope for profile fapi2-security-profile"),
        "{stderr}"
    );
    assert!(stderr.contains("3 problems found"), "{stderr}");
}

#[test]
fn malformed_or_absent_explanations_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.coverage.yaml");
    std::fs::write(&bad, "not_covered:\n  OIDD-4-1: x\nnotes: y\n").unwrap();
    let (code, _, stderr) = coverage(&[
        "--plan",
        "fapi2-security-profile",
        "--explanations",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("unknown field `notes`"), "{stderr}");
    assert!(stderr.contains("bad.coverage.yaml:3:1"), "{stderr}");
    assert!(stderr.contains("docs/plan-format.md"), "{stderr}");

    let absent = dir.path().join("absent.yaml");
    let (code, _, stderr) = coverage(&[
        "--plan",
        "fapi2-security-profile",
        "--explanations",
        absent.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot read coverage explanations file"),
        "{stderr}"
    );
}
