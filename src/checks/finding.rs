//! A finding: one claim about the target, judged, with the evidence that decided it.

use serde::Serialize;

/// How one claim came out. The item's level, not the check, turns this into FAIL or WARN.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingStatus {
    /// The claim held.
    Held,
    /// The claim was broken.
    Violated,
    /// The essential claim held but in a non-recommended way (e.g. rejected with an unexpected
    /// error code). Always a WARN, whatever the item's level.
    Deviated,
    /// A human must judge; the evidence is attached.
    Review,
    /// The check could not decide (a prerequisite is missing). Makes the item ERROR.
    Inconclusive,
    /// The requirement does not apply to what the target did (e.g. a DPoP server nonce governs
    /// freshness instead of `iat`). Makes the item SKIP with this reason, unless a claim failed.
    NotApplicable,
}

impl FindingStatus {
    /// The word reports show for this status.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingStatus::Held => "held",
            FindingStatus::Violated => "violated",
            FindingStatus::Deviated => "deviated",
            FindingStatus::Review => "review",
            FindingStatus::Inconclusive => "inconclusive",
            FindingStatus::NotApplicable => "not applicable",
        }
    }
}

/// One judged claim, with the expected and actual values that decided it.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Finding {
    /// Name of the check as written in the plan, e.g. `issuer_matches`.
    pub check: String,
    /// The catalogue id the check itself judges, where it judges exactly one.
    pub requirement: Option<&'static str>,
    pub status: FindingStatus,
    /// One line, for the console summary and the JUnit failure message.
    pub message: String,
    /// `expected`, `actual` and other named values, in the order they were added.
    pub evidence: Vec<(String, String)>,
    /// The `seq` of the exchange the claim was judged on.
    pub exchange: Option<u32>,
}

impl Finding {
    pub fn new(check: &str) -> Self {
        Finding {
            check: check.to_owned(),
            requirement: None,
            status: FindingStatus::Held,
            message: String::new(),
            evidence: Vec::new(),
            exchange: None,
        }
    }

    pub fn requirement(mut self, id: &'static str) -> Self {
        self.requirement = Some(id);
        self
    }

    pub fn on(mut self, exchange: Option<u32>) -> Self {
        self.exchange = exchange;
        self
    }

    pub fn evidence(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.evidence.push((key.to_owned(), value.to_string()));
        self
    }

    fn judged(mut self, status: FindingStatus, message: impl Into<String>) -> Self {
        self.status = status;
        self.message = message.into();
        self
    }

    pub fn held(self, message: impl Into<String>) -> Self {
        self.judged(FindingStatus::Held, message)
    }

    pub fn violated(self, message: impl Into<String>) -> Self {
        self.judged(FindingStatus::Violated, message)
    }

    pub fn deviated(self, message: impl Into<String>) -> Self {
        self.judged(FindingStatus::Deviated, message)
    }

    pub fn review(self, message: impl Into<String>) -> Self {
        self.judged(FindingStatus::Review, message)
    }

    pub fn inconclusive(self, message: impl Into<String>) -> Self {
        self.judged(FindingStatus::Inconclusive, message)
    }

    pub fn not_applicable(self, message: impl Into<String>) -> Self {
        self.judged(FindingStatus::NotApplicable, message)
    }
}
