//! The run's event stream: the only contract between the runner and the reporters.
//!
//! Events own their data and serialize, so the JSON report stays close to the stream. Every
//! reporter matches every variant without a wildcard arm, so a new event is a compile error in
//! each reporter until someone decides what it means there.

use std::time::Duration;

use indexmap::IndexMap;
use serde::Serialize;

use crate::checks::Finding;
use crate::evidence::Exchange;
use crate::plan::Level;
use crate::runner::outcome::Outcome;

/// Identifies one unit of work: an item in one variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct ItemKey {
    /// The item's position in the plan's expanded list (variant-major, plan order); reports sort by it.
    pub index: usize,
    pub id: String,
    /// The variant label, e.g. `client_auth=private_key_jwt,sender_constraint=dpop`.
    pub variant: String,
}

/// What every report needs to know about the run before the first item.
#[derive(Clone, Debug, Serialize)]
pub struct RunMeta {
    pub tool: String,
    pub tool_version: String,
    pub plan: String,
    pub plan_title: String,
    pub plan_file: String,
    pub spec: String,
    pub profile: String,
    pub target: String,
    pub target_file: String,
    pub issuer: String,
    /// Variants that run, by label.
    pub variants: Vec<String>,
    /// Variants of the plan's matrix left out, with the reason (CLI restriction, target lacks it).
    pub variants_not_run: Vec<(String, String)>,
    /// The selection that shaped this run: filters, shard, jobs, timeouts.
    pub selection: IndexMap<String, String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub host: String,
}

/// The static description of an item, repeated in its result so reporters need no plan.
#[derive(Clone, Debug, Serialize)]
pub struct ItemInfo {
    pub title: String,
    pub level: Level,
    pub refs: Vec<String>,
    /// Catalogue wording of each ref, for the report (same order as `refs`).
    pub requirements: Vec<String>,
    pub oidf: Option<String>,
    pub tags: Vec<String>,
    pub description: Option<String>,
}

/// Everything known about one finished item.
#[derive(Clone, Debug, Serialize)]
pub struct ItemResult {
    pub key: ItemKey,
    pub info: ItemInfo,
    pub variant: IndexMap<String, String>,
    pub outcome: Outcome,
    /// One line: why this outcome.
    pub reason: String,
    pub findings: Vec<Finding>,
    pub exchanges: Vec<Exchange>,
    pub duration_ms: u64,
}

/// Counts per outcome.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct RunStats {
    pub total: usize,
    pub pass: usize,
    pub fail: usize,
    pub warn: usize,
    pub skip: usize,
    pub review: usize,
    pub error: usize,
}

impl RunStats {
    pub fn add(&mut self, outcome: Outcome) {
        self.total += 1;
        match outcome {
            Outcome::Pass => self.pass += 1,
            Outcome::Fail => self.fail += 1,
            Outcome::Warn => self.warn += 1,
            Outcome::Skip => self.skip += 1,
            Outcome::Review => self.review += 1,
            Outcome::Error => self.error += 1,
        }
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        match outcome {
            Outcome::Pass => self.pass,
            Outcome::Fail => self.fail,
            Outcome::Warn => self.warn,
            Outcome::Skip => self.skip,
            Outcome::Review => self.review,
            Outcome::Error => self.error,
        }
    }
}

/// One moment of a run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    RunStarted {
        meta: Box<RunMeta>,
        /// Units of work that will run (items × variants after selection).
        total: usize,
    },
    ItemStarted {
        key: ItemKey,
        title: String,
    },
    /// An item is sleeping on purpose (e.g. for a code to expire).
    ItemWaiting {
        key: ItemKey,
        seconds: u64,
        reason: String,
    },
    ItemFinished {
        result: Box<ItemResult>,
    },
    RunFinished {
        stats: RunStats,
        #[serde(with = "duration_ms")]
        elapsed: Duration,
        /// Ctrl-C stopped the run; unfinished items were recorded as ERROR.
        interrupted: bool,
        /// Timed items left out because of `--fast`; the summary tells how to include them.
        slow_excluded: usize,
    },
}

mod duration_ms {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}
