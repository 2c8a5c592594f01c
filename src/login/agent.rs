//! The user agent without a browser: follows the AS's redirects (`none`) and fills its forms
//! (`http-form`). It never requests a redirect URI: the authorization response is read from the
//! redirect that points there.

use super::{End, Journey, ResponseMode, Scene, Session};
use crate::fapi::authorize::{self, Landing};
use crate::http::{Http, RawResponse, Recorder, RequestSpec};
use crate::target::Login;

/// At most this many redirects inside the AS before the user agent gives up (loop protection).
const MAX_HOPS: usize = 10;

fn header<'a>(r: &'a RawResponse, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn remember_cookies(session: &mut Session, r: &RawResponse) {
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("set-cookie")
            && let Some((name, rest)) = v.split_once('=')
        {
            let value = rest.split(';').next().unwrap_or("").to_owned();
            session.cookies.retain(|(n, _)| n != name);
            session.cookies.push((name.to_owned(), value));
        }
    }
}

fn cookie_header(session: &Session) -> Vec<(String, String)> {
    if session.cookies.is_empty() {
        return Vec::new();
    }
    let jar: Vec<String> = session
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vec![("Cookie".to_owned(), jar.join("; "))]
}

pub async fn journey(
    http: &Http,
    login: &Login,
    start: url::Url,
    scene: &Scene,
    session: &mut Session,
    recorder: &Recorder,
) -> Journey {
    let mut url = start;
    let mut redirects = Vec::new();
    let mut last_exchange = None;
    let end = |end: End, redirects: Vec<(u16, u32)>, last_exchange: Option<u32>| Journey {
        end,
        redirects,
        last_exchange,
    };
    for hop in 0..MAX_HOPS {
        let spec = RequestSpec {
            label: if hop == 0 {
                "authorization request".into()
            } else {
                format!("authorization redirect hop {hop}")
            },
            method: reqwest::Method::GET,
            url: url.clone(),
            headers: cookie_header(session),
            body: None,
        };
        let (seq, raw) = http.send(spec, None, recorder).await;
        last_exchange = Some(seq);
        let Some(r) = raw else {
            return end(
                End::Stuck {
                    why: "no response from the authorization endpoint".into(),
                    exchange: Some(seq),
                },
                redirects,
                last_exchange,
            );
        };
        remember_cookies(session, &r);
        let location = header(&r, "location").and_then(|l| url.join(l).ok());
        let (true, Some(next)) = ((300..400).contains(&r.status), location) else {
            let e = if (400..600).contains(&r.status) {
                End::ErrorPage {
                    status: r.status,
                    exchange: Some(seq),
                }
            } else {
                End::Stuck {
                    why: format!(
                        "the authorization endpoint answered HTTP {} with a page (login or consent?), which login mode {:?} cannot get past",
                        r.status, login.mode
                    ),
                    exchange: Some(seq),
                }
            };
            return end(e, redirects, last_exchange);
        };
        redirects.push((r.status, seq));
        match authorize::classify(&next, &scene.redirect_uris, &scene.as_origins) {
            Landing::Registered { params } => {
                let mode = if next.fragment().is_some() {
                    ResponseMode::Fragment
                } else {
                    ResponseMode::Query
                };
                return end(
                    End::Response {
                        url: next,
                        params,
                        mode,
                        status: Some(r.status),
                        exchange: Some(seq),
                    },
                    redirects,
                    last_exchange,
                );
            }
            Landing::AsOrigin(u) => url = u,
            Landing::Elsewhere(u) => {
                return end(
                    End::Elsewhere {
                        url: u,
                        exchange: Some(seq),
                    },
                    redirects,
                    last_exchange,
                );
            }
        }
    }
    end(
        End::Stuck {
            why: format!("more than {MAX_HOPS} redirects inside the AS (loop?)"),
            exchange: None,
        },
        redirects,
        last_exchange,
    )
}
