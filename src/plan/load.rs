//! Loading a plan: YAML with line:col diagnostics, then semantic checks that need no network.
//!
//! All problems are collected and reported together. Unknown step, check and variant names are
//! rejected by the YAML layer (closed enums); this file adds what types cannot say.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_saphyr::Spanned;

use super::model::{Item, Plan, VariantMatrix};
use crate::catalogue;
use crate::error::{Diagnostic, InputError, read_input, yaml_diagnostic};

/// A plan that passed validation, with where it came from.
#[derive(Debug)]
pub struct LoadedPlan {
    pub plan: Plan,
    pub file: PathBuf,
}

/// Plans compiled into the binary, so it runs with nothing else installed.
pub const BUILTIN: &[(&str, &str)] = &[(
    "fapi2-security-profile",
    include_str!("../../test-plans/fapi2-security-profile.yaml"),
)];

/// Loads a plan file, or a built-in plan by name when no such file exists.
pub fn load_plan(path: &Path) -> Result<LoadedPlan, InputError> {
    let name = path.to_string_lossy();
    let builtin = BUILTIN
        .iter()
        .find(|(n, _)| *n == name || format!("test-plans/{n}.yaml") == name);
    let source = match builtin {
        Some((_, src)) if !path.exists() => (*src).to_owned(),
        _ => read_input(path, "plan").map_err(|d| {
            let names: Vec<&str> = BUILTIN.iter().map(|(n, _)| *n).collect();
            d.hint(format!(
                "give a plan file, or a built-in plan: {}",
                names.join(", ")
            ))
        })?,
    };
    let plan: Plan = serde_saphyr::from_str(&source)
        .map_err(|e| InputError::one(yaml_diagnostic(&e, path, &source, "plan")))?;
    let problems = validate(&plan, path, &source);
    if problems.is_empty() {
        Ok(LoadedPlan {
            plan,
            file: path.to_path_buf(),
        })
    } else {
        Err(InputError {
            diagnostics: problems,
        })
    }
}

fn at<T>(s: &Spanned<T>, d: Diagnostic, file: &Path, source: &str) -> Diagnostic {
    d.at(
        file,
        s.referenced.line(),
        s.referenced.column(),
        Some(source),
    )
}

fn validate(plan: &Plan, file: &Path, source: &str) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    if plan.items.is_empty() {
        problems.push(
            Diagnostic::new("plan has no items")
                .in_file(file)
                .hint("add at least one entry under `items:`"),
        );
    }
    let mut seen: HashMap<String, u64> = HashMap::new();
    for item in &plan.items {
        validate_item(plan, item, file, source, &mut seen, &mut problems);
    }
    problems
}

fn validate_item(
    plan: &Plan,
    item: &Item,
    file: &Path,
    source: &str,
    seen: &mut HashMap<String, u64>,
    problems: &mut Vec<Diagnostic>,
) {
    let id = item.id.value.as_str();
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        problems.push(
            at(
                &item.id,
                Diagnostic::new(format!("item id `{id}` is empty or has white space")),
                file,
                source,
            )
            .hint("ids are catalogue-style tokens, e.g. FAPI2-SP-5.3.2.1-1"),
        );
    }
    if let Some(first_line) = seen.get(id) {
        problems.push(
            at(&item.id, Diagnostic::new(format!("duplicate item id `{id}`")), file, source)
                .hint(format!("ids must be unique; the first use is on line {first_line}. Add a suffix such as `{id}/array-aud`")),
        );
    } else {
        seen.insert(id.to_owned(), item.id.referenced.line());
    }
    if item.refs.is_empty() {
        problems.push(at(&item.id, Diagnostic::new(format!("item `{id}` has no refs")), file, source)
            .hint("every item cites at least one requirement id from the catalogue (shared/requirements.md)"));
    }
    for r in &item.refs {
        if catalogue::get(&r.value).is_none() {
            let similar = catalogue::similar(&r.value, 3);
            let hint = if similar.is_empty() {
                "refs must be ids from the requirement catalogue; `fapi-harness explain ID` shows one".to_owned()
            } else {
                format!("did you mean {}?", similar.join(", "))
            };
            problems.push(
                at(
                    r,
                    Diagnostic::new(format!(
                        "unknown requirement id `{}` in refs of `{id}`",
                        r.value
                    )),
                    file,
                    source,
                )
                .hint(hint),
            );
        }
    }
    if item.title.trim().is_empty() {
        problems.push(
            at(
                &item.id,
                Diagnostic::new(format!("item `{id}` has an empty title")),
                file,
                source,
            )
            .hint("give a one-line title"),
        );
    }
    if let Some(problem) = applies_outside_matrix(&item.applies, &plan.variants) {
        problems.push(
            at(
                &item.id,
                Diagnostic::new(format!("item `{id}`: {problem}")),
                file,
                source,
            )
            .hint("`applies` may only narrow the plan's `variants`; otherwise the item never runs"),
        );
    }
    if item.flow.is_empty() {
        problems.push(
            at(
                &item.id,
                Diagnostic::new(format!("item `{id}` has an empty flow")),
                file,
                source,
            )
            .hint("list the steps the item sends, e.g. `- discovery: {}`"),
        );
    }
    if item.expect.is_empty() {
        problems.push(
            at(
                &item.id,
                Diagnostic::new(format!("item `{id}` has no checks under expect")),
                file,
                source,
            )
            .hint("an item without a check can never fail; add at least one"),
        );
    }
    for step in &item.flow {
        if let crate::fapi::step::Step::Samples(sm) = &step.value
            && !(crate::checks::MIN_SAMPLES..=MAX_SAMPLES).contains(&sm.count)
        {
            problems.push(
                at(
                    step,
                    Diagnostic::new(format!(
                        "item `{id}`: samples count {} is outside {}..={MAX_SAMPLES}",
                        sm.count,
                        crate::checks::MIN_SAMPLES
                    )),
                    file,
                    source,
                )
                .hint("fewer samples cannot be judged; more only add flows and evidence"),
            );
        }
    }
    let kinds: Vec<_> = item.flow.iter().map(|s| s.value.kind()).collect();
    for check in &item.expect {
        for needed in check
            .value
            .needs_steps()
            .into_iter()
            .filter(|k| !kinds.contains(k))
        {
            problems.push(
                at(
                    check,
                    Diagnostic::new(format!(
                        "check `{}` in `{id}` needs a `{}` step in the flow",
                        check.value.name(),
                        needed.as_str()
                    )),
                    file,
                    source,
                )
                .hint(format!(
                    "add `- {}` to the item's flow, or drop the check",
                    needed.as_str()
                )),
            );
        }
    }
    let none_requested = item.expect.iter().all(|c| c.value.needs_steps().is_empty());
    if none_requested
        && !kinds
            .iter()
            .any(|k| *k != crate::fapi::step::StepKind::Wait)
    {
        problems.push(
            at(
                &item.id,
                Diagnostic::new(format!("item `{id}` sends no request")),
                file,
                source,
            )
            .hint("checks judge exchanges; add a discovery, fetch_jwks or request step"),
        );
    }
}

/// The most flows one `samples` step may run: each adds several exchanges to the evidence.
const MAX_SAMPLES: usize = 100;

fn applies_outside_matrix(applies: &VariantMatrix, matrix: &VariantMatrix) -> Option<String> {
    fn outside<T: PartialEq + Copy>(
        a: &[T],
        m: &[T],
        name: &str,
        show: impl Fn(T) -> &'static str,
    ) -> Option<String> {
        let bad: Vec<&str> = a
            .iter()
            .copied()
            .filter(|v| !m.contains(v))
            .map(&show)
            .collect();
        (!bad.is_empty()).then(|| {
            format!(
                "applies.{name} names {} which the plan's variants do not include",
                bad.join(", ")
            )
        })
    }
    outside(
        &applies.client_auth,
        &matrix.client_auth,
        "client_auth",
        |v| v.as_str(),
    )
    .or_else(|| {
        outside(
            &applies.sender_constraint,
            &matrix.sender_constraint,
            "sender_constraint",
            |v| v.as_str(),
        )
    })
    .or_else(|| outside(&applies.openid, &matrix.openid, "openid", |v| v.as_str()))
}
