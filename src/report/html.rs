//! The self-contained HTML report (askama, `templates/report.html`): one file an auditor can read
//! offline, file, or print to PDF.
//!
//! Everything the server sent is hostile. It reaches the page only as auto-escaped text, after
//! `printable` has made control characters visible; no server value becomes a URL, an attribute
//! other than escaped text, or an element id (ids come from item positions). The page carries no
//! script at all and a CSP that forbids one, so a missed escape still cannot execute. This module
//! only renders; it never decides a verdict.

use askama::Template;

use super::{RunRecord, clip, printable};
use crate::checks::{Finding, FindingStatus};
use crate::evidence::Exchange;
use crate::runner::events::ItemResult;
use crate::runner::outcome::Outcome;

/// Bodies are cut here so a report with many large pages stays small enough to open and print.
const BODY_LIMIT: usize = 64 * 1024;

/// Renders the whole run as one HTML document.
pub fn render(record: &RunRecord) -> String {
    let page = Page::new(record);
    // Rendering writes into a `String` and every value is a plain string or number, so it cannot
    // fail; an empty page is still better than a panic if askama ever reports an error.
    page.render().unwrap_or_default()
}

#[derive(Template)]
#[template(path = "report.html")]
struct Page {
    plan: String,
    plan_title: String,
    plan_file: String,
    spec: String,
    profile: String,
    target: String,
    target_file: String,
    issuer: String,
    tool: String,
    tool_version: String,
    started_at: String,
    host: String,
    elapsed: String,
    variants: Vec<String>,
    variants_not_run: Vec<(String, String)>,
    selection: Vec<(String, String)>,
    failed: bool,
    notes: Vec<String>,
    total: usize,
    /// The non-zero counts in one line, e.g. `3 PASS, 1 FAIL`.
    tally: String,
    counts: Vec<Count>,
    items: Vec<ItemView>,
}

/// One outcome's tally, also the label of its filter button.
struct Count {
    key: &'static str,
    label: &'static str,
    n: usize,
}

struct ItemView {
    anchor: String,
    key: &'static str,
    outcome: &'static str,
    id: String,
    title: String,
    level: &'static str,
    variant: String,
    reason: String,
    duration_ms: u64,
    refs: Vec<(String, String)>,
    oidf: Option<String>,
    tags: Vec<String>,
    description: Option<String>,
    findings: Vec<FindingView>,
    exchanges: Vec<ExchangeView>,
    open: bool,
}

struct FindingView {
    check: String,
    requirement: Option<String>,
    status: &'static str,
    key: &'static str,
    message: String,
    evidence: Vec<(String, String)>,
    /// Anchor of the exchange the claim was judged on, when that exchange is in the report.
    exchange: Option<(u32, String)>,
}

struct ExchangeView {
    anchor: String,
    seq: u32,
    label: String,
    method: String,
    url: String,
    elapsed_ms: u64,
    request_headers: Vec<(String, String)>,
    request_body: Option<Body>,
    response: Option<ResponseView>,
    error: Option<String>,
    jwts: Vec<JwtView>,
    attachments: Vec<AttachmentView>,
}

/// A screenshot (shown as an image from a `data:` URI, which the CSP allows) or a text file.
struct AttachmentView {
    name: String,
    img: Option<String>,
    text: Option<Body>,
}

struct ResponseView {
    status: u16,
    http_version: String,
    tls_version: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<Body>,
}

struct Body {
    text: String,
    notes: Vec<String>,
}

struct JwtView {
    found_in: String,
    header: String,
    claims: String,
}

impl Page {
    fn new(record: &RunRecord) -> Page {
        let meta = &record.meta;
        let stats = &record.stats;
        let mut notes = Vec::new();
        if record.interrupted {
            notes.push("The run was interrupted; unfinished items are reported as ERROR.".into());
        }
        if record.slow_excluded > 0 {
            notes.push(format!(
                "{} slow item(s) with timed waits were left out (--fast); run without --fast to include them.",
                record.slow_excluded
            ));
        }
        Page {
            plan: printable(&meta.plan),
            plan_title: printable(&meta.plan_title),
            plan_file: printable(&meta.plan_file),
            spec: printable(&meta.spec),
            profile: printable(&meta.profile),
            target: printable(&meta.target),
            target_file: printable(&meta.target_file),
            issuer: printable(&meta.issuer),
            tool: printable(&meta.tool),
            tool_version: printable(&meta.tool_version),
            started_at: printable(&meta.started_at),
            host: printable(&meta.host),
            elapsed: seconds(record.elapsed_ms),
            variants: meta.variants.iter().map(|v| printable(v)).collect(),
            variants_not_run: pairs(&meta.variants_not_run),
            selection: meta
                .selection
                .iter()
                .map(|(k, v)| (printable(k), printable(v)))
                .collect(),
            failed: stats.fail > 0 || stats.error > 0,
            notes,
            total: stats.total,
            tally: Outcome::ALL
                .iter()
                .filter(|o| stats.count(**o) > 0)
                .map(|o| format!("{} {}", stats.count(*o), o.as_str()))
                .collect::<Vec<_>>()
                .join(", "),
            counts: Outcome::ALL
                .iter()
                .map(|o| Count {
                    key: key(*o),
                    label: o.as_str(),
                    n: stats.count(*o),
                })
                .collect(),
            items: record
                .results
                .iter()
                .enumerate()
                .map(|(i, r)| ItemView::new(i, r))
                .collect(),
        }
    }
}

impl ItemView {
    fn new(index: usize, r: &ItemResult) -> ItemView {
        let anchor = format!("item-{index}");
        let exchanges: Vec<ExchangeView> = r
            .exchanges
            .iter()
            .map(|ex| ExchangeView::new(&anchor, ex))
            .collect();
        let findings = r
            .findings
            .iter()
            .map(|f| FindingView::new(f, &exchanges))
            .collect();
        ItemView {
            key: key(r.outcome),
            outcome: r.outcome.as_str(),
            id: printable(&r.key.id),
            title: printable(&r.info.title),
            level: r.info.level.as_str(),
            variant: printable(&r.key.variant),
            reason: printable(&r.reason),
            duration_ms: r.duration_ms,
            refs: r
                .info
                .refs
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let wording = r.info.requirements.get(i).map_or("", String::as_str);
                    (printable(id), printable(wording))
                })
                .collect(),
            oidf: r.info.oidf.as_deref().map(printable),
            tags: r.info.tags.iter().map(|t| printable(t)).collect(),
            description: r.info.description.as_deref().map(printable),
            findings,
            exchanges,
            // Evidence is what a reader of a non-passing item came for; skips have none worth opening.
            open: matches!(
                r.outcome,
                Outcome::Fail | Outcome::Error | Outcome::Warn | Outcome::Review
            ),
            anchor,
        }
    }
}

impl FindingView {
    fn new(f: &Finding, exchanges: &[ExchangeView]) -> FindingView {
        // Findings borrow the outcome colours their status leads to.
        let key = match f.status {
            FindingStatus::Held => "pass",
            FindingStatus::Violated => "fail",
            FindingStatus::Deviated => "warn",
            FindingStatus::Review => "review",
            FindingStatus::Inconclusive => "error",
            FindingStatus::NotApplicable => "skip",
        };
        let status = f.status.as_str();
        FindingView {
            check: printable(&f.check),
            requirement: f.requirement.map(printable),
            status,
            key,
            message: printable(&f.message),
            evidence: pairs(&f.evidence),
            exchange: f.exchange.and_then(|seq| {
                exchanges
                    .iter()
                    .find(|ex| ex.seq == seq)
                    .map(|ex| (seq, ex.anchor.clone()))
            }),
        }
    }
}

impl ExchangeView {
    fn new(item_anchor: &str, ex: &Exchange) -> ExchangeView {
        let req = &ex.request;
        ExchangeView {
            anchor: format!("{item_anchor}-ex-{}", ex.seq),
            seq: ex.seq,
            label: printable(&ex.label),
            method: printable(&req.method),
            url: printable(&req.url),
            elapsed_ms: ex.elapsed_ms,
            request_headers: pairs(&req.headers),
            request_body: req.body.as_deref().and_then(|b| body(b, false, false, 0)),
            response: ex.response.as_ref().map(|resp| ResponseView {
                status: resp.status,
                http_version: printable(&resp.http_version),
                tls_version: resp.tls_version.as_deref().map(printable),
                headers: pairs(&resp.headers),
                body: body(
                    &resp.body,
                    resp.body_lossy,
                    resp.body_truncated,
                    resp.body_bytes,
                ),
            }),
            error: ex.error.as_deref().map(printable),
            jwts: ex
                .jwts
                .iter()
                .map(|j| JwtView {
                    found_in: printable(&j.found_in),
                    header: pretty(&j.header),
                    claims: pretty(&j.claims),
                })
                .collect(),
            attachments: ex
                .attachments
                .iter()
                .map(|a| AttachmentView {
                    name: printable(&a.name),
                    img: a.png_data_uri(),
                    text: (a.encoding == "text")
                        .then(|| body(&a.data, false, false, 0))
                        .flatten(),
                })
                .collect(),
        }
    }
}

/// A body as shown, with the notes a reader needs to know it is not the whole or exact body.
fn body(text: &str, lossy: bool, capped: bool, received: u64) -> Option<Body> {
    if text.is_empty() {
        return None;
    }
    let (shown, cut) = clip(text, BODY_LIMIT);
    let mut notes = Vec::new();
    if cut {
        notes.push(format!(
            "Shown: the first {} of {} bytes; the JSON report holds the whole captured body.",
            shown.len(),
            text.len()
        ));
    }
    if capped {
        notes.push(format!(
            "The harness stopped reading at its size cap ({received} bytes received)."
        ));
    }
    if lossy {
        notes.push("The body was not valid UTF-8; invalid bytes are shown as U+FFFD.".into());
    }
    Some(Body {
        text: printable(shown),
        notes,
    })
}

fn pretty(value: &serde_json::Value) -> String {
    // A `Value` always has string keys, so this cannot fail; the compact form is a safe fallback.
    printable(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()))
}

fn pairs(list: &[(String, String)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (printable(k), printable(v)))
        .collect()
}

/// An outcome's name in CSS classes (`o-fail`) and filter ids (`f-fail`); the stylesheet's
/// filter rules are written against these exact names.
fn key(o: Outcome) -> &'static str {
    match o {
        Outcome::Pass => "pass",
        Outcome::Fail => "fail",
        Outcome::Warn => "warn",
        Outcome::Skip => "skip",
        Outcome::Review => "review",
        Outcome::Error => "error",
    }
}

fn seconds(ms: u64) -> String {
    format!("{}.{:03} s", ms / 1000, ms % 1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    const CSP: &str = r#"<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">"#;

    const HOSTILE: &str = concat!(
        "<script>alert(1)</script> \"onload=\"alert(1) <img src=x onerror=alert(1)> ",
        "javascript:alert(1) </details> {{ self }} {% raw %} nul\u{0} ",
        "<SCRIPT>alert(2)</SCRIPT> \" onload=alert(3) x"
    );

    fn hostile_page() -> String {
        let mut record = sample::hostile(HOSTILE);
        // Also a URL that is nothing but a script URL, the classic link injection.
        record.results[1].exchanges[0].request.url = "javascript:alert(1)".into();
        render(&record)
    }

    #[test]
    fn hostile_server_text_cannot_run_or_break_out() {
        let html = hostile_page();
        let lower = html.to_ascii_lowercase();
        assert!(!lower.contains("<script"), "a script tag got through");
        assert!(!lower.contains("<img"), "an img tag got through");
        assert!(!lower.contains("\" onload="), "an attribute got through");
        assert!(
            !lower.contains("onerror=alert(1)>"),
            "an attribute got through"
        );
        assert!(
            !lower.contains("href=\"javascript:"),
            "a script URL became a link"
        );
        assert!(!html.contains('\u{0}'), "a NUL reached the page");
        assert!(html.contains("nul\u{2400}"), "the NUL is not shown");
        // Askama escapes with numeric references; the text is there, inert.
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(html.contains("&#60;/details&#62;"));
        assert!(html.contains("{{ self }} {% raw %}"));
        assert!(html.contains(CSP));
    }

    #[test]
    fn every_hostile_field_is_escaped_where_it_lands() {
        let html = hostile_page();
        let escaped = "&#60;img src=x onerror=alert(1)&#62;";
        // Body, header value, header name, URL, reason, message, evidence, JWT claim, label, error.
        let appearances = html.matches(escaped).count();
        assert!(
            appearances >= 6 * 10,
            "only {appearances} escaped appearances"
        );
        // Pretty-printed JSON escapes quotes itself, then askama escapes again.
        assert!(html.contains("&#34;nonce&#34;: &#34;&#60;script&#62;"));
    }

    #[test]
    fn ids_and_links_come_from_positions_not_from_data() {
        let html = hostile_page();
        for (i, _) in html.match_indices(" id=\"") {
            let rest = &html[i + 5..];
            let id: String = rest.chars().take_while(|c| *c != '"').collect();
            let safe = id.starts_with("item-") || id.starts_with("f-") || id == "results";
            assert!(safe, "unexpected id {id:?}");
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
                "{id:?}"
            );
        }
        for (i, _) in html.match_indices("href=\"") {
            assert!(html[i + 6..].starts_with('#'), "non-anchor link");
        }
    }

    #[test]
    fn verdict_and_details_follow_outcomes() {
        let html = render(&sample::clean());
        assert!(html.contains("class=\"verdict failed\""));
        let mut passing = sample::clean();
        passing.results.retain(|r| r.outcome == Outcome::Pass);
        passing.stats = Default::default();
        passing.stats.add(Outcome::Pass);
        passing.interrupted = true;
        passing.slow_excluded = 2;
        let html = render(&passing);
        assert!(html.contains("class=\"verdict passed\""));
        assert!(html.contains("interrupted"));
        assert!(html.contains("2 slow item(s)"));
        assert!(html.contains("<details class=\"evidence\">"));
        assert!(!html.contains("<details class=\"evidence\" open>"));
    }

    #[test]
    fn long_bodies_are_cut_with_a_note() {
        let mut record = sample::clean();
        let body = "é".repeat(BODY_LIMIT);
        if let Some(resp) = record.results[1].exchanges[0].response.as_mut() {
            resp.body = body.clone();
        }
        let html = render(&record);
        assert!(html.contains(&format!(
            "Shown: the first {BODY_LIMIT} of {} bytes",
            body.len()
        )));
        assert!(!html.contains(&body));
    }

    #[test]
    fn attachments_show_as_inert_image_and_text() {
        use crate::evidence::Attachment;
        let mut record = sample::clean();
        let ex = &mut record.results[1].exchanges[0];
        ex.attachments
            .push(Attachment::png("screenshot", b"\x89PNG"));
        ex.attachments
            .push(Attachment::html("page HTML", "<script>x</script>".into()));
        let mut bad = Attachment::png("not base64", b"");
        bad.data = "\"><script>".into();
        ex.attachments.push(bad);
        let html = render(&record);
        assert!(
            html.contains("src=\"data:image/png;base64,iVBORw==\""),
            "{html}"
        );
        assert!(html.contains("&#60;script&#62;x&#60;/script&#62;"));
        assert_eq!(
            html.matches("<img ").count(),
            1,
            "only the real PNG becomes an image"
        );
        assert!(!html.to_ascii_lowercase().contains("<script"));
    }

    #[test]
    fn snapshot_of_a_small_run() {
        insta::assert_snapshot!(render(&sample::clean()));
    }
}
