//! The authorization response, read where the user agent would deliver it: the query or fragment
//! of a redirect URI, the fields of a `form_post` page, or a JARM `response` JWT in any of them.
//!
//! Pure, and used by every login driver. Nothing here requests the redirect URI: the response is
//! read from the redirect or the page that points there, so the URI need not be reachable.

use serde_json::Value;

use super::{End, ResponseMode};
use crate::fapi::jose::decode_unverified;

/// Parameters whose values are bearer credentials (shown shortened in evidence).
const BEARER: &[&str] = &["code", "access_token", "refresh_token"];

/// The authorization response as the client receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// The redirect URI with whatever the AS put on it.
    pub url: url::Url,
    /// The response parameters. For JARM, the claims of the JWT (strings as they are, other
    /// values as JSON), followed by `response` itself: the raw JWT, for the checks that judge it.
    pub params: Vec<(String, String)>,
    pub mode: ResponseMode,
}

impl Captured {
    /// The journey's end that this response makes. `status` is the HTTP status of the redirect or
    /// page that delivered it; `exchange` the recorded exchange.
    pub fn into_end(self, status: Option<u16>, exchange: Option<u32>) -> End {
        End::Response {
            url: self.url,
            params: self.params,
            mode: self.mode,
            status,
            exchange,
        }
    }
}

/// The response on a redirect URI: query parameters, then fragment parameters (a fragment means
/// the fragment response mode).
pub fn from_url(url: &url::Url) -> Captured {
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let fragment = url.fragment().filter(|f| !f.is_empty());
    if let Some(f) = fragment {
        params.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
    }
    let mode = if fragment.is_some() {
        ResponseMode::Fragment
    } else {
        ResponseMode::Query
    };
    with_jarm(url.clone(), params, mode)
}

/// The response in a `form_post` page: the form's fields, posted to `action` (the redirect URI).
pub fn from_form_post(action: &url::Url, fields: &[(String, String)]) -> Captured {
    with_jarm(action.clone(), fields.to_vec(), ResponseMode::FormPost)
}

/// A JARM response (`response=<JWT>`) is unpacked into its claims. Its signature is NOT verified
/// here: capture only reads what arrived; judging the JWT (signature, `iss`, `aud`, `exp`) is a
/// check's job.
fn with_jarm(url: url::Url, params: Vec<(String, String)>, mode: ResponseMode) -> Captured {
    let Some((_, jwt)) = params.iter().find(|(k, _)| k == "response") else {
        return Captured { url, params, mode };
    };
    let jwt = jwt.clone();
    let mut out = jarm_claims(&jwt).unwrap_or_default();
    out.push(("response".to_owned(), jwt));
    Captured {
        url,
        params: out,
        mode: ResponseMode::Jwt,
    }
}

/// The claims of a signed JARM response, as parameters. `None` for anything that is not a signed
/// JWT with a JSON object as claims (an encrypted response cannot be read without the client's
/// decryption key; only `response` is kept then).
pub fn jarm_claims(jwt: &str) -> Option<Vec<(String, String)>> {
    let (_, claims) = decode_unverified(jwt)?;
    let Value::Object(o) = claims else {
        return None;
    };
    Some(
        o.into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect(),
    )
}

/// The bearer credentials among response parameters (codes, tokens, a JARM JWT and the code in
/// it), for the redactor to shorten before the exchange that carries them is recorded.
pub fn bearer_values(params: &[(String, String)]) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in params {
        if BEARER.contains(&k.as_str()) {
            out.push(v.clone());
        } else if k == "response" {
            out.push(v.clone());
            out.extend(
                jarm_claims(v)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(k, _)| BEARER.contains(&k.as_str()))
                    .map(|(_, v)| v),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    fn jwt(claims: &Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.c2ln",
            enc(&serde_json::json!({"alg": "PS256", "kid": "k"})),
            enc(claims)
        )
    }

    #[test]
    fn query_response() {
        let c = from_url(&url(
            "https://client.example/cb?code=abc&state=s1&iss=https%3A%2F%2Fas.example",
        ));
        assert_eq!(c.mode, ResponseMode::Query);
        assert_eq!(
            c.params,
            vec![
                ("code".into(), "abc".into()),
                ("state".into(), "s1".into()),
                ("iss".into(), "https://as.example".into())
            ]
        );
    }

    #[test]
    fn fragment_response() {
        let c = from_url(&url(
            "https://client.example/cb#error=access_denied&state=s1",
        ));
        assert_eq!(c.mode, ResponseMode::Fragment);
        assert_eq!(c.params[0], ("error".into(), "access_denied".into()));
        // An empty fragment is no fragment response.
        assert_eq!(
            from_url(&url("https://client.example/cb?code=x#")).mode,
            ResponseMode::Query
        );
    }

    #[test]
    fn form_post_response_keeps_the_fields_and_the_redirect_uri() {
        let action = url("https://client.example/cb");
        let c = from_form_post(
            &action,
            &[("code".into(), "abc".into()), ("state".into(), "s".into())],
        );
        assert_eq!(c.mode, ResponseMode::FormPost);
        assert_eq!(c.url, action);
        assert_eq!(c.params.len(), 2);
    }

    #[test]
    fn jarm_claims_become_params_and_the_jwt_is_kept() {
        let token = jwt(&serde_json::json!({
            "iss": "https://as.example", "aud": ["c1"], "exp": 1_700_000_000,
            "code": "the-code", "state": "s1"
        }));
        for c in [
            from_url(&url(&format!("https://client.example/cb?response={token}"))),
            from_url(&url(&format!("https://client.example/cb#response={token}"))),
            from_form_post(
                &url("https://client.example/cb"),
                &[("response".into(), token.clone())],
            ),
        ] {
            assert_eq!(c.mode, ResponseMode::Jwt);
            let get = |k: &str| {
                c.params
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(get("code"), Some("the-code"));
            assert_eq!(get("iss"), Some("https://as.example"));
            assert_eq!(get("aud"), Some(r#"["c1"]"#));
            assert_eq!(get("exp"), Some("1700000000"));
            assert_eq!(get("response"), Some(token.as_str()));
        }
    }

    #[test]
    fn an_encrypted_or_garbled_jarm_response_keeps_only_the_raw_value() {
        let c = from_url(&url("https://client.example/cb?response=a.b.c.d.e"));
        assert_eq!(c.mode, ResponseMode::Jwt);
        assert_eq!(c.params, vec![("response".into(), "a.b.c.d.e".into())]);
    }

    #[test]
    fn bearer_values_include_the_code_inside_jarm() {
        let token = jwt(&serde_json::json!({"code": "inner-code", "state": "s"}));
        let v = bearer_values(&[
            ("code".into(), "outer".into()),
            ("state".into(), "s".into()),
            ("response".into(), token.clone()),
        ]);
        assert_eq!(v, vec!["outer".to_owned(), token, "inner-code".to_owned()]);
    }

    #[test]
    fn into_end_is_a_response() {
        let end = from_url(&url("https://client.example/cb?code=x")).into_end(Some(303), Some(4));
        assert!(matches!(
            end,
            End::Response {
                status: Some(303),
                exchange: Some(4),
                mode: ResponseMode::Query,
                ..
            }
        ));
    }
}
