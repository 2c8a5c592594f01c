//! The user agent's journey from the authorization request to the authorization response: the
//! login drivers (`none`, `http-form`, `browser`, `manual`) and the capture of the response.
//!
//! A driver only reports where the journey ended and keeps every exchange as evidence; the flow
//! executor turns that into a stage result and the checks judge it.

mod agent;
#[cfg(feature = "browser")]
pub mod browser;
mod manual;

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

/// The user agent's state for one flow: cookies the AS set during the journey.
#[derive(Default)]
pub struct Session {
    pub cookies: Vec<(String, String)>,
}

/// How the authorization response reached the redirect URI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    Fragment,
    /// A POST of the parameters to the redirect URI (OAuth 2.0 Form Post Response Mode).
    FormPost,
}

/// Where the journey ended.
#[derive(Debug)]
pub enum End {
    /// The user agent was sent to a redirect URI: the authorization response.
    Response {
        url: url::Url,
        params: Vec<(String, String)>,
        mode: ResponseMode,
        /// The HTTP status of the redirect that delivered it, where a redirect did.
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
