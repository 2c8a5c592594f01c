//! Checks on server-provided DPoP nonces (RFC 9449 §8, §8.1, §9).
//!
//! Nonces are optional: every check here that judges how a server uses them is not applicable
//! (SKIP) when the server never provided one.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::flow::Stage;
use super::{Finding, Observations};
use crate::evidence::{Exchange, RecordedResponse};
use crate::fapi::step::StepKind;

pub const REQ_AS_CHALLENGE: &str = "RFC9449-8-1";
pub const REQ_RS_CHALLENGE: &str = "RFC9449-9-1";
pub const REQ_ONE_HEADER: &str = "RFC9449-8-2";
pub const REQ_SYNTAX: &str = "RFC9449-8.1-1";
pub const REQ_LONG_LIVED: &str = "RFC9449-11.2-1";

/// Where a nonce challenge is judged: at the AS (PAR, token endpoint) or at the RS.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeAt {
    Par,
    Token,
    Resource,
}

impl ChallengeAt {
    pub fn step(self) -> StepKind {
        match self {
            ChallengeAt::Par => StepKind::Par,
            ChallengeAt::Token => StepKind::Token,
            ChallengeAt::Resource => StepKind::Resource,
        }
    }

    pub fn stage(self) -> Stage {
        match self {
            ChallengeAt::Par => Stage::Par,
            ChallengeAt::Token => Stage::Token,
            ChallengeAt::Resource => Stage::Resource,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NonceChallenge {
    /// The step whose nonce challenge to judge.
    pub of: ChallengeAt,
}

/// The `DPoP-Nonce` header values of a response, in order.
fn nonce_values(r: &RecordedResponse) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("dpop-nonce"))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct OfServer {
    /// Judge only the responses of the server that answered this step (by origin); all
    /// responses by default.
    #[serde(default)]
    pub of: Option<ChallengeAt>,
}

fn origin(url: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()
        .map(|u| u.origin().ascii_serialization())
}

/// The origin of the server that answered `at`'s last request, if the step ran.
fn server_of(obs: &Observations<'_>, at: ChallengeAt) -> Option<String> {
    let seq = obs.last_by_step.get(&at.step())?;
    let ex = obs.exchanges.iter().find(|e| e.seq == *seq)?;
    origin(&ex.request.url)
}

/// The item's responses that carried at least one `DPoP-Nonce` header, with their values; only
/// those from `server` when given.
fn nonce_responses<'a>(
    obs: &'a Observations<'_>,
    server: Option<&str>,
) -> Vec<(&'a Exchange, Vec<&'a str>)> {
    obs.exchanges
        .iter()
        .filter(|e| server.is_none() || origin(&e.request.url).as_deref() == server)
        .filter_map(|e| {
            let values = nonce_values(e.response.as_ref()?);
            (!values.is_empty()).then_some((e, values))
        })
        .collect()
}

/// The responses `one_header` and `syntax` judge, or the finding that ends the check.
fn judged_responses<'a>(
    f: &Finding,
    obs: &'a Observations<'_>,
    of: Option<ChallengeAt>,
) -> Result<Vec<(&'a Exchange, Vec<&'a str>)>, Finding> {
    let server = match of {
        Some(at) => match server_of(obs, at) {
            Some(s) => Some(s),
            None => return Err(f.clone().inconclusive(obs.why_missing())),
        },
        None => None,
    };
    let seen = nonce_responses(obs, server.as_deref());
    if seen.is_empty() {
        let whose = match (&server, of) {
            (Some(s), Some(at)) => format!(" from {s}, which answered {},", at.stage().as_str()),
            _ => String::new(),
        };
        return Err(f.clone().not_applicable(format!(
            "no response{whose} carried a DPoP-Nonce header: the server does not use DPoP nonces (optional, RFC 9449 §8, §9)"
        )));
    }
    Ok(seen)
}

/// `1*NQCHAR`: `%x21 / %x23-5B / %x5D-7E` (RFC 9449 §8.1), printable ASCII without space, `"`
/// and `\`.
pub fn is_nqchar_string(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// Whether a `WWW-Authenticate` value holds a `DPoP` challenge with `error="use_dpop_nonce"`.
fn dpop_nonce_challenge_in(www: &str) -> bool {
    let lower = www.to_ascii_lowercase();
    // A value may hold several challenges, comma-separated; find one that starts with `dpop`.
    let starts = lower.match_indices("dpop").filter(|(i, _)| {
        let before = lower[..*i].trim_end();
        (before.is_empty() || before.ends_with(',')) && lower[i + 4..].starts_with([' ', '\t'])
    });
    starts
        .into_iter()
        .any(|(i, _)| lower[i..].contains("error=\"use_dpop_nonce\""))
}

/// RFC9449-8-1 (AS) / RFC9449-9-1 (RS): the first time the server asked for a nonce at `at`, it
/// did so in the form the spec gives: at the AS, HTTP 400 with the JSON error `use_dpop_nonce`
/// and a `DPoP-Nonce` header; at the RS, HTTP 401 with `WWW-Authenticate: DPoP
/// error="use_dpop_nonce"` and a `DPoP-Nonce` header. How many headers, and their syntax, are
/// RFC9449-8-2's and -8.1-1's business.
pub fn challenge(name: &str, obs: &Observations<'_>, at: ChallengeAt) -> Finding {
    let rs = at == ChallengeAt::Resource;
    let f = Finding::new(name)
        .requirement(if rs {
            REQ_RS_CHALLENGE
        } else {
            REQ_AS_CHALLENGE
        })
        .evidence(
            "expected",
            if rs {
                "HTTP 401, WWW-Authenticate: DPoP error=\"use_dpop_nonce\", a DPoP-Nonce header"
            } else {
                "HTTP 400, JSON error use_dpop_nonce, a DPoP-Nonce header"
            },
        );
    let Some(fl) = obs.flow else {
        return f.inconclusive("the item ran no OAuth flow");
    };
    let stage = at.stage();
    let Some((_, seq)) = fl.nonce_challenges.iter().find(|(s, _)| *s == stage) else {
        if !obs.last_by_step.contains_key(&at.step()) {
            return f.inconclusive(obs.why_missing());
        }
        let server = server_of(obs, at);
        let why = if nonce_responses(obs, server.as_deref()).is_empty() {
            format!(
                "the server never asked for a DPoP nonce at {}: it does not demand nonces there (optional, RFC 9449 §8, §9)",
                stage.as_str()
            )
        } else {
            format!(
                "the server provided DPoP nonces but never asked for one at {}: a proof without nonce was accepted (RFC9449-11.3-1 judges that)",
                stage.as_str()
            )
        };
        return f
            .evidence("actual", "no use_dpop_nonce challenge")
            .not_applicable(why);
    };
    let Some(ex) = obs.exchanges.iter().find(|e| e.seq == *seq) else {
        return f.inconclusive("the challenge's exchange is missing from the evidence");
    };
    let f = f.on(Some(ex.seq));
    let Some(r) = &ex.response else {
        return f.inconclusive("the challenge has no response");
    };
    let mut problems = Vec::new();
    let want_status = if rs { 401 } else { 400 };
    if r.status != want_status {
        problems.push(format!("HTTP {}, not {want_status}", r.status));
    }
    if rs {
        let challenged = r
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("www-authenticate"))
            .any(|(_, v)| dpop_nonce_challenge_in(v));
        if !challenged {
            problems
                .push("no WWW-Authenticate: DPoP challenge with error=\"use_dpop_nonce\"".into());
        }
    } else {
        let error = serde_json::from_str::<Value>(&r.body)
            .ok()
            .and_then(|j| j.get("error").and_then(Value::as_str).map(str::to_owned));
        if error.as_deref() != Some("use_dpop_nonce") {
            problems.push(format!(
                "the JSON error is {}, not use_dpop_nonce",
                error.as_deref().unwrap_or("(absent)")
            ));
        }
    }
    let nonces = nonce_values(r);
    if nonces.is_empty() {
        problems.push("no DPoP-Nonce header".into());
    }
    let f = f.evidence(
        "actual",
        format!(
            "HTTP {}, {} DPoP-Nonce header{}",
            r.status,
            nonces.len(),
            if nonces.len() == 1 { "" } else { "s" }
        ),
    );
    if problems.is_empty() {
        f.held(format!(
            "the {} challenged for a nonce as RFC 9449 §{} says",
            if rs { "RS" } else { "AS" },
            if rs { 9 } else { 8 }
        ))
    } else {
        f.violated(format!(
            "malformed nonce challenge at {}: {}",
            stage.as_str(),
            problems.join("; ")
        ))
    }
}

/// RFC9449-8-2: no response (of the server that answered `of`) carries more than one
/// `DPoP-Nonce` header.
pub fn one_header(name: &str, obs: &Observations<'_>, of: Option<ChallengeAt>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_ONE_HEADER)
        .evidence("expected", "at most one DPoP-Nonce header per response");
    let seen = match judged_responses(&f, obs, of) {
        Ok(s) => s,
        Err(done) => return done,
    };
    match seen.iter().find(|(_, v)| v.len() > 1) {
        Some((e, v)) => f
            .on(Some(e.seq))
            .evidence("actual", v.len())
            .violated(format!(
                "a response ({}) carried {} DPoP-Nonce headers",
                e.label,
                v.len()
            )),
        None => f.evidence("actual", 1).held(format!(
            "{} response{} carried one DPoP-Nonce header each",
            seen.len(),
            if seen.len() == 1 { "" } else { "s" }
        )),
    }
}

/// RFC9449-8.1-1: every `DPoP-Nonce` value (of the server that answered `of`) is `1*NQCHAR`.
pub fn syntax(name: &str, obs: &Observations<'_>, of: Option<ChallengeAt>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_SYNTAX)
        .evidence("expected", "1*NQCHAR (%x21 / %x23-5B / %x5D-7E)");
    let seen = match judged_responses(&f, obs, of) {
        Ok(s) => s,
        Err(done) => return done,
    };
    for (e, values) in &seen {
        if let Some(bad) = values.iter().find(|v| !is_nqchar_string(v)) {
            return f
                .on(Some(e.seq))
                .evidence("actual", format!("{bad:?}"))
                .violated(format!(
                    "the DPoP-Nonce value {bad:?} is not 1*NQCHAR (empty, or a space, `\"` or `\\`)"
                ));
        }
    }
    f.evidence("actual", "every value well-formed")
        .held("every DPoP-Nonce value is 1*NQCHAR")
}

/// RFC9449-11.2-1: a server that does not use nonces should not issue long-lived DPoP-bound
/// access tokens, because a pre-generated proof stays usable as long as the token. A server that
/// asked for a nonce in this flow bounds proof freshness itself: not applicable. Neither is a
/// token response without `expires_in`, whose lifetime is not advertised.
pub fn dpop_token_lifetime(name: &str, obs: &Observations<'_>, max: i64) -> Finding {
    let f = Finding::new(name).requirement(REQ_LONG_LIVED).evidence(
        "expected",
        format!("expires_in <= {max} when no DPoP nonce is used"),
    );
    let Some(fl) = obs.flow else {
        return f.inconclusive("the item ran no OAuth flow");
    };
    let Some((json, seq)) = &fl.token_response else {
        return f.inconclusive("no token response was received");
    };
    let f = f.on(Some(*seq));
    if !fl.nonce_challenges.is_empty() {
        return f.not_applicable(
            "the server asked for DPoP nonces; RFC 9449 §11.2 concerns servers without them",
        );
    }
    if !json
        .get("token_type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("DPoP"))
    {
        return f
            .evidence(
                "actual",
                json.get("token_type").cloned().unwrap_or(Value::Null),
            )
            .inconclusive("the access token is not DPoP-bound (token_type is not DPoP)");
    }
    match json.get("expires_in").map(Value::as_i64) {
        None => f.not_applicable("the token response has no expires_in: no lifetime is advertised"),
        Some(None) => f
            .evidence("actual", json["expires_in"].clone())
            .inconclusive("expires_in is not a number of seconds"),
        Some(Some(s)) if s <= max => f
            .evidence("actual", s)
            .held(format!("the DPoP-bound token lives {s} s")),
        Some(Some(s)) => f.evidence("actual", s).violated(format!(
            "the server uses no DPoP nonces and the DPoP-bound token lives {s} s, more than {max} s"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::FindingStatus;
    use crate::checks::flow::FlowObs;
    use crate::checks::testkit::exchange;
    use std::collections::HashMap;

    fn judge(
        exchanges: &[Exchange],
        flow: FlowObs,
        last: &[(StepKind, u32)],
        f: impl Fn(&Observations<'_>) -> Finding,
    ) -> Finding {
        let map: HashMap<StepKind, u32> = last.iter().copied().collect();
        let obs = Observations {
            expected_issuer: "https://as.example",
            exchanges,
            last_by_step: &map,
            metadata: None,
            jwks: None,
            flow: Some(&flow),
            tls: None,
            samples: None,
        };
        f(&obs)
    }

    fn challenged(stage: Stage, seq: u32) -> FlowObs {
        FlowObs {
            nonce_challenges: vec![(stage, seq)],
            ..Default::default()
        }
    }

    #[test]
    fn nqchar() {
        assert!(is_nqchar_string("eyJ7S_zG.eyJH0-Z.HX4w-7v"));
        assert!(is_nqchar_string("!#[]~"));
        for bad in ["", "a b", "\"abc\"", "a\\b", "é"] {
            assert!(!is_nqchar_string(bad), "{bad}");
        }
    }

    #[test]
    fn as_challenge_must_be_400_with_error_and_header() {
        let body = r#"{"error":"use_dpop_nonce"}"#;
        let good = [exchange(2, 400, &[("dpop-nonce", "n1")], body)];
        let f = judge(
            &good,
            challenged(Stage::Token, 2),
            &[(StepKind::Token, 3)],
            |o| challenge("c", o, ChallengeAt::Token),
        );
        assert_eq!(f.status, FindingStatus::Held, "{}", f.message);
        let wrong = [exchange(2, 401, &[], body)];
        let f = judge(
            &wrong,
            challenged(Stage::Token, 2),
            &[(StepKind::Token, 2)],
            |o| challenge("c", o, ChallengeAt::Token),
        );
        assert_eq!(f.status, FindingStatus::Violated);
        assert!(f.message.contains("HTTP 401") && f.message.contains("no DPoP-Nonce"));
    }

    #[test]
    fn rs_challenge_needs_www_authenticate_dpop() {
        let www = r#"Bearer realm="x", DPoP error="use_dpop_nonce", algs="ES256""#;
        let good = [exchange(
            5,
            401,
            &[("www-authenticate", www), ("dpop-nonce", "n")],
            "{}",
        )];
        let f = judge(
            &good,
            challenged(Stage::Resource, 5),
            &[(StepKind::Resource, 6)],
            |o| challenge("c", o, ChallengeAt::Resource),
        );
        assert_eq!(f.status, FindingStatus::Held, "{}", f.message);
        let json_only = [exchange(
            5,
            400,
            &[("dpop-nonce", "n")],
            r#"{"error":"use_dpop_nonce"}"#,
        )];
        let f = judge(
            &json_only,
            challenged(Stage::Resource, 5),
            &[(StepKind::Resource, 6)],
            |o| challenge("c", o, ChallengeAt::Resource),
        );
        assert_eq!(f.status, FindingStatus::Violated);
        assert!(!dpop_nonce_challenge_in(r#"Bearer error="use_dpop_nonce""#));
        assert!(!dpop_nonce_challenge_in(r#"DPoPx error="use_dpop_nonce""#));
    }

    #[test]
    fn no_challenge_is_not_applicable() {
        let ex = [exchange(3, 200, &[], "{}")];
        let f = judge(&ex, FlowObs::default(), &[(StepKind::Token, 3)], |o| {
            challenge("c", o, ChallengeAt::Token)
        });
        assert_eq!(f.status, FindingStatus::NotApplicable);
        let f = judge(&ex, FlowObs::default(), &[], |o| one_header("h", o, None));
        assert_eq!(f.status, FindingStatus::NotApplicable);
    }

    #[test]
    fn of_restricts_to_the_server_that_answered_the_step() {
        let mut rs = exchange(2, 200, &[], "{}");
        rs.request.url = "https://rs.example/accounts".into();
        let ex = [exchange(1, 200, &[("dpop-nonce", "a b")], "{}"), rs];
        let last = [(StepKind::Token, 1), (StepKind::Resource, 2)];
        let f = judge(&ex, FlowObs::default(), &last, |o| {
            syntax("s", o, Some(ChallengeAt::Resource))
        });
        assert_eq!(f.status, FindingStatus::NotApplicable, "{}", f.message);
        assert!(f.message.contains("https://rs.example"), "{}", f.message);
        let f = judge(&ex, FlowObs::default(), &last, |o| {
            syntax("s", o, Some(ChallengeAt::Token))
        });
        assert_eq!(f.status, FindingStatus::Violated);
        let f = judge(&ex, FlowObs::default(), &[], |o| {
            syntax("s", o, Some(ChallengeAt::Resource))
        });
        assert_eq!(f.status, FindingStatus::Inconclusive);
    }

    #[test]
    fn headers_are_counted_and_parsed() {
        let two = [exchange(
            1,
            400,
            &[("DPoP-Nonce", "a"), ("dpop-nonce", "b")],
            "{}",
        )];
        let f = judge(&two, FlowObs::default(), &[], |o| one_header("h", o, None));
        assert_eq!(f.status, FindingStatus::Violated);
        let quoted = [exchange(1, 400, &[("dpop-nonce", "\"abc\"")], "{}")];
        let f = judge(&quoted, FlowObs::default(), &[], |o| syntax("s", o, None));
        assert_eq!(f.status, FindingStatus::Violated);
    }

    #[test]
    fn long_lived_dpop_tokens_only_matter_without_nonces() {
        let token = |expires_in: serde_json::Value| FlowObs {
            token_response: Some((
                serde_json::json!({"token_type": "DPoP", "expires_in": expires_in}),
                3,
            )),
            ..Default::default()
        };
        let check = |o: &Observations<'_>| dpop_token_lifetime("l", o, 3600);
        let f = judge(&[], token(60.into()), &[], check);
        assert_eq!(f.status, FindingStatus::Held, "{}", f.message);
        let f = judge(&[], token(86_400.into()), &[], check);
        assert_eq!(f.status, FindingStatus::Violated, "{}", f.message);
        assert!(f.message.contains("86400 s"));
        let mut with_nonce = token(86_400.into());
        with_nonce.nonce_challenges = vec![(Stage::Token, 2)];
        let f = judge(&[], with_nonce, &[], check);
        assert_eq!(f.status, FindingStatus::NotApplicable, "{}", f.message);
        let mut silent = token(0.into());
        silent.token_response = Some((serde_json::json!({"token_type": "DPoP"}), 3));
        let f = judge(&[], silent, &[], check);
        assert_eq!(f.status, FindingStatus::NotApplicable, "{}", f.message);
        let mut bearer = token(60.into());
        bearer.token_response = Some((
            serde_json::json!({"token_type": "Bearer", "expires_in": 60}),
            3,
        ));
        let f = judge(&[], bearer, &[], check);
        assert_eq!(f.status, FindingStatus::Inconclusive, "{}", f.message);
    }
}
