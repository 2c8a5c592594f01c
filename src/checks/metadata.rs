//! Checks on the AS metadata document (RFC 8414, OpenID Connect Discovery, FAPI 2.0 SP).

use serde_json::{Map, Value};

use super::{Document, Finding, MemberEquals, MemberValues, Observations};

pub const REQ_ISSUER_MATCHES: &str = "RFC8414-3.3-1";
pub const REQ_ISSUER_WELL_FORMED: &str = "RFC8414-2-1";
pub const REQ_ENDPOINTS_HTTPS: &str = "FAPI2-SP-5.2.1-1.a";
pub const REQ_NO_NONE_ALG: &str = "RFC8414-2-3";

/// Members whose values are endpoint URLs the client talks to (RFC 8414 §2, OIDD §3, RFC 9126 §5).
pub const ENDPOINT_MEMBERS: &[&str] = &[
    "authorization_endpoint",
    "token_endpoint",
    "pushed_authorization_request_endpoint",
    "jwks_uri",
    "userinfo_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
    "registration_endpoint",
    "end_session_endpoint",
    "device_authorization_endpoint",
    "backchannel_authentication_endpoint",
];

/// The metadata object, or an inconclusive finding saying why there is none.
fn object<'a>(
    f: &Finding,
    obs: &'a Observations<'_>,
) -> Result<(&'a Map<String, Value>, &'a Document), Finding> {
    let Some(meta) = obs.metadata else {
        return Err(f.clone().inconclusive("no metadata document was fetched"));
    };
    match meta.doc.json.as_ref().and_then(Value::as_object) {
        Some(o) => Ok((o, &meta.doc)),
        None => Err(f.clone().on(meta.doc.exchange).inconclusive(format!(
            "metadata at {} is not a JSON object ({})",
            meta.doc.url,
            meta.doc.problem.as_deref().unwrap_or("not an object")
        ))),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 200 {
        let head: String = s.chars().take(200).collect();
        format!("{head}…")
    } else {
        s
    }
}

/// RFC8414-3.3-1 / OIDD-4.3-1: the returned `issuer` is identical to the issuer used to build
/// the metadata URL. Exact string comparison: a trailing slash is a difference (RFC 8414 §3.3).
pub fn issuer_matches(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_ISSUER_MATCHES)
        .evidence("expected", obs.expected_issuer);
    let (o, doc) = match object(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(doc.exchange);
    match o.get("issuer") {
        Some(Value::String(s)) if s == obs.expected_issuer => {
            f.evidence("actual", s).held("issuer matches")
        }
        Some(Value::String(s)) => f.evidence("actual", s).violated(format!(
            "metadata issuer `{s}` differs from the expected `{}`",
            obs.expected_issuer
        )),
        Some(other) => f
            .evidence("actual", short(other))
            .violated("metadata issuer is not a string"),
        None => f
            .evidence("actual", "(absent)")
            .violated("metadata has no issuer"),
    }
}

/// RFC8414-2-1 / OIDD-3-1: `issuer` is an https URL with no query and no fragment.
pub fn issuer_well_formed(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_ISSUER_WELL_FORMED);
    let (o, doc) = match object(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(doc.exchange);
    let Some(Value::String(issuer)) = o.get("issuer") else {
        return f.violated("metadata has no string issuer");
    };
    let f = f.evidence("issuer", issuer);
    match url::Url::parse(issuer) {
        Err(e) => f.violated(format!("issuer is not a URL: {e}")),
        Ok(u) if u.scheme() != "https" => {
            f.violated(format!("issuer uses `{}`, not https", u.scheme()))
        }
        Ok(u) if u.query().is_some() => f.violated("issuer has a query component"),
        Ok(u) if u.fragment().is_some() => f.violated("issuer has a fragment component"),
        Ok(_) => f.held("issuer is an https URL without query or fragment"),
    }
}

/// The metadata has each named member (RFC8414-2-2, OIDD-3-x, FAPI2-SP-5.3.2.1-1).
pub fn required_members(name: &str, obs: &Observations<'_>, members: &[String]) -> Finding {
    let f = Finding::new(name).evidence("expected", members.join(", "));
    let (o, doc) = match object(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(doc.exchange);
    let missing: Vec<&str> = members
        .iter()
        .filter(|m| o.get(m.as_str()).is_none_or(Value::is_null))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        f.held("all required members present")
    } else {
        f.evidence("missing", missing.join(", "))
            .violated(format!("metadata lacks {}", missing.join(", ")))
    }
}

/// FAPI2-SP-5.2.1-1.a: every endpoint in the metadata, including `mtls_endpoint_aliases`, is https.
pub fn endpoints_https(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_ENDPOINTS_HTTPS);
    let (o, doc) = match object(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(doc.exchange);
    let mut urls: Vec<(String, &Value)> = ENDPOINT_MEMBERS
        .iter()
        .filter_map(|m| o.get(*m).map(|v| ((*m).to_owned(), v)))
        .collect();
    if let Some(Value::Object(aliases)) = o.get("mtls_endpoint_aliases") {
        urls.extend(
            aliases
                .iter()
                .map(|(k, v)| (format!("mtls_endpoint_aliases.{k}"), v)),
        );
    }
    let bad: Vec<String> = urls
        .iter()
        .filter(|(_, v)| {
            v.as_str()
                .and_then(|s| url::Url::parse(s).ok())
                .is_none_or(|u| u.scheme() != "https")
        })
        .map(|(k, v)| format!("{k}={}", short(v)))
        .collect();
    let f = f.evidence("endpoints_checked", urls.len());
    if bad.is_empty() {
        f.held(format!("{} endpoint URLs, all https", urls.len()))
    } else {
        f.evidence("not_https", bad.join(", "))
            .violated(format!("endpoint not https: {}", bad.join(", ")))
    }
}

/// The member as a list of strings, or why it cannot be read as one.
enum Listed<'a> {
    Absent,
    Values(Vec<&'a str>),
    NotAList(&'a Value),
}

fn listed<'a>(o: &'a Map<String, Value>, member: &str) -> Listed<'a> {
    match o.get(member) {
        None | Some(Value::Null) => Listed::Absent,
        Some(Value::Array(a)) => {
            let strings: Option<Vec<&str>> = a.iter().map(Value::as_str).collect();
            match strings {
                Some(s) => Listed::Values(s),
                None => Listed::NotAList(&o[member]),
            }
        }
        Some(other) => Listed::NotAList(other),
    }
}

/// How a list of values must relate to a metadata array member.
#[derive(Clone, Copy)]
enum ListRule {
    /// Every value is listed (e.g. `code_challenge_methods_supported` ∋ S256).
    Includes,
    /// None of the values is listed (e.g. no `password` grant).
    Excludes,
    /// Only these values are listed (e.g. auth methods ⊆ private_key_jwt, tls_client_auth).
    Subset,
}

impl ListRule {
    fn expected_key(self) -> &'static str {
        match self {
            ListRule::Includes => "expected",
            ListRule::Excludes => "forbidden",
            ListRule::Subset => "allowed",
        }
    }

    /// Whether an absent member breaks the rule unless the plan says otherwise: a required
    /// value cannot be listed by an absent member; nothing forbidden is advertised by one.
    fn absent_violates(self) -> bool {
        matches!(self, ListRule::Includes)
    }

    /// The values that break the rule (none when it holds).
    fn offenders<'a>(self, listed: &[&'a str], values: &'a [String]) -> Vec<&'a str> {
        match self {
            ListRule::Includes => values
                .iter()
                .map(String::as_str)
                .filter(|v| !listed.contains(v))
                .collect(),
            ListRule::Excludes => listed
                .iter()
                .copied()
                .filter(|v| values.iter().any(|x| x == v))
                .collect(),
            ListRule::Subset => listed
                .iter()
                .copied()
                .filter(|v| !values.iter().any(|x| x == v))
                .collect(),
        }
    }

    fn verdict(self, member: &str, values: &[String], offenders: &[&str]) -> (bool, String) {
        let (ok, bad) = (offenders.is_empty(), offenders.join(", "));
        let message = match (self, ok) {
            (ListRule::Includes, true) => format!("{member} lists {}", values.join(", ")),
            (ListRule::Includes, false) => format!("{member} does not list {bad}"),
            (ListRule::Excludes, true) => format!("{member} lists none of {}", values.join(", ")),
            (ListRule::Excludes, false) => format!("{member} lists {bad}"),
            (ListRule::Subset, true) => format!("{member} lists only allowed values"),
            (ListRule::Subset, false) => format!("{member} lists {bad} (not allowed)"),
        };
        (ok, message)
    }
}

fn member_list(name: &str, obs: &Observations<'_>, m: &MemberValues, rule: ListRule) -> Finding {
    let f = Finding::new(name)
        .evidence("member", &m.member)
        .evidence(rule.expected_key(), m.values.join(", "));
    let (o, doc) = match object(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(doc.exchange);
    match listed(o, &m.member) {
        Listed::Absent if m.required.unwrap_or(rule.absent_violates()) => f
            .evidence("actual", "(absent)")
            .violated(format!("metadata has no {}", m.member)),
        Listed::Absent => f
            .evidence("actual", "(absent)")
            .held(format!("{} not published", m.member)),
        Listed::NotAList(v) => f
            .evidence("actual", short(v))
            .violated(format!("{} is not an array of strings", m.member)),
        Listed::Values(vals) => {
            let offenders = rule.offenders(&vals, &m.values);
            let (ok, message) = rule.verdict(&m.member, &m.values, &offenders);
            let f = f.evidence("actual", vals.join(", "));
            if ok {
                f.held(message)
            } else {
                f.violated(message)
            }
        }
    }
}

/// A metadata array contains each expected value (e.g. `code_challenge_methods_supported` ∋ S256).
pub fn member_includes(name: &str, obs: &Observations<'_>, m: &MemberValues) -> Finding {
    member_list(name, obs, m, ListRule::Includes)
}

/// A metadata array lists none of the forbidden values (e.g. no `password` grant).
pub fn member_excludes(name: &str, obs: &Observations<'_>, m: &MemberValues) -> Finding {
    member_list(name, obs, m, ListRule::Excludes)
}

/// A metadata array lists only allowed values (e.g. auth methods ⊆ private_key_jwt, tls_client_auth).
pub fn member_subset(name: &str, obs: &Observations<'_>, m: &MemberValues) -> Finding {
    member_list(name, obs, m, ListRule::Subset)
}

/// A metadata member has exactly this JSON value (e.g. `require_pushed_authorization_requests: true`).
pub fn member_equals(name: &str, obs: &Observations<'_>, m: &MemberEquals) -> Finding {
    let f = Finding::new(name)
        .evidence("member", &m.member)
        .evidence("expected", short(&m.value));
    let (o, doc) = match object(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(doc.exchange);
    match o.get(&m.member) {
        Some(v) if *v == m.value => {
            f.evidence("actual", short(v))
                .held(format!("{} is {}", m.member, short(v)))
        }
        Some(v) => f.evidence("actual", short(v)).violated(format!(
            "{} is {}, expected {}",
            m.member,
            short(v),
            short(&m.value)
        )),
        None => f
            .evidence("actual", "(absent)")
            .violated(format!("metadata has no {}", m.member)),
    }
}

/// RFC8414-2-3 and FAPI2-SP-5.4.1-1.3: no `*_alg_values_supported` member lists `none`.
pub fn no_none_alg(name: &str, obs: &Observations<'_>) -> Finding {
    let f = Finding::new(name).requirement(REQ_NO_NONE_ALG);
    let (o, doc) = match object(&f, obs) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.on(doc.exchange);
    let alg_members: Vec<&String> = o
        .keys()
        .filter(|k| k.ends_with("_alg_values_supported"))
        .collect();
    let offenders: Vec<&str> = alg_members
        .iter()
        .filter(|k| matches!(listed(o, k), Listed::Values(v) if v.iter().any(|a| a.eq_ignore_ascii_case("none"))))
        .map(|k| k.as_str())
        .collect();
    let f = f.evidence("members_checked", alg_members.len());
    if offenders.is_empty() {
        f.held(format!(
            "none of {} alg lists contains `none`",
            alg_members.len()
        ))
    } else {
        f.evidence("offending", offenders.join(", "))
            .violated(format!("`none` listed in {}", offenders.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::FindingStatus::*;
    use super::super::testkit::*;
    use super::*;

    fn mv(member: &str, values: &[&str]) -> MemberValues {
        MemberValues {
            member: member.into(),
            values: values.iter().map(|s| s.to_string()).collect(),
            required: None,
        }
    }

    #[test]
    fn issuer_matches_exactly() {
        let ok = with_metadata(doc(json!({"issuer": "https://as.example"})), |o| {
            issuer_matches("t", o)
        });
        assert_eq!(ok.status, Held);
        let slash = with_metadata(doc(json!({"issuer": "https://as.example/"})), |o| {
            issuer_matches("t", o)
        });
        assert_eq!(slash.status, Violated);
        let absent = with_metadata(doc(json!({})), |o| issuer_matches("t", o));
        assert_eq!(absent.status, Violated);
        let missing = with_metadata(missing_doc(), |o| issuer_matches("t", o));
        assert_eq!(missing.status, Inconclusive);
    }

    #[test]
    fn issuer_well_formed_rejects_http_query_fragment() {
        for (issuer, status) in [
            ("https://as.example", Held),
            ("http://as.example", Violated),
            ("https://as.example?x=1", Violated),
            ("https://as.example#f", Violated),
            ("not a url", Violated),
        ] {
            let f = with_metadata(doc(json!({"issuer": issuer})), |o| {
                issuer_well_formed("t", o)
            });
            assert_eq!(f.status, status, "{issuer}");
        }
        assert_eq!(
            with_metadata(missing_doc(), |o| issuer_well_formed("t", o)).status,
            Inconclusive
        );
    }

    #[test]
    fn required_members_lists_what_is_missing() {
        let f = with_metadata(doc(json!({"issuer": "x", "jwks_uri": null})), |o| {
            required_members(
                "t",
                o,
                &["issuer".into(), "jwks_uri".into(), "token_endpoint".into()],
            )
        });
        assert_eq!(f.status, Violated);
        assert_eq!(f.message, "metadata lacks jwks_uri, token_endpoint");
        let ok = with_metadata(doc(json!({"issuer": "x"})), |o| {
            required_members("t", o, &["issuer".into()])
        });
        assert_eq!(ok.status, Held);
        assert_eq!(
            with_metadata(missing_doc(), |o| required_members("t", o, &[])).status,
            Inconclusive
        );
    }

    #[test]
    fn endpoints_https_covers_aliases() {
        let ok = json!({"token_endpoint": "https://a/t", "mtls_endpoint_aliases": {"token_endpoint": "https://m/t"}});
        assert_eq!(
            with_metadata(doc(ok), |o| endpoints_https("t", o)).status,
            Held
        );
        let bad = json!({"token_endpoint": "https://a/t", "mtls_endpoint_aliases": {"token_endpoint": "http://m/t"}});
        let f = with_metadata(doc(bad), |o| endpoints_https("t", o));
        assert_eq!(f.status, Violated);
        assert!(
            f.message.contains("mtls_endpoint_aliases.token_endpoint"),
            "{}",
            f.message
        );
        let not_string = json!({"jwks_uri": 5});
        assert_eq!(
            with_metadata(doc(not_string), |o| endpoints_https("t", o)).status,
            Violated
        );
        assert_eq!(
            with_metadata(missing_doc(), |o| endpoints_https("t", o)).status,
            Inconclusive
        );
    }

    #[test]
    fn includes_excludes_subset() {
        let d = || doc(json!({"m": ["S256", "plain"], "n": "str"}));
        assert_eq!(
            with_metadata(d(), |o| member_includes("t", o, &mv("m", &["S256"]))).status,
            Held
        );
        assert_eq!(
            with_metadata(d(), |o| member_includes("t", o, &mv("m", &["x"]))).status,
            Violated
        );
        assert_eq!(
            with_metadata(d(), |o| member_includes("t", o, &mv("absent", &["x"]))).status,
            Violated
        );
        assert_eq!(
            with_metadata(d(), |o| member_includes("t", o, &mv("n", &["x"]))).status,
            Violated
        );
        assert_eq!(
            with_metadata(d(), |o| member_excludes("t", o, &mv("m", &["plain"]))).status,
            Violated
        );
        assert_eq!(
            with_metadata(d(), |o| member_excludes("t", o, &mv("m", &["none"]))).status,
            Held
        );
        assert_eq!(
            with_metadata(d(), |o| member_excludes("t", o, &mv("absent", &["x"]))).status,
            Held
        );
        assert_eq!(
            with_metadata(d(), |o| member_subset("t", o, &mv("m", &["S256"]))).status,
            Violated
        );
        assert_eq!(
            with_metadata(d(), |o| member_subset("t", o, &mv("m", &["S256", "plain"]))).status,
            Held
        );
        let mut required = mv("absent", &["x"]);
        required.required = Some(true);
        assert_eq!(
            with_metadata(d(), |o| member_subset("t", o, &required)).status,
            Violated
        );
        assert_eq!(
            with_metadata(missing_doc(), |o| member_subset("t", o, &required)).status,
            Inconclusive
        );
    }

    #[test]
    fn equals_compares_json_values() {
        let m = MemberEquals {
            member: "r".into(),
            value: json!(true),
        };
        assert_eq!(
            with_metadata(doc(json!({"r": true})), |o| member_equals("t", o, &m)).status,
            Held
        );
        assert_eq!(
            with_metadata(doc(json!({"r": "true"})), |o| member_equals("t", o, &m)).status,
            Violated
        );
        assert_eq!(
            with_metadata(doc(json!({})), |o| member_equals("t", o, &m)).status,
            Violated
        );
        assert_eq!(
            with_metadata(missing_doc(), |o| member_equals("t", o, &m)).status,
            Inconclusive
        );
    }

    #[test]
    fn none_alg_is_found_in_any_alg_list() {
        let ok = json!({"id_token_signing_alg_values_supported": ["PS256"]});
        assert_eq!(with_metadata(doc(ok), |o| no_none_alg("t", o)).status, Held);
        let bad = json!({"request_object_signing_alg_values_supported": ["PS256", "none"]});
        let f = with_metadata(doc(bad), |o| no_none_alg("t", o));
        assert_eq!(f.status, Violated);
        assert!(
            f.message
                .contains("request_object_signing_alg_values_supported")
        );
        assert_eq!(
            with_metadata(missing_doc(), |o| no_none_alg("t", o)).status,
            Inconclusive
        );
    }
}
