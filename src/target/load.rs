//! Loading a target file: YAML with located errors, `${…}` resolution, key and certificate checks.
//!
//! Every problem is collected and reported together; nothing here panics on file content.

use std::path::Path;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::interpolate::resolve;
use super::keys::{parse_client_cert, parse_signing_key};
use super::model::{LoginMode, RawClient, RawLogin, RawManual, RawTarget, Text};
use super::{Client, ListenerIdentity, Login, LoginStep, ManualOptions, Resource, Target};
use crate::error::{Diagnostic, InputError, read_input, yaml_diagnostic};
use crate::plan::ClientAuth;
use crate::redact::Redactor;

struct Ctx<'a> {
    file: &'a Path,
    source: &'a str,
    base: &'a Path,
    redactor: &'a Redactor,
    problems: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn at<T>(&self, s: &Spanned<T>, d: Diagnostic) -> Diagnostic {
        d.at(
            self.file,
            s.referenced.line(),
            s.referenced.column(),
            Some(self.source),
        )
    }

    /// Resolves a plain field. Returns `None` (and records why) when it cannot be resolved.
    fn text(&mut self, field: &str, t: &Text) -> Option<String> {
        match resolve(&t.value, self.base) {
            Ok((v, _)) => Some(v),
            Err(e) => {
                let d = self.at(
                    t,
                    Diagnostic::new(format!("{field}: {}", e.message())).hint(e.hint()),
                );
                self.problems.push(d);
                None
            }
        }
    }

    /// Resolves a secret field and registers the value with the redactor.
    fn secret(&mut self, field: &str, t: &Text) -> Option<String> {
        let v = self.text(field, t)?;
        self.redactor.add_secret(&v);
        Some(v)
    }

    /// Resolves a CSS selector and checks that it parses.
    fn selector(&mut self, field: &str, t: &Text) -> Option<String> {
        let v = self.text(field, t)?;
        if let Err(e) = scraper::Selector::parse(&v) {
            let d = self
                .at(
                    t,
                    Diagnostic::new(format!("{field}: `{v}` is not a CSS selector ({e})")),
                )
                .hint("e.g. `#kc-login`, `button[type=submit]`, `form[action*=login]`");
            self.problems.push(d);
            return None;
        }
        Some(v)
    }

    fn url(&mut self, field: &str, t: &Text) -> Option<url::Url> {
        let v = self.text(field, t)?;
        match url::Url::parse(&v) {
            Ok(u) if u.scheme() == "https" || u.scheme() == "http" => Some(u),
            Ok(u) => {
                let d = self
                    .at(
                        t,
                        Diagnostic::new(format!("{field}: scheme `{}` is not http(s)", u.scheme())),
                    )
                    .hint("give an absolute https:// URL");
                self.problems.push(d);
                None
            }
            Err(e) => {
                let d = self
                    .at(
                        t,
                        Diagnostic::new(format!("{field}: `{v}` is not a URL ({e})")),
                    )
                    .hint("give an absolute https:// URL");
                self.problems.push(d);
                None
            }
        }
    }
}

/// Loads and validates a target file, registering every secret it names with `redactor`.
pub fn load_target(path: &Path, redactor: &Redactor) -> Result<Target, InputError> {
    let source = read_input(path, "target")?;
    let raw: RawTarget = serde_saphyr::from_str(&source)
        .map_err(|e| InputError::one(yaml_diagnostic(&e, path, &source, "target")))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut ctx = Ctx {
        file: path,
        source: &source,
        base,
        redactor,
        problems: Vec::new(),
    };
    // Secrets first, so that no later error message can carry one unredacted.
    for s in &raw.secrets {
        ctx.secret("secrets", s);
    }
    let extra_headers: Vec<(String, String)> = raw
        .http
        .headers
        .iter()
        .filter_map(|(k, v)| {
            ctx.secret(&format!("http.headers.{k}"), v)
                .map(|v| (k.clone(), v))
        })
        .collect();

    let issuer = ctx.url("issuer", &raw.issuer);
    let discovery_url = raw
        .discovery_url
        .as_ref()
        .and_then(|d| ctx.url("discovery_url", d));
    let ca_bundle = raw
        .ca_bundle
        .as_ref()
        .and_then(|t| load_ca_bundle(&mut ctx, t));

    if raw.clients.is_empty() {
        ctx.problems.push(
            Diagnostic::new("target has no clients")
                .in_file(path)
                .hint("add at least one entry under `clients:` (two for cross-client checks)"),
        );
    }
    let mut clients = Vec::new();
    for (i, c) in raw.clients.iter().enumerate() {
        if raw.clients[..i].iter().any(|o| o.name == c.name) {
            ctx.problems.push(
                ctx.at(
                    &c.client_id,
                    Diagnostic::new(format!("duplicate client name `{}`", c.name)),
                )
                .hint("client names must be unique within a target"),
            );
        }
        if let Some(client) = load_client(&mut ctx, c) {
            clients.push(client);
        }
    }
    let resources = raw
        .resources
        .iter()
        .filter_map(|r| {
            ctx.url("resources.url", &r.url).map(|url| Resource {
                url,
                method: r.method.to_ascii_uppercase(),
            })
        })
        .collect();

    let login = load_login(&mut ctx, &raw.login);
    let secs = |v: Option<u64>, d: Duration| v.map(Duration::from_secs).unwrap_or(d);
    if ctx.problems.is_empty()
        && let Some(issuer) = issuer
    {
        return Ok(Target {
            name: raw.target,
            file: path.to_path_buf(),
            // The issuer is compared byte for byte with the metadata (RFC8414-3.3-1), so keep the
            // string as written rather than the URL crate's normalised form.
            issuer: ctx
                .text("issuer", &raw.issuer)
                .unwrap_or_else(|| issuer.to_string()),
            discovery_url,
            ca_bundle,
            connect_timeout: secs(raw.timeouts.connect_secs, super::DEFAULT_CONNECT_TIMEOUT),
            request_timeout: secs(raw.timeouts.request_secs, super::DEFAULT_REQUEST_TIMEOUT),
            extra_headers,
            max_body_bytes: raw
                .http
                .max_body_bytes
                .unwrap_or(super::DEFAULT_MAX_BODY_BYTES),
            clients,
            sender_constraints: raw.sender_constraints,
            resources,
            login,
        });
    }
    Err(InputError {
        diagnostics: ctx.problems,
    })
}

fn load_login(ctx: &mut Ctx<'_>, raw: &RawLogin) -> Login {
    let steps_allowed = matches!(raw.mode, LoginMode::HttpForm | LoginMode::Browser);
    if !steps_allowed && let Some(first) = raw.steps.first() {
        let at = first
            .fill
            .values()
            .next()
            .or(first.when.as_ref())
            .or(first.submit.as_ref())
            .or(first.wait_for.as_ref());
        let d = Diagnostic::new(format!(
            "login.steps: mode {} does not use steps",
            raw.mode.as_str()
        ))
        .hint("steps drive `mode: http-form` or `mode: browser`");
        let d = match at {
            Some(t) => ctx.at(t, d),
            None => d.in_file(ctx.file),
        };
        ctx.problems.push(d);
    }
    if raw.mode == LoginMode::HttpForm && raw.steps.is_empty() {
        // Without steps, http-form is mode none under another name: a login page would stop it.
        let d = Diagnostic::new("login: mode http-form has no steps")
            .hint("add `steps:` with the fields to fill on the login page (docs/target-format.md, \"Login\")")
            .in_file(ctx.file);
        ctx.problems.push(d);
    }
    let steps = raw
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = s.name.clone().unwrap_or_else(|| format!("step {}", i + 1));
            let field = |f: &str| format!("login.steps[{i}].{f}");
            let when = s
                .when
                .as_ref()
                .and_then(|t| ctx.selector(&field("when"), t));
            let wait_for = s
                .wait_for
                .as_ref()
                .and_then(|t| ctx.selector(&field("wait_for"), t));
            let submit = s
                .submit
                .as_ref()
                .and_then(|t| ctx.selector(&field("submit"), t));
            let fill = s
                .fill
                .iter()
                .filter_map(|(k, v)| {
                    let css = field_selector(k);
                    if let Err(e) = scraper::Selector::parse(&css) {
                        let d = ctx
                            .at(
                                v,
                                Diagnostic::new(format!(
                                    "{}: `{k}` is neither a field name nor a CSS selector ({e})",
                                    field("fill")
                                )),
                            )
                            .hint(
                                "write a field's name (`password`) or a CSS selector (`#password`)",
                            );
                        ctx.problems.push(d);
                        return None;
                    }
                    let value = ctx.secret(&field(&format!("fill.{k}")), v)?;
                    Some((css, value))
                })
                .collect();
            LoginStep {
                name,
                when,
                wait_for,
                fill,
                submit,
            }
        })
        .collect();
    let default_timeout = if raw.mode == LoginMode::Manual {
        super::DEFAULT_MANUAL_LOGIN_TIMEOUT
    } else {
        super::DEFAULT_LOGIN_TIMEOUT
    };
    Login {
        mode: raw.mode,
        timeout: raw
            .timeout_secs
            .map(Duration::from_secs)
            .unwrap_or(default_timeout),
        steps,
        manual: ManualOptions {
            listen: raw.manual.listen.unwrap_or(true),
            open: raw.manual.open,
            listener_identity: load_listener_identity(ctx, &raw.manual),
        },
    }
}

/// `manual.listener_cert` and `manual.listener_key`: both or neither, and one key pair.
fn load_listener_identity(ctx: &mut Ctx<'_>, raw: &RawManual) -> Option<ListenerIdentity> {
    match (&raw.listener_cert, &raw.listener_key) {
        (None, None) => None,
        (Some(cert), Some(key)) => {
            // The key first: registered before any message about the pair can be written.
            let key_pem = ctx.secret("login.manual.listener_key", key);
            let cert_pem = ctx.text("login.manual.listener_cert", cert)?;
            let key_pem = key_pem?;
            match parse_client_cert(&cert_pem, &key_pem) {
                Ok(_) => Some(ListenerIdentity { cert_pem, key_pem }),
                Err(e) => {
                    let d = ctx.at(
                        cert,
                        Diagnostic::new(format!("login.manual.listener_cert: {}", e.message))
                            .hint("listener_cert and listener_key must be one key pair in PEM"),
                    );
                    ctx.problems.push(d);
                    None
                }
            }
        }
        (Some(t), None) | (None, Some(t)) => {
            let d = ctx.at(
                t,
                Diagnostic::new("login.manual: listener_cert and listener_key go together")
                    .hint("give both (a certificate for the redirect URI's host and its key), or neither for a certificate made at run time"),
            );
            ctx.problems.push(d);
            None
        }
    }
}

/// A bare name (letters, digits, `_`, `-`, `.`, `:`) names a form field; anything else is
/// already a CSS selector. Bare names would also parse as element selectors, which no login
/// step means.
fn field_selector(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        && !key.starts_with(['.', '-']);
    if bare {
        format!("[name=\"{key}\"]")
    } else {
        key.to_owned()
    }
}

fn load_ca_bundle(ctx: &mut Ctx<'_>, t: &Text) -> Option<Vec<u8>> {
    let rel = ctx.text("ca_bundle", t)?;
    let full = ctx.base.join(&rel);
    let bytes = match std::fs::read(&full) {
        Ok(b) => b,
        Err(e) => {
            let d = ctx
                .at(
                    t,
                    Diagnostic::new(format!("ca_bundle: cannot read {}: {e}", full.display())),
                )
                .hint("the path is relative to the target file's directory");
            ctx.problems.push(d);
            return None;
        }
    };
    let mut reader = bytes.as_slice();
    let parsed: Result<Vec<_>, _> = rustls_pemfile::certs(&mut reader).collect();
    match parsed {
        Ok(certs) if !certs.is_empty() => Some(bytes),
        Ok(_) => {
            let d = ctx
                .at(
                    t,
                    Diagnostic::new(format!(
                        "ca_bundle: {} holds no PEM certificate",
                        full.display()
                    )),
                )
                .hint("give a PEM file with one or more BEGIN CERTIFICATE blocks");
            ctx.problems.push(d);
            None
        }
        Err(e) => {
            let d = ctx
                .at(
                    t,
                    Diagnostic::new(format!("ca_bundle: {} does not parse: {e}", full.display())),
                )
                .hint("give a PEM file with one or more BEGIN CERTIFICATE blocks");
            ctx.problems.push(d);
            None
        }
    }
}

fn load_client(ctx: &mut Ctx<'_>, c: &RawClient) -> Option<Client> {
    let client_id = ctx.text("client_id", &c.client_id);
    let signing_key = match &c.signing_key {
        Some(k) => {
            let pem = ctx.secret("signing_key.pem", &k.pem);
            let alg = k.alg.as_ref().map(|a| a.value.as_str());
            match pem.map(|p| parse_signing_key(&p, alg, k.kid.as_deref())) {
                Some(Ok(key)) => Some(key),
                Some(Err(e)) => {
                    let d = ctx.at(
                        &k.pem,
                        Diagnostic::new(format!("client `{}`: {}", c.name, e.message)).hint(e.hint),
                    );
                    ctx.problems.push(d);
                    None
                }
                None => None,
            }
        }
        None => None,
    };
    let cert = match &c.mtls {
        Some(m) => {
            let cert_pem = ctx.text("mtls.cert", &m.cert);
            let key_pem = ctx.secret("mtls.key", &m.key);
            match (cert_pem, key_pem) {
                (Some(cp), Some(kp)) => match parse_client_cert(&cp, &kp) {
                    Ok(cert) => Some(cert),
                    Err(e) => {
                        let d = ctx.at(
                            &m.cert,
                            Diagnostic::new(format!("client `{}`: {}", c.name, e.message))
                                .hint(e.hint),
                        );
                        ctx.problems.push(d);
                        None
                    }
                },
                _ => None,
            }
        }
        None => None,
    };
    let needs = match c.auth_method {
        ClientAuth::PrivateKeyJwt if c.signing_key.is_none() => {
            Some(("signing_key", "private_key_jwt"))
        }
        ClientAuth::TlsClientAuth if c.mtls.is_none() => Some(("mtls", "tls_client_auth")),
        _ => None,
    };
    if let Some((field, method)) = needs {
        let d = ctx
            .at(
                &c.client_id,
                Diagnostic::new(format!(
                    "client `{}` uses {method} but has no `{field}`",
                    c.name
                )),
            )
            .hint(format!(
                "add `{field}:` to the client; docs/target-format.md shows an example"
            ));
        ctx.problems.push(d);
    }
    if c.redirect_uris.is_empty() {
        let d = ctx
            .at(
                &c.client_id,
                Diagnostic::new(format!("client `{}` has no redirect_uris", c.name)),
            )
            .hint("list the redirect URIs registered for this client at the AS");
        ctx.problems.push(d);
    }
    let redirect_uris: Vec<_> = c
        .redirect_uris
        .iter()
        .filter_map(|u| ctx.url("redirect_uris", u))
        .collect();
    Some(Client {
        name: c.name.clone(),
        client_id: client_id?,
        auth_method: c.auth_method,
        signing_key,
        cert,
        redirect_uris,
        scope: c.scope.clone(),
        response_mode: c.response_mode,
    })
}
