//! The authorization request (RFC 6749 §4.1.1 as FAPI 2.0 profiles it) and the classification of
//! where the authorization endpoint sends the user agent.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::mutation::{Mutation, Mutations};
use super::pkce::{Pkce, random_token};

/// A redirect URI that no client registers, for open-redirect probes (RFC 9700 §4.11).
pub const UNREGISTERED_REDIRECT: &str = "https://evil.example/cb";
/// A plain-http redirect URI that is not a loopback address (FAPI2-SP-5.3.2.2-8).
pub const HTTP_REDIRECT: &str = "http://client.example/cb";

/// What the request is for.
pub struct AuthzParams<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub scope: &'a str,
    pub state: &'a str,
    pub nonce: Option<&'a str>,
    pub pkce: &'a Pkce,
    /// `dpop_jkt` to bind the code to (RFC 9449 §10), if any.
    pub dpop_jkt: Option<&'a str>,
    /// `response_mode` to ask for, if any.
    pub response_mode: Option<&'a str>,
}

/// The authorization request parameters, for a PAR body or (without PAR) the query string.
pub fn params(p: &AuthzParams<'_>, mutations: &[Mutation]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: &str| out.push((k.to_owned(), v.to_owned()));
    let response_type = mutations
        .find_map(|m| match m {
            Mutation::ResponseType(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_else(|| "code".to_owned());
    put("response_type", &response_type);
    put("client_id", p.client_id);
    if mutations.has(&Mutation::UnregisteredRedirectUri) {
        put("redirect_uri", UNREGISTERED_REDIRECT);
    } else if mutations.has(&Mutation::HttpRedirectUri) {
        put("redirect_uri", HTTP_REDIRECT);
    } else if !mutations.has(&Mutation::OmitRedirectUri) {
        put("redirect_uri", p.redirect_uri);
    }
    if !p.scope.is_empty() {
        put("scope", p.scope);
    }
    if !mutations.has(&Mutation::OmitState) {
        put("state", p.state);
    }
    let nonce_len = mutations.find_map(|m| match m {
        Mutation::NonceLength(n) => Some(*n),
        _ => None,
    });
    match (nonce_len, p.nonce) {
        (Some(n), _) => put("nonce", &"n".repeat(n)),
        (None, Some(nonce)) => put("nonce", nonce),
        (None, None) => {}
    }
    if mutations.has(&Mutation::PlainPkce) {
        put("code_challenge", &p.pkce.verifier);
        put("code_challenge_method", "plain");
    } else if mutations.has(&Mutation::OmitCodeChallengeMethod) {
        put("code_challenge", &p.pkce.verifier);
    } else if !mutations.has(&Mutation::OmitPkce) {
        put("code_challenge", &s256_challenge(p.pkce, mutations));
        put("code_challenge_method", "S256");
    }
    if let Some(jkt) = p.dpop_jkt {
        put("dpop_jkt", jkt);
    }
    if mutations.has(&Mutation::ParRequestUri) {
        // Shaped like a real one (RFC 9126 §2.2), but never issued: only its presence is wrong.
        put(
            "request_uri",
            &format!("{FOREIGN_REQUEST_URI}{}", random_token(16)),
        );
    }
    if let Some(mode) = p.response_mode {
        put("response_mode", mode);
    }
    out
}

/// The `request_uri` prefix of the `par_request_uri` mutation.
const FOREIGN_REQUEST_URI: &str = "urn:ietf:params:oauth:request_uri:fapi-harness-";

/// The S256 challenge, or the malformed form a PKCE mutation asks for (RFC 7636 §4.2 wants
/// `43*128unreserved`).
fn s256_challenge(pkce: &Pkce, mutations: &[Mutation]) -> String {
    if mutations.has(&Mutation::ShortCodeChallenge) {
        return pkce.challenge.chars().take(42).collect();
    }
    if mutations.has(&Mutation::Base64CodeChallenge) {
        // The same digest in the standard alphabet with padding: a classic client mistake.
        return URL_SAFE_NO_PAD
            .decode(&pkce.challenge)
            .map(|d| STANDARD.encode(d))
            .unwrap_or_else(|_| format!("{}=", pkce.challenge));
    }
    pkce.challenge.clone()
}

/// Where a redirect from the AS points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Landing {
    /// At one of the client's registered redirect URIs: the authorization response.
    Registered { params: Vec<(String, String)> },
    /// Back to the AS's own origin (a login or consent page): follow it.
    AsOrigin(url::Url),
    /// Anywhere else: never followed (open redirect or foreign login).
    Elsewhere(url::Url),
}

fn same_endpoint(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

fn same_origin(a: &url::Url, b: &url::Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Classifies a `Location`. A registered redirect URI wins over the AS origin, because test
/// clients often register a path on the AS's own host. Response parameters are read from the
/// query and, for a fragment-encoded response, from the fragment.
pub fn classify(location: &url::Url, registered: &[url::Url], as_origins: &[url::Url]) -> Landing {
    if registered.iter().any(|r| same_endpoint(r, location)) {
        let mut params: Vec<(String, String)> = location.query_pairs().into_owned().collect();
        if let Some(f) = location.fragment() {
            params.extend(url::form_urlencoded::parse(f.as_bytes()).into_owned());
        }
        return Landing::Registered { params };
    }
    if as_origins.iter().any(|o| same_origin(o, location)) {
        return Landing::AsOrigin(location.clone());
    }
    Landing::Elsewhere(location.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkce() -> Pkce {
        super::super::pkce::generate()
    }

    fn base<'a>(pkce: &'a Pkce) -> AuthzParams<'a> {
        AuthzParams {
            client_id: "c1",
            redirect_uri: "https://client.example/cb",
            scope: "openid",
            state: "s1",
            nonce: Some("n1"),
            pkce,
            dpop_jkt: None,
            response_mode: None,
        }
    }

    fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
        p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn default_request_is_fapi_shaped() {
        let pk = pkce();
        let p = params(&base(&pk), &[]);
        assert_eq!(get(&p, "response_type"), Some("code"));
        assert_eq!(get(&p, "code_challenge_method"), Some("S256"));
        assert_eq!(get(&p, "code_challenge"), Some(pk.challenge.as_str()));
        assert_eq!(get(&p, "state"), Some("s1"));
        assert_eq!(get(&p, "nonce"), Some("n1"));
    }

    #[test]
    fn response_mode_is_sent_only_when_set() {
        let pk = pkce();
        assert_eq!(get(&params(&base(&pk), &[]), "response_mode"), None);
        let b = AuthzParams {
            response_mode: Some("form_post"),
            ..base(&pk)
        };
        assert_eq!(get(&params(&b, &[]), "response_mode"), Some("form_post"));
    }

    #[test]
    fn mutations_apply() {
        let pk = pkce();
        let b = base(&pk);
        assert_eq!(
            get(&params(&b, &[Mutation::OmitPkce]), "code_challenge"),
            None
        );
        let plain = params(&b, &[Mutation::PlainPkce]);
        assert_eq!(get(&plain, "code_challenge_method"), Some("plain"));
        assert_eq!(get(&plain, "code_challenge"), Some(pk.verifier.as_str()));
        assert_eq!(
            get(
                &params(&b, &[Mutation::OmitCodeChallengeMethod]),
                "code_challenge_method"
            ),
            None
        );
        assert_eq!(
            get(&params(&b, &[Mutation::OmitRedirectUri]), "redirect_uri"),
            None
        );
        assert_eq!(
            get(
                &params(&b, &[Mutation::UnregisteredRedirectUri]),
                "redirect_uri"
            ),
            Some(UNREGISTERED_REDIRECT)
        );
        assert_eq!(
            get(
                &params(&b, &[Mutation::ResponseType("code id_token".into())]),
                "response_type"
            ),
            Some("code id_token")
        );
        assert_eq!(
            get(&params(&b, &[Mutation::NonceLength(64)]), "nonce").map(str::len),
            Some(64)
        );
        assert!(
            get(&params(&b, &[Mutation::ParRequestUri]), "request_uri")
                .is_some_and(|u| u.starts_with("urn:ietf:params:oauth:request_uri:"))
        );
        assert_eq!(get(&params(&b, &[]), "request_uri"), None);
    }

    #[test]
    fn malformed_challenges_break_only_their_form() {
        let pk = pkce();
        let b = base(&pk);
        let short = params(&b, &[Mutation::ShortCodeChallenge]);
        assert_eq!(get(&short, "code_challenge").map(str::len), Some(42));
        assert_eq!(get(&short, "code_challenge_method"), Some("S256"));
        let std = params(&b, &[Mutation::Base64CodeChallenge]);
        let c = get(&std, "code_challenge").unwrap();
        assert_eq!(c.len(), 44);
        assert!(c.ends_with('='));
        assert_eq!(
            STANDARD.decode(c).unwrap(),
            URL_SAFE_NO_PAD.decode(&pk.challenge).unwrap()
        );
    }

    #[test]
    fn classify_prefers_registered_redirects() {
        let reg = vec![url::Url::parse("https://as.example/cb").unwrap()];
        let origin = vec![url::Url::parse("https://as.example/").unwrap()];
        let l =
            url::Url::parse("https://as.example/cb?code=abc&state=s&iss=https%3A%2F%2Fas.example")
                .unwrap();
        match classify(&l, &reg, &origin) {
            Landing::Registered { params } => {
                assert!(params.contains(&("iss".into(), "https://as.example".into())))
            }
            other => panic!("{other:?}"),
        }
        let login = url::Url::parse("https://as.example/login?x=1").unwrap();
        assert!(matches!(
            classify(&login, &reg, &origin),
            Landing::AsOrigin(_)
        ));
        let evil = url::Url::parse("https://evil.example/cb?code=abc").unwrap();
        assert!(matches!(
            classify(&evil, &reg, &origin),
            Landing::Elsewhere(_)
        ));
        let frag = url::Url::parse("https://as.example/cb#error=access_denied").unwrap();
        assert_eq!(
            classify(&frag, &reg, &origin),
            Landing::Registered {
                params: vec![("error".into(), "access_denied".into())]
            }
        );
    }
}
