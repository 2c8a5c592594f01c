//! The plan's `oidf:` values and docs/oidf-mapping.md agree with the OpenID Foundation module list
//! in data/oidf-fapi2-sp-modules.txt: every `oidf:` names a listed module, the document has one
//! row per module in list order, and each row's "items with this `oidf`" cell is what the plan says.

use std::collections::HashMap;
use std::path::Path;

use fapi_harness::plan::load_plan;

const PREFIX: &str = "fapi2-security-profile-final-";

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The module names of the list, in order (comments and blank lines skipped).
fn modules() -> Vec<String> {
    read("data/oidf-fapi2-sp-modules.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Module → the plan items naming it in `oidf:`, in plan order.
fn plan_oidf() -> HashMap<String, Vec<String>> {
    let loaded = load_plan(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("test-plans/fapi2-security-profile.yaml"),
    )
    .unwrap();
    let mut by_module: HashMap<String, Vec<String>> = HashMap::new();
    for item in &loaded.plan.items {
        if let Some(m) = &item.oidf {
            by_module
                .entry(m.clone())
                .or_default()
                .push(item.id.value.clone());
        }
    }
    by_module
}

#[test]
fn the_module_list_is_well_formed() {
    let list = modules();
    assert_eq!(list.len(), 68, "the Security Profile plan has 68 modules");
    let mut sorted = list.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), list.len(), "duplicate module names");
    assert!(list.iter().all(|m| m.starts_with(PREFIX)), "{list:?}");
}

#[test]
fn every_oidf_value_in_the_plan_is_a_listed_module() {
    let list = modules();
    let unknown: Vec<String> = plan_oidf()
        .into_keys()
        .filter(|m| !list.contains(m))
        .collect();
    assert!(
        unknown.is_empty(),
        "not modules of the FAPI 2.0 SP plan (data/oidf-fapi2-sp-modules.txt): {unknown:?}"
    );
}

#[test]
fn the_mapping_document_accounts_for_every_module_as_the_plan_says() {
    let doc = read("docs/oidf-mapping.md");
    let rows: Vec<Vec<String>> = doc
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_owned())
                .collect()
        })
        .collect();
    let documented: Vec<String> = rows
        .iter()
        .map(|r| format!("{PREFIX}{}", r[0].trim_matches('`')))
        .collect();
    assert_eq!(
        documented,
        modules(),
        "docs/oidf-mapping.md must have one row per module, in the list's order"
    );
    let oidf = plan_oidf();
    for (module, row) in documented.iter().zip(&rows) {
        assert_eq!(row.len(), 3, "{module}: three cells expected: {row:?}");
        let expected = match oidf.get(module) {
            Some(items) => items
                .iter()
                .map(|i| format!("`{i}`"))
                .collect::<Vec<_>>()
                .join(", "),
            None => "—".to_owned(),
        };
        assert_eq!(
            row[1], expected,
            "{module}: the \"items with this `oidf`\" cell must read: {expected}"
        );
        assert!(
            expected != "—" || !row[2].is_empty(),
            "{module}: no item names it, so the last cell must say why"
        );
    }
}
