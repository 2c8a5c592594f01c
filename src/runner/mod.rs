//! The runner: schedules units concurrently, enforces per-item deadlines, handles Ctrl-C, and
//! emits events. It never formats output; reporters do.

mod cache;
pub mod events;
mod flow;
mod item;
pub mod outcome;
mod samples;
mod slot;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::catalogue;
use crate::checks::Finding;
use crate::http::{Http, Recorder};
use crate::plan::select::Selected;
use crate::plan::{Capability, Item, Plan};
use crate::redact::Redactor;
use crate::target::Target;
use events::{Event, ItemInfo, ItemKey, ItemResult, RunMeta, RunStats};
use outcome::{Outcome, aggregate};

/// Shared by every item of a run: the target, its HTTP clients and the document cache.
pub struct RunContext {
    pub target: Target,
    pub http: Http,
    /// The login drivers: how the user agent gets past the AS's pages.
    pub login: Arc<crate::login::Drivers>,
    cache: cache::DocCache,
    /// Server clock minus ours, in seconds, from the first metadata `Date` header.
    clock_offset: std::sync::OnceLock<i64>,
    /// The TLS probe's findings, shared by every item that reads them.
    tls_reports: tokio::sync::OnceCell<Vec<crate::fapi::tls_probe::HostReport>>,
    /// Deliberate waits longer than this are not made (`run --max-wait`); their items SKIP.
    pub max_wait_secs: u64,
}

impl RunContext {
    pub fn new(target: Target, http: Http) -> Self {
        RunContext {
            login: Arc::new(crate::login::Drivers::new(
                target.login.clone(),
                target.ca_bundle.clone(),
            )),
            target,
            http,
            cache: cache::DocCache::default(),
            clock_offset: std::sync::OnceLock::new(),
            tls_reports: tokio::sync::OnceCell::new(),
            max_wait_secs: crate::fapi::step::DEFAULT_MAX_WAIT_SECS,
        }
    }

    /// Learns the server's clock from an HTTP `Date` header, so that time-shifted JWTs are shifted
    /// relative to the server's clock, not ours (requirements.md, "Clock handling").
    pub fn learn_clock(&self, date: &str) {
        if let Ok(t) = httpdate::parse_http_date(date)
            && let Ok(d) = t.duration_since(std::time::UNIX_EPOCH)
        {
            let server = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            let _ = self
                .clock_offset
                .set(server - time::OffsetDateTime::now_utc().unix_timestamp());
        }
    }

    pub fn clock_offset(&self) -> i64 {
        self.clock_offset.get().copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub jobs: usize,
    pub item_timeout: Duration,
}

/// The default concurrency: items mostly wait on the network, so far more than the core count.
pub const DEFAULT_JOBS: usize = 32;
pub const DEFAULT_ITEM_TIMEOUT: Duration = Duration::from_secs(120);

/// How the run ended, for the exit code.
#[derive(Debug, Clone)]
pub struct RunSummary {
    pub stats: RunStats,
    pub interrupted: bool,
}

fn item_info(item: &Item) -> ItemInfo {
    ItemInfo {
        title: item.title.clone(),
        level: item.level,
        refs: item.refs.iter().map(|r| r.value.clone()).collect(),
        requirements: item
            .refs
            .iter()
            .map(|r| {
                catalogue::get(&r.value)
                    .map(|c| c.requirement.clone())
                    .unwrap_or_default()
            })
            .collect(),
        oidf: item.oidf.clone(),
        tags: item.tags.clone(),
        description: item.description.clone(),
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a unit cannot run against this target, if it cannot.
fn missing_capability(item: &Item, target: &Target) -> Option<String> {
    item.requires.iter().find_map(|cap| {
        let has = match cap {
            Capability::SecondClient => target.clients.len() >= 2,
            Capability::Resource => !target.resources.is_empty(),
            Capability::RsaClient => target.clients.iter().any(|c| {
                c.signing_key
                    .as_ref()
                    .is_some_and(|k| k.kind == crate::target::keys::KeyKind::Rsa)
            }),
        };
        (!has).then(|| match cap {
            Capability::RsaClient => {
                "target has no private_key_jwt client with an RSA key".to_owned()
            }
            Capability::SecondClient | Capability::Resource => {
                format!("target has no {}", cap.as_str().replace('_', " "))
            }
        })
    })
}

/// Redacts the free text a check produced from raw observations.
fn scrub_findings(findings: &mut [Finding], r: &Redactor) {
    for f in findings {
        f.message = r.scrub(&f.message);
        for (_, v) in &mut f.evidence {
            *v = r.scrub(v);
        }
    }
}

/// Passes an item's event on to the reporters, counting finished items.
fn forward(
    ev: &Event,
    stats: &mut RunStats,
    finished: &mut std::collections::HashSet<usize>,
    sink: &mut impl FnMut(&Event),
) {
    if let Event::ItemFinished { result } = ev {
        stats.add(result.outcome);
        finished.insert(result.key.index);
    }
    sink(ev);
}

/// Runs the selected units and feeds every event to `sink`. Returns when all units are done or
/// Ctrl-C (`interrupt`) fired; in the latter case unfinished units are reported as ERROR.
pub async fn run(
    plan: Arc<Plan>,
    ctx: Arc<RunContext>,
    selected: Selected,
    meta: RunMeta,
    opts: RunOptions,
    interrupt: impl std::future::Future<Output = ()>,
    mut sink: impl FnMut(&Event),
) -> RunSummary {
    let started = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    sink(&Event::RunStarted {
        meta: Box::new(meta),
        total: selected.units.len(),
    });
    let semaphore = Arc::new(Semaphore::new(opts.jobs.max(1)));
    // For a person's prompt: "login 3 of at most 12" (a flow may stop before its login).
    ctx.login.expect_logins(
        selected
            .units
            .iter()
            .map(|u| {
                let flow = &plan.items[u.item].flow;
                flow.iter()
                    .filter(|s| matches!(s.value, crate::fapi::step::Step::Authorize(_)))
                    .count()
            })
            .sum(),
    );
    let mut set = JoinSet::new();
    let keys: Vec<(ItemKey, usize)> = selected
        .units
        .iter()
        .map(|u| {
            (
                ItemKey {
                    index: u.index,
                    id: plan.items[u.item].id.value.clone(),
                    variant: u.variant_label.clone(),
                },
                u.item,
            )
        })
        .collect();
    for (unit, (key, _)) in selected.units.iter().zip(&keys) {
        let plan = plan.clone();
        let ctx = ctx.clone();
        let tx = tx.clone();
        let sem = semaphore.clone();
        let key = key.clone();
        let variant = unit.variant.to_map();
        let variant_full = unit.variant.clone();
        let item_index = unit.item;
        let timeout = opts.item_timeout;
        set.spawn(async move {
            let slot = Arc::new(slot::Slot::take(sem).await);
            let item = &plan.items[item_index];
            let _ = tx.send(Event::ItemStarted {
                key: key.clone(),
                title: item.title.clone(),
            });
            let began = Instant::now();
            let recorder = Recorder::new();
            let (outcome, reason, mut findings) = if let Some(why) = missing_capability(item, &ctx.target) {
                (Outcome::Skip, why, Vec::new())
            } else {
                let run = item::execute(ctx.clone(), item, &key, &variant_full, &recorder, &tx, slot.clone());
                match slot::within(timeout, &slot, run).await {
                    Some(findings) => {
                        let (o, r) = aggregate(item.level, &findings);
                        (o, r, findings)
                    }
                    None => (
                        Outcome::Error,
                        format!("item timed out after {} s (--item-timeout); evidence so far is attached", timeout.as_secs()),
                        Vec::new(),
                    ),
                }
            };
            scrub_findings(&mut findings, ctx.http.redactor());
            let result = ItemResult {
                key,
                info: item_info(item),
                variant,
                outcome,
                reason: ctx.http.redactor().scrub(&reason),
                findings,
                exchanges: recorder.snapshot(),
                duration_ms: ms(began.elapsed()),
            };
            let _ = tx.send(Event::ItemFinished { result: Box::new(result) });
        });
    }
    drop(tx);

    let mut stats = RunStats::default();
    let mut finished = std::collections::HashSet::new();
    let mut interrupted = false;
    tokio::pin!(interrupt);
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => forward(&ev, &mut stats, &mut finished, &mut sink),
                None => break,
            },
            () = &mut interrupt, if !interrupted => {
                interrupted = true;
                set.abort_all();
                // Drain what already finished, then report the rest as interrupted.
                while let Ok(ev) = rx.try_recv() {
                    forward(&ev, &mut stats, &mut finished, &mut sink);
                }
                for (key, item_index) in &keys {
                    if finished.contains(&key.index) {
                        continue;
                    }
                    let item = &plan.items[*item_index];
                    let result = ItemResult {
                        key: key.clone(),
                        info: item_info(item),
                        variant: Default::default(),
                        outcome: Outcome::Error,
                        reason: "run interrupted (Ctrl-C) before this item finished".to_owned(),
                        findings: Vec::new(),
                        exchanges: Vec::new(),
                        duration_ms: 0,
                    };
                    stats.add(Outcome::Error);
                    sink(&Event::ItemFinished { result: Box::new(result) });
                }
                break;
            }
        }
    }
    while set.join_next().await.is_some() {}
    ctx.login.finish().await;
    sink(&Event::RunFinished {
        stats: stats.clone(),
        elapsed: started.elapsed(),
        interrupted,
        slow_excluded: selected.slow_excluded,
    });
    RunSummary { stats, interrupted }
}
