//! Executing one item: its steps in order, then every check. Returns findings; never a verdict.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::RunContext;
use super::cache::{DocKey, Fetched};
use super::events::{Event, ItemKey};
use super::flow::{self, FlowState};
use super::slot::Slot;
use crate::checks::{Document, Finding, FlowObs, MetadataObs, Observations};
use crate::fapi::discovery::{document_from, metadata_url};
use crate::fapi::step::{
    Endpoint, MetadataDocument, RequestStep, Step, StepKind, WaitAfter, WaitStep,
};
use crate::http::{Recorder, RequestSpec};
use crate::plan::{Item, Variant};

/// What the steps gathered so far.
pub(super) struct State {
    pub last_by_step: HashMap<StepKind, u32>,
    pub metadata: Option<MetadataObs>,
    pub jwks: Option<Document>,
    pub flow: FlowState,
    pub obs: FlowObs,
    /// Whether any flow step ran, so flow checks know there is something to judge.
    pub flow_ran: bool,
    pub tls: Option<Vec<crate::fapi::tls_probe::HostReport>>,
    /// The item and variant, for a person who logs in for it.
    pub key: ItemKey,
    /// Lent to another item while this one waits for a person or a deliberate wait.
    pub slot: Arc<Slot>,
    /// Why the item cannot be tested against this target, as a step found out (no
    /// `revocation_endpoint`, no advertised expiry, a lifetime beyond `--max-wait`). The item
    /// then SKIPs: nothing it claims was tried.
    pub inapplicable: Option<String>,
    /// What a `samples` step collected.
    pub samples: Option<crate::checks::Samples>,
}

impl State {
    /// The state of a new client instance, before any step.
    pub fn new(variant: &Variant, key: &ItemKey, slot: Arc<Slot>) -> State {
        State {
            last_by_step: HashMap::new(),
            metadata: None,
            jwks: None,
            flow: FlowState::new(variant.clone()),
            obs: FlowObs {
                sender_constraint: variant.sender_constraint,
                ..Default::default()
            },
            flow_ran: false,
            tls: None,
            key: key.clone(),
            slot,
            inapplicable: None,
            samples: None,
        }
    }
}

/// Runs the flow and the checks. A step that cannot proceed adds an inconclusive finding and ends
/// the flow; the checks still run, so everything observable is still judged.
pub async fn execute(
    ctx: Arc<RunContext>,
    item: &Item,
    key: &ItemKey,
    variant: &Variant,
    recorder: &Recorder,
    events: &UnboundedSender<Event>,
    slot: Arc<Slot>,
) -> Vec<Finding> {
    let mut state = State::new(variant, key, slot);
    let mut findings = Vec::new();
    for (index, step) in item.flow.iter().enumerate() {
        let step = &step.value;
        let is_flow = matches!(
            step,
            Step::Par(_)
                | Step::Authorize(_)
                | Step::Token(_)
                | Step::Resource(_)
                | Step::Userinfo(_)
                | Step::Revoke(_)
                | Step::Introspect(_)
        );
        if step.is_mutated() {
            state.flow.mark_under_test();
        }
        if is_flow {
            if state.flow.stopped() {
                // An earlier stage refused; the checks judge that, there is nothing to continue.
                continue;
            }
            state.flow_ran = true;
            if let Err(e) = ensure_metadata(&ctx, recorder, &mut state).await {
                state.obs.cut_short = Some(e.clone());
                findings.push(Finding::new("step:metadata").inconclusive(e));
                break;
            }
        }
        let result = match step {
            Step::Discovery(d) => discovery(&ctx, d.document, recorder, &mut state).await,
            Step::FetchJwks => fetch_jwks(&ctx, recorder, &mut state).await,
            Step::Request(r) => request(&ctx, r, recorder, &mut state).await,
            Step::Wait(w) => wait(&ctx, w, &mut state, key, events).await,
            Step::Par(f) => {
                flow::par(&ctx, &mut state, index, f.client, &f.mutations, recorder).await
            }
            Step::Authorize(a) => {
                flow::authorize_step(
                    &ctx,
                    &mut state,
                    index,
                    a.par,
                    a.client,
                    &a.mutations,
                    recorder,
                )
                .await
            }
            Step::Token(t) => {
                flow::token(
                    &ctx,
                    &mut state,
                    index,
                    t.grant,
                    t.client,
                    &t.mutations,
                    recorder,
                )
                .await
            }
            Step::Resource(f) => {
                flow::resource(&ctx, &mut state, index, f.client, &f.mutations, recorder).await
            }
            Step::Userinfo(f) => {
                flow::userinfo(&ctx, &mut state, index, f.client, &f.mutations, recorder).await
            }
            Step::Revoke(f) => {
                flow::revoke(&ctx, &mut state, index, f.client, &f.mutations, recorder).await
            }
            Step::Introspect(f) => {
                flow::introspect(&ctx, &mut state, f.client, &f.mutations, recorder).await
            }
            Step::Samples(sm) => super::samples::collect(&ctx, sm, &mut state, recorder).await,
            Step::TlsProbe => tls_probe(&ctx, recorder, &mut state).await,
        };
        if let Err(blocked) = result {
            // Whatever step could not proceed, the flow after it was never observed.
            state.obs.cut_short = Some(blocked.clone());
            findings.push(
                Finding::new(&format!("step:{}", step.kind().as_str())).inconclusive(blocked),
            );
            break;
        }
        if let Some(why) = state.inapplicable.take() {
            return vec![
                Finding::new(&format!("step:{}", step.kind().as_str()))
                    .on(state.last_by_step.get(&step.kind()).copied())
                    .not_applicable(why),
            ];
        }
    }
    let exchanges = recorder.snapshot();
    let obs = Observations {
        expected_issuer: &ctx.target.issuer,
        exchanges: &exchanges,
        last_by_step: &state.last_by_step,
        metadata: state.metadata.as_ref(),
        jwks: state.jwks.as_ref(),
        flow: state.flow_ran.then_some(&state.obs),
        tls: state.tls.as_deref(),
        samples: state.samples.as_ref(),
    };
    findings.extend(item.expect.iter().map(|c| c.value.evaluate(&obs)));
    findings
}

/// Bytes of a shared document's body kept in each item's copy of the exchange. The document is
/// judged whole; every item carrying a full copy of a large (or hostile) body would multiply it
/// by the number of items in the reports and in memory.
const SHARED_BODY_KEEP: usize = 64 * 1024;

fn shared_copy(ex: &crate::evidence::Exchange) -> crate::evidence::Exchange {
    let mut copy = ex.clone();
    if let Some(r) = copy.response.as_mut()
        && r.body.len() > SHARED_BODY_KEEP
    {
        let mut cut = SHARED_BODY_KEEP;
        while !r.body.is_char_boundary(cut) {
            cut -= 1;
        }
        r.body.truncate(cut);
        r.body_truncated = true;
    }
    copy
}

/// Fetches (or reuses) a shared document and copies its exchange into this item's evidence.
async fn shared_document(
    ctx: &RunContext,
    key: DocKey,
    label: String,
    url: url::Url,
    recorder: &Recorder,
) -> Document {
    let cell = ctx.cache.cell(key).await;
    let fetched = cell
        .get_or_init(|| async {
            let scratch = Recorder::new();
            let (seq, _) = ctx
                .http
                .send(RequestSpec::get(label, url.clone()), None, &scratch)
                .await;
            let exchange = scratch
                .snapshot()
                .into_iter()
                .find(|e| e.seq == seq)
                .expect("the exchange just recorded");
            let doc = document_from(url.as_str(), &exchange);
            Fetched { exchange, doc }
        })
        .await;
    let seq = recorder.push(shared_copy(&fetched.exchange));
    let mut doc = fetched.doc.clone();
    doc.exchange = Some(seq);
    doc
}

async fn discovery(
    ctx: &RunContext,
    document: MetadataDocument,
    recorder: &Recorder,
    state: &mut State,
) -> Result<(), String> {
    let url = match (&ctx.target.discovery_url, document) {
        (Some(u), MetadataDocument::Openid) => u.clone(),
        _ => metadata_url(&ctx.target.issuer, document)
            .map_err(|e| format!("issuer is not a URL: {e}"))?,
    };
    let doc = shared_document(
        ctx,
        DocKey::Metadata(document),
        format!("discovery ({})", document.as_str()),
        url,
        recorder,
    )
    .await;
    if let Some(seq) = doc.exchange {
        state.last_by_step.insert(StepKind::Discovery, seq);
    }
    state.metadata = Some(MetadataObs { document, doc });
    Ok(())
}

/// The metadata, fetching the OpenID document implicitly when the flow has not fetched one.
pub(super) async fn ensure_metadata(
    ctx: &RunContext,
    recorder: &Recorder,
    state: &mut State,
) -> Result<(), String> {
    if state.metadata.is_none() {
        let saved = state.last_by_step.get(&StepKind::Discovery).copied();
        discovery(ctx, MetadataDocument::Openid, recorder, state).await?;
        // An implicit fetch is a prerequisite, not the item's own discovery step.
        match saved {
            Some(s) => state.last_by_step.insert(StepKind::Discovery, s),
            None => state.last_by_step.remove(&StepKind::Discovery),
        };
    }
    Ok(())
}

fn metadata_url_member(state: &State, member: &str) -> Result<url::Url, String> {
    let meta = state.metadata.as_ref().ok_or("no metadata")?;
    let json = meta.doc.json.as_ref().ok_or_else(|| {
        format!(
            "metadata unavailable ({}), so `{member}` is unknown",
            meta.doc.problem.as_deref().unwrap_or("unparsable")
        )
    })?;
    let value = json
        .get(member)
        .and_then(|v| v.as_str())
        .ok_or_else(|| format!("metadata has no `{member}`"))?;
    url::Url::parse(value).map_err(|e| format!("metadata `{member}` is not a URL: {e}"))
}

async fn fetch_jwks(
    ctx: &RunContext,
    recorder: &Recorder,
    state: &mut State,
) -> Result<(), String> {
    ensure_metadata(ctx, recorder, state).await?;
    let url = metadata_url_member(state, "jwks_uri")?;
    let doc = shared_document(
        ctx,
        DocKey::Jwks,
        "fetch JWK Set (jwks_uri)".into(),
        url,
        recorder,
    )
    .await;
    if let Some(seq) = doc.exchange {
        state.last_by_step.insert(StepKind::FetchJwks, seq);
    }
    state.jwks = Some(doc);
    Ok(())
}

async fn request(
    ctx: &RunContext,
    r: &RequestStep,
    recorder: &Recorder,
    state: &mut State,
) -> Result<(), String> {
    let url = match r.endpoint {
        Endpoint::Resource => ctx
            .target
            .resources
            .first()
            .map(|res| res.url.clone())
            .ok_or("target has no resources")?,
        other => {
            ensure_metadata(ctx, recorder, state).await?;
            let member = other
                .metadata_member()
                .ok_or("endpoint has no metadata member")?;
            metadata_url_member(state, member)?
        }
    };
    let method =
        reqwest::Method::from_bytes(r.method.as_str().as_bytes()).map_err(|e| e.to_string())?;
    let spec = RequestSpec {
        label: format!("{} {}", r.method.as_str(), r.endpoint.as_str()),
        method,
        url,
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body: None,
    };
    let (seq, _) = ctx.http.send(spec, None, recorder).await;
    state.last_by_step.insert(StepKind::Request, seq);
    Ok(())
}

/// Probes every https host the metadata and the target name, concurrently, once per run.
async fn tls_probe(
    ctx: &Arc<RunContext>,
    recorder: &Recorder,
    state: &mut State,
) -> Result<(), String> {
    ensure_metadata(ctx, recorder, state).await?;
    let reports = ctx
        .tls_reports
        .get_or_init(|| async {
            let mut hosts: Vec<(String, u16, Vec<String>)> = Vec::new();
            let mut add = |url: &str, role: String| {
                let Ok(u) = url::Url::parse(url) else { return };
                let (Some(host), Some(port), "https") =
                    (u.host_str(), u.port_or_known_default(), u.scheme())
                else {
                    return;
                };
                let host = host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                match hosts.iter_mut().find(|(h, p, _)| *h == host && *p == port) {
                    Some((_, _, roles)) => roles.push(role),
                    None => hosts.push((host, port, vec![role])),
                }
            };
            add(&ctx.target.issuer, "issuer".into());
            if let Some(json) = state.metadata.as_ref().and_then(|m| m.doc.json.as_ref()) {
                for m in crate::checks::metadata::ENDPOINT_MEMBERS {
                    if let Some(u) = json.get(*m).and_then(|v| v.as_str()) {
                        add(u, (*m).to_owned());
                    }
                }
                if let Some(aliases) = json
                    .get("mtls_endpoint_aliases")
                    .and_then(|v| v.as_object())
                {
                    for (k, v) in aliases {
                        if let Some(u) = v.as_str() {
                            add(u, format!("mtls_endpoint_aliases.{k}"));
                        }
                    }
                }
            }
            for r in &ctx.target.resources {
                add(r.url.as_str(), "resource".into());
            }
            let mut set = tokio::task::JoinSet::new();
            for (i, (host, port, roles)) in hosts.into_iter().enumerate() {
                let timeout = ctx.target.connect_timeout;
                let config = ctx.http.tls_config();
                set.spawn(async move {
                    let mut report =
                        crate::fapi::tls_probe::probe_host(&host, port, roles, timeout).await;
                    report.verified = match config {
                        Some(c) => {
                            Some(crate::fapi::tls::negotiated(c, &host, port, timeout).await)
                        }
                        None => None,
                    };
                    (i, report)
                });
            }
            let mut out = Vec::new();
            while let Some(Ok(r)) = set.join_next().await {
                out.push(r);
            }
            out.sort_by_key(|(i, _)| *i);
            out.into_iter().map(|(_, r)| r).collect::<Vec<_>>()
        })
        .await;
    state.tls = Some(reports.clone());
    Ok(())
}

/// Sleeps for a fixed time or past a lifetime the target announced. The item lends its job slot
/// and its clock stands still meanwhile: a wait is neither the harness's nor the target's work,
/// and a wait longer than `--item-timeout` must not time the item out.
async fn wait(
    ctx: &RunContext,
    w: &WaitStep,
    state: &mut State,
    key: &ItemKey,
    events: &UnboundedSender<Event>,
) -> Result<(), String> {
    if state.flow.stopped() {
        // A stage already refused: nothing after the wait will run, so there is nothing to wait for.
        return Ok(());
    }
    let base = match w.after {
        None => 0,
        Some(WaitAfter::ParExpiresIn) => state
            .obs
            .par_response
            .as_ref()
            .and_then(|(json, _, _)| json.get("expires_in").and_then(|v| v.as_u64()))
            .ok_or("no PAR expires_in to wait out: the flow has no successful PAR step before the wait")?,
        Some(WaitAfter::TokenExpiresIn) => {
            let (json, _) = state.obs.token_response.as_ref().ok_or(
                "no token response to wait out: the flow has no successful token step before the wait",
            )?;
            match json.get("expires_in").map(|v| v.as_u64()) {
                Some(Some(secs)) => secs,
                // RFC 6749 §5.1 only recommends expires_in; without it no expiry is advertised.
                None => {
                    state.inapplicable = Some(
                        "the token response has no expires_in: the AS advertises no expiry to wait out"
                            .to_owned(),
                    );
                    return Ok(());
                }
                Some(None) => {
                    return Err(format!(
                        "the token response's expires_in is not a number of seconds: {}",
                        json["expires_in"]
                    ));
                }
            }
        }
    };
    let seconds = base.saturating_add(w.seconds);
    if seconds > ctx.max_wait_secs {
        state.inapplicable = Some(format!(
            "the wait would take {seconds} s, beyond --max-wait {} s; raise --max-wait to run this item",
            ctx.max_wait_secs
        ));
        return Ok(());
    }
    // The receiver only goes away when the run is being torn down; nothing to report then.
    let _ = events.send(Event::ItemWaiting {
        key: key.clone(),
        seconds,
        reason: w
            .reason
            .clone()
            .unwrap_or_else(|| "deliberate wait".to_owned()),
    });
    state.slot.step_away();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    state.slot.back().await;
    Ok(())
}
