//! Discovery: where the metadata documents live, and parsing them into a `Document`.

use serde_json::Value;

use crate::checks::Document;
use crate::evidence::Exchange;
use crate::fapi::step::MetadataDocument;

/// The URL of a metadata document for `issuer`.
///
/// OIDD §4: `<issuer>/.well-known/openid-configuration` (appended after the issuer's path).
/// RFC 8414 §3.1: `/.well-known/oauth-authorization-server` inserted between the host and the
/// issuer's path, so `https://h/tenant` becomes `https://h/.well-known/oauth-authorization-server/tenant`.
pub fn metadata_url(issuer: &str, document: MetadataDocument) -> Result<url::Url, url::ParseError> {
    let base = url::Url::parse(issuer)?;
    let path = base.path().trim_end_matches('/');
    let new_path = match document {
        MetadataDocument::Openid => format!("{path}/.well-known/openid-configuration"),
        MetadataDocument::Oauth => format!("/.well-known/oauth-authorization-server{path}"),
    };
    let mut u = base.clone();
    u.set_path(&new_path);
    u.set_query(None);
    u.set_fragment(None);
    Ok(u)
}

/// Turns the exchange of a JSON document fetch into a `Document` for the checks.
pub fn document_from(url: &str, ex: &Exchange) -> Document {
    let (json, problem) = match &ex.response {
        None => (
            None,
            Some(ex.error.clone().unwrap_or_else(|| "no response".into())),
        ),
        Some(r) if r.status != 200 => (None, Some(format!("HTTP {}", r.status))),
        Some(r) if r.body_truncated => (
            None,
            Some(format!("body larger than the {}-byte cap", r.body_bytes)),
        ),
        Some(r) => match serde_json::from_str::<Value>(&r.body) {
            Ok(v) if v.is_object() => (Some(v), None),
            Ok(_) => (None, Some("JSON, but not an object".into())),
            Err(e) => (None, Some(format!("invalid JSON: {e}"))),
        },
    };
    Document {
        url: url.to_owned(),
        exchange: Some(ex.seq),
        json,
        problem,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openid_appends_and_rfc8414_inserts() {
        let o = metadata_url("https://as.example/tenant/", MetadataDocument::Openid).unwrap();
        assert_eq!(
            o.as_str(),
            "https://as.example/tenant/.well-known/openid-configuration"
        );
        let a = metadata_url("https://as.example/tenant", MetadataDocument::Oauth).unwrap();
        assert_eq!(
            a.as_str(),
            "https://as.example/.well-known/oauth-authorization-server/tenant"
        );
        let root = metadata_url("https://as.example", MetadataDocument::Oauth).unwrap();
        assert_eq!(
            root.as_str(),
            "https://as.example/.well-known/oauth-authorization-server"
        );
    }
}
