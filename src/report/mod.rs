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

/// Makes server-controlled text safe to place in XML and HTML while keeping it readable.
///
/// C0 controls other than tab, LF and CR are invalid in XML 1.0 and meaningless in HTML, and
/// U+FFFE/U+FFFF are XML non-characters. Dropping them would hide what the server really sent,
/// so each control becomes its visible Unicode "control picture" (NUL → ␀, ESC → ␛, DEL → ␡)
/// and the non-characters become U+FFFD. Escaping of `<`, `&` and quotes is left to the writer.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + u32::from(c)).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            '\u{fffe}' | '\u{ffff}' => '\u{fffd}',
            _ => c,
        })
        .collect()
}

/// The longest prefix of `text` of at most `max_bytes` bytes that ends on a character boundary,
/// and whether anything was cut. Bodies come from the server, so the cut must never split UTF-8.
pub(crate) fn clip(text: &str, max_bytes: usize) -> (&str, bool) {
    if text.len() <= max_bytes {
        return (text, false);
    }
    let end = (0..=max_bytes)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    (text.get(..end).unwrap_or(""), true)
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

/// Hand-built records for the reporters' tests: fixed timestamps and durations, so snapshots hold.
#[cfg(test)]
pub(crate) mod sample {
    use indexmap::IndexMap;

    use super::RunRecord;
    use crate::checks::{Finding, FindingStatus};
    use crate::evidence::{DecodedJwt, Exchange, RecordedRequest, RecordedResponse};
    use crate::plan::Level;
    use crate::runner::events::{ItemInfo, ItemKey, ItemResult, RunMeta, RunStats};
    use crate::runner::outcome::Outcome;

    const DPOP: &str = "client_auth=private_key_jwt,sender_constraint=dpop";
    const MTLS: &str = "client_auth=private_key_jwt,sender_constraint=mtls";

    fn meta() -> RunMeta {
        let mut selection = IndexMap::new();
        selection.insert("jobs".to_owned(), "4".to_owned());
        selection.insert("tags".to_owned(), "all".to_owned());
        RunMeta {
            tool: "fapi-harness".into(),
            tool_version: "0.1.0".into(),
            plan: "fapi2-security-profile".into(),
            plan_title: "FAPI 2.0 Security Profile".into(),
            plan_file: "test-plans/fapi2-security-profile.yaml".into(),
            spec: "FAPI 2.0 Security Profile (Final, 2025)".into(),
            profile: "fapi2-security-profile".into(),
            target: "reference".into(),
            target_file: "fixtures/reference-target.yaml".into(),
            issuer: "https://as.example.test".into(),
            variants: vec![DPOP.into(), MTLS.into()],
            variants_not_run: vec![(
                "client_auth=mtls,sender_constraint=dpop".into(),
                "target has no mtls client".into(),
            )],
            selection,
            started_at: "2025-01-02T03:04:05Z".into(),
            host: "ci-runner".into(),
        }
    }

    fn info(title: &str, level: Level) -> ItemInfo {
        ItemInfo {
            title: title.into(),
            level,
            refs: vec!["FAPI2-SP-5.3.2.2-3".into(), "RFC9126-5-1".into()],
            requirements: vec![
                "shall only support authorization requests pushed via PAR".into(),
                "the AS may require PAR for all clients".into(),
            ],
            oidf: Some(
                "fapi2-security-profile-final-ensure-authorization-request-without-par-fails"
                    .into(),
            ),
            tags: vec!["authorization".into(), "negative".into()],
            description: Some("Sends the authorization request without PAR.".into()),
        }
    }

    fn result(index: usize, id: &str, variant: &str, outcome: Outcome, reason: &str) -> ItemResult {
        ItemResult {
            key: ItemKey {
                index,
                id: id.into(),
                variant: variant.into(),
            },
            info: info(&format!("Item {id}"), Level::Must),
            variant: IndexMap::new(),
            outcome,
            reason: reason.into(),
            findings: Vec::new(),
            exchanges: Vec::new(),
            duration_ms: 10 + index as u64,
        }
    }

    /// An exchange whose server-controlled parts all carry `payload`.
    fn exchange(seq: u32, payload: &str) -> Exchange {
        Exchange {
            seq,
            label: format!("authorization request {payload}"),
            request: RecordedRequest {
                method: "GET".into(),
                url: format!("https://as.example.test/authorize?state={payload}"),
                headers: vec![("accept".into(), "text/html".into())],
                body: None,
            },
            response: Some(RecordedResponse {
                status: 302,
                http_version: "HTTP/1.1".into(),
                tls_version: Some("TLSv1.3".into()),
                headers: vec![
                    (
                        "location".into(),
                        format!("https://client.example.test/cb?error={payload}"),
                    ),
                    (format!("x-{payload}"), payload.into()),
                ],
                body: format!("<html>{payload}</html>"),
                body_lossy: false,
                body_truncated: false,
                body_bytes: 13 + payload.len() as u64,
            }),
            error: None,
            elapsed_ms: 7,
            jwts: vec![DecodedJwt {
                found_in: "response body: id_token".into(),
                header: serde_json::json!({"alg": "PS256", "kid": payload}),
                claims: serde_json::json!({"iss": "https://as.example.test", "nonce": payload}),
            }],
            attachments: vec![],
        }
    }

    fn finding(status: FindingStatus, payload: &str) -> Finding {
        let f = Finding::new("rejects_without_par")
            .requirement("FAPI2-SP-5.3.2.2-3")
            .on(Some(1))
            .evidence("expected", "an error redirect or error page")
            .evidence("actual", payload);
        match status {
            FindingStatus::Held => f.held(format!("rejected: {payload}")),
            FindingStatus::Violated => f.violated(format!("accepted: {payload}")),
            FindingStatus::Deviated => f.deviated(format!("unexpected error: {payload}")),
            FindingStatus::Review => f.review(format!("look at: {payload}")),
            FindingStatus::Inconclusive => f.inconclusive(format!("no answer: {payload}")),
            FindingStatus::NotApplicable => f.not_applicable(format!("does not apply: {payload}")),
        }
    }

    fn record(results: Vec<ItemResult>) -> RunRecord {
        let mut stats = RunStats::default();
        for r in &results {
            stats.add(r.outcome);
        }
        RunRecord {
            meta: meta(),
            results,
            stats,
            elapsed_ms: 1234,
            interrupted: false,
            slow_excluded: 0,
        }
    }

    /// One item of each outcome over two variants plus a `once` item, in plan order.
    pub(crate) fn clean() -> RunRecord {
        let pass = {
            let mut r = result(0, "FAPI2-SP-A", "all", Outcome::Pass, "1 check held");
            r.findings
                .push(finding(FindingStatus::Held, "invalid_request"));
            r.exchanges.push(exchange(1, "ok"));
            r
        };
        let fail = {
            let mut r = result(1, "FAPI2-SP-B", DPOP, Outcome::Fail, "accepted: code");
            r.findings.push(finding(FindingStatus::Violated, "code"));
            r.exchanges.push(exchange(1, "ok"));
            r
        };
        let warn = {
            let mut r = result(
                2,
                "FAPI2-SP-C",
                DPOP,
                Outcome::Warn,
                "unexpected error: access_denied",
            );
            r.info.level = Level::Should;
            r.findings
                .push(finding(FindingStatus::Deviated, "access_denied"));
            r
        };
        let skip = result(
            3,
            "FAPI2-SP-D",
            MTLS,
            Outcome::Skip,
            "target has no second client",
        );
        let review = {
            let mut r = result(
                4,
                "FAPI2-SP-E",
                MTLS,
                Outcome::Review,
                "look at: login page",
            );
            r.findings
                .push(finding(FindingStatus::Review, "login page"));
            r
        };
        let error = {
            let mut r = result(5, "FAPI2-SP-F", MTLS, Outcome::Error, "no answer: timeout");
            r.findings
                .push(finding(FindingStatus::Inconclusive, "timeout"));
            let mut ex = exchange(1, "ok");
            ex.response = None;
            ex.jwts.clear();
            ex.error = Some("connection timed out after 10 s".into());
            r.exchanges.push(ex);
            r
        };
        record(vec![pass, fail, warn, skip, review, error])
    }

    /// The same outcomes as `clean`, with `payload` in every field the server controls.
    pub(crate) fn hostile(payload: &str) -> RunRecord {
        let outcomes = [
            (Outcome::Pass, FindingStatus::Held),
            (Outcome::Fail, FindingStatus::Violated),
            (Outcome::Warn, FindingStatus::Deviated),
            (Outcome::Skip, FindingStatus::Held),
            (Outcome::Review, FindingStatus::Review),
            (Outcome::Error, FindingStatus::Inconclusive),
        ];
        let results = outcomes
            .iter()
            .enumerate()
            .map(|(i, (outcome, status))| {
                let mut r = result(i, &format!("HOSTILE-{i}"), DPOP, *outcome, payload);
                r.findings.push(finding(*status, payload));
                let mut ex = exchange(1, payload);
                ex.request.body = Some(payload.into());
                ex.error = Some(payload.into());
                ex.attachments.push(crate::evidence::Attachment::html(
                    format!("page HTML {payload}"),
                    format!("<html>{payload}</html>"),
                ));
                if let Some(resp) = ex.response.as_mut() {
                    resp.body_lossy = true;
                }
                r.exchanges.push(ex);
                r
            })
            .collect();
        record(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_shows_controls_and_keeps_whitespace() {
        let shown = printable("a\u{0}b\u{1b}[31mc\u{7f}\t\r\n\u{fffe}<&>");
        assert_eq!(shown, "a\u{2400}b\u{241b}[31mc\u{2421}\t\r\n\u{fffd}<&>");
    }

    #[test]
    fn clip_never_splits_a_character() {
        assert_eq!(clip("abc", 3), ("abc", false));
        assert_eq!(clip("abc", 2), ("ab", true));
        // "é" is two bytes: a cut in its middle falls back before it.
        assert_eq!(clip("aé", 2), ("a", true));
        assert_eq!(clip("é", 0), ("", true));
    }
}
