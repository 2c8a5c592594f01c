//! A long `state` or `nonce` (the OIDF long-state and long-nonce modules): the AS carries it
//! through unchanged, or refuses the request cleanly. It may not cut it short or mangle it.

use serde::{Deserialize, Serialize};

use super::flow::{Stage, StageResult, describe, state_echoed};
use super::{Finding, Observations, id_token};

/// Which value is long.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Param {
    /// Returned in the authorization response (RFC 6749 §4.1.2).
    State,
    /// Returned in the ID token (OIDC Core §2).
    Nonce,
}

impl Param {
    fn as_str(self) -> &'static str {
        match self {
            Param::State => "state",
            Param::Nonce => "nonce",
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LongValue {
    pub param: Param,
    /// Error codes a clean refusal may carry.
    pub errors: Vec<String>,
    /// A clean refusal warns instead of passing (for a value no spec lets the AS refuse).
    #[serde(default)]
    pub refusal_warns: bool,
}

/// Judges the flow: a refusal at PAR or the authorization endpoint in the right form is clean;
/// otherwise the value must come back unchanged.
pub fn echoed(name: &str, obs: &Observations<'_>, spec: &LongValue) -> Finding {
    let what = spec.param.as_str();
    let f = Finding::new(name).evidence(
        "expected",
        format!(
            "the long {what} returned unchanged, or a refusal with {}",
            spec.errors.join(" or ")
        ),
    );
    let Some(fl) = obs.flow else {
        return f.inconclusive("the item ran no OAuth flow");
    };
    let Some(r) = fl.stages.iter().find(|r| r.result != StageResult::Accepted) else {
        return match spec.param {
            Param::State => state_echoed(name, obs),
            Param::Nonce => id_token::nonce(name, obs),
        };
    };
    let f = f.on(r.exchange).evidence("actual", describe(r));
    match &r.result {
        StageResult::Accepted => f.inconclusive("unreachable: accepted stage selected as refusal"),
        StageResult::Undetermined(why) => f.inconclusive(why.clone()),
        StageResult::RedirectedElsewhere(u) => f.violated(format!(
            "the AS redirected to the unregistered URI {u} (open redirector, RFC 9700 §4.11); it was not followed"
        )),
        StageResult::Rejected { .. } if r.stage > Stage::Authorization => f.inconclusive(format!(
            "the long {what} was accepted, but a later stage refused: {}",
            describe(r)
        )),
        StageResult::Rejected {
            error,
            well_formed,
            iss_ok,
            ..
        } => {
            if !well_formed || *iss_ok == Some(false) {
                return f.violated(format!(
                    "the long {what} was refused in the wrong form: {}",
                    describe(r)
                ));
            }
            let known = error.as_ref().is_some_and(|e| spec.errors.contains(e));
            match (known, spec.refusal_warns) {
                (false, _) => f.deviated(format!(
                    "the long {what} was refused with {}, where {} is expected",
                    error.as_deref().unwrap_or("no error code"),
                    spec.errors.join(" or ")
                )),
                (true, true) => f.deviated(format!(
                    "the long {what} was refused ({}); nothing lets the AS refuse it, and the OIDF suite warns",
                    describe(r)
                )),
                (true, false) => f.held(format!("the long {what} was refused cleanly ({})", describe(r))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::FindingStatus::{self, *};
    use super::super::flow::{FlowObs, StageRecord};
    use super::super::testkit::{Parts, observe};
    use super::*;

    fn rejected(stage: Stage, error: &str, well_formed: bool) -> StageRecord {
        StageRecord {
            stage,
            step: 0,
            under_test: true,
            result: StageResult::Rejected {
                status: Some(400),
                error: Some(error.into()),
                how: "HTTP 400 JSON error".into(),
                iss_ok: None,
                well_formed,
            },
            exchange: Some(1),
        }
    }

    fn judge(fl: FlowObs, refusal_warns: bool) -> (FindingStatus, String) {
        let spec = LongValue {
            param: Param::State,
            errors: vec!["invalid_request".into()],
            refusal_warns,
        };
        let parts = Parts {
            flow: Some(fl),
            ..Default::default()
        };
        let f = observe(parts, |o| echoed("long", o, &spec));
        (f.status, f.message)
    }

    fn refused(record: StageRecord) -> FlowObs {
        FlowObs {
            stages: vec![record],
            ..Default::default()
        }
    }

    #[test]
    fn a_clean_refusal_passes_or_warns_as_the_item_says() {
        let clean = || refused(rejected(Stage::Par, "invalid_request", true));
        assert_eq!(judge(clean(), false).0, Held);
        assert_eq!(judge(clean(), true).0, Deviated);
        let other = refused(rejected(Stage::Par, "server_error", true));
        assert_eq!(judge(other, false).0, Deviated);
    }

    #[test]
    fn a_refusal_in_the_wrong_form_or_too_late_is_no_clean_refusal() {
        let (status, message) = judge(refused(rejected(Stage::Authorization, "x", false)), false);
        assert_eq!(status, Violated, "{message}");
        assert!(message.contains("wrong form"));
        let late = refused(rejected(Stage::Token, "invalid_grant", true));
        assert_eq!(judge(late, false).0, Inconclusive);
    }

    #[test]
    fn an_accepted_value_must_come_back_whole() {
        let sent = "s".repeat(1000);
        let flow = |returned: &str| FlowObs {
            sent_state: Some(sent.clone()),
            authz_response: Some(vec![("state".into(), returned.into())]),
            ..Default::default()
        };
        assert_eq!(judge(flow(&sent), true).0, Held);
        let (status, message) = judge(flow(&sent[..255]), true);
        assert_eq!(status, Violated, "{message}");
    }
}
