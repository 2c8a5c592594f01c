//! Outcomes: how an item's findings and its level become one verdict.
//!
//! The mapping lives here and only here, so that a check never picks FAIL or WARN itself.

use serde::Serialize;

use crate::checks::{Finding, FindingStatus};
use crate::plan::Level;

/// The verdict of one item in one variant (DESIGN.md, "An item's outcome").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    Warn,
    Skip,
    Review,
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Pass,
        Outcome::Fail,
        Outcome::Warn,
        Outcome::Skip,
        Outcome::Review,
        Outcome::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "PASS",
            Outcome::Fail => "FAIL",
            Outcome::Warn => "WARN",
            Outcome::Skip => "SKIP",
            Outcome::Review => "REVIEW",
            Outcome::Error => "ERROR",
        }
    }

    /// Whether this outcome makes the run exit 1. WARN does only under `--strict`.
    pub fn fails_run(self, strict: bool) -> bool {
        match self {
            Outcome::Fail | Outcome::Error => true,
            Outcome::Warn => strict,
            Outcome::Pass | Outcome::Skip | Outcome::Review => false,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Aggregates the findings of an item whose steps all ran.
///
/// Precedence: a violated `must` claim FAILs, because the violation is observed fact whatever
/// else could not be judged. Otherwise an inconclusive check (a prerequisite the target did not
/// provide, a request that got no answer) is ERROR: a verdict built on a missing premise would
/// be a false green. Then a violated `should` claim warns and a violated `may` claim only
/// informs. A soft deviation (rejected as required, but with a non-recommended error) warns. A
/// finding that needs a human makes the item REVIEW. An item with no finding at all is ERROR: a
/// check that checked nothing must not read as a pass.
pub fn aggregate(level: Level, findings: &[Finding]) -> (Outcome, String) {
    if findings.is_empty() {
        return (Outcome::Error, "no check produced a finding".to_owned());
    }
    let first = |status: FindingStatus| findings.iter().find(|f| f.status == status);
    let violated = first(FindingStatus::Violated);
    if let (Some(f), Level::Must) = (violated, level) {
        return (Outcome::Fail, f.message.clone());
    }
    if let Some(f) = first(FindingStatus::Inconclusive) {
        return (Outcome::Error, f.message.clone());
    }
    match (violated, level) {
        (Some(f), Level::Should) => return (Outcome::Warn, f.message.clone()),
        (Some(f), Level::May) => {
            return (
                Outcome::Pass,
                format!("informational (level may): {}", f.message),
            );
        }
        _ => {}
    }
    if let Some(f) = first(FindingStatus::Deviated) {
        return (Outcome::Warn, f.message.clone());
    }
    if let Some(f) = first(FindingStatus::Review) {
        return (Outcome::Review, f.message.clone());
    }
    if let Some(f) = first(FindingStatus::NotApplicable) {
        return (Outcome::Skip, f.message.clone());
    }
    let held = findings.len();
    (
        Outcome::Pass,
        format!("{held} check{} held", if held == 1 { "" } else { "s" }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(status: FindingStatus) -> Finding {
        Finding {
            check: "t".into(),
            requirement: None,
            status,
            message: format!("{status:?}"),
            evidence: vec![],
            exchange: None,
        }
    }

    #[test]
    fn empty_findings_are_an_error_not_a_pass() {
        assert_eq!(aggregate(Level::Must, &[]).0, Outcome::Error);
    }

    #[test]
    fn violated_maps_through_level() {
        let f = [
            finding(FindingStatus::Held),
            finding(FindingStatus::Violated),
        ];
        assert_eq!(aggregate(Level::Must, &f).0, Outcome::Fail);
        assert_eq!(aggregate(Level::Should, &f).0, Outcome::Warn);
        let (o, reason) = aggregate(Level::May, &f);
        assert_eq!(o, Outcome::Pass);
        assert!(reason.starts_with("informational"));
    }

    #[test]
    fn observed_violation_beats_inconclusive_but_not_for_should() {
        let f = [
            finding(FindingStatus::Violated),
            finding(FindingStatus::Inconclusive),
        ];
        assert_eq!(aggregate(Level::Must, &f).0, Outcome::Fail);
        assert_eq!(aggregate(Level::Should, &f).0, Outcome::Error);
        assert_eq!(
            aggregate(Level::Must, &[finding(FindingStatus::Inconclusive)]).0,
            Outcome::Error
        );
    }

    #[test]
    fn deviation_warns_and_review_asks_a_human() {
        assert_eq!(
            aggregate(Level::Must, &[finding(FindingStatus::Deviated)]).0,
            Outcome::Warn
        );
        assert_eq!(
            aggregate(Level::Must, &[finding(FindingStatus::Review)]).0,
            Outcome::Review
        );
        assert_eq!(
            aggregate(Level::Must, &[finding(FindingStatus::Held)]).0,
            Outcome::Pass
        );
    }

    #[test]
    fn not_applicable_skips_unless_something_failed() {
        let na = [
            finding(FindingStatus::Held),
            finding(FindingStatus::NotApplicable),
        ];
        assert_eq!(aggregate(Level::Must, &na).0, Outcome::Skip);
        let failed = [
            finding(FindingStatus::Violated),
            finding(FindingStatus::NotApplicable),
        ];
        assert_eq!(aggregate(Level::Must, &failed).0, Outcome::Fail);
    }

    #[test]
    fn strict_makes_warn_fail_the_run() {
        assert!(!Outcome::Warn.fails_run(false));
        assert!(Outcome::Warn.fails_run(true));
        assert!(Outcome::Error.fails_run(false));
        assert!(!Outcome::Skip.fails_run(true));
    }
}
