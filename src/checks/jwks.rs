//! Checks on the AS's JWK Set (FAPI 2.0 SP §5.4).

use serde_json::{Map, Value};

use super::{Finding, Observations};

/// The key objects of a JWK Set and the exchange it came from.
pub(super) type Keys<'a> = (Vec<&'a Map<String, Value>>, Option<u32>);

pub const REQ_PUBLIC_ONLY: &str = "FAPI2-SP-5.4.2-1";
pub const REQ_UNIQUE_KIDS: &str = "FAPI2-SP-5.4.2-3";
pub const REQ_RSA_SIZE: &str = "FAPI2-SP-5.4.1-2";

/// Members that only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037).
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// The key objects of the fetched JWK Set; `Err` is an inconclusive finding saying why there are none.
pub(super) fn keys<'a>(f: &Finding, obs: &'a Observations<'_>) -> Result<Keys<'a>, Finding> {
    let Some(doc) = obs.jwks else {
        return Err(f.clone().inconclusive("no JWK Set was fetched"));
    };
    let Some(json) = doc.json.as_ref() else {
        return Err(f.clone().on(doc.exchange).inconclusive(format!(
            "JWK Set at {} is not JSON ({})",
            doc.url,
            doc.problem.as_deref().unwrap_or("unparsable")
        )));
    };
    match json.get("keys").and_then(Value::as_array) {
        Some(arr) => Ok((
            arr.iter().filter_map(Value::as_object).collect(),
            doc.exchange,
        )),
        None => Err(f
            .clone()
            .on(doc.exchange)
            .inconclusive("JWK Set has no `keys` array")),
    }
}

fn label(k: &Map<String, Value>, i: usize) -> String {
    match k.get("kid").and_then(Value::as_str) {
        Some(kid) => format!("kid={kid}"),
        None => format!("keys[{i}]"),
    }
}

/// RFC 7517 §5: a JWK Set is an object with a non-empty `keys` array of objects that carry `kty`.
pub fn well_formed(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name);
    let Some(doc) = obs.jwks else {
        return f.inconclusive("no JWK Set was fetched");
    };
    let f = f.on(doc.exchange);
    let Some(json) = doc.json.as_ref() else {
        return f.violated(format!(
            "JWK Set is not JSON ({})",
            doc.problem.as_deref().unwrap_or("unparsable")
        ));
    };
    let Some(arr) = json.get("keys").and_then(Value::as_array) else {
        return f.violated("JWK Set has no `keys` array");
    };
    if arr.is_empty() {
        return f.violated("JWK Set has no keys");
    }
    let bad: Vec<String> = arr
        .iter()
        .enumerate()
        .filter(|(_, k)| k.get("kty").and_then(Value::as_str).is_none())
        .map(|(i, _)| format!("keys[{i}]"))
        .collect();
    let f = f.evidence("keys", arr.len());
    if bad.is_empty() {
        f.held(format!("{} keys, each with kty", arr.len()))
    } else {
        f.violated(format!("not a JWK (no kty): {}", bad.join(", ")))
    }
}

/// FAPI2-SP-5.4.2-1: the published set holds public keys only — no private or symmetric members.
pub fn public_only(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_PUBLIC_ONLY);
    let (ks, ex) = match keys(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(ex);
    let leaks: Vec<String> = ks
        .iter()
        .enumerate()
        .filter_map(|(i, k)| {
            let members: Vec<&str> = PRIVATE_MEMBERS
                .iter()
                .copied()
                .filter(|m| k.contains_key(*m))
                .collect();
            (!members.is_empty()).then(|| format!("{} has {}", label(k, i), members.join(",")))
        })
        .collect();
    if leaks.is_empty() {
        f.held(format!("{} keys, all public", ks.len()))
    } else {
        // The private values themselves are never copied into evidence; only member names are.
        f.evidence("private_members", leaks.join("; "))
            .violated(format!(
                "JWK Set publishes private key material: {}",
                leaks.join("; ")
            ))
    }
}

/// FAPI2-SP-5.4.2-3: no two keys share a `kid`.
pub fn unique_kids(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_UNIQUE_KIDS);
    let (ks, ex) = match keys(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(ex);
    let kids: Vec<&str> = ks
        .iter()
        .filter_map(|k| k.get("kid").and_then(Value::as_str))
        .collect();
    let mut dups: Vec<&str> = kids
        .iter()
        .copied()
        .filter(|k| kids.iter().filter(|x| *x == k).count() > 1)
        .collect();
    dups.sort_unstable();
    dups.dedup();
    if dups.is_empty() {
        f.held(format!("{} kids, all distinct", kids.len()))
    } else {
        f.evidence("duplicates", dups.join(", "))
            .violated(format!("kid used more than once: {}", dups.join(", ")))
    }
}

/// FAPI2-SP-5.4.1-2 and -3: RSA moduli ≥ 2048 bits; EC keys on P-256 or larger; OKP Ed25519.
pub fn key_sizes(name: &str, obs: &Observations<'_>) -> Finding {
    use base64::Engine;
    let f = Finding::new(name).requirement(REQ_RSA_SIZE);
    let (ks, ex) = match keys(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(ex);
    let mut weak = Vec::new();
    for (i, k) in ks.iter().enumerate() {
        let s = |m: &str| k.get(m).and_then(Value::as_str);
        match s("kty") {
            Some("RSA") => {
                let bits = s("n")
                    .and_then(|n| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD
                            .decode(n.trim_end_matches('='))
                            .ok()
                    })
                    .map(|b| {
                        let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
                        let len = b.len() - first;
                        let lead = b
                            .get(first)
                            .map(|x| 8 - x.leading_zeros() as usize)
                            .unwrap_or(0);
                        if len == 0 { 0 } else { (len - 1) * 8 + lead }
                    });
                match bits {
                    Some(b) if b >= 2048 => {}
                    Some(b) => weak.push(format!("{} RSA {b} bits", label(k, i))),
                    None => weak.push(format!("{} RSA modulus unreadable", label(k, i))),
                }
            }
            Some("EC") => match s("crv") {
                Some("P-256" | "P-384" | "P-521") => {}
                other => weak.push(format!(
                    "{} EC curve {}",
                    label(k, i),
                    other.unwrap_or("(none)")
                )),
            },
            _ => {}
        }
    }
    if weak.is_empty() {
        f.held(format!("{} keys meet the size minimums", ks.len()))
    } else {
        f.evidence("weak", weak.join("; "))
            .violated(format!("weak keys: {}", weak.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use serde_json::json;

    use super::super::FindingStatus::*;
    use super::super::testkit::*;
    use super::*;

    fn n_of_bits(bits: usize) -> String {
        let mut b = vec![0xffu8; bits / 8];
        b[0] = 0x80;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    }

    #[test]
    fn well_formed_needs_keys_with_kty() {
        assert_eq!(
            with_jwks(doc(json!({"keys": [{"kty": "EC"}]})), |o| well_formed(
                "t", o
            ))
            .status,
            Held
        );
        assert_eq!(
            with_jwks(doc(json!({"keys": []})), |o| well_formed("t", o)).status,
            Violated
        );
        assert_eq!(
            with_jwks(doc(json!({"keys": [{"kid": "a"}]})), |o| well_formed(
                "t", o
            ))
            .status,
            Violated
        );
        assert_eq!(
            with_jwks(doc(json!({"k": 1})), |o| well_formed("t", o)).status,
            Violated
        );
        assert_eq!(
            with_jwks(missing_doc(), |o| well_formed("t", o)).status,
            Violated
        );
    }

    #[test]
    fn private_members_are_found_but_not_copied() {
        let ok = json!({"keys": [{"kty": "EC", "kid": "a", "x": "1", "y": "2"}]});
        assert_eq!(with_jwks(doc(ok), |o| public_only("t", o)).status, Held);
        let leak = json!({"keys": [{"kty": "RSA", "kid": "a", "n": "x", "e": "AQAB", "d": "SECRETVALUE"}]});
        let f = with_jwks(doc(leak), |o| public_only("t", o));
        assert_eq!(f.status, Violated);
        assert!(!format!("{f:?}").contains("SECRETVALUE"));
        let sym = json!({"keys": [{"kty": "oct", "k": "abc"}]});
        assert_eq!(
            with_jwks(doc(sym), |o| public_only("t", o)).status,
            Violated
        );
        assert_eq!(
            with_jwks(missing_doc(), |o| public_only("t", o)).status,
            Inconclusive
        );
    }

    #[test]
    fn duplicate_kids_are_reported() {
        let dup = json!({"keys": [{"kty": "EC", "kid": "a"}, {"kty": "RSA", "kid": "a"}, {"kty": "EC", "kid": "b"}]});
        let f = with_jwks(doc(dup), |o| unique_kids("t", o));
        assert_eq!(f.status, Violated);
        assert_eq!(f.message, "kid used more than once: a");
        let ok = json!({"keys": [{"kty": "EC", "kid": "a"}, {"kty": "EC", "kid": "b"}]});
        assert_eq!(with_jwks(doc(ok), |o| unique_kids("t", o)).status, Held);
        assert_eq!(
            with_jwks(missing_doc(), |o| unique_kids("t", o)).status,
            Inconclusive
        );
    }

    #[test]
    fn rsa_and_ec_sizes() {
        let ok = json!({"keys": [{"kty": "RSA", "n": n_of_bits(2048), "e": "AQAB"}, {"kty": "EC", "crv": "P-256"}]});
        assert_eq!(with_jwks(doc(ok), |o| key_sizes("t", o)).status, Held);
        let small =
            json!({"keys": [{"kty": "RSA", "kid": "s", "n": n_of_bits(1024), "e": "AQAB"}]});
        let f = with_jwks(doc(small), |o| key_sizes("t", o));
        assert_eq!(f.status, Violated);
        assert_eq!(f.message, "weak keys: kid=s RSA 1024 bits");
        let curve = json!({"keys": [{"kty": "EC", "crv": "secp192r1"}]});
        assert_eq!(
            with_jwks(doc(curve), |o| key_sizes("t", o)).status,
            Violated
        );
        assert_eq!(
            with_jwks(missing_doc(), |o| key_sizes("t", o)).status,
            Inconclusive
        );
    }
}
