//! The authorization endpoint: serves pushed requests only, logs the user in (automatically or
//! with a plain HTML login and consent form), and answers with a 303 redirect carrying `code`,
//! `state` and `iss` (RFC 6749 §4.1.2, RFC 9207).
//!
//! The login form keeps its session the way real servers do: in a cookie (`__Host-login`,
//! `HttpOnly`, `Secure`, `SameSite=Lax`), with an anti-CSRF token in each form. The harness's
//! `http-form` driver must carry the cookie, so its cookie jar is exercised.
//!
//! A redirect goes only to a redirect URI registered for the client; every other failure is an
//! HTML error page, so the endpoint can never be an open redirector (FAPI2-SP-5.3.2.1-7).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    CACHE_CONTROL, COOKIE, LOCATION, ORIGIN, SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::app::App;
use super::fault::Fault;
use super::oauth::Params;
use super::par::validate_request;
use super::state::{AuthorizationRequest, CodeRecord, LoginSession, random_bytes, random_value};

/// FAPI2-SP-5.3.2.1-11: codes live at most 60 s.
const CODE_LIFETIME_SECS: i64 = 60;
/// What the `code-lifetime-120s` fault uses instead.
const FAULTY_CODE_LIFETIME_SECS: i64 = 120;
/// How long a user may take on the login and consent pages.
const LOGIN_LIFETIME_SECS: i64 = 600;
/// The one test user.
pub const USERNAME: &str = "alice";
/// The login session cookie. `__Host-` makes browsers insist on `Secure`, `Path=/` and no
/// `Domain` (RFC 6265bis §4.1.3.2).
const LOGIN_COOKIE: &str = "__Host-login";

/// `GET /authorize`.
pub async fn authorize(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let res = handle(&app, query.as_deref().unwrap_or(""));
    with_cors(&app, &headers, res)
}

/// `OPTIONS /authorize`, routed only with the `cors-authorization-endpoint` fault.
pub async fn cors_preflight(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    with_cors(&app, &headers, StatusCode::NO_CONTENT.into_response())
}

/// FAPI2-SP-5.2.3-3 forbids CORS here; only the fault adds the headers.
fn with_cors(app: &App, headers: &HeaderMap, mut res: Response) -> Response {
    if app.fault(Fault::CorsAuthorizationEndpoint)
        && let Some(origin) = headers.get(ORIGIN)
    {
        let h = res.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        h.insert(
            ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
        h.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
    }
    res
}

fn handle(app: &App, query: &str) -> Response {
    let params = match Params::parse(query.as_bytes()) {
        Ok(p) => p,
        Err(e) => return error_page(app, None, &e.description),
    };
    let Some(client) = params.get("client_id").and_then(|id| app.client(id)) else {
        return error_page(app, Some(&params), "unknown or missing client_id");
    };
    let request_uri = match params.get("request_uri") {
        Some(uri) => uri.to_owned(),
        None if app.fault(Fault::ParNotRequired) => {
            // The fault serves a classic front-channel request as if it had been pushed.
            let request = match validate_request(app, client, &params) {
                Ok(r) => r,
                Err(e) => return error_page(app, Some(&params), &e.description),
            };
            let uri = format!("front-channel:{}", random_value());
            let now = app.now();
            if !app
                .store
                .pushed
                .insert(uri.clone(), request, now + LOGIN_LIFETIME_SECS, now)
            {
                return error_page(app, None, "the server is busy");
            }
            uri
        }
        None => {
            // The redirect URI is registered, so an error redirect there is safe (RFC 6749
            // §4.1.2.1); otherwise only a page.
            let why = "authorization requests must be pushed first (FAPI2-SP-5.3.2.2-3)";
            return match params.get("redirect_uri") {
                Some(uri) if uri == client.redirect_uri => {
                    error_redirect(app, uri, "invalid_request", why, params.get("state"))
                }
                _ => error_page(app, Some(&params), why),
            };
        }
    };
    let now = app.now();
    let Some(request) = app.store.pushed.get(&request_uri, now) else {
        return error_page(app, None, "request_uri is unknown, used or expired");
    };
    if request.client_id != client.client_id && !app.fault(Fault::RequestUriNotBoundToClient) {
        return error_page(
            app,
            None,
            "request_uri was pushed by another client (RFC 9126 §2.2)",
        );
    }
    if app.fault(Fault::FrontChannelFillsGaps) || app.fault(Fault::FrontChannelNonceOverrides) {
        // The first fault completes a pushed request from the query where it lacks a state;
        // the second takes the query's nonce over the pushed one.
        let (state, nonce) = (params.get("state"), params.get("nonce"));
        let fill = app.fault(Fault::FrontChannelFillsGaps);
        let nonce_wins = app.fault(Fault::FrontChannelNonceOverrides);
        app.store.pushed.update(&request_uri, now, |r| {
            if let (true, None, Some(s)) = (fill, &r.state, state) {
                r.state = Some(s.to_owned());
            }
            if let (true, Some(n)) = (nonce_wins, nonce) {
                r.nonce = Some(n.to_owned());
            }
        });
    }
    if app.fault(Fault::FrontChannelOverridesPar) {
        // The fault merges the query over the pushed request instead of ignoring it.
        let (redirect_uri, state) = (params.get("redirect_uri"), params.get("state"));
        app.store.pushed.update(&request_uri, now, |r| {
            if let Some(u) = redirect_uri {
                r.redirect_uri = u.to_owned();
            }
            if let Some(s) = state {
                r.state = Some(s.to_owned());
            }
        });
    }
    if app.login_form {
        let session = random_value();
        let csrf = random_value();
        let login = LoginSession {
            request_uri,
            csrf: csrf.clone(),
            user: None,
            auth_time: 0,
        };
        if !app
            .store
            .logins
            .insert(session.clone(), login, now + LOGIN_LIFETIME_SECS, now)
        {
            return error_page(app, None, "the server is busy");
        }
        app.note_login_cookie(&session);
        let mut res = page(StatusCode::OK, &login_form(&csrf, &request.client_id, None));
        let cookie = format!(
            "{LOGIN_COOKIE}={session}; Path=/; Max-Age={LOGIN_LIFETIME_SECS}; Secure; HttpOnly; SameSite=Lax"
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            res.headers_mut().insert(SET_COOKIE, v);
        }
        return res;
    }
    approve(app, &request_uri, USERNAME, now)
}

/// The login session of a form post: the session cookie names it, and the form's anti-CSRF
/// token must be the session's. `Err` says why not, for the error page.
fn login_session(
    app: &App,
    headers: &HeaderMap,
    form: &Params,
) -> Result<(String, LoginSession), &'static str> {
    let session = headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == LOGIN_COOKIE)
        .map(|(_, value)| value.to_owned())
        .ok_or("no login session cookie: are cookies enabled?")?;
    let login = app
        .store
        .logins
        .get(&session, app.now())
        .ok_or("the login session is unknown or expired")?;
    let csrf_ok = form.get("csrf").is_some_and(|c| {
        aws_lc_rs::constant_time::verify_slices_are_equal(c.as_bytes(), login.csrf.as_bytes())
            .is_ok()
    });
    if !csrf_ok {
        return Err("the form does not belong to this login session");
    }
    Ok((session, login))
}

/// `POST /login`: checks the password, then shows the consent page.
pub async fn login(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(form) = Params::parse(&body) else {
        return error_page(&app, None, "malformed form");
    };
    let (session, login) = match login_session(&app, &headers, &form) {
        Ok(s) => s,
        Err(why) => return error_page(&app, None, why),
    };
    let now = app.now();
    let Some(request) = app.store.pushed.get(&login.request_uri, now) else {
        return error_page(&app, None, "the authorization request has expired");
    };
    let user_ok = form.get("username") == Some(USERNAME);
    // Constant-time comparison: the password is a secret, its prefix must not leak by timing.
    let pass_ok = form.get("password").is_some_and(|p| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            p.as_bytes(),
            app.login_password.as_bytes(),
        )
        .is_ok()
    });
    if !(user_ok && pass_ok) {
        return page(
            StatusCode::OK,
            &login_form(
                &login.csrf,
                &request.client_id,
                Some("Wrong username or password."),
            ),
        );
    }
    app.store.logins.update(&session, now, |l| {
        l.user = Some(USERNAME.to_owned());
        l.auth_time = now;
    });
    page(StatusCode::OK, &consent_form(&login.csrf, &request))
}

/// `POST /consent`: approves or denies, then redirects to the client.
pub async fn consent(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(form) = Params::parse(&body) else {
        return error_page(&app, None, "malformed form");
    };
    let now = app.now();
    let (session, _) = match login_session(&app, &headers, &form) {
        Ok(s) => s,
        Err(why) => return error_page(&app, None, why),
    };
    let Some(login) = app.store.logins.take(&session, now) else {
        return error_page(&app, None, "the login session is unknown or expired");
    };
    let Some(user) = login.user else {
        return error_page(&app, None, "log in first");
    };
    if form.get("decision") == Some("approve") {
        return approve(app.as_ref(), &login.request_uri, &user, login.auth_time);
    }
    let Some(request) = app.store.pushed.take(&login.request_uri, now) else {
        return error_page(&app, None, "the authorization request has expired");
    };
    error_redirect(
        &app,
        &request.redirect_uri,
        "access_denied",
        "the user denied the request",
        request.state.as_deref(),
    )
}

/// Issues the code for a pushed request and redirects to the client.
fn approve(app: &App, request_uri: &str, user: &str, auth_time: i64) -> Response {
    let now = app.now();
    // One-time use is enforced here, at the point of authorization, not when a page loads
    // (FAPI2-SP-5.3.2.2 Note 3).
    let request = if app.fault(Fault::ParRequestUriReusable) {
        app.store.pushed.get(request_uri, now)
    } else {
        app.store.pushed.take(request_uri, now)
    };
    let Some(request) = request else {
        return error_page(app, None, "request_uri is unknown, used or expired");
    };
    let code = if app.fault(Fault::ShortCodes) {
        random_bytes::<8>()
    } else {
        random_value()
    };
    let lifetime = if app.fault(Fault::CodeLifetime120s) {
        FAULTY_CODE_LIFETIME_SECS
    } else {
        CODE_LIFETIME_SECS
    };
    let record = CodeRecord {
        request: request.clone(),
        sub: user.to_owned(),
        auth_time,
        used: false,
        grant_id: random_value(),
    };
    if !app
        .store
        .codes
        .insert(code.clone(), record, now + lifetime, now)
    {
        return error_page(app, None, "the server is busy");
    }
    let mut params = vec![("code", code.as_str())];
    if let Some(state) = &request.state {
        params.push(("state", state));
    }
    redirect(app, &request.redirect_uri, params)
}

fn error_redirect(
    app: &App,
    redirect_uri: &str,
    error: &str,
    description: &str,
    state: Option<&str>,
) -> Response {
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(state) = state {
        params.push(("state", state));
    }
    redirect(app, redirect_uri, params)
}

/// A redirect to the client with `params` and `iss` (RFC 9207 §2) in the query.
fn redirect<'a>(app: &'a App, redirect_uri: &str, mut params: Vec<(&'a str, &'a str)>) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(app, None, "the redirect URI is not a URL");
    };
    if !app.fault(Fault::AuthorizationResponseNoIss) {
        params.push(("iss", &app.urls.issuer));
    }
    url.query_pairs_mut().extend_pairs(params);
    // 303 makes the browser follow with GET and drop a POST body holding credentials
    // (FAPI2-SP-5.3.2.2-10, -11).
    let status = if app.fault(Fault::AuthorizationRedirect302) {
        StatusCode::FOUND
    } else {
        StatusCode::SEE_OTHER
    };
    let Ok(location) = HeaderValue::from_str(url.as_str()) else {
        return error_page(app, None, "the redirect URI cannot be sent");
    };
    (
        status,
        [
            (LOCATION, location),
            (CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response()
}

/// An HTML error shown to the user instead of redirecting to an untrusted place. The
/// `open-redirect` fault redirects to whatever `redirect_uri` the query named instead.
fn error_page(app: &App, params: Option<&Params>, why: &str) -> Response {
    if app.fault(Fault::OpenRedirect)
        && let Some(uri) = params.and_then(|p| p.get("redirect_uri"))
        && url::Url::parse(uri).is_ok()
    {
        return error_redirect(
            app,
            uri,
            "invalid_request",
            why,
            params.and_then(|p| p.get("state")),
        );
    }
    page(
        StatusCode::BAD_REQUEST,
        &format!("<h1>Authorization failed</h1>\n<p>{}</p>", escape(why)),
    )
}

fn page(status: StatusCode, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>fapi-harness reference AS</title></head>\n<body>\n{body}\n</body></html>\n"
    );
    (
        status,
        [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Html(html),
    )
        .into_response()
}

fn login_form(csrf: &str, client_id: &str, message: Option<&str>) -> String {
    format!(
        "<h1>Log in</h1>\n<p>{client} asks you to log in.</p>\n{msg}<form method=\"post\" action=\"/login\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <label>Username <input name=\"username\" autocomplete=\"username\"></label>\n\
         <label>Password <input name=\"password\" type=\"password\" autocomplete=\"current-password\"></label>\n\
         <button type=\"submit\">Log in</button>\n</form>",
        client = escape(client_id),
        msg = message
            .map(|m| format!("<p role=\"alert\">{}</p>\n", escape(m)))
            .unwrap_or_default(),
        csrf = escape(csrf),
    )
}

fn consent_form(csrf: &str, request: &AuthorizationRequest) -> String {
    format!(
        "<h1>Consent</h1>\n<p>{client} asks for access to: {scope}.</p>\n\
         <form method=\"post\" action=\"/consent\">\n\
         <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\n\
         <button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\n\
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\n</form>",
        client = escape(&request.client_id),
        scope = escape(&request.scope),
        csrf = escape(csrf),
    )
}

/// HTML-escapes text for element content and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
