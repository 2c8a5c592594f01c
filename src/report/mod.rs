//! Reporters: console progress plus the JUnit, HTML and JSON files, all fed by one event stream.
//!
//! The file reporters are written once, at `RunFinished`, from a `RunRecord` that the aggregator
//! builds from the events. A reporter never calls back into the runner.

pub mod console;
pub mod html;
pub mod json;
pub mod junit;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::runner::events::{Event, ItemResult, RunMeta, RunStats};

/// Everything the file reports show, in plan order.
#[derive(Clone, Debug, Serialize)]
pub struct RunRecord {
    pub meta: RunMeta,
    /// Sorted by `key.index`, i.e. plan order within variant order, whatever the completion order.
    pub results: Vec<ItemResult>,
    pub stats: RunStats,
    pub elapsed_ms: u64,
    pub interrupted: bool,
    pub slow_excluded: usize,
}

/// Builds a `RunRecord` from the event stream.
#[derive(Default)]
pub struct Aggregator {
    meta: Option<RunMeta>,
    results: Vec<ItemResult>,
}

impl Aggregator {
    /// Consumes one event; returns the finished record at `RunFinished`.
    pub fn handle(&mut self, event: &Event) -> Option<RunRecord> {
        match event {
            Event::RunStarted { meta, .. } => {
                self.meta = Some((**meta).clone());
                None
            }
            Event::ItemStarted { .. } | Event::ItemWaiting { .. } => None,
            Event::ItemFinished { result } => {
                self.results.push((**result).clone());
                None
            }
            Event::RunFinished {
                stats,
                elapsed,
                interrupted,
                slow_excluded,
            } => {
                let meta = self.meta.take()?;
                let mut results = std::mem::take(&mut self.results);
                results.sort_by_key(|r| r.key.index);
                Some(RunRecord {
                    meta,
                    results,
                    stats: stats.clone(),
                    elapsed_ms: duration_ms(*elapsed),
                    interrupted: *interrupted,
                    slow_excluded: *slow_excluded,
                })
            }
        }
    }
}

fn duration_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Where the file reports went.
#[derive(Debug, Clone)]
pub struct WrittenReports {
    pub junit: PathBuf,
    pub html: PathBuf,
    pub json: PathBuf,
}

/// A report file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write report {path}: {source}")]
pub struct ReportError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// Writes the three file reports into `dir`, creating it if needed.
pub fn write_all(record: &RunRecord, dir: &Path) -> Result<WrittenReports, ReportError> {
    std::fs::create_dir_all(dir).map_err(|source| ReportError {
        path: dir.to_path_buf(),
        source,
    })?;
    let out = WrittenReports {
        junit: dir.join("junit.xml"),
        html: dir.join("report.html"),
        json: dir.join("report.json"),
    };
    write_file(&out.junit, junit::render(record).as_bytes())?;
    write_file(&out.html, html::render(record).as_bytes())?;
    write_file(&out.json, json::render(record).as_bytes())?;
    Ok(out)
}

/// Writes through a temporary file and a rename, so an interrupted run never leaves half a report.
fn write_file(path: &Path, contents: &[u8]) -> Result<(), ReportError> {
    let tmp = path.with_extension("partial");
    let err = |source| ReportError {
        path: path.to_path_buf(),
        source,
    };
    std::fs::write(&tmp, contents).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}
