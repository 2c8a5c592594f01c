//! The OAuth wire format shared by the reference endpoints: form parameters (each at most once,
//! RFC 6749 §3.1), the JSON error response (RFC 6749 §5.2) and the response headers every
//! endpoint sets.
//!
//! Handlers decide *which* error; this file only decides how an error looks on the wire.

use axum::Json;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, PRAGMA};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// Form parameters of one request, each name present at most once.
#[derive(Debug, Default, Clone)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses an `application/x-www-form-urlencoded` body or query string. A repeated
    /// parameter is an `invalid_request` (RFC 6749 §3.1: "MUST NOT be included more than once").
    pub fn parse(raw: &[u8]) -> Result<Params, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (k, v) in url::form_urlencoded::parse(raw) {
            if pairs.iter().any(|(seen, _)| *seen == k) {
                return Err(OAuthError::bad_request(
                    "invalid_request",
                    format!("parameter `{k}` is repeated"),
                ));
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params(pairs))
    }

    /// Parses a form body, refusing other content types (RFC 6749 §3.2, RFC 9126 §2.1).
    pub fn form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
        let is_form = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                v.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
        if !is_form {
            return Err(OAuthError::bad_request(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        Params::parse(body)
    }

    /// The value of `name`, if present and not empty (RFC 6749 §3.1: empty means omitted).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, or an `invalid_request` naming it.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name).ok_or_else(|| {
            OAuthError::bad_request("invalid_request", format!("`{name}` is missing"))
        })
    }
}

/// An OAuth error response (RFC 6749 §5.2): status, `error`, `error_description`, extra headers.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// HTTP status.
    pub status: StatusCode,
    /// The `error` code.
    pub error: &'static str,
    /// Human-readable `error_description`.
    pub description: String,
    /// Further headers (`DPoP-Nonce`, `WWW-Authenticate`).
    pub headers: Vec<(HeaderName, String)>,
}

impl OAuthError {
    /// A 400 error.
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            headers: Vec::new(),
        }
    }

    /// A 401 `invalid_client` (RFC 6749 §5.2 allows 401 for failed client authentication).
    pub fn invalid_client(description: impl Into<String>) -> OAuthError {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: description.into(),
            headers: Vec::new(),
        }
    }

    /// A 503 when a store is full: the server cannot take more state right now.
    pub fn unavailable() -> OAuthError {
        OAuthError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            error: "temporarily_unavailable",
            description: "the server is holding too many pending requests".into(),
            headers: Vec::new(),
        }
    }

    /// Adds a header to the response.
    pub fn with_header(mut self, name: HeaderName, value: String) -> OAuthError {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut res = (self.status, no_store(), Json(body)).into_response();
        for (name, value) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                res.headers_mut().append(name, v);
            }
        }
        res
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache`, for responses that carry credentials or
/// errors about them (RFC 6749 §5.1).
pub fn no_store() -> [(HeaderName, HeaderValue); 2] {
    [
        (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (PRAGMA, HeaderValue::from_static("no-cache")),
    ]
}

/// A JSON response with `status` and `Cache-Control: no-store`.
pub fn json_no_store(status: StatusCode, body: Value) -> Response {
    (status, no_store(), Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        let err = Params::parse(b"a=1&b=2&a=3").unwrap_err();
        assert_eq!(err.error, "invalid_request");
        let ok = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(ok.get("a"), Some("1"));
        assert_eq!(ok.get("b"), None);
        assert_eq!(ok.get("c"), Some("x y"));
    }

    #[test]
    fn form_requires_the_form_content_type() {
        let mut headers = HeaderMap::new();
        assert!(Params::form(&headers, b"a=1").is_err());
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        assert_eq!(Params::form(&headers, b"a=1").unwrap().get("a"), Some("1"));
    }
}
