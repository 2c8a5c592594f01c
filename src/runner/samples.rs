//! The `samples` step: many fresh, correct flows, each a new client instance (its own PKCE,
//! state, nonce and DPoP key), to collect what the AS issues across them. One value says nothing
//! about entropy; twenty side by side show duplicates, short values and counters
//! (FAPI2-SP-5.4.1-4). Every exchange is kept as evidence in the item's recorder.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;
use tokio::task::JoinSet;

use super::RunContext;
use super::flow;
use super::item::{State, ensure_metadata};
use crate::checks::flow::describe;
use crate::checks::{Issued, Samples, Stage, StageResult};
use crate::fapi::step::{ClientRole, Grant, SampleThrough, SamplesStep};
use crate::http::Recorder;

/// Flows in flight at once: enough that twenty take about as long as five, few enough that a
/// target sees no burst (and the harness's own job limit stays meaningful).
const CONCURRENCY: usize = 4;

/// What one sampled flow yielded.
struct Harvest {
    index: usize,
    values: Vec<(Issued, String, Option<u32>)>,
    accepted: Vec<Stage>,
    stopped: Option<String>,
}

pub(super) async fn collect(
    ctx: &Arc<RunContext>,
    step: &SamplesStep,
    state: &mut State,
    recorder: &Recorder,
) -> Result<(), String> {
    ensure_metadata(ctx, recorder, state).await?;
    if step.through != SampleThrough::Par && ctx.login.needs_person() {
        state.inapplicable = Some(format!(
            "sampling codes and tokens takes {} logins, and a person logs in for this target \
             (login mode manual); an automated login mode can run it",
            step.count
        ));
        return Ok(());
    }
    let next = Arc::new(AtomicUsize::new(0));
    // Dropping the set (the item timed out or was interrupted) aborts the flows in flight.
    let mut workers = JoinSet::new();
    for _ in 0..CONCURRENCY.min(step.count) {
        let (ctx, next, recorder) = (ctx.clone(), next.clone(), recorder.clone());
        let (count, through) = (step.count, step.through);
        let (variant, key, slot) = (
            state.flow.variant.clone(),
            state.key.clone(),
            state.slot.clone(),
        );
        let metadata = state.metadata.clone();
        workers.spawn(async move {
            let mut out = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return out;
                }
                let mut s = State::new(&variant, &key, slot.clone());
                s.metadata = metadata.clone();
                let blocked = one_flow(&ctx, &mut s, through, &recorder).await.err();
                out.push(harvest(index, &s, blocked));
            }
        });
    }
    let mut samples = Samples {
        flows: step.count,
        through: stage_of(step.through),
        values: Vec::new(),
        accepted: HashMap::new(),
        stopped: Vec::new(),
    };
    let mut harvests = Vec::new();
    while let Some(done) = workers.join_next().await {
        match done {
            Ok(h) => harvests.extend(h),
            Err(e) => samples.stopped.push(format!("a sampling task failed: {e}")),
        }
    }
    harvests.sort_by_key(|h| h.index);
    for h in harvests {
        samples.values.extend(h.values);
        for stage in h.accepted {
            *samples.accepted.entry(stage).or_default() += 1;
        }
        samples.stopped.extend(h.stopped);
    }
    state.samples = Some(samples);
    Ok(())
}

fn stage_of(through: SampleThrough) -> Stage {
    match through {
        SampleThrough::Par => Stage::Par,
        SampleThrough::Authorize => Stage::Authorization,
        SampleThrough::Token => Stage::Token,
    }
}

/// A correct flow as far as `through`, stopping at the first stage that does not accept.
async fn one_flow(
    ctx: &Arc<RunContext>,
    s: &mut State,
    through: SampleThrough,
    recorder: &Recorder,
) -> Result<(), String> {
    flow::par(ctx, s, 0, ClientRole::Primary, &[], recorder).await?;
    if through == SampleThrough::Par || s.flow.stopped() {
        return Ok(());
    }
    flow::authorize_step(ctx, s, 1, true, ClientRole::Primary, &[], recorder).await?;
    if through == SampleThrough::Authorize || s.flow.stopped() {
        return Ok(());
    }
    let grant = Grant::AuthorizationCode;
    flow::token(ctx, s, 2, grant, ClientRole::Primary, &[], recorder).await
}

/// The values the accepted stages of one flow issued, with the exchanges that carried them.
fn harvest(index: usize, s: &State, blocked: Option<String>) -> Harvest {
    let accepted: Vec<Stage> = s
        .obs
        .stages
        .iter()
        .filter(|r| r.result == StageResult::Accepted)
        .map(|r| r.stage)
        .collect();
    let stopped = blocked.or_else(|| {
        s.obs
            .stages
            .iter()
            .find(|r| r.result != StageResult::Accepted)
            .map(describe)
    });
    let member =
        |json: &Value, name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
    let mut values = Vec::new();
    if accepted.contains(&Stage::Par)
        && let Some((json, _, seq)) = &s.obs.par_response
        && let Some(v) = member(json, "request_uri")
    {
        values.push((Issued::RequestUri, v, Some(*seq)));
    }
    if accepted.contains(&Stage::Authorization)
        && let Some(params) = &s.obs.authz_response
        && let Some((_, code)) = params.iter().find(|(k, _)| k == "code")
    {
        values.push((Issued::Code, code.clone(), s.obs.authz_exchange));
    }
    if accepted.contains(&Stage::Token)
        && let Some((json, seq)) = &s.obs.token_response
    {
        for (kind, name) in [
            (Issued::AccessToken, "access_token"),
            (Issued::RefreshToken, "refresh_token"),
        ] {
            if let Some(v) = member(json, name) {
                values.push((kind, v, Some(*seq)));
            }
        }
    }
    Harvest {
        index,
        values,
        accepted,
        stopped,
    }
}
