//! Checks on an OAuth flow: which stage accepted or rejected, and what the authorization, PAR and
//! token responses carried (FAPI 2.0 SP §5.3.2, RFC 9126, RFC 9207, RFC 6749).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Finding, Observations};
use crate::plan::SenderConstraint;

pub const REQ_PAR_CREATED: &str = "RFC9126-2.2-1";
pub const REQ_ISS: &str = "RFC9207-2-1";
pub const REQ_REDIRECT_303: &str = "FAPI2-SP-5.3.2.2-11";
pub const REQ_SENDER_CONSTRAINED: &str = "FAPI2-SP-5.3.2.1-4";
pub const REQ_STATE: &str = "RFC6749-4.1.2-2";
pub const REQ_NO_ROTATION: &str = "FAPI2-SP-5.3.2.1-9";
pub const REQ_PAR_EXPIRY: &str = "FAPI2-SP-5.3.2.2-12";
pub const REQ_PUSHED_WIN: &str = "RFC9126-4-3";

/// A protocol stage a request can be accepted or rejected at.
/// Ordered as a flow runs them.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Par,
    Authorization,
    Token,
    /// Token revocation (RFC 7009): a step that readies a later refusal, judged only for
    /// whether it succeeded.
    Revocation,
    Userinfo,
    Resource,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Par => "par",
            Stage::Authorization => "authorization",
            Stage::Token => "token",
            Stage::Revocation => "revocation",
            Stage::Userinfo => "userinfo",
            Stage::Resource => "resource",
        }
    }
}

/// How a stage answered.
#[derive(Clone, Debug, PartialEq)]
pub enum StageResult {
    Accepted,
    /// Refused. `how` says in what form: `HTTP 400 JSON error`, `error page`, `error redirect`.
    Rejected {
        status: Option<u16>,
        error: Option<String>,
        how: String,
        /// For error redirects: whether `iss` was present and equal to the issuer.
        iss_ok: Option<bool>,
        /// The answer had the form the spec asks for (400/401 JSON error, error page, error
        /// redirect to a registered URI).
        well_formed: bool,
    },
    /// The user agent was sent to a URI the client never registered: never followed.
    RedirectedElsewhere(String),
    /// No usable answer (transport error, a login page with login mode none, …).
    Undetermined(String),
}

/// One stage as the flow executed it.
#[derive(Clone, Debug)]
pub struct StageRecord {
    pub stage: Stage,
    /// Position of the step in the item's flow.
    pub step: usize,
    /// Whether the step (or an earlier one) was deliberately altered.
    pub under_test: bool,
    pub result: StageResult,
    pub exchange: Option<u32>,
}

/// What a flow observed, beyond the stage results.
#[derive(Clone, Debug, Default)]
pub struct FlowObs {
    pub stages: Vec<StageRecord>,
    pub sender_constraint: Option<SenderConstraint>,
    /// The `state` the client sent.
    pub sent_state: Option<String>,
    /// Parameters of the authorization response at the registered redirect URI.
    pub authz_response: Option<Vec<(String, String)>>,
    pub authz_exchange: Option<u32>,
    /// Statuses of the redirects the AS issued during the authorization leg, with exchanges.
    pub redirects: Vec<(u16, u32)>,
    pub par_response: Option<(Value, u16, u32)>,
    pub token_response: Option<(Value, u32)>,
    /// The `client_id` of the client whose token request `token_response` answered.
    pub token_client_id: Option<String>,
    /// When `token_response` arrived, in Unix seconds on the server's clock (our clock shifted by
    /// the offset learned from its `Date` header), so that the harness's own clock error does
    /// not count against the ID token's `iat` and `exp`.
    pub token_received_at: Option<i64>,
    /// The `nonce` the last authorization request carried (pushed or in the front channel).
    pub sent_nonce: Option<String>,
    /// A different `nonce` sent next to `request_uri` in the front channel, which must not win.
    pub front_channel_nonce: Option<String>,
    /// Whether the metadata offers a `userinfo_endpoint`, once a userinfo step ran.
    pub userinfo_offered: Option<bool>,
    /// A successful userinfo response's JSON body and its exchange.
    pub userinfo_response: Option<(Value, u32)>,
    /// Refresh tokens in order of issue, with the exchange that issued each.
    pub refresh_tokens: Vec<(String, u32)>,
    /// Whether a refresh was made with an older refresh token after rotation, and its answer.
    pub old_refresh_retry: Option<(bool, u32)>,
    /// A DPoP proof sent by a step under test carried a server-provided nonce.
    pub nonce_in_tested_proof: bool,
    /// Responses that asked for a DPoP nonce (`use_dpop_nonce` as JSON `error` or in
    /// `WWW-Authenticate`), in order: the stage and the exchange.
    pub nonce_challenges: Vec<(Stage, u32)>,
    /// A proof altered in its nonce (`omit_dpop_nonce`, `dpop_unknown_nonce`) was sent while the
    /// server had provided no nonce: RFC 9449 §4.3 check 10 and §11.3 do not apply.
    pub nonce_probe_without_nonce: bool,
    /// RFC 8705 `x5t#S256` of the certificate the token request presented, if any.
    pub client_cert_x5t: Option<String>,
    /// The RFC 7638 thumbprint of the DPoP key the token request proved, if it sent a proof.
    pub dpop_jkt: Option<String>,
    /// A successful introspection response's JSON body and its exchange (RFC 7662 §2.2).
    pub introspection: Option<(Value, u32)>,
    /// Why the flow stopped before its last step without any stage refusing (a step could not
    /// be built: no metadata, no endpoint, no code). Nothing after that point was observed.
    pub cut_short: Option<String>,
}

fn flow<'a>(f: &Finding, obs: &'a Observations<'_>) -> Result<&'a FlowObs, Finding> {
    obs.flow
        .ok_or_else(|| f.clone().inconclusive("the item ran no OAuth flow"))
}

/// Why no authorization response was observed, with the stage that stopped the flow (a login
/// that timed out says so here, not only in the stage record).
fn no_response(fl: &FlowObs) -> String {
    match fl.stages.iter().find(|r| r.result != StageResult::Accepted) {
        Some(r) => format!(
            "no authorization response reached the redirect URI: {}",
            describe(r)
        ),
        None => "no authorization response reached the redirect URI".to_owned(),
    }
}

pub fn describe(r: &StageRecord) -> String {
    match &r.result {
        StageResult::Accepted => format!("{} accepted", r.stage.as_str()),
        StageResult::Rejected {
            status, error, how, ..
        } => format!(
            "{} rejected ({how}{}{})",
            r.stage.as_str(),
            status.map(|s| format!(", HTTP {s}")).unwrap_or_default(),
            error
                .as_ref()
                .map(|e| format!(", error={e}"))
                .unwrap_or_default()
        ),
        StageResult::RedirectedElsewhere(u) => {
            format!("{} redirected to unregistered {u}", r.stage.as_str())
        }
        StageResult::Undetermined(why) => format!("{} undetermined: {why}", r.stage.as_str()),
    }
}

/// Every listed stage ran and accepted. A refusal at a listed stage is the target refusing a
/// correct request. A refusal at an earlier, unlisted stage means the flow never reached what
/// this check judges: inconclusive, not a violation of this item's requirement.
pub fn accepted(name: &str, obs: &Observations<'_>, at: &[Stage]) -> Finding {
    let list: Vec<&str> = at.iter().map(|s| s.as_str()).collect();
    let f = Finding::new(name).evidence("expected", format!("accepted at {}", list.join(", ")));
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    // A stage after the last listed one is not part of this claim (another check judges it): a
    // userinfo refusal does not undo the token endpoint's acceptance.
    let judged = fl
        .stages
        .iter()
        .rposition(|r| at.contains(&r.stage))
        .map_or(fl.stages.len(), |i| i + 1);
    if let Some(r) = fl.stages[..judged]
        .iter()
        .find(|r| r.result != StageResult::Accepted)
    {
        let f = f.on(r.exchange).evidence("actual", describe(r));
        return match (&r.result, at.contains(&r.stage)) {
            (StageResult::Undetermined(_), _) => f.inconclusive(describe(r)),
            (_, true) => f.violated(format!("a correct request was refused: {}", describe(r))),
            (_, false) => f.inconclusive(format!(
                "an earlier step did not succeed, so {} was never reached: {}",
                list.join(", "),
                describe(r)
            )),
        };
    }
    if let Some(missing) = at
        .iter()
        .find(|s| !fl.stages.iter().any(|r| r.stage == **s))
    {
        return f.inconclusive(match &fl.cut_short {
            Some(why) => format!("{} never ran: {why}", missing.as_str()),
            None => format!("the flow has no {} stage", missing.as_str()),
        });
    }
    f.evidence("actual", "accepted")
        .held(format!("accepted at {}", list.join(", ")))
}

/// The deliberately broken request was refused at one of `at`, in a form the spec allows.
/// Errors outside `errors` only warn. Steps before the altered one must have been accepted, and a
/// refusal at a stage before every listed one is inconclusive: the test never reached its point
/// (the refusal may have another cause). A refusal only after the listed stages means they
/// accepted what they had to refuse.
pub fn rejected(
    name: &str,
    obs: &Observations<'_>,
    at: &[Stage],
    errors: &[String],
    nonce_governs_freshness: bool,
) -> Finding {
    let list: Vec<&str> = at.iter().map(|s| s.as_str()).collect();
    let mut f =
        Finding::new(name).evidence("expected", format!("rejected at {}", list.join(" or ")));
    if !errors.is_empty() {
        f = f.evidence("expected_errors", errors.join(", "));
    }
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if let Some(pre) = fl
        .stages
        .iter()
        .find(|r| !r.under_test && r.result != StageResult::Accepted)
    {
        return f
            .on(pre.exchange)
            .evidence("actual", describe(pre))
            .inconclusive(format!(
                "a prerequisite step did not succeed, so the test never reached its point: {}",
                describe(pre)
            ));
    }
    if fl.nonce_probe_without_nonce {
        return f.not_applicable(
            "the server provided no DPoP nonce before the proof whose nonce is under test; \
             RFC 9449 §4.3 check 10 and §11.3 apply only once it has",
        );
    }
    let Some(r) = fl
        .stages
        .iter()
        .find(|r| r.under_test && r.result != StageResult::Accepted)
    else {
        if let Some(why) = &fl.cut_short {
            return f.inconclusive(format!("the flow stopped before the test's point: {why}"));
        }
        let Some(last) = fl.stages.last() else {
            return f.inconclusive("no stage of the flow ran");
        };
        if nonce_governs_freshness && fl.nonce_in_tested_proof {
            return f.evidence("actual", describe(last)).not_applicable(
                "the proof carried the server's DPoP nonce, which may decide freshness instead of \
                 iat (RFC 9449 §4.3 step 11)",
            );
        }
        return f.evidence("actual", describe(last)).violated(format!(
            "the request under test was accepted, though it must be refused ({})",
            describe(last)
        ));
    };
    let f = f.on(r.exchange).evidence("actual", describe(r));
    match &r.result {
        StageResult::Accepted => f.inconclusive("unreachable: accepted stage selected as rejection"),
        StageResult::Undetermined(why) => f.inconclusive(why.clone()),
        StageResult::RedirectedElsewhere(u) => f.violated(format!(
            "the AS redirected to the unregistered URI {u} (open redirector, RFC 9700 §4.11); it was not followed"
        )),
        StageResult::Rejected { error, iss_ok, well_formed, .. } => {
            if !at.contains(&r.stage) {
                let earliest = at.iter().min().copied();
                if earliest.is_some_and(|e| r.stage < e) {
                    return f.inconclusive(format!(
                        "refused at {} before reaching {} (the refusal may have another cause)",
                        r.stage.as_str(),
                        list.join(" or ")
                    ));
                }
                return f.violated(format!(
                    "refused only at {} — it should have been refused at {}",
                    r.stage.as_str(),
                    list.join(" or ")
                ));
            }
            if *iss_ok == Some(false) {
                return f.violated("error redirect without the issuer's `iss` parameter (RFC9207-2-1)");
            }
            if !well_formed {
                return f.deviated(format!(
                    "refused, but not in the form the spec asks for: {}",
                    describe(r)
                ));
            }
            match error {
                Some(e) if !errors.is_empty() && !errors.contains(e) => f.deviated(format!(
                    "refused with `{e}`, where {} is expected",
                    errors.join(" or ")
                )),
                _ => f.held(describe(r)),
            }
        }
    }
}

/// RFC9126-4-3: parameters sent in the front channel next to `request_uri` (another
/// `redirect_uri` and `state`) are ignored, or the request is refused; they are never used.
pub fn pushed_parameters_win(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_PUSHED_WIN).evidence(
        "expected",
        "refused, or answered at the pushed redirect_uri with the pushed state",
    );
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if let Some(pre) = fl
        .stages
        .iter()
        .find(|r| !r.under_test && r.result != StageResult::Accepted)
    {
        return f.on(pre.exchange).inconclusive(format!(
            "a prerequisite step did not succeed: {}",
            describe(pre)
        ));
    }
    let Some(r) = fl.stages.iter().find(|r| r.stage == Stage::Authorization) else {
        return f.inconclusive(obs.why_missing());
    };
    let f = f.on(r.exchange).evidence("actual", describe(r));
    match &r.result {
        StageResult::Undetermined(why) => f.inconclusive(why.clone()),
        StageResult::RedirectedElsewhere(u) => f.violated(format!(
            "the AS used the front-channel redirect_uri: it redirected to {u} (not followed)"
        )),
        StageResult::Rejected { .. } => f.held(format!("refused: {}", describe(r))),
        StageResult::Accepted => {
            let got = fl
                .authz_response
                .as_ref()
                .and_then(|p| p.iter().find(|(k, _)| k == "state"))
                .map(|(_, v)| v.as_str());
            let sent = fl.sent_state.as_deref();
            if got != sent {
                let pushed = if sent.is_some() {
                    "not the pushed one"
                } else {
                    "though the pushed request had none"
                };
                return f.violated(format!(
                    "the authorization response carries state {}, {pushed}: the front-channel state was used",
                    got.unwrap_or("(absent)")
                ));
            }
            match &fl.front_channel_nonce {
                None => f.held("the pushed redirect_uri and state were used"),
                Some(front) => super::id_token::pushed_nonce_won(f, obs, front),
            }
        }
    }
}

/// RFC9126-2.2-1: a successful push answers 201 with `request_uri` and a positive `expires_in`.
pub fn par_created(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_PAR_CREATED)
        .evidence("expected", "201 with request_uri and expires_in > 0");
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some((json, status, seq)) = &fl.par_response else {
        return f.inconclusive("no PAR response was received");
    };
    let f = f.on(Some(*seq)).evidence("status", status);
    if *status != 201 {
        return f.violated(format!("PAR answered HTTP {status}, not 201 Created"));
    }
    if json
        .get("request_uri")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return f.violated("PAR response has no request_uri");
    }
    match json.get("expires_in").and_then(Value::as_i64) {
        Some(s) if s > 0 => f
            .evidence("expires_in", s)
            .held("201 with request_uri and a positive expires_in"),
        _ => f.violated("`expires_in` is missing or not a positive integer"),
    }
}

/// FAPI2-SP-5.3.2.2-12: the PAR `expires_in` is below `max` seconds (600 under FAPI 2.0).
pub fn par_expires_in_below(name: &str, obs: &Observations<'_>, max: i64) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_PAR_EXPIRY)
        .evidence("expected", format!("0 < expires_in < {max}"));
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some((json, _, seq)) = &fl.par_response else {
        return f.inconclusive("no PAR response was received");
    };
    let f = f.on(Some(*seq));
    match json.get("expires_in").and_then(Value::as_i64) {
        Some(s) if s > 0 && s < max => f.evidence("actual", s).held(format!("expires_in is {s}")),
        Some(s) => f
            .evidence("actual", s)
            .violated(format!("expires_in is {s}, not below {max}")),
        None => f
            .evidence("actual", "(absent)")
            .inconclusive("the PAR response has no numeric expires_in"),
    }
}

/// RFC9207-2-1 / FAPI2-SP-5.3.2.2-7: the authorization response carries `iss` equal to the issuer.
pub fn iss_in_response(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_ISS)
        .evidence("expected", obs.expected_issuer);
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(params) = &fl.authz_response else {
        return f.inconclusive(no_response(fl));
    };
    let f = f.on(fl.authz_exchange);
    match params.iter().find(|(k, _)| k == "iss") {
        Some((_, v)) if v == obs.expected_issuer => {
            f.evidence("actual", v).held("iss equals the issuer")
        }
        Some((_, v)) => f
            .evidence("actual", v)
            .violated(format!("iss `{v}` differs from the issuer")),
        None => f
            .evidence("actual", "(absent)")
            .violated("the authorization response has no iss parameter"),
    }
}

/// RFC 6749 §4.1.2: the authorization response echoes `state` exactly.
pub fn state_echoed(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_STATE);
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let (Some(params), Some(sent)) = (&fl.authz_response, &fl.sent_state) else {
        return f.inconclusive("no authorization response, or no state was sent");
    };
    let f = f.on(fl.authz_exchange).evidence("expected", sent);
    match params.iter().find(|(k, _)| k == "state") {
        Some((_, v)) if v == sent => f.evidence("actual", v).held("state echoed"),
        Some((_, v)) => f
            .evidence("actual", v)
            .violated("state differs from the one sent"),
        None => f
            .evidence("actual", "(absent)")
            .violated("state was not echoed"),
    }
}

/// FAPI2-SP-5.3.2.2-11 (and -10): user-agent redirects use 303; 307 is never used.
pub fn redirect_status(name: &str, obs: &Observations<'_>, allowed: &[u16]) -> Finding {
    let f = Finding::new(name).requirement(REQ_REDIRECT_303).evidence(
        "expected",
        allowed
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or "),
    );
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    if fl.redirects.is_empty() {
        return f.inconclusive("the authorization endpoint issued no redirect");
    }
    let statuses: Vec<String> = fl.redirects.iter().map(|(s, _)| s.to_string()).collect();
    let f = f.evidence("actual", statuses.join(", "));
    match fl.redirects.iter().find(|(s, _)| !allowed.contains(s)) {
        Some((s, seq)) => f.on(Some(*seq)).violated(format!("redirect with HTTP {s}")),
        None => f.held(format!("redirects used {}", statuses.join(", "))),
    }
}

/// FAPI2-SP-5.3.2.1-4: the token is sender-constrained the way the variant asks: `token_type`
/// DPoP for DPoP; for mTLS, `cnf.x5t#S256` where the token or introspection shows it.
pub fn token_sender_constrained(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_SENDER_CONSTRAINED);
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some((json, seq)) = &fl.token_response else {
        return f.inconclusive("no token response was received");
    };
    let f = f.on(Some(*seq));
    let token_type = json
        .get("token_type")
        .and_then(Value::as_str)
        .unwrap_or("(absent)");
    match fl.sender_constraint {
        Some(SenderConstraint::Dpop) => {
            let f = f
                .evidence("expected", "token_type DPoP")
                .evidence("actual", token_type);
            if token_type.eq_ignore_ascii_case("dpop") {
                f.held("DPoP-bound access token")
            } else {
                f.violated(format!(
                    "token_type is `{token_type}`, not DPoP: the token is not DPoP-bound"
                ))
            }
        }
        Some(SenderConstraint::Mtls) => {
            let f = f.evidence(
                "expected",
                "a token bound to the client certificate (cnf.x5t#S256)",
            );
            // An opaque token's binding is only visible at the RS (or by introspection), which
            // the resource items check; a JWT access token shows it directly.
            let at = json
                .get("access_token")
                .and_then(Value::as_str)
                .unwrap_or("");
            let Some((_, claims)) = crate::fapi::jose::decode_unverified(at) else {
                return f
                    .evidence("actual", format!("opaque token, token_type {token_type}"))
                    .held(
                        "opaque token; its certificate binding is checked at the resource server",
                    );
            };
            let bound = claims.pointer("/cnf/x5t#S256").and_then(Value::as_str);
            match (bound, fl.client_cert_x5t.as_deref()) {
                (Some(t), Some(ours)) if t == ours => f
                    .evidence("actual", format!("cnf.x5t#S256={t}"))
                    .held("the JWT access token is bound to the client certificate"),
                (Some(t), Some(ours)) => f
                    .evidence("actual", format!("cnf.x5t#S256={t}"))
                    .violated(format!(
                        "the JWT access token is bound to another certificate (ours is {ours})"
                    )),
                (Some(t), None) => f
                    .evidence("actual", format!("cnf.x5t#S256={t}"))
                    .inconclusive(
                        "no client certificate was presented, so the binding cannot be compared",
                    ),
                (None, _) => f
                    .evidence("actual", "no cnf.x5t#S256")
                    .violated("the JWT access token carries no cnf.x5t#S256"),
            }
        }
        None => f.inconclusive("the variant names no sender constraint"),
    }
}

/// FAPI2-SP-5.3.2.1-9: refreshing does not rotate the refresh token; if it does (an allowed
/// exception), the old one must still work for a retry window, which the flow tries once.
pub fn no_refresh_rotation(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_NO_ROTATION).evidence(
        "expected",
        "the same refresh token, or none, after a refresh",
    );
    let fl = match flow(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let [(first, _), rest @ ..] = fl.refresh_tokens.as_slice() else {
        return f.inconclusive("no refresh token was issued");
    };
    let accepted_token_requests = fl
        .stages
        .iter()
        .filter(|r| r.stage == Stage::Token && r.result == StageResult::Accepted)
        .count();
    if accepted_token_requests < 2 {
        return f.inconclusive("no refresh grant was accepted");
    }
    match rest.iter().find(|(rt, _)| rt != first) {
        None => f.evidence("actual", "not rotated").held("the refresh token was not rotated"),
        Some((_, seq)) => match fl.old_refresh_retry {
            Some((true, retry)) => f.on(Some(retry)).evidence("actual", "rotated; the old token still worked").deviated(
                "the refresh token was rotated (allowed only in extraordinary circumstances); the old one still worked",
            ),
            Some((false, retry)) => f.on(Some(retry)).evidence("actual", "rotated; the old token was refused").violated(
                "the refresh token was rotated and the old one no longer works",
            ),
            None => f.on(Some(*seq)).evidence("actual", "rotated").violated("the refresh token was rotated"),
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::FindingStatus::*;
    use super::super::testkit::{Parts, observe};
    use super::*;

    fn rec(stage: Stage, under_test: bool, result: StageResult) -> StageRecord {
        StageRecord {
            stage,
            step: 0,
            under_test,
            result,
            exchange: Some(1),
        }
    }

    fn rej(error: &str) -> StageResult {
        StageResult::Rejected {
            status: Some(400),
            error: Some(error.into()),
            how: "HTTP 400 JSON error".into(),
            iss_ok: None,
            well_formed: true,
        }
    }

    /// `rejected` for an item without the DPoP-nonce exemption.
    fn rejected_(name: &str, obs: &Observations<'_>, at: &[Stage], errors: &[String]) -> Finding {
        rejected(name, obs, at, errors, false)
    }

    #[test]
    fn a_server_nonce_makes_an_accepted_old_proof_not_applicable() {
        let mut fl = flow_of(vec![rec(Stage::Token, true, StageResult::Accepted)]);
        fl.nonce_in_tested_proof = true;
        let exempt = with_flow(fl.clone(), |o| rejected("t", o, &[Stage::Token], &[], true));
        assert_eq!(exempt.status, NotApplicable);
        assert_eq!(
            with_flow(fl, |o| rejected_("t", o, &[Stage::Token], &[])).status,
            Violated
        );
    }

    fn with_flow<R>(fl: FlowObs, f: impl FnOnce(&Observations<'_>) -> R) -> R {
        observe(
            Parts {
                flow: Some(fl),
                ..Default::default()
            },
            f,
        )
    }

    fn flow_of(stages: Vec<StageRecord>) -> FlowObs {
        FlowObs {
            stages,
            ..Default::default()
        }
    }

    #[test]
    fn rejected_at_an_allowed_stage_holds() {
        let fl = flow_of(vec![rec(Stage::Par, true, rej("invalid_request"))]);
        let f = with_flow(fl, |o| {
            rejected_(
                "t",
                o,
                &[Stage::Par, Stage::Authorization],
                &["invalid_request".into()],
            )
        });
        assert_eq!(f.status, Held);
    }

    #[test]
    fn accepted_negative_is_violated_and_odd_error_deviates() {
        let fl = flow_of(vec![
            rec(Stage::Par, true, StageResult::Accepted),
            rec(Stage::Authorization, true, StageResult::Accepted),
        ]);
        assert_eq!(
            with_flow(fl, |o| rejected_("t", o, &[Stage::Par], &[])).status,
            Violated
        );
        let fl = flow_of(vec![rec(Stage::Par, true, rej("server_error"))]);
        assert_eq!(
            with_flow(fl, |o| rejected_(
                "t",
                o,
                &[Stage::Par],
                &["invalid_request".into()]
            ))
            .status,
            Deviated
        );
    }

    #[test]
    fn a_flow_cut_short_is_inconclusive_not_accepted() {
        let mut fl = flow_of(vec![rec(Stage::Par, true, StageResult::Accepted)]);
        fl.cut_short = Some("the metadata has no `authorization_endpoint`".into());
        assert_eq!(
            with_flow(fl.clone(), |o| rejected_(
                "t",
                o,
                &[Stage::Authorization],
                &[]
            ))
            .status,
            Inconclusive
        );
        assert_eq!(
            with_flow(fl, |o| accepted("t", o, &[Stage::Par, Stage::Token])).status,
            Inconclusive
        );
        let mut empty = flow_of(vec![]);
        empty.cut_short = Some("the metadata is unavailable".into());
        assert_eq!(
            with_flow(empty, |o| rejected_("t", o, &[Stage::Par], &[])).status,
            Inconclusive
        );
    }

    #[test]
    fn refusal_before_the_tested_stage_is_inconclusive() {
        let fl = flow_of(vec![rec(Stage::Par, true, rej("invalid_client"))]);
        assert_eq!(
            with_flow(fl.clone(), |o| rejected_("t", o, &[Stage::Token], &[])).status,
            Inconclusive
        );
        assert_eq!(
            with_flow(fl, |o| accepted("t", o, &[Stage::Token])).status,
            Inconclusive
        );
    }

    #[test]
    fn failed_prerequisite_is_inconclusive() {
        let fl = flow_of(vec![
            rec(Stage::Par, false, rej("invalid_client")),
            rec(Stage::Token, true, StageResult::Accepted),
        ]);
        assert_eq!(
            with_flow(fl, |o| rejected_("t", o, &[Stage::Token], &[])).status,
            Inconclusive
        );
    }

    #[test]
    fn open_redirect_and_missing_iss_are_violations() {
        let fl = flow_of(vec![
            rec(Stage::Par, true, StageResult::Accepted),
            rec(
                Stage::Authorization,
                true,
                StageResult::RedirectedElsewhere("https://evil.example/cb".into()),
            ),
        ]);
        assert_eq!(
            with_flow(fl, |o| rejected_("t", o, &[Stage::Authorization], &[])).status,
            Violated
        );
        let no_iss = StageResult::Rejected {
            status: Some(303),
            error: Some("invalid_request".into()),
            how: "error redirect".into(),
            iss_ok: Some(false),
            well_formed: true,
        };
        let fl = flow_of(vec![rec(Stage::Authorization, true, no_iss)]);
        assert_eq!(
            with_flow(fl, |o| rejected_("t", o, &[Stage::Authorization], &[])).status,
            Violated
        );
    }

    #[test]
    fn rejected_at_the_wrong_stage_is_violated() {
        let fl = flow_of(vec![
            rec(Stage::Par, true, StageResult::Accepted),
            rec(Stage::Authorization, true, StageResult::Accepted),
            rec(Stage::Token, true, rej("invalid_grant")),
        ]);
        assert_eq!(
            with_flow(fl, |o| rejected_(
                "t",
                o,
                &[Stage::Par, Stage::Authorization],
                &[]
            ))
            .status,
            Violated
        );
    }

    #[test]
    fn accepted_judges_each_stage() {
        let ok = flow_of(vec![
            rec(Stage::Par, false, StageResult::Accepted),
            rec(Stage::Token, false, StageResult::Accepted),
        ]);
        assert_eq!(
            with_flow(ok, |o| accepted("t", o, &[Stage::Par, Stage::Token])).status,
            Held
        );
        let refused = flow_of(vec![rec(Stage::Par, false, rej("invalid_client"))]);
        let f = with_flow(refused, |o| accepted("t", o, &[Stage::Par, Stage::Token]));
        assert_eq!(f.status, Violated);
        let undetermined = flow_of(vec![rec(
            Stage::Par,
            false,
            StageResult::Undetermined("connection reset".into()),
        )]);
        assert_eq!(
            with_flow(undetermined, |o| accepted("t", o, &[Stage::Par])).status,
            Inconclusive
        );
        assert_eq!(
            with_flow(FlowObs::default(), |o| accepted("t", o, &[Stage::Par])).status,
            Inconclusive
        );
        let later_refusal = flow_of(vec![
            rec(Stage::Par, false, StageResult::Accepted),
            rec(Stage::Userinfo, false, rej("insufficient_scope")),
        ]);
        assert_eq!(
            with_flow(later_refusal, |o| accepted("t", o, &[Stage::Par])).status,
            Held
        );
    }

    #[test]
    fn response_checks() {
        let mut fl = FlowObs {
            authz_response: Some(vec![
                ("code".into(), "c".into()),
                ("state".into(), "s1".into()),
                ("iss".into(), "https://as.example".into()),
            ]),
            sent_state: Some("s1".into()),
            redirects: vec![(303, 2)],
            par_response: Some((json!({"request_uri": "urn:x", "expires_in": 60}), 201, 1)),
            token_response: Some((json!({"access_token": "a", "token_type": "DPoP"}), 3)),
            sender_constraint: Some(SenderConstraint::Dpop),
            ..Default::default()
        };
        assert_eq!(
            with_flow(fl.clone(), |o| iss_in_response("t", o)).status,
            Held
        );
        assert_eq!(with_flow(fl.clone(), |o| state_echoed("t", o)).status, Held);
        assert_eq!(
            with_flow(fl.clone(), |o| redirect_status("t", o, &[303])).status,
            Held
        );
        assert_eq!(with_flow(fl.clone(), |o| par_created("t", o)).status, Held);
        assert_eq!(
            with_flow(fl.clone(), |o| par_expires_in_below("t", o, 600)).status,
            Held
        );
        assert_eq!(
            with_flow(fl.clone(), |o| par_expires_in_below("t", o, 60)).status,
            Violated
        );
        assert_eq!(
            with_flow(fl.clone(), |o| token_sender_constrained("t", o)).status,
            Held
        );
        fl.authz_response = Some(vec![("code".into(), "c".into())]);
        fl.redirects = vec![(302, 2)];
        fl.par_response = Some((json!({"request_uri": "urn:x"}), 201, 1));
        fl.token_response = Some((json!({"access_token": "a", "token_type": "Bearer"}), 3));
        assert_eq!(
            with_flow(fl.clone(), |o| iss_in_response("t", o)).status,
            Violated
        );
        assert_eq!(
            with_flow(fl.clone(), |o| state_echoed("t", o)).status,
            Violated
        );
        assert_eq!(
            with_flow(fl.clone(), |o| redirect_status("t", o, &[303])).status,
            Violated
        );
        assert_eq!(
            with_flow(fl.clone(), |o| par_created("t", o)).status,
            Violated
        );
        assert_eq!(
            with_flow(fl.clone(), |o| token_sender_constrained("t", o)).status,
            Violated
        );
        assert_eq!(
            with_flow(FlowObs::default(), |o| iss_in_response("t", o)).status,
            Inconclusive
        );
    }

    #[test]
    fn mtls_binding_compares_the_certificate_thumbprint() {
        use base64::Engine;
        let jwt = |claims: serde_json::Value| {
            let e = |v: &serde_json::Value| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
            };
            format!("{}.{}.sig", e(&json!({"alg": "PS256"})), e(&claims))
        };
        let obs_for = |at: String, ours: Option<&str>| FlowObs {
            token_response: Some((json!({"access_token": at, "token_type": "Bearer"}), 3)),
            sender_constraint: Some(SenderConstraint::Mtls),
            client_cert_x5t: ours.map(str::to_owned),
            ..Default::default()
        };
        let check = |fl: FlowObs| with_flow(fl, |o| token_sender_constrained("t", o)).status;
        let bound = jwt(json!({"cnf": {"x5t#S256": "abc"}}));
        assert_eq!(check(obs_for(bound.clone(), Some("abc"))), Held);
        assert_eq!(check(obs_for(bound, Some("xyz"))), Violated);
        assert_eq!(
            check(obs_for(jwt(json!({"sub": "alice"})), Some("abc"))),
            Violated
        );
        assert_eq!(check(obs_for("opaque".into(), Some("abc"))), Held);
    }

    #[test]
    fn refresh_rotation() {
        let stages = || {
            vec![
                rec(Stage::Token, false, StageResult::Accepted),
                rec(Stage::Token, false, StageResult::Accepted),
            ]
        };
        let with = |tokens: Vec<(&str, u32)>, retry: Option<(bool, u32)>| FlowObs {
            stages: stages(),
            refresh_tokens: tokens.into_iter().map(|(t, s)| (t.to_owned(), s)).collect(),
            old_refresh_retry: retry,
            ..Default::default()
        };
        let check = |fl: FlowObs| with_flow(fl, |o| no_refresh_rotation("t", o)).status;
        assert_eq!(check(with(vec![("r1", 1), ("r1", 2)], None)), Held);
        assert_eq!(check(with(vec![("r1", 1)], None)), Held);
        assert_eq!(
            check(with(vec![("r1", 1), ("r2", 2)], Some((false, 3)))),
            Violated
        );
        assert_eq!(
            check(with(vec![("r1", 1), ("r2", 2)], Some((true, 3)))),
            Deviated
        );
        let mut one = with(vec![("r1", 1)], None);
        one.stages.pop();
        assert_eq!(check(one), Inconclusive);
    }

    #[test]
    fn pushed_parameters_win_unless_the_front_channel_is_used() {
        let judge = |result: StageResult, state: &str, nonce_probe: bool| {
            let flow = FlowObs {
                stages: vec![
                    rec(Stage::Par, false, StageResult::Accepted),
                    rec(Stage::Authorization, true, result),
                ],
                sent_state: Some("pushed".into()),
                authz_response: Some(vec![("state".into(), state.into())]),
                nonce_probe_without_nonce: nonce_probe,
                ..Default::default()
            };
            observe(
                Parts {
                    flow: Some(flow),
                    ..Default::default()
                },
                |o| pushed_parameters_win("p", o),
            )
            .status
        };
        assert_eq!(judge(StageResult::Accepted, "pushed", false), Held);
        assert_eq!(judge(StageResult::Accepted, "front", false), Violated);
        assert_eq!(judge(rej("invalid_request"), "", false), Held);
        assert_eq!(
            judge(
                StageResult::RedirectedElsewhere("https://evil.example/cb".into()),
                "",
                false
            ),
            Violated
        );
    }

    #[test]
    fn without_a_pushed_state_none_may_come_back() {
        let judge = |returned: Option<&str>| {
            let flow = FlowObs {
                stages: vec![
                    rec(Stage::Par, false, StageResult::Accepted),
                    rec(Stage::Authorization, true, StageResult::Accepted),
                ],
                sent_state: None,
                authz_response: Some(
                    returned
                        .map(|s| vec![("state".to_owned(), s.to_owned())])
                        .unwrap_or_default(),
                ),
                ..Default::default()
            };
            observe(
                Parts {
                    flow: Some(flow),
                    ..Default::default()
                },
                |o| pushed_parameters_win("p", o),
            )
            .status
        };
        assert_eq!(judge(None), Held);
        assert_eq!(judge(Some("front")), Violated);
    }

    #[test]
    fn a_nonce_probe_without_a_nonce_is_not_applicable() {
        let flow = FlowObs {
            stages: vec![
                rec(Stage::Token, false, StageResult::Accepted),
                rec(Stage::Token, true, StageResult::Accepted),
            ],
            nonce_probe_without_nonce: true,
            ..Default::default()
        };
        let f = observe(
            Parts {
                flow: Some(flow),
                ..Default::default()
            },
            |o| rejected_("r", o, &[Stage::Token], &[]),
        );
        assert_eq!(f.status, NotApplicable, "{}", f.message);
    }
}
