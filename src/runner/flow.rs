//! Executing the OAuth flow steps (PAR, authorization, token, resource) for one item.
//!
//! Each step records what the stage answered as a `StageRecord`; the checks judge those. After
//! a stage that did not accept, later flow steps do not run: there is nothing to continue with.

use std::sync::Arc;

use serde_json::Value;

use super::RunContext;
use super::item::State;
use crate::checks::{Stage, StageRecord, StageResult};
use crate::fapi::authorize::{self, AuthzParams};
use crate::fapi::client_auth::{self, Audiences};
use crate::fapi::dpop::{self, DpopKey, ProofFor};
use crate::fapi::mutation::{Mutation, Mutations, flip_char};
use crate::fapi::pkce::{self, Pkce, random_token};
use crate::fapi::step::{ClientRole, Grant, StepKind};
use crate::http::{Body, RawResponse, Recorder, RequestSpec};
use crate::login;
use crate::plan::{ClientAuth, OpenidMode, SenderConstraint, Variant};
use crate::target::Client;
use crate::target::keys::{KeyKind, thumbprint};

/// Per-item protocol state of the flow.
pub struct FlowState {
    pub variant: Variant,
    pkce: Pkce,
    state: String,
    nonce: Option<String>,
    dpop_key: Option<DpopKey>,
    redirect_uri: Option<String>,
    request_uri: Option<String>,
    code: Option<String>,
    access_token: Option<String>,
    refresh_token: Option<String>,
    last_assertion: Option<String>,
    last_proof: Option<String>,
    /// The latest DPoP nonce each origin provided (RFC 9449 §8, §9). Per item, like the DPoP
    /// key: each item is a new client instance, so its first proof to a nonce-demanding server
    /// is challenged, and an item sees that challenge whatever ran before it.
    dpop_nonces: std::collections::HashMap<String, String>,
    /// Set once a deliberately altered step has started: it and what follows are under test.
    under_test: bool,
    /// A stage refused or could not be judged: later flow steps are skipped.
    stopped: bool,
    session: login::Session,
    /// The `state` the last pushed request carried, if any: what a response to its `request_uri`
    /// must return.
    pushed_state: Option<String>,
}

impl FlowState {
    pub fn new(variant: Variant) -> Self {
        FlowState {
            variant,
            pkce: pkce::generate(),
            state: random_token(16),
            nonce: None,
            dpop_key: None,
            redirect_uri: None,
            request_uri: None,
            code: None,
            access_token: None,
            refresh_token: None,
            last_assertion: None,
            last_proof: None,
            dpop_nonces: Default::default(),
            under_test: false,
            stopped: false,
            session: login::Session::default(),
            pushed_state: None,
        }
    }

    pub fn stopped(&self) -> bool {
        self.stopped
    }

    pub fn mark_under_test(&mut self) {
        self.under_test = true;
    }
}

/// The client for a role: the variant's client, or another one for cross-client tests.
fn client<'a>(
    ctx: &'a RunContext,
    variant: &Variant,
    role: ClientRole,
) -> Result<&'a Client, String> {
    let candidates = ctx.target.clients_for(variant.client_auth);
    let primary = *candidates
        .first()
        .ok_or("the target has no client for this variant")?;
    match role {
        ClientRole::Primary => Ok(primary),
        ClientRole::Second => candidates
            .get(1)
            .copied()
            .or_else(|| ctx.target.clients.iter().find(|c| c.name != primary.name))
            .ok_or_else(|| "the target has no second client".to_owned()),
        ClientRole::RsaKey => ctx
            .target
            .clients
            .iter()
            .find(|c| {
                c.auth_method == ClientAuth::PrivateKeyJwt
                    && c.signing_key
                        .as_ref()
                        .is_some_and(|k| k.kind == KeyKind::Rsa)
            })
            .ok_or_else(|| "the target has no private_key_jwt client with an RSA key".to_owned()),
    }
}

/// Whether requests of `client` carry its certificate: for mTLS client authentication, and for
/// every request whose token is (or will be) mTLS-bound.
fn uses_cert(client: &Client, variant: &Variant) -> bool {
    client.auth_method == ClientAuth::TlsClientAuth
        || variant.sender_constraint == Some(SenderConstraint::Mtls)
}

fn scope(client: &Client, variant: &Variant) -> String {
    let mut parts: Vec<&str> = client
        .scope
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .filter(|s| *s != "openid")
        .collect();
    if variant.openid != Some(OpenidMode::Oauth) {
        parts.insert(0, "openid");
    }
    parts.join(" ")
}

fn metadata_str<'a>(state: &'a State, member: &str) -> Option<&'a str> {
    state
        .metadata
        .as_ref()?
        .doc
        .json
        .as_ref()?
        .get(member)?
        .as_str()
}

/// The endpoint URL, using its `mtls_endpoint_aliases` entry when the request carries a
/// certificate (RFC 8705 §5).
fn endpoint(state: &State, member: &str, with_cert: bool) -> Result<url::Url, String> {
    let json = state
        .metadata
        .as_ref()
        .and_then(|m| m.doc.json.as_ref())
        .ok_or("the metadata is unavailable")?;
    let alias = with_cert
        .then(|| {
            json.get("mtls_endpoint_aliases")
                .and_then(|a| a.get(member))
                .and_then(Value::as_str)
        })
        .flatten();
    let value = alias
        .or_else(|| json.get(member).and_then(Value::as_str))
        .ok_or_else(|| format!("the metadata has no `{member}`"))?;
    url::Url::parse(value).map_err(|e| format!("metadata `{member}` is not a URL: {e}"))
}

/// The value of a request parameter, as sent.
fn param(params: &[(String, String)], name: &str) -> Option<String> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn json_of(r: &RawResponse) -> Option<Value> {
    serde_json::from_slice(&r.body).ok()
}

/// How a direct (back-channel) endpoint answered: 2xx accepts, 400/401 with a JSON `error` is a
/// well-formed rejection (RFC 6749 §5.2), anything else is a rejection in the wrong form.
///
/// Without a response: when the request deliberately presented a wrong or no client certificate,
/// a connection the server tore down is a refusal at the TLS layer (how a server that validates
/// client certificates against its CAs refuses, RFC 8705 §2.1; with TLS 1.3 the client only
/// learns it when sending). Otherwise a transport failure leaves the stage undetermined.
fn direct_result(
    raw: Option<&RawResponse>,
    transport_error: Option<String>,
    certificate_probe: bool,
    accepted: impl Fn(&RawResponse) -> bool,
) -> StageResult {
    let Some(r) = raw else {
        return match transport_error {
            Some(e) if certificate_probe => StageResult::Rejected {
                status: None,
                error: None,
                how: format!("TLS handshake refused: {e}"),
                iss_ok: None,
                well_formed: true,
            },
            Some(e) => StageResult::Undetermined(format!("no response: {e}")),
            None => StageResult::Undetermined("no response".into()),
        };
    };
    if accepted(r) {
        return StageResult::Accepted;
    }
    let error = json_of(r).and_then(|j| j.get("error").and_then(Value::as_str).map(str::to_owned));
    StageResult::Rejected {
        status: Some(r.status),
        well_formed: matches!(r.status, 400 | 401) && error.is_some(),
        how: if error.is_some() {
            "JSON error".into()
        } else {
            "no JSON error".into()
        },
        error,
        iss_ok: None,
    }
}

fn record(
    state: &mut State,
    stage: Stage,
    step: usize,
    result: StageResult,
    exchange: Option<u32>,
) {
    if result != StageResult::Accepted {
        state.flow.stopped = true;
    }
    let under_test = state.flow.under_test;
    state.obs.stages.push(StageRecord {
        stage,
        step,
        under_test,
        result,
        exchange,
    });
}

fn server_now(ctx: &RunContext) -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + ctx.clock_offset()
}

fn dpop_key(state: &mut State) -> Result<DpopKey, String> {
    if state.flow.dpop_key.is_none() {
        state.flow.dpop_key = Some(dpop::generate_key()?);
    }
    state
        .flow
        .dpop_key
        .clone()
        .ok_or_else(|| "no DPoP key".to_owned())
}

/// Builds a DPoP proof for a request, honouring the nonce the server last gave for its origin.
fn proof(
    ctx: &RunContext,
    state: &mut State,
    htm: &str,
    url: &url::Url,
    access_token: Option<&str>,
    mutations: &[Mutation],
) -> Result<String, String> {
    if mutations.has(&Mutation::DpopReplay)
        && let Some(p) = &state.flow.last_proof
    {
        return Ok(p.clone());
    }
    let key = if mutations.has(&Mutation::DpopOtherKey) {
        dpop::generate_key()?
    } else {
        dpop_key(state)?
    };
    if mutations.has(&Mutation::DpopJwkPrivate) {
        // The key is the flow's own and dies with it, but a report must still never show a
        // private key: neither the `d` member nor the proof that carries it encoded.
        ctx.http.redactor().add_secret(key.private_scalar());
    }
    let held = state.flow.dpop_nonces.get(&origin(url)).cloned();
    if nonce_probe(mutations) && held.is_none() {
        state.obs.nonce_probe_without_nonce = true;
    }
    let nonce = if mutations.has(&Mutation::OmitDpopNonce) {
        None
    } else if mutations.has(&Mutation::DpopUnknownNonce) {
        Some(random_token(22))
    } else {
        held
    };
    if nonce.is_some() && state.flow.under_test {
        state.obs.nonce_in_tested_proof = true;
    }
    let p = dpop::proof(
        &key,
        &ProofFor {
            htm,
            htu: url.as_str(),
            access_token,
            nonce: nonce.as_deref(),
        },
        mutations,
        server_now(ctx),
    )?;
    if mutations.has(&Mutation::DpopJwkPrivate) {
        ctx.http.redactor().add_secret(&p);
    }
    state.flow.last_proof = Some(p.clone());
    Ok(p)
}

/// The `DPoP` request headers: one proof, or two valid ones where a mutation asks for two
/// (RFC 9449 §4.3 check 1).
fn proof_headers(
    ctx: &RunContext,
    state: &mut State,
    htm: &str,
    url: &url::Url,
    access_token: Option<&str>,
    mutations: &[Mutation],
) -> Result<Vec<(String, String)>, String> {
    let copies = if mutations.has(&Mutation::DpopTwoHeaders) {
        2
    } else {
        1
    };
    (0..copies)
        .map(|_| {
            proof(ctx, state, htm, url, access_token, mutations).map(|p| ("DPoP".to_owned(), p))
        })
        .collect()
}

/// A URL's origin: the key of the DPoP nonce memory (a nonce is good only at its server).
fn origin(url: &url::Url) -> String {
    url.origin().ascii_serialization()
}

/// Whether the proof's nonce is what the step tests (no nonce, or a made-up one).
fn nonce_probe(mutations: &[Mutation]) -> bool {
    mutations.has(&Mutation::OmitDpopNonce) || mutations.has(&Mutation::DpopUnknownNonce)
}

/// Reads a response for DPoP nonces (RFC 9449 §8 at the AS, §9 at the RS): remembers a
/// `DPoP-Nonce` it provides, records a `use_dpop_nonce` challenge, and says whether to retry
/// (asked, with a nonce to retry with).
fn wants_nonce(state: &mut State, url: &url::Url, stage: Stage, seq: u32, r: &RawResponse) -> bool {
    let asked = json_of(r)
        .and_then(|j| {
            j.get("error")
                .and_then(Value::as_str)
                .map(|e| e == "use_dpop_nonce")
        })
        .unwrap_or(false)
        || r.header("www-authenticate")
            .is_some_and(|w| w.contains("use_dpop_nonce"));
    if asked {
        state.obs.nonce_challenges.push((stage, seq));
    }
    let Some(nonce) = r.header("dpop-nonce") else {
        return false;
    };
    state.flow.dpop_nonces.insert(origin(url), nonce.to_owned());
    asked
}

fn client_auth_params(
    ctx: &RunContext,
    state: &mut State,
    client: &Client,
    mutations: &[Mutation],
) -> Result<Vec<(String, String)>, String> {
    let token = metadata_str(state, "token_endpoint")
        .unwrap_or_default()
        .to_owned();
    let par = metadata_str(state, "pushed_authorization_request_endpoint")
        .unwrap_or_default()
        .to_owned();
    let aud = Audiences {
        issuer: &ctx.target.issuer,
        token_endpoint: &token,
        par_endpoint: &par,
    };
    let other = ctx.target.clients.iter().find(|c| c.name != client.name);
    let mut params = client_auth::auth_params(client, &aud, mutations, other, server_now(ctx))?;
    if let Some(slot) = params.iter_mut().find(|(k, _)| k == "client_assertion") {
        if mutations.has(&Mutation::AssertionReplay)
            && let Some(prev) = &state.flow.last_assertion
        {
            slot.1 = prev.clone();
        }
        state.flow.last_assertion = Some(slot.1.clone());
    }
    Ok(params)
}

/// Whether the request deliberately presented a wrong or no client certificate.
fn certificate_probe(mutations: &[Mutation]) -> bool {
    mutations.has(&Mutation::ImpostorClientCert)
        || mutations.has(&Mutation::NoClientCert)
        || mutations.has(&Mutation::OtherClientCert)
}

/// Judges a back-channel answer: accepted when the status is one of `ok` and the JSON body has
/// `member` (a `request_uri`, an `access_token`).
fn judge_direct(
    recorder: &Recorder,
    seq: u32,
    raw: Option<&RawResponse>,
    mutations: &[Mutation],
    ok: &[u16],
    member: &str,
) -> StageResult {
    direct_result(
        raw,
        transport_error(recorder, seq),
        certificate_probe(mutations),
        |r| ok.contains(&r.status) && json_of(r).is_some_and(|j| j.get(member).is_some()),
    )
}

/// The transport error recorded for exchange `seq`, if the request got no response.
fn transport_error(recorder: &Recorder, seq: u32) -> Option<String> {
    recorder
        .snapshot()
        .into_iter()
        .find(|e| e.seq == seq)
        .and_then(|e| e.error)
}

/// Which certificate a request presents: the client's own, an impostor with the client's subject
/// from no trusted CA (`http.rs` prepares one per client), or none.
fn cert_holder(client: &Client, with_cert: bool, mutations: &[Mutation]) -> Option<String> {
    if mutations.has(&Mutation::ImpostorClientCert) {
        Some(crate::http::impostor_name(&client.name))
    } else {
        with_cert.then(|| client.name.clone())
    }
}

/// Sends a back-channel POST, retrying once when the server asks for a DPoP nonce.
#[allow(clippy::too_many_arguments)] // one call per endpoint kind; a struct would only rename them
async fn post_with_nonce(
    ctx: &RunContext,
    state: &mut State,
    recorder: &Recorder,
    (label, stage): (&str, Stage),
    url: &url::Url,
    client: &Client,
    with_cert: bool,
    mutations: &[Mutation],
    dpop_on: bool,
    mut form: impl FnMut(&RunContext, &mut State) -> Result<Vec<(String, String)>, String>,
) -> Result<(u32, Option<RawResponse>), String> {
    let mut attempt = 0;
    loop {
        let mut headers = Vec::new();
        if dpop_on {
            headers.extend(proof_headers(ctx, state, "POST", url, None, mutations)?);
        }
        let spec = RequestSpec {
            label: label.to_owned(),
            method: reqwest::Method::POST,
            url: url.clone(),
            headers,
            body: Some(Body::Form(form(ctx, state)?)),
        };
        let (seq, raw) = ctx
            .http
            .send(
                spec,
                cert_holder(client, with_cert, mutations).as_deref(),
                recorder,
            )
            .await;
        attempt += 1;
        let retry = match &raw {
            Some(r) if dpop_on => wants_nonce(state, url, stage, seq, r),
            _ => false,
        };
        // A step that tests the nonce is judged on its first answer: a retry would send the
        // same altered proof again.
        if !(retry && attempt == 1 && !nonce_probe(mutations)) {
            return Ok((seq, raw));
        }
    }
}

pub async fn par(
    ctx: &Arc<RunContext>,
    state: &mut State,
    step: usize,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
) -> Result<(), String> {
    let variant = state.flow.variant.clone();
    let c = client(ctx, &variant, role)?;
    let with_cert = uses_cert(c, &variant) && !mutations.has(&Mutation::NoClientCert);
    let url = endpoint(state, "pushed_authorization_request_endpoint", with_cert)?;
    let redirect_uri = c
        .redirect_uris
        .first()
        .map(|u| u.to_string())
        .ok_or("the client has no redirect URI")?;
    state.flow.redirect_uri = Some(redirect_uri.clone());
    if variant.openid != Some(OpenidMode::Oauth) && state.flow.nonce.is_none() {
        state.flow.nonce = Some(random_token(16));
    }
    if let Some(n) = mutations.find_map(|m| match m {
        Mutation::StateLength(n) => Some(*n),
        _ => None,
    }) {
        state.flow.state = random_token(n).chars().take(n).collect();
    }
    // RFC 9449 §10.1: a proof at PAR binds the code as `dpop_jkt` does, so a flow sends one or
    // the other; both only to test that they must agree.
    let proof_at_par = mutations.has(&Mutation::DpopProofAtPar);
    let jkt = if mutations.has(&Mutation::DpopJktMismatch) {
        Some(thumbprint(&dpop::generate_key()?.signing.public_jwk))
    } else if variant.sender_constraint == Some(SenderConstraint::Dpop)
        && !mutations.has(&Mutation::OmitDpopJkt)
        && !proof_at_par
    {
        Some(thumbprint(&dpop_key(state)?.signing.public_jwk))
    } else {
        None
    };
    let scope = scope(c, &variant);
    let (seq, raw) = post_with_nonce(
        ctx,
        state,
        recorder,
        ("pushed authorization request", Stage::Par),
        &url,
        c,
        with_cert,
        mutations,
        proof_at_par,
        |ctx, st| {
            let fs = &st.flow;
            let mut form = authorize::params(
                &AuthzParams {
                    client_id: &c.client_id,
                    redirect_uri: &redirect_uri,
                    scope: &scope,
                    state: &fs.state,
                    nonce: fs.nonce.as_deref(),
                    pkce: &fs.pkce,
                    dpop_jkt: jkt.as_deref(),
                    response_mode: c.response_mode.map(|m| m.as_str()),
                },
                mutations,
            );
            form.retain(|(k, _)| k != "client_id");
            st.obs.sent_nonce = param(&form, "nonce");
            st.flow.pushed_state = param(&form, "state");
            form.extend(client_auth_params(ctx, st, c, mutations)?);
            Ok(form)
        },
    )
    .await?;
    state.last_by_step.insert(StepKind::Par, seq);
    let result = judge_direct(
        recorder,
        seq,
        raw.as_ref(),
        mutations,
        &[200, 201],
        "request_uri",
    );
    if let Some((r, j)) = raw.as_ref().and_then(|r| json_of(r).map(|j| (r, j))) {
        if let Some(u) = j.get("request_uri").and_then(Value::as_str) {
            state.flow.request_uri = Some(u.to_owned());
        }
        state.obs.par_response = Some((j, r.status, seq));
    }
    record(state, Stage::Par, step, result, Some(seq));
    Ok(())
}

pub async fn authorize_step(
    ctx: &Arc<RunContext>,
    state: &mut State,
    step: usize,
    use_par: bool,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
) -> Result<(), String> {
    let variant = state.flow.variant.clone();
    let c = client(ctx, &variant, role)?;
    let base = endpoint(state, "authorization_endpoint", false)?;
    let mut url = base.clone();
    if use_par {
        let request_uri = state
            .flow
            .request_uri
            .clone()
            .ok_or("no request_uri: the flow has no successful PAR step before authorize")?;
        url.query_pairs_mut()
            .append_pair("client_id", &c.client_id)
            .append_pair("request_uri", &request_uri);
        if mutations.has(&Mutation::FrontChannelOverrides) {
            url.query_pairs_mut()
                .append_pair("redirect_uri", authorize::UNREGISTERED_REDIRECT)
                .append_pair("state", &random_token(16));
        }
        if mutations.has(&Mutation::FrontChannelNonce) {
            let nonce = random_token(16);
            url.query_pairs_mut().append_pair("nonce", &nonce);
            state.obs.front_channel_nonce = Some(nonce);
        }
    } else {
        let redirect_uri = c
            .redirect_uris
            .first()
            .map(|u| u.to_string())
            .ok_or("the client has no redirect URI")?;
        state.flow.redirect_uri = Some(redirect_uri.clone());
        if variant.openid != Some(OpenidMode::Oauth) && state.flow.nonce.is_none() {
            state.flow.nonce = Some(random_token(16));
        }
        let fs = &state.flow;
        let params = authorize::params(
            &AuthzParams {
                client_id: &c.client_id,
                redirect_uri: &redirect_uri,
                scope: &scope(c, &variant),
                state: &fs.state,
                nonce: fs.nonce.as_deref(),
                pkce: &fs.pkce,
                dpop_jkt: None,
                response_mode: c.response_mode.map(|m| m.as_str()),
            },
            mutations,
        );
        state.obs.sent_nonce = param(&params, "nonce");
        url.query_pairs_mut().extend_pairs(params);
    }
    state.obs.sent_state = if use_par {
        state.flow.pushed_state.clone()
    } else {
        (!mutations.has(&Mutation::OmitState)).then(|| state.flow.state.clone())
    };
    let issuer = url::Url::parse(&ctx.target.issuer).map_err(|e| e.to_string())?;
    let origins = [issuer, base];
    // Every client's redirect URI is a client endpoint, never followed: a code delivered to
    // another client's URI (a cross-client request) is still a code the AS issued.
    let mut registered: Vec<url::Url> = ctx
        .target
        .clients
        .iter()
        .flat_map(|cl| cl.redirect_uris.iter().cloned())
        .collect();
    for never in [authorize::UNREGISTERED_REDIRECT, authorize::HTTP_REDIRECT] {
        if let Ok(u) = url::Url::parse(never) {
            // Never registered, but classified like one so its response parameters are read;
            // the result below still reports it as a redirect to an unregistered URI.
            registered.push(u);
        }
    }
    let scene = login::Scene {
        redirect_uris: registered,
        as_origins: origins.to_vec(),
        purpose: login::Purpose {
            label: format!(
                "{} [{}], client {}",
                state.key.id, state.key.variant, c.name
            ),
            redirect_uri: state
                .flow
                .redirect_uri
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok()),
            state: state.obs.sent_state.clone(),
        },
    };
    let person = ctx.login.needs_person();
    if person {
        state.slot.step_away();
    }
    let journey = ctx
        .login
        .authorize(&ctx.http, url, &scene, &mut state.flow.session, recorder)
        .await;
    if person {
        state.slot.back().await;
    }
    if let Some(seq) = journey.last_exchange {
        state.last_by_step.insert(StepKind::Authorize, seq);
    }
    state.obs.redirects.extend(journey.redirects);
    let (result, exchange) = match journey.end {
        login::End::Response {
            url: next,
            params,
            status,
            exchange,
            ..
        } => {
            let unregistered = [authorize::UNREGISTERED_REDIRECT, authorize::HTTP_REDIRECT]
                .iter()
                .any(|never| next.as_str().starts_with(never));
            let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            state.obs.authz_response = Some(params.clone());
            state.obs.authz_exchange = exchange;
            let result = if unregistered {
                StageResult::RedirectedElsewhere(next.to_string())
            } else if let Some(code) = get("code") {
                state.flow.code = Some(code);
                StageResult::Accepted
            } else if let Some(error) = get("error") {
                let iss_ok = Some(get("iss").as_deref() == Some(ctx.target.issuer.as_str()));
                StageResult::Rejected {
                    status,
                    error: Some(error),
                    how: "error redirect".into(),
                    iss_ok,
                    well_formed: true,
                }
            } else {
                StageResult::Undetermined(
                    "redirect to the client with neither code nor error".into(),
                )
            };
            (result, exchange)
        }
        login::End::ErrorPage { status, exchange } => (
            StageResult::Rejected {
                status: Some(status),
                error: None,
                how: "error page".into(),
                iss_ok: None,
                well_formed: status < 500,
            },
            exchange,
        ),
        login::End::Elsewhere { url, exchange } => (
            StageResult::Undetermined(format!(
                "the AS redirected to {url}, another origin (federated login?); it was not followed"
            )),
            exchange,
        ),
        login::End::Stuck { why, exchange } => (StageResult::Undetermined(why), exchange),
    };
    record(state, Stage::Authorization, step, result, exchange);
    Ok(())
}

pub async fn token(
    ctx: &Arc<RunContext>,
    state: &mut State,
    step: usize,
    grant: Grant,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
) -> Result<(), String> {
    let variant = state.flow.variant.clone();
    let c = client(ctx, &variant, role)?;
    let with_cert = uses_cert(c, &variant) && !mutations.has(&Mutation::NoClientCert);
    let url = endpoint(state, "token_endpoint", with_cert)?;
    let dpop_on = variant.sender_constraint == Some(SenderConstraint::Dpop)
        && !mutations.has(&Mutation::OmitDpopProof);
    let grant_params: Vec<(String, String)> = match grant {
        Grant::AuthorizationCode => {
            let code = state
                .flow
                .code
                .clone()
                .ok_or("no authorization code: the flow has no successful authorize step")?;
            let mut p = vec![
                ("grant_type".to_owned(), "authorization_code".to_owned()),
                ("code".to_owned(), code),
            ];
            if let Some(r) = &state.flow.redirect_uri {
                p.push(("redirect_uri".into(), r.clone()));
            }
            if mutations.has(&Mutation::WrongCodeVerifier) {
                p.push(("code_verifier".into(), pkce::generate().verifier));
            } else if !mutations.has(&Mutation::OmitCodeVerifier) {
                p.push(("code_verifier".into(), state.flow.pkce.verifier.clone()));
            }
            p
        }
        Grant::RefreshToken => {
            let rt = state
                .flow
                .refresh_token
                .clone()
                .ok_or("no refresh token: the token response had none")?;
            vec![
                ("grant_type".to_owned(), "refresh_token".to_owned()),
                ("refresh_token".to_owned(), rt),
            ]
        }
        // Credentials of no real user: the AS must refuse the grant type itself.
        Grant::Password => vec![
            ("grant_type".to_owned(), "password".to_owned()),
            ("username".to_owned(), "fapi-harness-probe".to_owned()),
            ("password".to_owned(), random_token(12)),
            ("scope".to_owned(), scope(c, &variant)),
        ],
    };
    let label = match grant {
        Grant::AuthorizationCode => "token request (authorization_code)",
        Grant::RefreshToken => "token request (refresh_token)",
        Grant::Password => "token request (password grant, which FAPI forbids)",
    };
    let (seq, raw) = post_with_nonce(
        ctx,
        state,
        recorder,
        (label, Stage::Token),
        &url,
        c,
        with_cert,
        mutations,
        dpop_on,
        |ctx, st| {
            let mut form = grant_params.clone();
            form.extend(client_auth_params(ctx, st, c, mutations)?);
            Ok(form)
        },
    )
    .await?;
    state.last_by_step.insert(StepKind::Token, seq);
    let result = judge_direct(
        recorder,
        seq,
        raw.as_ref(),
        mutations,
        &[200],
        "access_token",
    );
    if with_cert {
        state.obs.client_cert_x5t = c.cert.as_ref().map(|cert| cert.x5t_s256.clone());
    }
    let used_refresh_token = state.flow.refresh_token.clone();
    if let (StageResult::Accepted, Some(j)) = (&result, raw.as_ref().and_then(json_of)) {
        state.flow.access_token = j
            .get("access_token")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(rt) = j.get("refresh_token").and_then(Value::as_str) {
            state.flow.refresh_token = Some(rt.to_owned());
            state.obs.refresh_tokens.push((rt.to_owned(), seq));
        }
        state.obs.token_response = Some((j, seq));
        state.obs.token_client_id = Some(c.client_id.clone());
        state.obs.dpop_jkt = state
            .flow
            .dpop_key
            .as_ref()
            .filter(|_| dpop_on)
            .map(|k| thumbprint(&k.signing.public_jwk));
        state.obs.token_received_at = Some(server_now(ctx));
    }
    record(state, Stage::Token, step, result, Some(seq));
    let rotated = grant == Grant::RefreshToken && state.flow.refresh_token != used_refresh_token;
    if let (true, Some(old)) = (rotated, used_refresh_token) {
        // FAPI2-SP-5.3.2.1-9 allows rotation only if the old token stays usable for a retry:
        // try it once, as a client retrying after a lost response would.
        let label = "token request (retry with the pre-rotation refresh token)";
        let (retry, raw) = post_with_nonce(
            ctx,
            state,
            recorder,
            (label, Stage::Token),
            &url,
            c,
            with_cert,
            &[],
            dpop_on,
            |ctx, st| {
                let mut form = vec![
                    ("grant_type".to_owned(), "refresh_token".to_owned()),
                    ("refresh_token".to_owned(), old.clone()),
                ];
                form.extend(client_auth_params(ctx, st, c, &[])?);
                Ok(form)
            },
        )
        .await?;
        let worked = raw.is_some_and(|r| r.status == 200);
        state.obs.old_refresh_retry = Some((worked, retry));
    }
    Ok(())
}

/// Where a request with the access token goes: the target's resource, or the AS's userinfo.
struct Protected {
    stage: Stage,
    kind: StepKind,
    label: &'static str,
    method: reqwest::Method,
    url: url::Url,
}

pub async fn resource(
    ctx: &Arc<RunContext>,
    state: &mut State,
    step: usize,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
) -> Result<(), String> {
    let res = ctx
        .target
        .resources
        .first()
        .ok_or("the target has no resources")?;
    let target = Protected {
        stage: Stage::Resource,
        kind: StepKind::Resource,
        label: "protected resource request",
        method: reqwest::Method::from_bytes(res.method.as_bytes()).map_err(|e| e.to_string())?,
        url: res.url.clone(),
    };
    protected_request(ctx, state, step, role, mutations, recorder, target).await?;
    Ok(())
}

/// Calls the userinfo endpoint with the access token (OIDC Core §5.3), if the AS offers one:
/// without `userinfo_endpoint` in the metadata there is nothing to call, which is no refusal.
pub async fn userinfo(
    ctx: &Arc<RunContext>,
    state: &mut State,
    step: usize,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
) -> Result<(), String> {
    let variant = state.flow.variant.clone();
    let with_cert = uses_cert(client(ctx, &variant, role)?, &variant);
    if metadata_str(state, "userinfo_endpoint").is_none() {
        state.obs.userinfo_offered = Some(false);
        return Ok(());
    }
    state.obs.userinfo_offered = Some(true);
    let target = Protected {
        stage: Stage::Userinfo,
        kind: StepKind::Userinfo,
        label: "userinfo request",
        method: reqwest::Method::GET,
        url: endpoint(state, "userinfo_endpoint", with_cert)?,
    };
    let (seq, raw) = protected_request(ctx, state, step, role, mutations, recorder, target).await?;
    if let Some(r) = raw.filter(|r| (200..300).contains(&r.status)) {
        state.obs.userinfo_response = json_of(&r).map(|j| (j, seq));
    }
    Ok(())
}

/// An endpoint that takes the access token as `token` from the authenticated client (RFC 7009
/// revocation, RFC 7662 introspection).
struct TokenEndpointUse {
    /// The metadata member that names it.
    member: &'static str,
    /// Why the item cannot apply when the metadata does not name it.
    absent: &'static str,
    label: &'static str,
    stage: Stage,
}

/// Posts the flow's access token, with `token_type_hint=access_token` and the client's
/// authentication (over its certificate and the endpoint's `mtls_endpoint_aliases` entry when the
/// variant uses one). `None` when the AS does not offer the endpoint: the item cannot apply.
async fn post_access_token(
    ctx: &Arc<RunContext>,
    state: &mut State,
    recorder: &Recorder,
    to: TokenEndpointUse,
    role: ClientRole,
    mutations: &[Mutation],
) -> Result<Option<(u32, Option<RawResponse>)>, String> {
    let variant = state.flow.variant.clone();
    let c = client(ctx, &variant, role)?;
    let with_cert = uses_cert(c, &variant);
    if metadata_str(state, to.member).is_none() {
        state.inapplicable = Some(to.absent.to_owned());
        return Ok(None);
    }
    let url = endpoint(state, to.member, with_cert)?;
    let token = state
        .flow
        .access_token
        .clone()
        .ok_or("no access token: the flow has no successful token step")?;
    let sent = post_with_nonce(
        ctx,
        state,
        recorder,
        (to.label, to.stage),
        &url,
        c,
        with_cert,
        mutations,
        false,
        |ctx, st| {
            let mut form = vec![
                ("token".to_owned(), token.clone()),
                ("token_type_hint".to_owned(), "access_token".to_owned()),
            ];
            form.extend(client_auth_params(ctx, st, c, mutations)?);
            Ok(form)
        },
    )
    .await?;
    Ok(Some(sent))
}

/// Revokes the access token at the `revocation_endpoint` (RFC 7009 §2.1), authenticated as the
/// client, so that the next use of the token is under test (FAPI2-SP-5.3.4-3). An AS without the
/// endpoint, or one that does not revoke access tokens (`unsupported_token_type`, RFC 7009
/// §2.2.1), gives the client no means to revoke: the item cannot apply.
pub async fn revoke(
    ctx: &Arc<RunContext>,
    state: &mut State,
    step: usize,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
) -> Result<(), String> {
    let Some((seq, raw)) = post_access_token(
        ctx,
        state,
        recorder,
        TokenEndpointUse {
            member: "revocation_endpoint",
            absent: "the metadata has no revocation_endpoint: the AS offers no way to revoke a token",
            label: "revocation request (access token)",
            stage: Stage::Revocation,
        },
        role,
        mutations,
    )
    .await?
    else {
        return Ok(());
    };
    state.last_by_step.insert(StepKind::Revoke, seq);
    let error = raw
        .as_ref()
        .and_then(json_of)
        .and_then(|j| j.get("error").and_then(Value::as_str).map(str::to_owned));
    if error.as_deref() == Some("unsupported_token_type") {
        state.inapplicable = Some(
            "the AS does not revoke access tokens (unsupported_token_type, RFC 7009 §2.2.1)"
                .to_owned(),
        );
        return Ok(());
    }
    // RFC 7009 §2.2: 200 means revoked; the body carries nothing.
    let result = direct_result(
        raw.as_ref(),
        transport_error(recorder, seq),
        certificate_probe(mutations),
        |r| r.status == 200,
    );
    record(state, Stage::Revocation, step, result, Some(seq));
    Ok(())
}

/// Introspects the access token (RFC 7662 §2.1) as the client, so that checks can read what the
/// AS says about its binding. An AS without the endpoint, one that does not introspect this kind
/// of token (`unsupported_token_type`), or one that shows tokens only to resource servers (a
/// refusal, or `active: false` for the token it just issued, RFC 7662 §2.2) gives nothing to
/// judge: the item cannot apply.
pub async fn introspect(
    ctx: &Arc<RunContext>,
    state: &mut State,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
) -> Result<(), String> {
    let Some((seq, raw)) = post_access_token(
        ctx,
        state,
        recorder,
        TokenEndpointUse {
            member: "introspection_endpoint",
            absent: "the metadata has no introspection_endpoint: the AS offers no introspection",
            label: "introspection request (access token)",
            // Introspection carries no DPoP proof, so the stage (for nonce challenges) never shows.
            stage: Stage::Token,
        },
        role,
        mutations,
    )
    .await?
    else {
        return Ok(());
    };
    state.last_by_step.insert(StepKind::Introspect, seq);
    let r = raw.ok_or_else(|| {
        transport_error(recorder, seq).unwrap_or_else(|| "no introspection response".to_owned())
    })?;
    let json = json_of(&r);
    let error = json
        .as_ref()
        .and_then(|j| j.get("error").and_then(Value::as_str));
    match (r.status, &json) {
        (200, Some(j)) if j.get("active") == Some(&Value::Bool(true)) => {
            state.obs.introspection = Some((j.clone(), seq));
        }
        (200, Some(_)) => {
            state.inapplicable = Some(
                "the AS answers active: false for the token it just issued: it does not show this \
                 client its tokens (RFC 7662 §2.2)"
                    .to_owned(),
            );
        }
        (400, _) if error == Some("unsupported_token_type") => {
            state.inapplicable = Some(
                "the AS does not introspect this kind of access token (unsupported_token_type, \
                 RFC 7662 §2.3), as for JWT access tokens in some products"
                    .to_owned(),
            );
        }
        (400..=403, _) => {
            state.inapplicable = Some(format!(
                "the AS refused to introspect for this client (HTTP {}{}): introspection is for \
                 resource servers there",
                r.status,
                error.map(|e| format!(", error={e}")).unwrap_or_default()
            ));
        }
        (status, _) => {
            return Err(format!(
                "the introspection endpoint answered HTTP {status} without an RFC 7662 response"
            ));
        }
    }
    Ok(())
}

/// Sends a request with the access token as the variant's sender constraint asks, retrying once
/// when the server asks for a DPoP nonce, and records the stage. Returns the exchange and response.
async fn protected_request(
    ctx: &Arc<RunContext>,
    state: &mut State,
    step: usize,
    role: ClientRole,
    mutations: &[Mutation],
    recorder: &Recorder,
    target: Protected,
) -> Result<(u32, Option<RawResponse>), String> {
    let variant = state.flow.variant.clone();
    let c = client(ctx, &variant, role)?;
    let at = presented_token(
        state
            .flow
            .access_token
            .as_deref()
            .ok_or("no access token: the flow has no successful token step")?,
        mutations,
    );
    let method = target.method;
    let dpop_on = variant.sender_constraint == Some(SenderConstraint::Dpop);
    let cert_holder = if mutations.has(&Mutation::NoClientCert) {
        None
    } else if mutations.has(&Mutation::OtherClientCert) {
        Some(client(ctx, &variant, ClientRole::Second)?.name.clone())
    } else {
        uses_cert(c, &variant).then(|| c.name.clone())
    };
    let mut attempt = 0;
    loop {
        let mut url = target.url.clone();
        let mut headers = vec![("x-fapi-interaction-id".to_owned(), interaction_id())];
        if mutations.has(&Mutation::AccessTokenInQuery) {
            url.query_pairs_mut().append_pair("access_token", &at);
        } else if dpop_on && !mutations.has(&Mutation::BearerDowngrade) {
            headers.push((
                "Authorization".into(),
                format!("{} {at}", scheme("DPoP", mutations)),
            ));
            if !mutations.has(&Mutation::OmitDpopProof) {
                headers.extend(proof_headers(
                    ctx,
                    state,
                    method.as_str(),
                    &target.url,
                    Some(&at),
                    mutations,
                )?);
            }
        } else {
            headers.push((
                "Authorization".into(),
                format!("{} {at}", scheme("Bearer", mutations)),
            ));
        }
        let spec = RequestSpec {
            label: target.label.into(),
            method: method.clone(),
            url: url.clone(),
            headers,
            body: None,
        };
        let (seq, raw) = ctx.http.send(spec, cert_holder.as_deref(), recorder).await;
        attempt += 1;
        let retry = match &raw {
            Some(r) if dpop_on => wants_nonce(state, &target.url, target.stage, seq, r),
            _ => false,
        };
        if retry && attempt == 1 && !nonce_probe(mutations) {
            continue;
        }
        state.last_by_step.insert(target.kind, seq);
        let result = match &raw {
            None => StageResult::Undetermined(format!("no response to the {}", target.label)),
            Some(r) if (200..300).contains(&r.status) => StageResult::Accepted,
            Some(r) => {
                let www = r.header("www-authenticate").map(str::to_owned);
                let error = www
                    .as_deref()
                    .and_then(|w| w.split("error=\"").nth(1))
                    .and_then(|e| e.split('"').next())
                    .map(str::to_owned);
                StageResult::Rejected {
                    status: Some(r.status),
                    well_formed: matches!(r.status, 400 | 401 | 403) && www.is_some(),
                    how: if www.is_some() {
                        "WWW-Authenticate error".into()
                    } else {
                        "no WWW-Authenticate".into()
                    },
                    error,
                    iss_ok: None,
                }
            }
        };
        record(state, target.stage, step, result, Some(seq));
        return Ok((seq, raw));
    }
}

/// The access token the resource request presents: the issued one, or a forgery a mutation asks
/// for (FAPI2-SP-5.3.4-3). A DPoP proof then covers the forgery with `ath`, so that the token is
/// the only thing wrong.
fn presented_token(issued: &str, mutations: &[Mutation]) -> String {
    if mutations.has(&Mutation::RandomAccessToken) {
        random_token(32)
    } else if mutations.has(&Mutation::TamperedAccessToken) {
        flip_char(issued)
    } else {
        issued.to_owned()
    }
}

/// The authorization scheme as written: `name`, or with `inverted_auth_scheme` every letter's
/// case inverted (RFC 9110 §11.1: the same scheme).
fn scheme(name: &str, mutations: &[Mutation]) -> String {
    if !mutations.has(&Mutation::InvertedAuthScheme) {
        return name.to_owned();
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_uppercase() {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

/// A fresh `x-fapi-interaction-id` (RFC 4122 v4 layout).
fn interaction_id() -> String {
    let mut b = [0u8; 16];
    // Not a secret; a failed RNG only yields a constant id, which the RS must still echo.
    let _ = aws_lc_rs::rand::fill(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..].concat()
    )
}
