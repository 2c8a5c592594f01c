//! `coverage`: which catalogue requirements a plan covers, which it explains away, which it misses.
//!
//! A plan's profile puts a set of catalogue rows *in scope* ([`SCOPES`]). Each in-scope id is
//! COVERED when a plan item cites it in `refs`, EXPLAINED when the explanations file says why no
//! item does, and MISSING otherwise; any MISSING id fails the command (exit 1). Explanations are
//! checked as strictly as plans: one for an id the plan covers, or that is not in scope or not in
//! the catalogue, is an input error (exit 2), so stale entries cannot linger.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

use crate::catalogue::{self, Requirement};
use crate::error::{Diagnostic, InputError, exit, read_input, yaml_diagnostic_in};
use crate::plan::{BUILTIN, Plan, Profile, load_plan};

/// Which catalogue rows a profile's plan must account for, besides every id the plan cites
/// (a plan that claims a requirement is answerable for it, whatever its spec).
#[derive(Debug)]
pub struct ScopeRule {
    /// The profile the rule is for.
    pub profile: Profile,
    /// Specs whose rows are in scope: the `<SPEC>` part of `<SPEC>-<clause>-<item>` ids.
    pub specs: &'static [&'static str],
    /// Values of the catalogue's `testable` column that put such a row in scope.
    pub testable: &'static [&'static str],
}

/// The scope rules, one per profile that has one (issue 5).
///
/// FAPI 2.0 SP: the profile's own rows and those of the specs it makes the AS implement (PAR,
/// PKCE, `iss`, DPoP, mTLS, metadata), where a black-box tester can decide them (`yes`) or some of
/// them (`partly`). RFC 9700 and OIDC Core rows are in scope only when the plan cites them: most
/// of RFC 9700 restates what FAPI 2.0 already requires, and OIDC Core applies only to the
/// `openid` variant.
pub const SCOPES: &[ScopeRule] = &[ScopeRule {
    profile: Profile::Fapi2SecurityProfile,
    specs: &[
        "FAPI2-SP", "RFC9126", "RFC7636", "RFC9207", "RFC9449", "RFC8705", "RFC8414", "OIDD",
    ],
    testable: &["yes", "partly"],
}];

/// Explanations compiled into the binary, next to the built-in plans of the same name.
pub const BUILTIN_EXPLANATIONS: &[(&str, &str)] = &[(
    "fapi2-security-profile",
    include_str!("../test-plans/fapi2-security-profile.coverage.yaml"),
)];

/// Where diagnostics send readers for the explanations format.
const FORMAT_DOC: &str = "docs/plan-format.md (section Coverage)";

impl ScopeRule {
    /// The rule for `profile`, if it has one.
    pub fn of(profile: Profile) -> Option<&'static ScopeRule> {
        SCOPES.iter().find(|r| r.profile == profile)
    }

    /// Whether the rule itself (not a citation) puts `req` in scope.
    pub fn admits(&self, req: &Requirement) -> bool {
        self.testable.contains(&req.testable.as_str())
            && self.specs.iter().any(|spec| {
                req.id
                    .strip_prefix(spec)
                    .is_some_and(|rest| rest.starts_with('-'))
            })
    }
}

/// The catalogue rows in scope for a plan: those the rule admits plus those the plan cites, in
/// catalogue order.
pub fn in_scope<'a>(
    rule: &ScopeRule,
    rows: &'a [Requirement],
    cited: &HashSet<&str>,
) -> Vec<&'a Requirement> {
    rows.iter()
        .filter(|r| rule.admits(r) || cited.contains(r.id.as_str()))
        .collect()
}

/// The explanations file: why the plan covers some in-scope ids with no item.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplanationsFile {
    /// Catalogue id → reason.
    not_covered: IndexMap<Spanned<String>, String>,
}

/// Loaded explanations, with where they came from for located diagnostics.
#[derive(Debug, Default)]
pub struct Explanations {
    /// The file they came from; `None` when there is none (every uncovered id is MISSING).
    pub file: Option<PathBuf>,
    source: String,
    entries: Vec<(Spanned<String>, String)>,
}

impl Explanations {
    /// Parses explanations from `source`; `file` names it in diagnostics.
    pub fn parse(file: &Path, source: String) -> Result<Explanations, InputError> {
        let parsed: ExplanationsFile = serde_saphyr::from_str(&source).map_err(|e| {
            InputError::one(yaml_diagnostic_in(
                &e,
                file,
                &source,
                "coverage explanations",
                FORMAT_DOC,
            ))
        })?;
        Ok(Explanations {
            file: Some(file.to_path_buf()),
            source,
            entries: parsed.not_covered.into_iter().collect(),
        })
    }

    fn at(&self, id: &Spanned<String>, d: Diagnostic) -> Diagnostic {
        match &self.file {
            Some(f) => d.at(
                f,
                id.referenced.line(),
                id.referenced.column(),
                Some(&self.source),
            ),
            None => d,
        }
    }
}

/// The default explanations for a plan argument: `<plan>.coverage.yaml` next to a plan file, or
/// the compiled-in explanations of a built-in plan (found the way `load_plan` finds the plan).
/// `Ok(None)` when there are none.
pub fn default_explanations(plan: &Path) -> Result<Option<Explanations>, InputError> {
    let name = plan.to_string_lossy();
    let builtin = BUILTIN
        .iter()
        .find(|(n, _)| *n == name || format!("test-plans/{n}.yaml") == name)
        .and_then(|(n, _)| BUILTIN_EXPLANATIONS.iter().find(|(e, _)| e == n));
    if let Some((n, src)) = builtin
        && !plan.exists()
    {
        let shown = PathBuf::from(format!("test-plans/{n}.coverage.yaml"));
        return Explanations::parse(&shown, (*src).to_owned()).map(Some);
    }
    let path = plan.with_extension("coverage.yaml");
    if path.exists() {
        load_explanations(&path).map(Some)
    } else {
        Ok(None)
    }
}

/// Reads and parses an explanations file.
pub fn load_explanations(path: &Path) -> Result<Explanations, InputError> {
    let source = read_input(path, "coverage explanations")?;
    Explanations::parse(path, source)
}

/// How one in-scope requirement is accounted for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Status {
    /// Cited by these plan items.
    Covered {
        /// Item ids, in plan order.
        items: Vec<String>,
    },
    /// No item cites it, for this reason.
    Explained {
        /// The explanations file's reason.
        reason: String,
    },
    /// Neither cited nor explained.
    Missing,
}

/// One in-scope requirement and its status.
#[derive(Debug, Serialize)]
pub struct Row {
    /// The catalogue id.
    pub id: String,
    /// SHALL, SHOULD, …
    pub level: String,
    /// yes, partly or no.
    pub testable: String,
    /// The catalogue's paraphrase.
    pub requirement: String,
    /// Covered, explained or missing.
    #[serde(flatten)]
    pub status: Status,
}

/// Counts per status.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Requirements in scope.
    pub in_scope: usize,
    /// Cited by at least one item.
    pub covered: usize,
    /// Explained in the explanations file.
    pub explained: usize,
    /// Neither.
    pub missing: usize,
}

/// The result of `coverage`: every in-scope requirement in catalogue order, with totals.
#[derive(Debug, Serialize)]
pub struct Coverage {
    /// The plan's machine name.
    pub plan: String,
    /// The plan's profile.
    pub profile: String,
    /// The explanations file, if there was one.
    pub explanations: Option<PathBuf>,
    /// Counts per status.
    pub totals: Totals,
    /// Every in-scope requirement.
    pub requirements: Vec<Row>,
}

/// Classifies every in-scope requirement of `plan`. Stale explanations (for an id the plan
/// covers, that is out of scope, or that the catalogue lacks) are errors, all reported together.
pub fn classify(
    plan: &Plan,
    rule: &ScopeRule,
    rows: &[Requirement],
    explanations: &Explanations,
) -> Result<Coverage, InputError> {
    let mut covered_by: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for item in &plan.items {
        for r in &item.refs {
            let items = covered_by.entry(r.value.as_str()).or_default();
            // An item citing an id twice still covers it once.
            if !items.contains(&item.id.value) {
                items.push(item.id.value.clone());
            }
        }
    }
    let cited: HashSet<&str> = covered_by.keys().copied().collect();
    let scope = in_scope(rule, rows, &cited);
    let scope_ids: HashSet<&str> = scope.iter().map(|r| r.id.as_str()).collect();

    let mut problems = Vec::new();
    let mut reasons: BTreeMap<&str, &str> = BTreeMap::new();
    for (id, reason) in &explanations.entries {
        let id_str = id.value.as_str();
        let problem = if let Some(items) = covered_by.get(id_str) {
            Some(
                Diagnostic::new(format!(
                    "stale explanation: `{id_str}` is covered by {}",
                    items.join(", ")
                ))
                .hint("remove the entry; the plan now tests this requirement"),
            )
        } else if !rows.iter().any(|r| r.id == id.value) {
            let similar = catalogue::similar(id_str, 3);
            Some(
                Diagnostic::new(format!(
                    "explanation for `{id_str}`, which is not in the requirement catalogue"
                ))
                .hint(if similar.is_empty() {
                    "explanations name catalogue ids; `fapi-harness explain ID` shows one"
                        .to_owned()
                } else {
                    format!("did you mean {}?", similar.join(", "))
                }),
            )
        } else if !scope_ids.contains(id_str) {
            Some(
                Diagnostic::new(format!(
                    "stale explanation: `{id_str}` is not in scope for profile {}",
                    plan.profile.as_str()
                ))
                .hint("remove the entry; only in-scope requirements need an explanation"),
            )
        } else if reason.trim().is_empty() {
            Some(
                Diagnostic::new(format!("explanation for `{id_str}` has an empty reason"))
                    .hint("say why no plan item covers it"),
            )
        } else {
            None
        };
        match problem {
            Some(d) => problems.push(explanations.at(id, d)),
            None => {
                reasons.insert(id_str, reason.trim());
            }
        }
    }
    if !problems.is_empty() {
        return Err(InputError {
            diagnostics: problems,
        });
    }

    let mut totals = Totals {
        in_scope: scope.len(),
        ..Totals::default()
    };
    let requirements = scope
        .into_iter()
        .map(|r| {
            let status = if let Some(items) = covered_by.get(r.id.as_str()) {
                totals.covered += 1;
                Status::Covered {
                    items: items.clone(),
                }
            } else if let Some(reason) = reasons.get(r.id.as_str()) {
                totals.explained += 1;
                Status::Explained {
                    reason: (*reason).to_owned(),
                }
            } else {
                totals.missing += 1;
                Status::Missing
            };
            Row {
                id: r.id.clone(),
                level: r.level.clone(),
                testable: r.testable.clone(),
                requirement: r.requirement.clone(),
                status,
            }
        })
        .collect();
    Ok(Coverage {
        plan: plan.plan.clone(),
        profile: plan.profile.as_str().to_owned(),
        explanations: explanations.file.clone(),
        totals,
        requirements,
    })
}

/// Output format of `coverage`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per requirement, then the totals.
    #[default]
    Text,
    /// One JSON document: the totals and one entry per requirement.
    Json,
}

/// Renders the text report: one line per requirement, then the totals.
pub fn render_text(c: &Coverage, rule: &ScopeRule) -> String {
    let mut out = format!(
        "{}: requirements in scope for profile {} ({} rows testable {}, and every id the plan cites)\n",
        c.plan,
        c.profile,
        rule.specs.join(", "),
        rule.testable.join("/"),
    );
    out.push_str(&match &c.explanations {
        Some(f) => format!("explanations: {}\n\n", f.display()),
        None => "explanations: none\n\n".to_owned(),
    });
    let width = c.requirements.iter().map(|r| r.id.len()).max().unwrap_or(0);
    for r in &c.requirements {
        let (label, detail) = match &r.status {
            Status::Covered { items } => ("COVERED", format!("by {}", items.join(", "))),
            Status::Explained { reason } => ("EXPLAINED", reason.clone()),
            Status::Missing => ("MISSING", r.requirement.clone()),
        };
        out.push_str(&format!("{label:<9}  {:<width$}  {detail}\n", r.id));
    }
    let t = &c.totals;
    out.push_str(&format!(
        "\n{} in scope: {} covered, {} explained, {} missing\n",
        t.in_scope, t.covered, t.explained, t.missing
    ));
    out
}

/// The `coverage` command: loads the plan and the explanations (both files' problems together),
/// prints the report and returns exit code 1 when any in-scope requirement is MISSING.
pub fn command(
    plan: &Path,
    explanations: Option<&Path>,
    format: Format,
) -> Result<i32, InputError> {
    let loaded = load_plan(plan);
    let expl = match explanations {
        Some(p) => load_explanations(p),
        None => default_explanations(plan).map(Option::unwrap_or_default),
    };
    let (loaded, expl) = match (loaded, expl) {
        (Ok(p), Ok(e)) => (p, e),
        (Err(mut a), Err(b)) => {
            a.diagnostics.extend(b.diagnostics);
            return Err(a);
        }
        (Err(a), _) | (_, Err(a)) => return Err(a),
    };
    let profile = loaded.plan.profile;
    let rule = ScopeRule::of(profile).ok_or_else(|| {
        let known: Vec<&str> = SCOPES.iter().map(|r| r.profile.as_str()).collect();
        InputError::one(
            Diagnostic::new(format!(
                "coverage has no scope rule for profile {}",
                profile.as_str()
            ))
            .in_file(&loaded.file)
            .hint(format!(
                "scope rules exist for {}; see SCOPES in src/coverage.rs",
                known.join(", ")
            )),
        )
    })?;
    let coverage = classify(&loaded.plan, rule, catalogue::all(), &expl)?;
    let mut out = anstream::stdout();
    let _ = match format {
        Format::Text => write!(out, "{}", render_text(&coverage, rule)),
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&coverage).unwrap_or_default()
        ),
    };
    if coverage.totals.missing == 0 {
        return Ok(exit::OK);
    }
    let missing: Vec<&str> = coverage
        .requirements
        .iter()
        .filter(|r| r.status == Status::Missing)
        .map(|r| r.id.as_str())
        .collect();
    let target = match &coverage.explanations {
        Some(f) => f.display().to_string(),
        None => plan.with_extension("coverage.yaml").display().to_string(),
    };
    let mut err = anstream::stderr();
    let _ = writeln!(
        err,
        "error: {} in-scope requirement(s) neither covered nor explained: {}\nhint: cite them in a plan item's refs, or say why no item covers them in {target}",
        missing.len(),
        missing.join(", ")
    );
    Ok(exit::FAILED)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(id: &str, testable: &str) -> Requirement {
        serde_json::from_value(serde_json::json!({
            "id": id, "level": "SHALL", "requirement": format!("{id} text"),
            "testable": testable, "how": "", "section": "s"
        }))
        .unwrap()
    }

    fn rows() -> Vec<Requirement> {
        vec![
            req("FAPI2-SP-1-1", "yes"),
            req("FAPI2-SP-1-2", "partly"),
            req("FAPI2-SP-1-3", "no"),
            req("FAPI2-MS-1-1", "yes"),
            req("RFC9449-1-1", "yes"),
            req("RFC9700-1-1", "yes"),
            req("OIDC-1-1", "yes"),
            req("OIDD-1-1", "yes"),
            req("RFC91260-1-1", "yes"),
        ]
    }

    const RULE: ScopeRule = ScopeRule {
        profile: Profile::Fapi2SecurityProfile,
        specs: &["FAPI2-SP", "RFC9449", "OIDD", "RFC9126"],
        testable: &["yes", "partly"],
    };

    fn plan(refs: &[&[&str]]) -> Plan {
        let mut yaml =
            "plan: p\ntitle: P\nspec: S\nprofile: fapi2-security-profile\nitems:\n".to_owned();
        for (i, r) in refs.iter().enumerate() {
            yaml.push_str(&format!(
                "  - id: I{i}\n    title: t\n    level: must\n    refs: [{}]\n    flow: [ {{ discovery: {{}} }} ]\n    expect: [ issuer_matches ]\n",
                r.join(", ")
            ));
        }
        serde_saphyr::from_str(&yaml).unwrap()
    }

    fn explanations(yaml: &str) -> Explanations {
        Explanations::parse(Path::new("e.coverage.yaml"), yaml.to_owned()).unwrap()
    }

    fn ids(v: &[&Requirement]) -> Vec<String> {
        v.iter().map(|r| r.id.clone()).collect()
    }

    #[test]
    fn scope_takes_testable_rows_of_listed_specs_and_cited_ids() {
        let rows = rows();
        let none = HashSet::new();
        assert_eq!(
            ids(&in_scope(&RULE, &rows, &none)),
            ["FAPI2-SP-1-1", "FAPI2-SP-1-2", "RFC9449-1-1", "OIDD-1-1"],
            "no `no` rows, no FAPI2-MS, RFC9700 or OIDC rows, and a prefix must end at a dash"
        );
        let cited: HashSet<&str> = ["RFC9700-1-1", "FAPI2-SP-1-3"].into_iter().collect();
        assert_eq!(
            ids(&in_scope(&RULE, &rows, &cited)),
            [
                "FAPI2-SP-1-1",
                "FAPI2-SP-1-2",
                "FAPI2-SP-1-3",
                "RFC9449-1-1",
                "RFC9700-1-1",
                "OIDD-1-1"
            ],
            "cited ids are in scope whatever their spec or testability, in catalogue order"
        );
    }

    #[test]
    fn the_fapi2_sp_rule_matches_issue_5() {
        let rule = ScopeRule::of(Profile::Fapi2SecurityProfile).unwrap();
        let scope = in_scope(rule, catalogue::all(), &HashSet::new());
        assert!(scope.iter().any(|r| r.id.starts_with("RFC8705-")));
        assert!(scope.iter().all(|r| r.testable != "no"));
        assert!(
            scope
                .iter()
                .all(|r| !r.id.starts_with("RFC9700-") && !r.id.starts_with("OIDC-"))
        );
        assert!(ScopeRule::of(Profile::Fapi1Advanced).is_none());
    }

    #[test]
    fn classifies_covered_explained_and_missing() {
        let p = plan(&[&["FAPI2-SP-1-1", "RFC9700-1-1"], &["FAPI2-SP-1-1"]]);
        let e = explanations("not_covered:\n  RFC9449-1-1: needs introspection\n");
        let c = classify(&p, &RULE, &rows(), &e).unwrap();
        let status: Vec<(&str, &Status)> = c
            .requirements
            .iter()
            .map(|r| (r.id.as_str(), &r.status))
            .collect();
        assert_eq!(
            status,
            [
                (
                    "FAPI2-SP-1-1",
                    &Status::Covered {
                        items: vec!["I0".into(), "I1".into()]
                    }
                ),
                ("FAPI2-SP-1-2", &Status::Missing),
                (
                    "RFC9449-1-1",
                    &Status::Explained {
                        reason: "needs introspection".into()
                    }
                ),
                (
                    "RFC9700-1-1",
                    &Status::Covered {
                        items: vec!["I0".into()]
                    }
                ),
                ("OIDD-1-1", &Status::Missing),
            ]
        );
        assert_eq!(
            c.totals,
            Totals {
                in_scope: 5,
                covered: 2,
                explained: 1,
                missing: 2
            }
        );
        let text = render_text(&c, &RULE);
        assert!(
            text.contains("MISSING    OIDD-1-1      OIDD-1-1 text"),
            "{text}"
        );
        assert!(text.contains("5 in scope: 2 covered, 1 explained, 2 missing"));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["requirements"][0]["status"], "covered");
        assert_eq!(json["requirements"][2]["reason"], "needs introspection");
        assert_eq!(json["totals"]["missing"], 2);
    }

    #[test]
    fn stale_and_unknown_explanations_are_located_errors() {
        let p = plan(&[&["FAPI2-SP-1-1"]]);
        let e = explanations(
            "not_covered:\n  FAPI2-SP-1-1: old\n  FAPI2-SP-1-9: typo\n  RFC9700-1-1: out of scope\n  OIDD-1-1: \" \"\n",
        );
        let err = classify(&p, &RULE, &rows(), &e).unwrap_err();
        let msgs: Vec<String> = err.diagnostics.iter().map(|d| d.message.clone()).collect();
        assert_eq!(msgs.len(), 4, "{msgs:?}");
        assert!(
            msgs[0].contains("`FAPI2-SP-1-1` is covered by I0"),
            "{msgs:?}"
        );
        assert!(msgs[1].contains("not in the requirement catalogue"));
        assert!(msgs[2].contains("not in scope"));
        assert!(msgs[3].contains("empty reason"));
        let loc = err.diagnostics[1].location.as_ref().unwrap();
        assert_eq!((loc.line, loc.column), (3, 3));
    }

    #[test]
    fn explanations_files_are_strict_yaml() {
        for (bad, expect) in [
            ("not_coverd: {}\n", "unknown field"),
            ("not_covered:\n  A: x\n  A: y\n", "duplicate"),
            ("not_covered:\n  A: [x]\n", "invalid coverage explanations"),
            ("{}\n", "missing field"),
        ] {
            let err = Explanations::parse(Path::new("e.yaml"), bad.to_owned()).unwrap_err();
            let text = err.to_string();
            assert!(text.contains(expect), "{bad:?}: {text}");
            assert!(text.contains("--> e.yaml:"), "{bad:?}: {text}");
        }
    }

    #[test]
    fn default_explanations_sit_next_to_the_plan() {
        let dir = tempfile::tempdir().unwrap();
        let plan = dir.path().join("my.yaml");
        assert!(default_explanations(&plan).unwrap().is_none());
        std::fs::write(dir.path().join("my.coverage.yaml"), "not_covered: {}\n").unwrap();
        let e = default_explanations(&plan).unwrap().unwrap();
        assert_eq!(e.file.unwrap(), dir.path().join("my.coverage.yaml"));
        let builtin = default_explanations(Path::new("fapi2-security-profile"))
            .unwrap()
            .unwrap();
        assert_eq!(
            builtin.file.unwrap(),
            Path::new("test-plans/fapi2-security-profile.coverage.yaml")
        );
    }

    #[test]
    fn profile_names_match_the_plan_format() {
        for p in [
            Profile::Fapi2SecurityProfile,
            Profile::Fapi2MessageSigning,
            Profile::Fapi1Advanced,
        ] {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
    }
}
