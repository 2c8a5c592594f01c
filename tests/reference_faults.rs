//! Every reference fault is caught: `demo --strict --fault NAME` exits 1 and the items that
//! docs/reference-faults.md lists for it have the listed outcome; the conformant demo passes, with
//! and without DPoP nonces (faults about nonces switch nonce mode on themselves).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use support::bin;

/// The slow item that catches a lifetime fault; those runs include it with `--full` and run
/// nothing else, so a fault test costs one wait, not the whole plan's.
fn slow_item(fault: &str) -> Option<&'static str> {
    match fault {
        "code-lifetime-120s" => Some("FAPI2-SP-5.3.2.1-11"),
        "request-uri-never-expires" => Some("RFC9126-4-2"),
        "rs-accepts-expired-tokens" => Some("FAPI2-SP-5.3.4-3/expired-token"),
        _ => None,
    }
}

/// The outcomes of item `id` in every variant it ran in.
fn outcomes_of<'a>(report: &'a serde_json::Value, id: &str) -> Vec<&'a str> {
    report["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["key"]["id"] == id)
                .filter_map(|r| r["outcome"].as_str())
                .collect()
        })
        .unwrap_or_default()
}

/// (fault, [(outcome, item id)]) rows of the table in docs/reference-faults.md.
fn documented_faults() -> BTreeMap<String, Vec<(String, String)>> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reference-faults.md"),
    )
    .unwrap();
    let mut out = BTreeMap::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let fault = cells[1].trim_matches('`').to_owned();
        let caught = cells[3]
            .split("<br>")
            .filter_map(|c| {
                let (outcome, id) = c.trim().split_once(' ')?;
                Some((outcome.to_owned(), id.trim_matches('`').to_owned()))
            })
            .collect();
        out.insert(fault, caught);
    }
    out
}

fn demo(out: &Path, args: &[&str]) -> (i32, serde_json::Value, String) {
    let o = bin()
        .arg("demo")
        .arg("--quiet")
        .arg("--out")
        .arg(out)
        .args(args)
        .output()
        .unwrap();
    let report = std::fs::read_to_string(out.join("report.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(serde_json::Value::Null);
    (
        o.status.code().unwrap_or(-1),
        report,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn every_listed_fault_is_documented_and_caught() {
    let listed = bin().args(["reference", "--list-faults"]).output().unwrap();
    assert!(listed.status.success());
    let listed: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .map(|l| {
            let (name, desc) = l.split_once('\t').expect("name<TAB>description");
            assert!(!desc.is_empty(), "{name} has no description");
            name.to_owned()
        })
        .collect();
    let table = documented_faults();
    let documented: Vec<String> = table.keys().cloned().collect();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(
        sorted, documented,
        "--list-faults and docs/reference-faults.md must agree"
    );
    assert!(listed.len() >= 25);

    let dir = tempfile::tempdir().unwrap();
    // The lifetime faults mostly wait: each gets a thread of its own, so their waits overlap
    // with each other and with the rest. The rest run two at a time: each demo already runs its
    // items concurrently.
    let (slow, fast): (Vec<_>, Vec<_>) = table
        .into_iter()
        .partition(|(fault, _)| slow_item(fault).is_some());
    let work = Arc::new(Mutex::new(fast));
    let failures = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for (fault, caught) in slow {
        let failures = failures.clone();
        let base = dir.path().to_path_buf();
        threads.push(std::thread::spawn(move || {
            let found = check_fault(&base, &fault, &caught);
            failures.lock().unwrap().extend(found);
        }));
    }
    for _ in 0..2 {
        let work = work.clone();
        let failures = failures.clone();
        let base = dir.path().to_path_buf();
        threads.push(std::thread::spawn(move || {
            loop {
                let Some((fault, caught)) = work.lock().unwrap().pop() else {
                    break;
                };
                let found = check_fault(&base, &fault, &caught);
                failures.lock().unwrap().extend(found);
            }
        }));
    }
    for t in threads {
        t.join().unwrap();
    }
    let failures = failures.lock().unwrap();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs the demo with `fault` and says how the outcomes differ from the table's row `caught`.
fn check_fault(base: &Path, fault: &str, caught: &[(String, String)]) -> Vec<String> {
    let out = base.join(fault);
    let mut args = vec!["--strict", "--fault", fault];
    // Lifetime faults need the 65 s wait of a slow item.
    if let Some(item) = slow_item(fault) {
        args.extend(["--full", "--only", item]);
    } else {
        // Only the catching items: the test asserts nothing of the others, and the whole plan
        // for every fault took minutes of CI. The table itself comes from whole-plan runs
        // (scripts/gen-fault-table.py).
        for (_, id) in caught {
            args.extend(["--only", id.as_str()]);
        }
    }
    let (code, report, stderr) = demo(&out, &args);
    let mut f = Vec::new();
    if code != 1 {
        f.push(format!("{fault}: exit {code}\n{stderr}"));
    }
    if caught.is_empty() {
        f.push(format!("{fault}: the table lists no catching item"));
    }
    // A fault may show in some variants only (e.g. DPoP faults): one is enough.
    for (outcome, id) in caught {
        let got = outcomes_of(&report, id);
        if !got.contains(&outcome.as_str()) {
            f.push(format!(
                "{fault}: {id} was {got:?}, expected {outcome} in some variant"
            ));
        }
    }
    f
}

/// Items that judge how a server uses DPoP nonces (RFC 9449 §8, §9, §11.3): against a server
/// that provides none they SKIP, and the plain demo provides none.
const NONCE_ITEMS: &[&str] = &[
    "RFC9449-8-1",
    "RFC9449-9-1",
    "RFC9449-8-2",
    "RFC9449-8-2/rs",
    "RFC9449-8.1-1",
    "RFC9449-8.1-1/rs",
    "RFC9449-8-3",
    "RFC9449-4.3-10/rs",
    "RFC9449-11.3-1",
    "RFC9449-11.3-1/rs",
];

/// (id, reason) of every result with `outcome`.
fn results_with<'a>(report: &'a serde_json::Value, outcome: &str) -> Vec<(&'a str, &'a str)> {
    report["results"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .filter(|r| r["outcome"] == outcome)
                .map(|r| {
                    (
                        r["key"]["id"].as_str().unwrap_or_default(),
                        r["reason"].as_str().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn conformant_reference_passes_every_item() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = demo(&dir.path().join("fast"), &[]);
    assert_eq!(code, 0, "{stderr}");
    let stats = &report["stats"];
    assert_eq!(stats["fail"], 0, "{stderr}");
    assert_eq!(stats["error"], 0, "{stderr}");
    assert_eq!(stats["warn"], 0, "{stderr}");
    // The plain demo provides no DPoP nonces: exactly the nonce items SKIP, each saying so, in
    // every DPoP variant.
    let skipped = results_with(&report, "SKIP");
    for (id, reason) in &skipped {
        assert!(NONCE_ITEMS.contains(id), "{id} SKIPped: {reason}");
        assert!(reason.contains("nonce"), "{id}: {reason}");
    }
    for id in NONCE_ITEMS {
        assert_eq!(
            outcomes_of(&report, id),
            ["SKIP"; 4],
            "{id} in the four DPoP variants"
        );
    }
    assert!(stats["pass"].as_u64().unwrap() > 300, "{stats}");
    assert!(report["slow_excluded"].as_u64().unwrap() >= 1);
    assert!(stderr.contains("`demo --full` includes them"), "{stderr}");
    // The slow items pass too when included; their waits overlap.
    let slow = [
        "FAPI2-SP-5.3.2.1-11",
        "RFC9126-4-2",
        "FAPI2-SP-5.3.4-3/expired-token",
    ];
    let mut args = vec!["--full"];
    for id in slow {
        args.extend(["--only", id]);
    }
    let (code, report, stderr) = demo(&dir.path().join("slow"), &args);
    assert_eq!(code, 0, "{stderr}");
    for id in slow {
        let got = outcomes_of(&report, id);
        assert!(
            !got.is_empty() && got.iter().all(|o| *o == "PASS"),
            "{id}: {got:?}"
        );
    }
}

/// With DPoP nonces demanded at the AS and RS, every item passes, the nonce items included,
/// except the one about servers without nonces (RFC9449-11.2-1), which SKIPs.
#[test]
fn conformant_reference_with_dpop_nonces_passes_every_item() {
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = demo(dir.path(), &["--dpop-nonce"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("demanding DPoP nonces"), "{stderr}");
    let stats = &report["stats"];
    for outcome in ["fail", "error", "warn"] {
        assert_eq!(stats[outcome], 0, "{outcome}: {stderr}");
    }
    let skipped: Vec<&str> = results_with(&report, "SKIP")
        .iter()
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(skipped, ["RFC9449-11.2-1"; 4], "{stderr}");
    assert!(stats["pass"].as_u64().unwrap() > 300, "{stats}");
    for id in NONCE_ITEMS {
        assert_eq!(outcomes_of(&report, id), ["PASS"; 4], "{id}");
    }
}

#[test]
fn unknown_fault_is_a_usage_error() {
    let o = bin()
        .args(["demo", "--fault", "pkce-not-requred"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("unknown fault `pkce-not-requred`") && err.contains("pkce-not-required"),
        "{err}"
    );
}
