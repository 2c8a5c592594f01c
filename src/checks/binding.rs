//! What the AS says about the access token's sender constraint where a client can read it: in
//! introspection (RFC 7662; RFC 9449 §6.2, RFC 8705 §3.2) and in a JWT access token (RFC 9449
//! §6.1).

use serde_json::Value;

use super::{Finding, Observations};
use crate::plan::SenderConstraint;

pub const REQ_DPOP: &str = "RFC9449-6.2-1";
pub const REQ_MTLS: &str = "RFC8705-3.2-1";
pub const REQ_JWT_JKT: &str = "RFC9449-6.1-1";

/// The introspection response of an active token carries the binding the token has: `cnf.jkt`
/// equal to the thumbprint of the flow's DPoP key (and a `token_type`, if any, of `DPoP`), or
/// `cnf.x5t#S256` equal to the client certificate's.
pub fn introspection(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name);
    let Some(fl) = obs.flow else {
        return f.inconclusive("the item ran no OAuth flow");
    };
    let Some((json, seq)) = &fl.introspection else {
        return f.inconclusive("no introspection response was received");
    };
    let f = f.on(Some(*seq));
    let cnf = |member: &str| {
        json.get("cnf")
            .and_then(|c| c.get(member))
            .and_then(Value::as_str)
    };
    match fl.sender_constraint {
        Some(SenderConstraint::Dpop) => {
            let f = f.requirement(REQ_DPOP);
            let Some(ours) = fl.dpop_jkt.as_deref() else {
                return f.inconclusive("the flow used no DPoP key");
            };
            let f = f.evidence("expected", format!("cnf.jkt={ours}"));
            let token_type = json.get("token_type").and_then(Value::as_str);
            match (cnf("jkt"), token_type) {
                (None, _) => f.evidence("actual", "no cnf.jkt").violated(
                    "introspection shows no DPoP binding (cnf.jkt) for a DPoP-bound token",
                ),
                (Some(t), _) if t != ours => f
                    .evidence("actual", format!("cnf.jkt={t}"))
                    .violated("introspection names another key than the one the token is bound to"),
                (Some(_), Some(tt)) if !tt.eq_ignore_ascii_case("DPoP") => f
                    .evidence("actual", format!("token_type={tt}"))
                    .violated(format!("introspection says token_type {tt}, not DPoP")),
                (Some(t), _) => f
                    .evidence("actual", format!("cnf.jkt={t}"))
                    .held("introspection shows the token bound to the flow's DPoP key"),
            }
        }
        Some(SenderConstraint::Mtls) => {
            let f = f.requirement(REQ_MTLS);
            let Some(ours) = fl.client_cert_x5t.as_deref() else {
                return f.inconclusive("the token request presented no client certificate");
            };
            let f = f.evidence("expected", format!("cnf.x5t#S256={ours}"));
            match cnf("x5t#S256") {
                None => f.evidence("actual", "no cnf.x5t#S256").violated(
                    "introspection shows no certificate binding (cnf.x5t#S256) for a certificate-bound token",
                ),
                Some(t) if t != ours => f
                    .evidence("actual", format!("cnf.x5t#S256={t}"))
                    .violated("introspection names another certificate than the client's"),
                Some(t) => f
                    .evidence("actual", format!("cnf.x5t#S256={t}"))
                    .held("introspection shows the token bound to the client certificate"),
            }
        }
        None => f.inconclusive("the variant names no sender constraint"),
    }
}

/// RFC9449-6.1-1: a DPoP-bound JWT access token carries `cnf.jkt`, the thumbprint of the key the
/// token request proved. An opaque token says nothing to the client: not applicable (the
/// introspection item reads its binding).
pub fn access_token_jkt(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_JWT_JKT);
    let Some(fl) = obs.flow else {
        return f.inconclusive("the item ran no OAuth flow");
    };
    let Some((json, seq)) = &fl.token_response else {
        return f.inconclusive("no token response was received");
    };
    let f = f.on(Some(*seq));
    let Some(ours) = fl.dpop_jkt.as_deref() else {
        return f.inconclusive("the token request carried no DPoP proof");
    };
    let f = f.evidence("expected", format!("cnf.jkt={ours}"));
    let at = json
        .get("access_token")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some((_, claims)) = crate::fapi::jose::decode_unverified(at) else {
        return f.not_applicable(
            "the access token is opaque: RFC 9449 §6.1 concerns JWT access tokens (introspection \
             shows an opaque token's binding, RFC9449-6.2-1)",
        );
    };
    match claims.pointer("/cnf/jkt").and_then(Value::as_str) {
        None => f
            .evidence("actual", "no cnf.jkt")
            .violated("the JWT access token carries no cnf.jkt"),
        Some(t) if t != ours => f.evidence("actual", format!("cnf.jkt={t}")).violated(
            "the JWT access token names another key than the one the token request proved",
        ),
        Some(t) => f
            .evidence("actual", format!("cnf.jkt={t}"))
            .held("the JWT access token is bound to the proof key"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::FindingStatus::{self, *};
    use super::super::flow::FlowObs;
    use super::super::testkit::{Parts, observe};
    use super::*;

    fn judge(sc: SenderConstraint, body: Value) -> FindingStatus {
        let flow = FlowObs {
            sender_constraint: Some(sc),
            dpop_jkt: Some("jkt-1".into()),
            client_cert_x5t: Some("x5t-1".into()),
            introspection: Some((body, 7)),
            ..Default::default()
        };
        let parts = Parts {
            flow: Some(flow),
            ..Default::default()
        };
        observe(parts, |o| introspection("b", o).status)
    }

    #[test]
    fn dpop_binding_needs_the_flow_key_and_a_dpop_token_type() {
        let dpop = SenderConstraint::Dpop;
        assert_eq!(
            judge(dpop, json!({"active": true, "cnf": {"jkt": "jkt-1"}})),
            Held
        );
        let typed = json!({"active": true, "token_type": "DPoP", "cnf": {"jkt": "jkt-1"}});
        assert_eq!(judge(dpop, typed), Held);
        let bearer = json!({"active": true, "token_type": "Bearer", "cnf": {"jkt": "jkt-1"}});
        assert_eq!(judge(dpop, bearer), Violated);
        assert_eq!(
            judge(dpop, json!({"active": true, "cnf": {"jkt": "other"}})),
            Violated
        );
        assert_eq!(judge(dpop, json!({"active": true})), Violated);
    }

    #[test]
    fn mtls_binding_needs_the_client_certificate() {
        let mtls = SenderConstraint::Mtls;
        let ok = json!({"active": true, "cnf": {"x5t#S256": "x5t-1"}});
        assert_eq!(judge(mtls, ok), Held);
        let other = json!({"active": true, "cnf": {"x5t#S256": "x5t-2"}});
        assert_eq!(judge(mtls, other), Violated);
        assert_eq!(judge(mtls, json!({"active": true})), Violated);
    }

    /// A JWT with these claims; the signature is not judged here.
    fn jwt(claims: Value) -> String {
        use base64::Engine;
        let b64 = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        format!(
            "{}.{}.c2ln",
            b64(&json!({"alg": "PS256", "typ": "at+jwt"})),
            b64(&claims)
        )
    }

    #[test]
    fn a_dpop_bound_jwt_access_token_names_the_proof_key() {
        let judge = |access_token: String| {
            let flow = FlowObs {
                dpop_jkt: Some("jkt-1".into()),
                token_response: Some((json!({"access_token": access_token}), 3)),
                ..Default::default()
            };
            let parts = Parts {
                flow: Some(flow),
                ..Default::default()
            };
            observe(parts, |o| access_token_jkt("j", o).status)
        };
        assert_eq!(judge(jwt(json!({"cnf": {"jkt": "jkt-1"}}))), Held);
        assert_eq!(judge(jwt(json!({"cnf": {"jkt": "jkt-2"}}))), Violated);
        assert_eq!(judge(jwt(json!({"sub": "alice"}))), Violated);
        assert_eq!(judge("opaque-token-value".into()), NotApplicable);
    }
}
