//! Evidence: what the harness sent and received, as it will appear in every report.
//!
//! Values here are already redacted: `http.rs` scrubs secrets before an `Exchange` is built, so
//! nothing downstream can leak what never entered this type.

use serde::Serialize;

/// One HTTP request and its response (or the transport error that replaced it).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Exchange {
    /// Position of this exchange within its item, starting at 1.
    pub seq: u32,
    /// What the item was doing, e.g. `discovery (openid-configuration)`.
    pub label: String,
    pub request: RecordedRequest,
    /// Absent when the request never got an answer; `error` says why.
    pub response: Option<RecordedResponse>,
    /// Transport error (connect, TLS, timeout, body too large), redacted.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// JWTs found in the request or response, decoded without verification.
    pub jwts: Vec<DecodedJwt>,
    /// Files attached to this exchange, e.g. the browser's screenshot and page HTML where a
    /// login step failed. Absent from the JSON when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

/// A file kept as evidence beside an exchange. Its content is redacted before it is attached (a
/// screenshot cannot be scrubbed afterwards, so the page is masked before it is taken).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Attachment {
    /// What it shows, e.g. `screenshot after step "login"`.
    pub name: String,
    /// `image/png` or `text/html`; reports display only these.
    pub media_type: String,
    /// `base64` (images) or `text`.
    pub encoding: &'static str,
    pub data: String,
}

impl Attachment {
    pub fn png(name: impl Into<String>, png: &[u8]) -> Self {
        use base64::Engine;
        Attachment {
            name: name.into(),
            media_type: "image/png".into(),
            encoding: "base64",
            data: base64::engine::general_purpose::STANDARD.encode(png),
        }
    }

    pub fn html(name: impl Into<String>, redacted_html: String) -> Self {
        Attachment {
            name: name.into(),
            media_type: "text/html".into(),
            encoding: "text",
            data: redacted_html,
        }
    }

    /// The data URI of a PNG attachment, for an `<img>`; `None` for anything else or for data
    /// that is not plain base64 (it never comes from the target, but the report stays inert).
    pub fn png_data_uri(&self) -> Option<String> {
        let plain = self
            .data
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        (self.media_type == "image/png" && self.encoding == "base64" && plain)
            .then(|| format!("data:image/png;base64,{}", self.data))
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RecordedRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RecordedResponse {
    pub status: u16,
    pub http_version: String,
    /// Negotiated TLS protocol version where known, e.g. `TLSv1.3`.
    pub tls_version: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Body as text; invalid UTF-8 is replaced (see `body_lossy`).
    pub body: String,
    /// The body held bytes that are not UTF-8 and were replaced with U+FFFD.
    pub body_lossy: bool,
    /// The body was cut at the size cap; `body` holds the first bytes only.
    pub body_truncated: bool,
    /// Bytes received (up to the cap).
    pub body_bytes: u64,
}

impl RecordedResponse {
    /// The first value of a header, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, compared case-insensitively.
    pub fn header_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, or `None` when it is not JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        if self.body_truncated || self.body_lossy {
            return None;
        }
        serde_json::from_str(&self.body).ok()
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }
}

/// A JWT seen in the evidence, decoded for reading. Never verified here.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct DecodedJwt {
    /// Where it was found, e.g. `response body: id_token` or `request header: DPoP`.
    pub found_in: String,
    pub header: serde_json::Value,
    pub claims: serde_json::Value,
}
