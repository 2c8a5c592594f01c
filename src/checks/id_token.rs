//! Checks on the ID token of a token response: OpenID Connect Core 1.0 §3.1.3.7 as FAPI 2.0
//! profiles it (FAPI2-SP-5.3.2.3, 5.4.1, 5.4.2).
//!
//! They follow the OpenID Foundation suite's conditions for the same token: `ValidateIdToken`
//! (iss, aud, exp, iat), `CheckForSubjectInIdToken`, `ValidateIdTokenNonce`,
//! `ValidateIdTokenSignature` with `FAPI2ValidateIdTokenSigningAlg`. The token is the target's
//! output, so it is decoded with the bounded decoder of `fapi::jose`: a token beyond its bounds is
//! not judged (inconclusive), a token that is no JWS is a violation.

use serde_json::{Map, Value};

use super::{Finding, FlowObs, Observations, Stage, StageResult, flow, jwks};
use crate::fapi::jose::{self, Jws, JwsError};

pub const REQ_SIGNED: &str = "OIDC-2-9";
pub const REQ_NONCE: &str = "OIDC-2-7";
pub const REQ_NO_KEY_URLS: &str = "FAPI2-SP-5.4.2-2";
pub const REQ_USERINFO_SUB: &str = "OIDC-5.3.2-1";

/// Clock skew tolerated for `exp` and for `iat` in the future: the bound FAPI 2.0 sets for JWTs
/// an authorization server receives (FAPI2-SP-5.3.2.1-13). Times are on the server's clock.
const SKEW_SECS: i64 = 60;
/// The oldest `iat` accepted. The token was issued for a code redeemed a moment ago; the OIDF
/// suite's `ValidateIdToken` allows 5 minutes.
const MAX_AGE_SECS: i64 = 300;
/// An `exp` further ahead than 50 years is milliseconds, not seconds (as the OIDF suite reads it).
const MAX_EXP_AHEAD_SECS: i64 = 50 * 365 * 86_400;
/// OIDC Core §2: `sub` must not exceed 255 ASCII characters.
const MAX_SUB_LEN: usize = 255;
/// Characters of a target-supplied value quoted in a message; the rest is cut off.
const QUOTE_CHARS: usize = 80;

/// A target-supplied value for a message, cut short: hostile tokens carry kilobyte claims.
fn quoted(v: &str) -> String {
    match v.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{}…", &v[..i]),
        None => v.to_owned(),
    }
}

/// A claim or header value for a message: strings as they are, other JSON compactly.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => quoted(s),
        other => quoted(&other.to_string()),
    }
}

/// How a check judges a token response without a readable ID token: the claim checks call it a
/// violation (an OpenID Connect token response must carry a valid one, OIDC-3.1.3.3-1); a check
/// of one header detail cannot judge it.
type Judge = fn(Finding, String) -> Finding;

/// The decoded ID token, the exchange of its token response and the flow that got it.
fn id_token<'a>(
    f: &Finding,
    obs: &'a Observations<'_>,
    invalid: Judge,
) -> Result<(Jws, u32, &'a FlowObs), Finding> {
    let Some(fl) = obs.flow else {
        return Err(f.clone().inconclusive("the item ran no OAuth flow"));
    };
    let Some((json, seq)) = &fl.token_response else {
        return Err(f.clone().inconclusive("no token response was received"));
    };
    let f = f.clone().on(Some(*seq));
    let Some(token) = json.get("id_token") else {
        return Err(invalid(
            f,
            "the token response to an openid request has no id_token (OIDC-3.1.3.3-1)".into(),
        ));
    };
    let Some(token) = token.as_str() else {
        return Err(invalid(f, "the id_token is not a string".into()));
    };
    match jose::parse(token) {
        Ok(jws) => Ok((jws, *seq, fl)),
        Err(JwsError::Malformed(why)) => Err(invalid(
            f,
            format!("the id_token is not a compact JWS: {why}"),
        )),
        Err(JwsError::Unreadable(why)) => {
            Err(f.inconclusive(format!("the id_token was not decoded: {why}")))
        }
    }
}

/// OIDC-2-9, FAPI2-SP-5.4.1-1.2: the ID token is signed with PS256, ES256 or EdDSA (never `none`
/// or a MAC) by the key of the `jwks_uri` JWK Set its `kid` names; without `kid` the set must
/// hold a single key (OIDC-10.1-1).
pub fn signature(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_SIGNED).evidence(
        "expected",
        "signed with PS256, ES256 or EdDSA by the jwks_uri key its kid names",
    );
    let (jws, seq, _) = match id_token(&f, obs, Finding::violated) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f
        .on(Some(seq))
        .evidence("alg", jws.alg().map_or("(absent)".into(), quoted))
        .evidence("kid", jws.kid().map_or("(absent)".into(), quoted));
    let alg = jws.alg().unwrap_or("(absent)");
    if !jose::FAPI_ALGS.contains(&alg) {
        return f.violated(match alg {
            "none" => "the ID token is unsigned (alg none)".to_owned(),
            other => format!(
                "the ID token is signed with {}, not PS256, ES256 or EdDSA",
                quoted(other)
            ),
        });
    }
    let keys = match jwks::keys(&f, obs) {
        Ok((keys, _)) => keys,
        Err(e) => return e,
    };
    let named: Vec<&Map<String, Value>> = match jws.kid() {
        Some(kid) => keys
            .iter()
            .copied()
            .filter(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
            .collect(),
        None if keys.len() > 1 => {
            return f.violated(format!(
                "the ID token names no kid, but the JWK Set holds {} keys (OIDC-10.1-1)",
                keys.len()
            ));
        }
        None => keys,
    };
    let which = jws.kid().map_or("its single key".to_owned(), |k| {
        format!("kid `{}`", quoted(k))
    });
    if named.is_empty() {
        return f.violated(match jws.kid() {
            Some(_) => format!("the JWK Set at jwks_uri has no key with {which}"),
            None => "the JWK Set at jwks_uri holds no key".to_owned(),
        });
    }
    let Some(key) = named.iter().find(|k| jose::key_fits(k, alg)) else {
        return f.violated(format!(
            "the key with {which} cannot verify {alg} signatures (its kty, crv, use or alg)"
        ));
    };
    match jws.verify(key) {
        Ok(true) => f.held(format!("{alg} signature verified with {which}")),
        Ok(false) => f.violated(format!("the signature does not verify with {which}")),
        Err(why) => f.violated(format!("the signature does not verify with {which}: {why}")),
    }
}

/// OIDC Core §3.1.3.7 (OIDC-2-1 to -5, -8): `iss` is the issuer; `sub` is present, at most 255
/// printable ASCII characters; `aud` is or contains the client_id and `azp`, if present, equals
/// it; `exp` lies ahead and `iat` lies within the last five minutes, on the server's clock.
pub fn claims(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).evidence(
        "expected",
        "iss = the issuer, sub present, aud holds the client_id (azp too, if present), exp ahead, \
         iat recent",
    );
    let (jws, seq, fl) = match id_token(&f, obs, Finding::violated) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(Some(seq));
    let (Some(client_id), Some(now)) = (fl.token_client_id.as_deref(), fl.token_received_at) else {
        return f.inconclusive("the token request's client or time was not recorded");
    };
    let c = &jws.claims;
    let problems: Vec<String> = [
        iss_problem(c, obs.expected_issuer),
        sub_problem(c),
        aud_problem(c, client_id),
        azp_problem(c, client_id),
        exp_problem(c, now),
        iat_problem(c, now),
    ]
    .into_iter()
    .flatten()
    .collect();
    let actual: Vec<String> = ["iss", "sub", "aud", "azp", "exp", "iat"]
        .iter()
        .filter_map(|k| c.get(*k).map(|v| format!("{k}={}", shown(v))))
        .collect();
    let f = f.evidence("actual", actual.join(", ")).evidence("now", now);
    if problems.is_empty() {
        f.held("iss, sub, aud, exp and iat are valid")
    } else {
        f.violated(problems.join("; "))
    }
}

fn iss_problem(c: &Map<String, Value>, issuer: &str) -> Option<String> {
    match c.get("iss") {
        Some(Value::String(iss)) if iss == issuer => None,
        Some(v) => Some(format!("iss {} is not the issuer {issuer}", shown(v))),
        None => Some("iss is missing".into()),
    }
}

/// As the OIDF suite's `CheckForSubjectInIdToken`: present, not empty, 255 printable ASCII at most.
fn sub_problem(c: &Map<String, Value>) -> Option<String> {
    match c.get("sub") {
        Some(Value::String(s)) if s.is_empty() => Some("sub is empty".into()),
        Some(Value::String(s)) if s.len() > MAX_SUB_LEN => Some(format!(
            "sub is {} characters long, over {MAX_SUB_LEN}",
            s.len()
        )),
        Some(Value::String(s)) if !s.chars().all(|ch| (' '..='~').contains(&ch)) => {
            Some("sub holds characters that are not printable ASCII".into())
        }
        Some(Value::String(_)) => None,
        Some(v) => Some(format!("sub {} is not a string", shown(v))),
        None => Some("sub is missing".into()),
    }
}

fn aud_problem(c: &Map<String, Value>, client_id: &str) -> Option<String> {
    let holds = match c.get("aud") {
        None => return Some("aud is missing".into()),
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
        Some(v) => return Some(format!("aud {} is neither a string nor an array", shown(v))),
    };
    (!holds).then(|| {
        format!(
            "aud {} does not hold the client_id {client_id}",
            shown(&c["aud"])
        )
    })
}

fn azp_problem(c: &Map<String, Value>, client_id: &str) -> Option<String> {
    match c.get("azp") {
        Some(Value::String(azp)) if azp == client_id => None,
        Some(v) => Some(format!("azp {} is not the client_id {client_id}", shown(v))),
        None => None,
    }
}

/// A NumericDate claim (RFC 7519 §2): a JSON number of seconds, possibly fractional.
fn numeric_date(c: &Map<String, Value>, claim: &str) -> Result<i64, String> {
    let v = c.get(claim).ok_or_else(|| format!("{claim} is missing"))?;
    v.as_i64()
        .or_else(|| v.as_f64().filter(|x| x.is_finite()).map(|x| x as i64))
        .ok_or_else(|| format!("{claim} {} is not a number", shown(v)))
}

fn exp_problem(c: &Map<String, Value>, now: i64) -> Option<String> {
    match numeric_date(c, "exp") {
        Err(why) => Some(why),
        Ok(exp) if exp <= now - SKEW_SECS => Some(format!(
            "exp {exp} has passed ({} s before the token response)",
            now - exp
        )),
        Ok(exp) if exp > now.saturating_add(MAX_EXP_AHEAD_SECS) => Some(format!(
            "exp {exp} is over 50 years ahead (milliseconds instead of seconds?)"
        )),
        Ok(_) => None,
    }
}

fn iat_problem(c: &Map<String, Value>, now: i64) -> Option<String> {
    match numeric_date(c, "iat") {
        Err(why) => Some(why),
        Ok(iat) if iat > now + SKEW_SECS => Some(format!(
            "iat {iat} is {} s in the future",
            iat.saturating_sub(now)
        )),
        Ok(iat) if iat < now - MAX_AGE_SECS => Some(format!(
            "iat {iat} is {} s old, more than {MAX_AGE_SECS} s for a token just issued",
            now.saturating_sub(iat)
        )),
        Ok(_) => None,
    }
}

/// OIDC-2-7: the ID token's `nonce` equals the one the authorization request sent.
pub fn nonce(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_NONCE);
    let (jws, seq, fl) = match id_token(&f, obs, Finding::violated) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(Some(seq));
    let Some(sent) = fl.sent_nonce.as_deref() else {
        return f.inconclusive("the authorization request carried no nonce");
    };
    let f = f.evidence("expected", quoted(sent));
    match jws.claims.get("nonce") {
        Some(Value::String(n)) if n == sent => f
            .evidence("actual", quoted(n))
            .held("nonce equals the one sent"),
        Some(v) => f
            .evidence("actual", shown(v))
            .violated("the ID token's nonce differs from the one sent"),
        None => f
            .evidence("actual", "(absent)")
            .violated("the ID token has no nonce, though the request sent one"),
    }
}

/// RFC9126-4-3 for the `nonce`: after a different nonce was sent next to `request_uri`, the ID
/// token carries the pushed one, never the front-channel one.
pub fn pushed_nonce_won(f: Finding, obs: &Observations<'_>, front: &str) -> Finding {
    let (jws, seq, fl) = match id_token(&f, obs, Finding::violated) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(Some(seq));
    let nonce = jws.claims.get("nonce").and_then(Value::as_str);
    match (nonce, fl.sent_nonce.as_deref()) {
        (Some(n), _) if n == front => f
            .evidence("actual", quoted(n))
            .violated("the ID token carries the front-channel nonce, not the pushed one"),
        (Some(n), Some(pushed)) if n == pushed => f
            .evidence("actual", quoted(n))
            .held("the pushed redirect_uri, state and nonce were used"),
        (n, _) => f
            .evidence("actual", n.map_or("(absent)".to_owned(), quoted))
            .violated("the ID token's nonce is not the pushed one"),
    }
}

/// FAPI2-SP-5.4.2-2: the ID token's JOSE header carries neither `x5u` nor `jku`: keys come from
/// `jwks_uri`, never from a URL the token names.
pub fn no_x5u_jku(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_NO_KEY_URLS)
        .evidence("expected", "no x5u or jku header");
    let (jws, seq, _) = match id_token(&f, obs, Finding::inconclusive) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(Some(seq));
    let found: Vec<String> = ["x5u", "jku"]
        .iter()
        .filter_map(|h| jws.header.get(*h).map(|v| format!("{h}={}", shown(v))))
        .collect();
    if found.is_empty() {
        f.evidence("actual", "neither").held("no x5u or jku header")
    } else {
        f.evidence("actual", found.join(", ")).violated(format!(
            "the ID token's JOSE header carries {}",
            found.join(" and ")
        ))
    }
}

/// OIDC-5.3.2-1: the userinfo response's `sub` equals the ID token's. FAPI2-SP-5.3.2.3 asks it
/// only of an AS that offers userinfo; without a `userinfo_endpoint` it does not apply.
pub fn userinfo_sub(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_USERINFO_SUB);
    let Some(fl) = obs.flow else {
        return f.inconclusive("the item ran no OAuth flow");
    };
    match fl.userinfo_offered {
        None => return f.inconclusive("no userinfo request was made"),
        Some(false) => return f.not_applicable("the metadata offers no userinfo_endpoint"),
        Some(true) => {}
    }
    if let Some(r) = fl
        .stages
        .iter()
        .find(|r| r.stage == Stage::Userinfo && r.result != StageResult::Accepted)
    {
        let f = f.on(r.exchange).evidence("actual", flow::describe(r));
        return match &r.result {
            // RFC 6750 §3.1: the token lacks the privileges, typically because the AS bound it to
            // another resource (RFC 8707 audience restriction, a legitimate AS policy). Whether
            // userinfo must accept such a token is OIDC-5.3-1, which this item does not judge;
            // the sub comparison it does judge cannot be made.
            StageResult::Rejected {
                error: Some(e), ..
            } if e == "insufficient_scope" => f.not_applicable(format!(
                "userinfo refused the access token as insufficient_scope (bound to another resource?), so there is no sub to compare: {}",
                flow::describe(r)
            )),
            StageResult::Rejected { .. } => f.violated(format!(
                "userinfo refused the access token of a correct flow (OIDC Core §5.3): {}",
                flow::describe(r)
            )),
            _ => f.inconclusive(flow::describe(r)),
        };
    }
    let Some((json, seq)) = &fl.userinfo_response else {
        return f.inconclusive(
            "no JSON userinfo response (a signed or encrypted one is not read), or no userinfo stage ran",
        );
    };
    let (jws, _, _) = match id_token(&f, obs, Finding::inconclusive) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(Some(*seq));
    let Some(id_sub) = jws.claims.get("sub").and_then(Value::as_str) else {
        return f.inconclusive("the ID token has no sub to compare with");
    };
    let f = f.evidence("expected", quoted(id_sub));
    match json.get("sub") {
        Some(Value::String(sub)) if sub == id_sub => f
            .evidence("actual", quoted(sub))
            .held("userinfo sub equals the ID token's"),
        Some(v) => f
            .evidence("actual", shown(v))
            .violated("the userinfo sub differs from the ID token's"),
        None => f
            .evidence("actual", "(absent)")
            .violated("the userinfo response has no sub"),
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use serde_json::json;

    use super::super::FindingStatus::*;
    use super::super::testkit::{Parts, doc, observe};
    use super::*;
    use crate::fapi::jose::{sign, unsigned};
    use crate::target::keys::{SigningKey, parse_signing_key};

    const NOW: i64 = 1_700_000_000;
    type Check = fn(&str, &Observations<'_>) -> Finding;
    const ALL: [Check; 4] = [signature, claims, nonce, no_x5u_jku];
    /// A change to a token's claims.
    type Change = Box<dyn FnOnce(&mut Value)>;

    fn key(kid: &str) -> SigningKey {
        let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_pem();
        parse_signing_key(&pem, None, Some(kid)).unwrap()
    }

    fn good_claims() -> Value {
        json!({"iss": "https://as.example", "sub": "alice", "aud": "client-1",
               "exp": NOW + 300, "iat": NOW, "nonce": "n-1"})
    }

    fn signed(k: &SigningKey, header: Value, claims: &Value) -> String {
        sign(header, claims, k).unwrap()
    }

    /// A conformant token by `k`, with `change` applied to its claims.
    fn token_with(k: &SigningKey, change: impl FnOnce(&mut Value)) -> String {
        let mut c = good_claims();
        change(&mut c);
        signed(k, json!({"kid": k.kid}), &c)
    }

    fn jwks(keys: &[&SigningKey]) -> Value {
        json!({"keys": keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()})
    }

    fn flow_with(response: Value) -> FlowObs {
        FlowObs {
            token_response: Some((response, 7)),
            token_client_id: Some("client-1".into()),
            token_received_at: Some(NOW),
            sent_nonce: Some("n-1".into()),
            ..Default::default()
        }
    }

    fn judge_flow(check: Check, fl: FlowObs, set: Value) -> Finding {
        let parts = Parts {
            flow: Some(fl),
            jwks: Some(doc(set)),
            ..Default::default()
        };
        observe(parts, |o| check("t", o))
    }

    fn judge(check: Check, token: &str, set: Value) -> Finding {
        judge_flow(check, flow_with(json!({"id_token": token})), set)
    }

    #[test]
    fn a_conformant_id_token_holds_every_check() {
        let k = key("k1");
        let t = token_with(&k, |_| {});
        for check in ALL {
            let f = judge(check, &t, jwks(&[&k]));
            assert_eq!(f.status, Held, "{f:?}");
            assert_eq!(f.exchange, Some(7), "the token response is the evidence");
        }
    }

    #[test]
    fn unsigned_mac_and_unknown_algorithms_are_violations() {
        let k = key("k1");
        let none = unsigned(json!({"kid": "k1"}), &good_claims());
        let f = judge(signature, &none, jwks(&[&k]));
        assert_eq!(
            (f.status, f.message.as_str()),
            (Violated, "the ID token is unsigned (alg none)")
        );
        let hs256 = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","kid":"k1"}"#),
            URL_SAFE_NO_PAD.encode(good_claims().to_string())
        );
        assert_eq!(judge(signature, &hs256, jwks(&[&k])).status, Violated);
    }

    #[test]
    fn the_signing_key_must_be_the_one_the_kid_names_in_jwks_uri() {
        let (k1, k2) = (key("k1"), key("k2"));
        let bogus_kid = signed(&k1, json!({"kid": "no-such-key"}), &good_claims());
        let f = judge(signature, &bogus_kid, jwks(&[&k1, &k2]));
        assert_eq!(f.status, Violated);
        assert!(
            f.message.contains("no key with kid `no-such-key`"),
            "{}",
            f.message
        );
        let wrong_key = signed(&k2, json!({"kid": "k1"}), &good_claims());
        assert_eq!(
            judge(signature, &wrong_key, jwks(&[&k1, &k2])).status,
            Violated
        );
        let no_kid = signed(&k1, json!({}), &good_claims());
        assert_eq!(judge(signature, &no_kid, jwks(&[&k1])).status, Held);
        assert_eq!(
            judge(signature, &no_kid, jwks(&[&k1, &k2])).status,
            Violated
        );
        let mut enc = k1.public_jwk.clone();
        enc["use"] = json!("enc");
        let f = judge(signature, &token_with(&k1, |_| {}), json!({"keys": [enc]}));
        assert_eq!(f.status, Violated, "an encryption key does not verify");
        let f = judge(signature, &token_with(&k1, |_| {}), json!({"k": 1}));
        assert_eq!(f.status, Inconclusive, "no JWK Set, no verdict");
    }

    #[test]
    fn each_broken_claim_is_a_violation() {
        let k = key("k1");
        let cases: Vec<(&str, Change)> = vec![
            (
                "iss",
                Box::new(|c| c["iss"] = json!("https://evil.example")),
            ),
            (
                "iss is missing",
                Box::new(|c| drop(c.as_object_mut().unwrap().remove("iss"))),
            ),
            (
                "sub is missing",
                Box::new(|c| drop(c.as_object_mut().unwrap().remove("sub"))),
            ),
            (
                "sub is 256",
                Box::new(|c| c["sub"] = json!("a".repeat(256))),
            ),
            ("printable", Box::new(|c| c["sub"] = json!("al\u{e9}"))),
            ("aud", Box::new(|c| c["aud"] = json!(["other"]))),
            ("aud", Box::new(|c| c["aud"] = json!(1))),
            ("azp", Box::new(|c| c["azp"] = json!("other"))),
            ("exp", Box::new(|c| c["exp"] = json!(NOW - 600))),
            ("exp", Box::new(|c| c["exp"] = json!((NOW + 300) * 1000))),
            ("exp", Box::new(|c| c["exp"] = json!("soon"))),
            ("iat", Box::new(|c| c["iat"] = json!(NOW + 120))),
            ("iat", Box::new(|c| c["iat"] = json!(NOW - 3600))),
            (
                "iat is missing",
                Box::new(|c| drop(c.as_object_mut().unwrap().remove("iat"))),
            ),
        ];
        for (expected, change) in cases {
            let f = judge(claims, &token_with(&k, change), jwks(&[&k]));
            assert_eq!(f.status, Violated, "{expected}: {f:?}");
            assert!(f.message.contains(expected), "{expected}: {}", f.message);
        }
    }

    #[test]
    fn tolerated_claim_forms_hold() {
        let k = key("k1");
        for change in [
            Box::new(|c: &mut Value| c["aud"] = json!(["rs", "client-1"])) as Change,
            Box::new(|c| c["azp"] = json!("client-1")),
            Box::new(|c| c["exp"] = json!(NOW as f64 + 300.5)),
            Box::new(|c| c["exp"] = json!(NOW - 30)),
            Box::new(|c| c["iat"] = json!(NOW + 30)),
        ] {
            let f = judge(claims, &token_with(&k, change), jwks(&[&k]));
            assert_eq!(f.status, Held, "{f:?}");
        }
    }

    #[test]
    fn the_nonce_must_be_the_one_sent() {
        let k = key("k1");
        let other = token_with(&k, |c| c["nonce"] = json!("n-2"));
        assert_eq!(judge(nonce, &other, jwks(&[&k])).status, Violated);
        let absent = token_with(&k, |c| drop(c.as_object_mut().unwrap().remove("nonce")));
        assert_eq!(judge(nonce, &absent, jwks(&[&k])).status, Violated);
        let mut fl = flow_with(json!({"id_token": token_with(&k, |_| {})}));
        fl.sent_nonce = None;
        assert_eq!(judge_flow(nonce, fl, jwks(&[&k])).status, Inconclusive);
    }

    #[test]
    fn key_urls_in_the_header_are_violations() {
        let k = key("k1");
        let t = signed(
            &k,
            json!({"kid": "k1", "jku": "https://evil.example/jwks"}),
            &good_claims(),
        );
        let f = judge(no_x5u_jku, &t, jwks(&[&k]));
        assert_eq!(f.status, Violated);
        assert!(f.message.contains("jku"), "{}", f.message);
        assert_eq!(judge(signature, &t, jwks(&[&k])).status, Held);
    }

    #[test]
    fn a_missing_or_broken_id_token_is_judged_and_an_unreadable_one_is_not() {
        let k = key("k1");
        let set = || jwks(&[&k]);
        let no_token = flow_with(json!({"access_token": "a"}));
        assert_eq!(
            judge_flow(signature, no_token.clone(), set()).status,
            Violated
        );
        assert_eq!(judge_flow(no_x5u_jku, no_token, set()).status, Inconclusive);
        assert_eq!(judge(claims, "not.a-jws", set()).status, Violated);
        let deep = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"PS256"}"#),
            URL_SAFE_NO_PAD.encode(format!("{}1{}", "[".repeat(1000), "]".repeat(1000)))
        );
        for check in ALL {
            assert_eq!(judge(check, &deep, set()).status, Inconclusive);
        }
        let nothing = observe(Parts::default(), |o| claims("t", o));
        assert_eq!(nothing.status, Inconclusive);
    }

    #[test]
    fn userinfo_sub_must_be_the_id_tokens_where_userinfo_is_offered() {
        let k = key("k1");
        let with_userinfo = |offered: Option<bool>, body: Option<Value>, result: StageResult| {
            let mut fl = flow_with(json!({"id_token": token_with(&k, |_| {})}));
            fl.userinfo_offered = offered;
            fl.userinfo_response = body.map(|b| (b, 9));
            fl.stages.push(super::super::StageRecord {
                stage: Stage::Userinfo,
                step: 3,
                under_test: false,
                result,
                exchange: Some(9),
            });
            judge_flow(userinfo_sub, fl, jwks(&[&k]))
        };
        let ok = StageResult::Accepted;
        let f = with_userinfo(Some(true), Some(json!({"sub": "alice"})), ok.clone());
        assert_eq!((f.status, f.exchange), (Held, Some(9)));
        let other = with_userinfo(Some(true), Some(json!({"sub": "bob"})), ok.clone());
        assert_eq!(other.status, Violated);
        let none = with_userinfo(Some(true), Some(json!({"name": "x"})), ok.clone());
        assert_eq!(none.status, Violated);
        let refused = StageResult::Rejected {
            status: Some(401),
            error: Some("invalid_token".into()),
            how: "WWW-Authenticate error".into(),
            iss_ok: None,
            well_formed: true,
        };
        assert_eq!(with_userinfo(Some(true), None, refused).status, Violated);
        let other_resource = StageResult::Rejected {
            status: Some(403),
            error: Some("insufficient_scope".into()),
            how: "WWW-Authenticate error".into(),
            iss_ok: None,
            well_formed: true,
        };
        assert_eq!(
            with_userinfo(Some(true), None, other_resource).status,
            NotApplicable
        );
        assert_eq!(
            with_userinfo(Some(false), None, ok.clone()).status,
            NotApplicable
        );
        assert_eq!(with_userinfo(None, None, ok).status, Inconclusive);
    }

    #[test]
    fn hostile_values_are_quoted_short() {
        let long = "x".repeat(10_000);
        assert_eq!(quoted(&long).chars().count(), QUOTE_CHARS + 1);
        assert_eq!(quoted("é"), "é");
    }
}
