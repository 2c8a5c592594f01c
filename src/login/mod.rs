//! The user agent's journey from the authorization request to the authorization response: the
//! login drivers (`none`, `http-form`, `browser`, `manual`) and the capture of the response.
//!
//! A driver only reports where the journey ended and keeps every exchange as evidence; the flow
//! executor turns that into a stage result and the checks judge it.

mod agent;
#[cfg(feature = "browser")]
pub mod browser;
pub mod capture;
mod manual;
pub mod page;

use std::sync::Arc;

use crate::http::{Http, Recorder};
use crate::target::{Login, LoginMode};

/// What the journey needs to know about the target (which places end it) and about the flow.
pub struct Scene {
    /// Every redirect URI any client registered, plus the unregistered probe URI: landing there
    /// is the authorization response, and the driver never requests it.
    pub redirect_uris: Vec<url::Url>,
    /// The AS's own origins (issuer, authorization endpoint): redirects there are followed.
    pub as_origins: Vec<url::Url>,
    /// Which flow the login is for.
    pub purpose: Purpose,
}

/// Which flow the login is for: what a person is told, and how a captured response is matched.
pub struct Purpose {
    /// The item, its variant and the client, for the person's prompt.
    pub label: String,
    /// The redirect URI the request names: where the response is expected.
    pub redirect_uri: Option<url::Url>,
    /// The `state` the request carries, if any: a shared listener routes responses by it.
    pub state: Option<String>,
}

/// The user agent's state for one flow: the cookies the AS set during the journey, kept the way
/// a browser keeps them (RFC 6265: domain and path matching, expiry, `Secure`, `HttpOnly`), so a
/// cookie scoped to `/interaction/x` is not sent to `/auth/x` and an expired one is dropped.
#[derive(Default)]
pub struct Session {
    jar: cookie_store::CookieStore,
}

impl Session {
    /// Keeps the cookies of every `Set-Cookie` header of the response to a request for `url`.
    /// Malformed cookies, and cookies for another domain, are ignored as a browser ignores them.
    pub fn store(&mut self, url: &url::Url, headers: &[(String, String)]) {
        for (k, v) in headers {
            if k.eq_ignore_ascii_case("set-cookie") {
                // Err: a cookie a browser would refuse too (bad syntax, foreign domain, expired).
                let _ = self.jar.parse(v, url);
            }
        }
    }

    /// The `Cookie` header a browser would send with a request for `url`, if any cookie applies:
    /// longer paths first (RFC 6265 §5.4), then by name, so the header does not depend on the
    /// jar's hash order.
    pub fn cookie_header(&self, url: &url::Url) -> Option<(String, String)> {
        let mut cookies = self.jar.matches(url);
        cookies.sort_by(|a, b| {
            b.path
                .len()
                .cmp(&a.path.len())
                .then_with(|| a.name().cmp(b.name()))
        });
        let pairs: Vec<String> = cookies
            .iter()
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect();
        (!pairs.is_empty()).then(|| ("Cookie".to_owned(), pairs.join("; ")))
    }

    /// The names of the cookies held and not expired (values are secrets).
    pub fn cookie_names(&self) -> Vec<String> {
        self.jar
            .iter_unexpired()
            .map(|c| c.name().to_owned())
            .collect()
    }
}

/// Cookie values are credentials: only their names are shown.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cookies", &self.cookie_names())
            .finish()
    }
}

/// How the authorization response reached the redirect URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    /// The fields of an auto-submitting form posted to the redirect URI (OAuth 2.0 Form Post
    /// Response Mode); the harness reads them from the page and never posts them.
    FormPost,
    /// A JARM `response` JWT (in the query, the fragment or a form post; the URL or the exchange
    /// shows which). Its claims are the parameters; its signature is not judged by the capture.
    Jwt,
}

/// Where the journey ended.
#[derive(Debug)]
pub enum End {
    /// The user agent was sent to a redirect URI: the authorization response.
    Response {
        url: url::Url,
        params: Vec<(String, String)>,
        mode: ResponseMode,
        /// The HTTP status of the redirect (or the `form_post` page) that delivered it.
        status: Option<u16>,
        exchange: Option<u32>,
    },
    /// The AS answered with an error status and a page for the user.
    ErrorPage { status: u16, exchange: Option<u32> },
    /// The AS sent the user agent to another origin; not followed.
    Elsewhere {
        url: url::Url,
        exchange: Option<u32>,
    },
    /// The driver could not get further: a page it cannot handle, a loop, a timeout.
    Stuck { why: String, exchange: Option<u32> },
}

/// The journey: its end, and the redirects the AS issued on the way.
#[derive(Debug)]
pub struct Journey {
    pub end: End,
    /// (status, exchange) of each redirect the AS issued (FAPI2-SP-5.3.2.2-11 judges them).
    pub redirects: Vec<(u16, u32)>,
    /// The last exchange with the AS, if any.
    pub last_exchange: Option<u32>,
}

/// The login drivers of one run, shared by every item.
pub struct Drivers {
    login: Login,
    /// Idle (no listener, no prompt) unless the mode is `manual`.
    manual: manual::Manual,
    /// The run's one Chromium, launched on first use (`browser` mode).
    #[cfg(feature = "browser")]
    browser: browser::Browser,
}

impl Drivers {
    /// `ca_bundle`: the target's trust anchors (PEM), which the browser must trust too.
    pub fn new(login: Login, ca_bundle: Option<Vec<u8>>) -> Self {
        #[cfg(not(feature = "browser"))]
        let _ = ca_bundle;
        Drivers {
            manual: manual::Manual::new(&login),
            #[cfg(feature = "browser")]
            browser: browser::Browser::new(ca_bundle),
            login,
        }
    }

    pub fn mode(&self) -> LoginMode {
        self.login.mode
    }

    /// Whether a login waits for a person; the item lends its job slot and stops its clock
    /// meanwhile.
    pub fn needs_person(&self) -> bool {
        self.login.mode == LoginMode::Manual
    }

    /// How many logins the run needs at most, for the person's prompt.
    pub fn expect_logins(&self, n: usize) {
        self.manual.expect_logins(n);
    }

    /// At the end of the run: lets servers the drivers started finish what they are answering.
    pub async fn finish(&self) {
        self.manual.finish().await;
    }

    /// Takes the user agent from `start` (the authorization request) to wherever the AS lets it
    /// go, within the login timeout.
    pub async fn authorize(
        self: &Arc<Self>,
        http: &Http,
        start: url::Url,
        scene: &Scene,
        session: &mut Session,
        recorder: &Recorder,
    ) -> Journey {
        let journey = match self.login.mode {
            LoginMode::None | LoginMode::HttpForm => {
                agent::journey(http, &self.login, start, scene, session, recorder)
            }
            // The person's own time is bounded inside, after their turn in the queue came.
            LoginMode::Manual => {
                return self
                    .manual
                    .authorize(http.redactor(), start, scene, recorder)
                    .await;
            }
            #[cfg(feature = "browser")]
            LoginMode::Browser => {
                // The browser keeps its own deadline (the login timeout) so that it can still
                // take a screenshot when it runs out; this outer one only guards against a hung
                // browser.
                let journey = self
                    .browser
                    .journey(http, &self.login, start, scene, recorder);
                return match tokio::time::timeout(
                    self.login.timeout + browser::EVIDENCE_GRACE,
                    journey,
                )
                .await
                {
                    Ok(j) => j,
                    Err(_) => timed_out(&self.login, recorder),
                };
            }
            #[cfg(not(feature = "browser"))]
            LoginMode::Browser => {
                return Journey {
                    end: End::Stuck {
                        why: "login mode browser needs a build with the `browser` feature \
                              (cargo install/build --features browser) and Chromium"
                            .into(),
                        exchange: None,
                    },
                    redirects: Vec::new(),
                    last_exchange: None,
                };
            }
        };
        match tokio::time::timeout(self.login.timeout, journey).await {
            Ok(j) => j,
            Err(_) => timed_out(&self.login, recorder),
        }
    }
}

fn timed_out(login: &Login, recorder: &Recorder) -> Journey {
    let last = recorder.snapshot().last().map(|e| e.seq);
    Journey {
        end: End::Stuck {
            why: format!(
                "the login did not finish within {} s (login.timeout_secs)",
                login.timeout.as_secs()
            ),
            exchange: last,
        },
        redirects: Vec::new(),
        last_exchange: last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    fn set(session: &mut Session, from: &str, cookies: &[&str]) {
        let headers: Vec<(String, String)> = cookies
            .iter()
            .map(|c| ("Set-Cookie".to_owned(), (*c).to_owned()))
            .collect();
        session.store(&url(from), &headers);
    }

    fn sent(session: &Session, to: &str) -> Option<String> {
        session.cookie_header(&url(to)).map(|(_, v)| v)
    }

    #[test]
    fn cookies_follow_path_domain_secure_and_expiry() {
        let mut s = Session::default();
        set(
            &mut s,
            "https://as.example/interaction/abc",
            &[
                // oidc-provider scopes its interaction cookies to one path each.
                "_interaction=i1; path=/interaction/abc; secure; httponly; samesite=lax",
                "_interaction_resume=r1; path=/auth/abc; secure; httponly",
                "_session=s1; path=/; secure; httponly; samesite=none",
                "gone=x; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT",
                "other=o; domain=elsewhere.example; path=/",
                "not a cookie",
            ],
        );
        assert_eq!(
            sent(&s, "https://as.example/interaction/abc").as_deref(),
            Some("_interaction=i1; _session=s1")
        );
        assert_eq!(
            sent(&s, "https://as.example/auth/abc").as_deref(),
            Some("_interaction_resume=r1; _session=s1")
        );
        // Secure cookies never travel over plain HTTP to a non-loopback host.
        assert_eq!(sent(&s, "http://as.example/"), None);
        assert_eq!(sent(&s, "https://elsewhere.example/"), None);
        assert_eq!(
            sent(&s, "https://sub.as.example/"),
            None,
            "host-only cookies"
        );

        // A later Set-Cookie replaces the value; an expired one deletes it.
        set(
            &mut s,
            "https://as.example/",
            &[
                "_session=s2; path=/",
                "_interaction=; path=/interaction/abc; max-age=0",
            ],
        );
        assert_eq!(
            sent(&s, "https://as.example/interaction/abc").as_deref(),
            Some("_session=s2")
        );
        let mut names = s.cookie_names();
        names.sort();
        assert_eq!(names, ["_interaction_resume", "_session"]);
    }

    #[test]
    fn domain_cookies_reach_subdomains() {
        let mut s = Session::default();
        set(
            &mut s,
            "https://login.bank.example/",
            &["sso=t; domain=bank.example; path=/"],
        );
        assert_eq!(
            sent(&s, "https://as.bank.example/authorize").as_deref(),
            Some("sso=t")
        );
    }

    #[test]
    fn debug_output_shows_no_cookie_value() {
        let mut s = Session::default();
        set(&mut s, "https://as.example/", &["sid=very-secret-value"]);
        let text = format!("{s:?}");
        assert!(
            text.contains("sid") && !text.contains("very-secret-value"),
            "{text}"
        );
    }
}
