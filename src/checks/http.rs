//! Checks on a single HTTP response: status, media type and security headers.

use super::Finding;
use crate::evidence::{Exchange, RecordedResponse};

pub const REQ_CONTENT_TYPE: &str = "RFC8414-3.2-1";
pub const REQ_HSTS: &str = "FAPI2-SP-5.2.3-1";
pub const REQ_NO_CORS: &str = "FAPI2-SP-5.2.3-3";
pub const REQ_CHALLENGE: &str = "RFC6750-3-1";

/// The response of `ex`, or an inconclusive finding saying why there is none.
fn response(f: Finding, ex: Option<&Exchange>) -> Result<(&RecordedResponse, Finding), Finding> {
    let Some(ex) = ex else {
        return Err(f.inconclusive("no request was sent for this check"));
    };
    let f = f.on(Some(ex.seq));
    match &ex.response {
        Some(r) => Ok((r, f)),
        None => {
            let why = ex.error.as_deref().unwrap_or("no response");
            Err(f
                .evidence("error", why)
                .inconclusive(format!("no response from {}: {why}", ex.request.url)))
        }
    }
}

/// The HTTP status is one of `expected`.
pub fn status_is(name: &str, ex: Option<&Exchange>, expected: &[u16]) -> Finding {
    let list = expected
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(" or ");
    let f = Finding::new(name).evidence("expected", &list);
    let (r, f) = match response(f, ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.evidence("actual", r.status);
    if expected.contains(&r.status) {
        f.held(format!("HTTP {}", r.status))
    } else {
        f.violated(format!("HTTP {} where {list} was required", r.status))
    }
}

/// RFC8414-3.2-1 / OIDD-4.2-1: the response is `application/json`.
pub fn content_type_json(name: &str, ex: Option<&Exchange>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_CONTENT_TYPE)
        .evidence("expected", "application/json");
    let (r, f) = match response(f, ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    match r.media_type() {
        Some(t) if t == "application/json" => f
            .evidence("actual", t)
            .held("Content-Type is application/json"),
        Some(t) => f
            .evidence("actual", &t)
            .violated(format!("Content-Type is `{t}`, not application/json")),
        None => f
            .evidence("actual", "(absent)")
            .violated("response has no Content-Type"),
    }
}

/// FAPI2-SP-5.2.3-1: a browser-facing endpoint sends `Strict-Transport-Security` with at least
/// `min_max_age`. `includeSubDomains` and `preload` are reported; their absence is not a
/// violation because a preloaded TLD (e.g. `.bank`) meets the requirement without them.
pub fn hsts(name: &str, ex: Option<&Exchange>, min_max_age: u64) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_HSTS)
        .evidence("expected", format!("max-age >= {min_max_age}"));
    let (r, f) = match response(f, ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(value) = r.header("strict-transport-security") else {
        return f
            .evidence("actual", "(absent)")
            .violated("no Strict-Transport-Security header");
    };
    let f = f.evidence("actual", value);
    let max_age = value.split(';').map(str::trim).find_map(|d| {
        let (k, v) = d.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("max-age")
            .then(|| v.trim().trim_matches('"').parse::<u64>().ok())?
    });
    match max_age {
        Some(age) if age >= min_max_age => f.held(format!("HSTS max-age={age}")),
        Some(age) => f.violated(format!("HSTS max-age={age} is below {min_max_age}")),
        None => f.violated("Strict-Transport-Security has no valid max-age"),
    }
}

/// FAPI2-SP-5.2.3-3: the response grants no cross-origin access: no `Access-Control-Allow-Origin`
/// (neither `*` nor an echoed origin) and no `Access-Control-Allow-Credentials`.
pub fn no_cors(name: &str, ex: Option<&Exchange>) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_NO_CORS)
        .evidence("expected", "no Access-Control-Allow-* headers");
    let (r, f) = match response(f, ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let granted: Vec<String> = [
        "access-control-allow-origin",
        "access-control-allow-credentials",
    ]
    .iter()
    .filter_map(|h| r.header(h).map(|v| format!("{h}: {v}")))
    .collect();
    if granted.is_empty() {
        f.evidence("actual", "none").held("no CORS headers")
    } else {
        f.evidence("actual", granted.join("; "))
            .violated(format!("CORS allowed: {}", granted.join("; ")))
    }
}

/// A header is present; equals `value` when one is given; lists the comma-separated token
/// `contains` (case-insensitive, e.g. `no-store` in `Cache-Control: no-cache, no-store`).
pub fn header_present(
    name: &str,
    ex: Option<&Exchange>,
    header: &str,
    value: Option<&str>,
    contains: Option<&str>,
) -> Finding {
    let f = Finding::new(name).evidence("header", header);
    let f = match (value, contains) {
        (Some(v), _) => f.evidence("expected", v),
        (None, Some(c)) => f.evidence("expected", format!("contains {c}")),
        (None, None) => f.evidence("expected", "present"),
    };
    let (r, f) = match response(f, ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let Some(actual) = r.header(header) else {
        return f
            .evidence("actual", "(absent)")
            .violated(format!("no {header} header"));
    };
    let f = f.evidence("actual", actual);
    if let Some(v) = value
        && actual != v
    {
        return f.violated(format!("{header} is `{actual}`, expected `{v}`"));
    }
    if let Some(c) = contains
        && !actual.split(',').any(|t| t.trim().eq_ignore_ascii_case(c))
    {
        return f.violated(format!("{header} `{actual}` does not contain {c}"));
    }
    f.held(format!("{header}: {actual}"))
}

/// A request header comes back with the same value (FAPI 2.0 / FAPI 1.0 `x-fapi-interaction-id`).
pub fn header_echoed(name: &str, ex: Option<&Exchange>, header: &str) -> Finding {
    let f = Finding::new(name).evidence("header", header);
    let sent = ex.and_then(|e| {
        e.request
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(header))
            .map(|(_, v)| v.clone())
    });
    let Some(sent) = sent else {
        return f.inconclusive(format!("the request carried no {header}"));
    };
    let (r, f) = match response(f.evidence("expected", &sent), ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    match r.header(header) {
        Some(v) if v == sent => f.evidence("actual", v).held(format!("{header} echoed")),
        Some(v) => f
            .evidence("actual", v)
            .violated(format!("{header} came back as `{v}`, not the value sent")),
        None => f
            .evidence("actual", "(absent)")
            .violated(format!("{header} was not echoed")),
    }
}

/// RFC6750-3-1: a resource server refusing a request for its token (400, 401 or 403) says why
/// in `WWW-Authenticate`. A request that was served is not an error response: nothing to judge.
pub fn error_challenge(name: &str, ex: Option<&Exchange>, why_missing: &str) -> Finding {
    let f = Finding::new(name)
        .requirement(REQ_CHALLENGE)
        .evidence("expected", "WWW-Authenticate on 400/401/403");
    if ex.is_none() {
        return f.inconclusive(why_missing.to_owned());
    }
    let (r, f) = match response(f, ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f.evidence("status", r.status);
    if !matches!(r.status, 400 | 401 | 403) {
        return f.inconclusive(format!(
            "HTTP {}: not a token error response, so there is no challenge to judge",
            r.status
        ));
    }
    match r.header("www-authenticate") {
        Some(v) => f
            .evidence("actual", v)
            .held(format!("HTTP {} with WWW-Authenticate", r.status)),
        None => f
            .evidence("actual", "(absent)")
            .violated(format!("HTTP {} without WWW-Authenticate", r.status)),
    }
}

/// RFC9126-2.3-3 (RFC 9110 §15.5.6): a method the endpoint does not serve is answered 405. Any
/// other refusal (4xx, 5xx) is a refusal in the wrong form, so it only deviates; an answer that
/// is not an error means the endpoint served the method, a violation.
pub fn method_not_allowed(name: &str, ex: Option<&Exchange>) -> Finding {
    let f = Finding::new(name).evidence("expected", "405 Method Not Allowed");
    let method = ex.map(|e| e.request.method.clone()).unwrap_or_default();
    let (r, f) = match response(f, ex) {
        Ok(x) => x,
        Err(e) => return e,
    };
    let f = f
        .evidence("actual", r.status)
        .evidence("allow", r.header("allow").unwrap_or("(absent)"));
    match r.status {
        405 => f.held(format!("{method} refused with 405 Method Not Allowed")),
        400..=599 => f.deviated(format!(
            "{method} refused with HTTP {}, not 405 Method Not Allowed",
            r.status
        )),
        s => f.violated(format!(
            "{method} was served (HTTP {s}), not refused with 405"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::FindingStatus::*;
    use super::super::testkit::*;
    use super::*;

    #[test]
    fn status_is_judges_and_needs_a_response() {
        assert_eq!(
            status_is("t", Some(&exchange(1, 200, &[], "")), &[200]).status,
            Held
        );
        let f = status_is("t", Some(&exchange(1, 404, &[], "")), &[200, 201]);
        assert_eq!(f.status, Violated);
        assert_eq!(f.message, "HTTP 404 where 200 or 201 was required");
        assert_eq!(
            status_is("t", Some(&failed_exchange(1, "refused")), &[200]).status,
            Inconclusive
        );
        assert_eq!(status_is("t", None, &[200]).status, Inconclusive);
    }

    #[test]
    fn method_not_allowed_separates_405_other_refusals_and_service() {
        let judge = |status| method_not_allowed("t", Some(&exchange(1, status, &[], ""))).status;
        assert_eq!(judge(405), Held);
        assert_eq!(judge(400), Deviated);
        assert_eq!(judge(401), Deviated);
        assert_eq!(judge(500), Deviated);
        assert_eq!(judge(200), Violated);
        assert_eq!(judge(302), Violated);
        assert_eq!(
            method_not_allowed("t", Some(&failed_exchange(1, "reset"))).status,
            Inconclusive
        );
    }

    #[test]
    fn content_type_ignores_parameters() {
        let ok = exchange(
            1,
            200,
            &[("Content-Type", "application/json; charset=utf-8")],
            "{}",
        );
        assert_eq!(content_type_json("t", Some(&ok)).status, Held);
        let html = exchange(1, 200, &[("content-type", "text/html")], "");
        assert_eq!(content_type_json("t", Some(&html)).status, Violated);
        assert_eq!(
            content_type_json("t", Some(&exchange(1, 200, &[], ""))).status,
            Violated
        );
        assert_eq!(
            content_type_json("t", Some(&failed_exchange(1, "x"))).status,
            Inconclusive
        );
    }

    #[test]
    fn hsts_needs_a_long_max_age() {
        let ok = exchange(
            1,
            200,
            &[(
                "Strict-Transport-Security",
                "max-age=63072000; includeSubDomains; preload",
            )],
            "",
        );
        assert_eq!(hsts("t", Some(&ok), 31_536_000).status, Held);
        let short = exchange(1, 200, &[("strict-transport-security", "max-age=300")], "");
        assert_eq!(hsts("t", Some(&short), 31_536_000).status, Violated);
        let garbage = exchange(1, 200, &[("strict-transport-security", "max-age=abc")], "");
        assert_eq!(hsts("t", Some(&garbage), 1).status, Violated);
        assert_eq!(
            hsts("t", Some(&exchange(1, 200, &[], "")), 1).status,
            Violated
        );
        assert_eq!(hsts("t", None, 1).status, Inconclusive);
    }

    #[test]
    fn cors_headers_violate() {
        assert_eq!(no_cors("t", Some(&exchange(1, 200, &[], ""))).status, Held);
        let star = exchange(1, 200, &[("Access-Control-Allow-Origin", "*")], "");
        assert_eq!(no_cors("t", Some(&star)).status, Violated);
        let creds = exchange(1, 204, &[("access-control-allow-credentials", "true")], "");
        assert_eq!(no_cors("t", Some(&creds)).status, Violated);
        assert_eq!(
            no_cors("t", Some(&failed_exchange(1, "x"))).status,
            Inconclusive
        );
    }

    #[test]
    fn header_present_with_and_without_value() {
        let ex = exchange(1, 200, &[("Cache-Control", "no-store")], "");
        assert_eq!(
            header_present("t", Some(&ex), "cache-control", None, None).status,
            Held
        );
        assert_eq!(
            header_present("t", Some(&ex), "cache-control", Some("no-store"), None).status,
            Held
        );
        assert_eq!(
            header_present("t", Some(&ex), "cache-control", Some("no-cache"), None).status,
            Violated
        );
        assert_eq!(
            header_present("t", Some(&ex), "pragma", None, None).status,
            Violated
        );
        assert_eq!(
            header_present("t", None, "pragma", None, None).status,
            Inconclusive
        );
        let both = exchange(1, 200, &[("Cache-Control", "no-cache, No-Store")], "");
        assert_eq!(
            header_present("t", Some(&both), "cache-control", None, Some("no-store")).status,
            Held
        );
        assert_eq!(
            header_present("t", Some(&ex), "cache-control", None, Some("private")).status,
            Violated
        );
    }

    #[test]
    fn error_challenge_needs_an_error_response() {
        let ok = exchange(
            1,
            401,
            &[("WWW-Authenticate", "DPoP error=\"invalid_token\"")],
            "",
        );
        assert_eq!(error_challenge("t", Some(&ok), "x").status, Held);
        let bare = exchange(1, 401, &[], "");
        assert_eq!(error_challenge("t", Some(&bare), "x").status, Violated);
        let served = exchange(1, 200, &[], "");
        assert_eq!(
            error_challenge("t", Some(&served), "x").status,
            Inconclusive
        );
        let f = error_challenge("t", None, "the flow stopped at par");
        assert_eq!(f.status, Inconclusive);
        assert_eq!(f.message, "the flow stopped at par");
    }

    #[test]
    fn header_echo_compares_request_and_response() {
        let mut ex = exchange(1, 200, &[("x-fapi-interaction-id", "abc")], "");
        ex.request
            .headers
            .push(("x-fapi-interaction-id".into(), "abc".into()));
        assert_eq!(
            header_echoed("t", Some(&ex), "x-fapi-interaction-id").status,
            Held
        );
        let mut other = exchange(1, 200, &[("x-fapi-interaction-id", "zzz")], "");
        other
            .request
            .headers
            .push(("x-fapi-interaction-id".into(), "abc".into()));
        assert_eq!(
            header_echoed("t", Some(&other), "x-fapi-interaction-id").status,
            Violated
        );
        let mut none = exchange(1, 200, &[], "");
        none.request
            .headers
            .push(("x-fapi-interaction-id".into(), "abc".into()));
        assert_eq!(
            header_echoed("t", Some(&none), "x-fapi-interaction-id").status,
            Violated
        );
        let bare = exchange(1, 200, &[], "");
        assert_eq!(
            header_echoed("t", Some(&bare), "x-fapi-interaction-id").status,
            Inconclusive
        );
    }
}
