//! The redactor: one filter in front of every output (console, JUnit, HTML, JSON, logs).
//!
//! Secrets (private keys, client secrets, passwords, API keys, cookies) are replaced whole.
//! Bearer values (access and refresh tokens, codes) are shortened, so an auditor can still match
//! them across exchanges without being able to replay them. Values are registered as they become
//! known: secrets when the target loads, tokens when the target issues them.

use std::sync::RwLock;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

pub const REDACTED: &str = "[REDACTED]";

/// Header names whose values are always secret, whatever they contain.
const SECRET_HEADERS: &[&str] = &["cookie", "set-cookie", "proxy-authorization"];

#[derive(Default)]
pub struct Redactor {
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (needle, replacement), longest needle first so a secret's prefix cannot mask the rest.
    rules: Vec<(String, String)>,
}

impl Redactor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a value that must never appear, in any of the encodings it may travel in.
    pub fn add_secret(&self, value: &str) {
        let value = value.trim();
        if value.is_empty() {
            return;
        }
        let mut forms = encodings(value);
        // A PEM or multi-line secret may be echoed line by line; hide each substantial line.
        forms.extend(
            value
                .lines()
                .map(str::trim)
                .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                .map(str::to_owned),
        );
        self.add_rules(forms, |_| REDACTED.to_owned());
    }

    /// Registers a bearer value (token, code) to be shown shortened.
    pub fn add_shortened(&self, value: &str) {
        if value.len() < 8 {
            // Too short to shorten meaningfully; hide it whole.
            self.add_secret(value);
            return;
        }
        let short = shorten(value);
        self.add_rules(encodings(value), |_| short.clone());
    }

    fn add_rules(&self, needles: Vec<String>, replacement: impl Fn(&str) -> String) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        for needle in needles {
            if needle.is_empty() || inner.rules.iter().any(|(n, _)| *n == needle) {
                continue;
            }
            let rep = replacement(&needle);
            inner.rules.push((needle, rep));
        }
        inner.rules.sort_by_key(|r| std::cmp::Reverse(r.0.len()));
    }

    /// Replaces every registered value in `text`.
    pub fn scrub(&self, text: &str) -> String {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let mut out = text.to_owned();
        for (needle, rep) in &inner.rules {
            if out.contains(needle.as_str()) {
                out = out.replace(needle.as_str(), rep);
            }
        }
        out
    }

    /// Scrubs a header value, hiding cookie and credential headers entirely.
    pub fn scrub_header(&self, name: &str, value: &str) -> String {
        let lower = name.to_ascii_lowercase();
        if lower == "set-cookie" {
            // Keep the cookie's name and attributes: they are evidence (Secure, HttpOnly, SameSite).
            return match value.split_once('=') {
                Some((cookie_name, rest)) => {
                    let attrs = rest.split_once(';').map(|(_, a)| a).unwrap_or("");
                    let attrs = if attrs.is_empty() {
                        String::new()
                    } else {
                        format!(";{}", self.scrub(attrs))
                    };
                    format!("{}={REDACTED}{attrs}", self.scrub(cookie_name))
                }
                None => REDACTED.to_owned(),
            };
        }
        if SECRET_HEADERS.contains(&lower.as_str()) {
            return REDACTED.to_owned();
        }
        if lower == "authorization" {
            return match value.split_once(' ') {
                Some((scheme, cred)) if scheme.eq_ignore_ascii_case("basic") => {
                    let _ = cred;
                    format!("{scheme} {REDACTED}")
                }
                Some((scheme, cred)) => format!("{scheme} {}", shorten_or_scrub(self, cred)),
                None => REDACTED.to_owned(),
            };
        }
        self.scrub(value)
    }
}

/// A bearer credential that was not registered is still shortened when it sits in Authorization.
fn shorten_or_scrub(r: &Redactor, cred: &str) -> String {
    let scrubbed = r.scrub(cred);
    if scrubbed != cred {
        scrubbed
    } else {
        shorten(cred)
    }
}

/// `abcdef…[123 chars]`: enough to correlate, too little to replay.
pub fn shorten(value: &str) -> String {
    let head: String = value.chars().take(6).collect();
    format!("{head}…[{} chars]", value.chars().count())
}

/// Percent-encoding that leaves RFC 3986's unreserved characters alone, as JavaScript's
/// `encodeURIComponent` and most URL builders do.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The forms a value takes on the wire: raw, form/percent-encoded (every common flavour: a login
/// form's body is `application/x-www-form-urlencoded`, which keeps `*-._`), base64, JSON-escaped,
/// and HTML-escaped (a page that echoes a typed value back).
fn encodings(value: &str) -> Vec<String> {
    let mut forms = vec![value.to_owned()];
    for set in [NON_ALPHANUMERIC, UNRESERVED] {
        let pct = utf8_percent_encode(value, set).to_string();
        forms.push(pct.replace("%20", "+"));
        forms.push(pct);
    }
    forms.push(url::form_urlencoded::byte_serialize(value.as_bytes()).collect());
    forms.push(html_escaped(value));
    forms.push(STANDARD.encode(value));
    forms.push(URL_SAFE_NO_PAD.encode(value));
    if let Ok(json) = serde_json::to_string(value) {
        // Strip the quotes; the body holds the escaped content, not the literal.
        let inner = json.trim_matches('"').to_owned();
        forms.push(inner);
    }
    forms.sort();
    forms.dedup();
    forms
}

fn html_escaped(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_replaced_in_all_encodings() {
        let r = Redactor::new();
        r.add_secret("s3cr3t value/+&");
        for text in [
            "x s3cr3t value/+& y",
            "a=s3cr3t+value%2F%2B%26",
            "a=s3cr3t%20value%2F%2B%26",
        ] {
            let out = r.scrub(text);
            assert!(!out.contains("s3cr3t"), "{out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        let b64 = STANDARD.encode("s3cr3t value/+&");
        assert!(!r.scrub(&b64).contains(&b64));
    }

    #[test]
    fn a_password_in_a_login_form_body_is_replaced() {
        let r = Redactor::new();
        let pw = "pa-ss.w_rd*~ 1&<";
        r.add_secret(pw);
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("username", "alice"), ("password", pw)])
            .finish();
        let out = r.scrub(&body);
        assert_eq!(out, "username=alice&password=[REDACTED]");
        for echoed in [
            "value=\"pa-ss.w_rd*~ 1&amp;&lt;\"",
            "pa-ss.w_rd%2A~%201%26%3C",
        ] {
            assert!(r.scrub(echoed).contains(REDACTED), "{echoed}");
        }
    }

    #[test]
    fn tokens_are_shortened_not_removed() {
        let r = Redactor::new();
        r.add_shortened("eyJhbGciOiJQUzI1NiJ9.payload.signature");
        let out = r.scrub("token=eyJhbGciOiJQUzI1NiJ9.payload.signature");
        assert_eq!(out, "token=eyJhbG…[38 chars]");
    }

    #[test]
    fn cookie_and_basic_headers_are_hidden() {
        let r = Redactor::new();
        assert_eq!(r.scrub_header("Cookie", "sid=abc"), REDACTED);
        assert_eq!(
            r.scrub_header("Set-Cookie", "sid=abc; Path=/; HttpOnly"),
            "sid=[REDACTED]; Path=/; HttpOnly"
        );
        assert_eq!(
            r.scrub_header("Authorization", "Basic dXNlcjpwdw=="),
            "Basic [REDACTED]"
        );
        assert_eq!(
            r.scrub_header("Authorization", "DPoP abcdefghijklmnop"),
            "DPoP abcdef…[16 chars]"
        );
    }

    #[test]
    fn pem_lines_are_hidden_individually() {
        let r = Redactor::new();
        r.add_secret("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----");
        let out = r.scrub("echo: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC");
        assert!(!out.contains("MIIEvQIBADANBgkq"), "{out}");
    }

    #[test]
    fn longer_secret_wins_over_its_prefix() {
        let r = Redactor::new();
        r.add_shortened("abcdefgh-token");
        r.add_secret("abcdefgh-token-and-more");
        assert_eq!(r.scrub("abcdefgh-token-and-more"), REDACTED);
    }
}
