//! JUnit XML via quick-junit: one testsuite per plan and variant, one testcase per item.
//!
//! CI systems (Jenkins, GitLab, GitHub) read this file, so it must stay well-formed whatever the
//! target sent: quick-junit escapes markup, and `printable` turns the characters XML cannot hold
//! into visible stand-ins first, so evidence is shown rather than silently dropped. This module
//! only renders; it never decides a verdict.

use std::fmt::Write as _;
use std::time::Duration;

use indexmap::IndexMap;
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};

use super::{RunRecord, clip, printable};
use crate::checks::{Finding, FindingStatus};
use crate::evidence::Exchange;
use crate::runner::events::ItemResult;
use crate::runner::outcome::Outcome;

/// Bodies are cut here: CI viewers choke on megabyte test output, and the HTML report keeps more.
const BODY_LIMIT: usize = 4 * 1024;

/// Renders the whole run as one JUnit XML document.
pub fn render(record: &RunRecord) -> String {
    let meta = &record.meta;
    let mut report = Report::new(printable(&meta.plan));
    report.set_time(Duration::from_millis(record.elapsed_ms));

    // Results are in plan order, so first appearance gives each variant its plan position.
    let mut by_variant: IndexMap<&str, Vec<&ItemResult>> = IndexMap::new();
    for r in &record.results {
        by_variant
            .entry(r.key.variant.as_str())
            .or_default()
            .push(r);
    }

    for (variant, results) in by_variant {
        let mut suite = TestSuite::new(printable(&format!("{} [{variant}]", meta.plan)));
        suite.add_properties([
            Property::new("tool", printable(&meta.tool)),
            Property::new("tool_version", printable(&meta.tool_version)),
            Property::new("plan", printable(&meta.plan)),
            Property::new("plan_file", printable(&meta.plan_file)),
            Property::new("variant", printable(variant)),
            Property::new("target", printable(&meta.target)),
            Property::new("issuer", printable(&meta.issuer)),
            Property::new("started_at", printable(&meta.started_at)),
        ]);
        let total_ms = results
            .iter()
            .map(|r| r.duration_ms)
            .fold(0, u64::saturating_add);
        suite.set_time(Duration::from_millis(total_ms));
        let classname = printable(&format!("{}.{variant}", meta.plan));
        suite.add_test_cases(results.into_iter().map(|r| test_case(r, &classname)));
        report.add_test_suite(suite);
    }

    // Serializing to memory only fails on an I/O error, which a `Vec` never raises; falling back
    // to an empty document rather than panicking keeps the harness alive regardless.
    report.to_string().unwrap_or_default()
}

fn test_case(r: &ItemResult, classname: &str) -> TestCase {
    let reason = printable(&r.reason);
    let status = match r.outcome {
        // WARN and REVIEW have no JUnit state. Reporting them as failures would break builds
        // that did not ask for it; `--strict` makes WARN fail through the exit code instead.
        Outcome::Pass | Outcome::Warn | Outcome::Review => TestCaseStatus::success(),
        Outcome::Fail => non_success(NonSuccessKind::Failure, "FAIL", &reason, r),
        Outcome::Error => non_success(NonSuccessKind::Error, "ERROR", &reason, r),
        Outcome::Skip => {
            let mut s = TestCaseStatus::skipped();
            s.set_message(reason.as_str());
            s
        }
    };
    let mut case = TestCase::new(
        printable(&format!("{}: {}", r.key.id, r.info.title)),
        status,
    );
    case.set_classname(classname);
    case.set_time(Duration::from_millis(r.duration_ms));
    if r.outcome != Outcome::Pass {
        // Lets tools that read properties tell WARN and REVIEW apart from a plain pass.
        case.add_property(Property::new("outcome", r.outcome.as_str()));
    }
    case.set_system_out(printable(&system_out(r)));
    case
}

/// A failure or error whose text lists the claims that did not hold, so CI shows them first.
fn non_success(kind: NonSuccessKind, ty: &str, reason: &str, r: &ItemResult) -> TestCaseStatus {
    let mut s = TestCaseStatus::non_success(kind);
    s.set_message(reason);
    s.set_type(ty);
    let lines: Vec<String> = r
        .findings
        .iter()
        .filter(|f| f.status != FindingStatus::Held)
        .map(finding_line)
        .collect();
    if !lines.is_empty() {
        s.set_description(printable(&lines.join("\n")));
    }
    s
}

/// Everything an engineer needs to act without opening the HTML report; PASS stays two lines
/// so a large green run keeps a small file.
fn system_out(r: &ItemResult) -> String {
    let mut out = format!("{}: {}\n", r.outcome.as_str(), r.reason);
    let _ = writeln!(out, "refs: {}", r.info.refs.join(", "));
    if r.outcome == Outcome::Pass {
        return out;
    }
    for (i, id) in r.info.refs.iter().enumerate() {
        if let Some(wording) = r.info.requirements.get(i) {
            let _ = writeln!(out, "  {id}: {wording}");
        }
    }
    let _ = writeln!(out, "level: {}", r.info.level.as_str());
    if let Some(oidf) = &r.info.oidf {
        let _ = writeln!(out, "oidf: {oidf}");
    }
    if !r.findings.is_empty() {
        out.push_str("\nfindings:\n");
        for f in &r.findings {
            let _ = writeln!(out, "- {}", finding_line(f));
            if let Some(req) = f.requirement {
                let _ = writeln!(out, "    requirement = {req}");
            }
            if let Some(seq) = f.exchange {
                let _ = writeln!(out, "    exchange = #{seq}");
            }
            for (k, v) in &f.evidence {
                let _ = writeln!(out, "    {k} = {v}");
            }
        }
    }
    if !r.exchanges.is_empty() {
        out.push_str("\nexchanges:\n");
        for ex in &r.exchanges {
            write_exchange(&mut out, ex);
        }
    }
    out
}

fn finding_line(f: &Finding) -> String {
    format!("{} [{}] {}", f.check, f.status.as_str(), f.message)
}

fn write_exchange(out: &mut String, ex: &Exchange) {
    let req = &ex.request;
    let _ = writeln!(out, "#{} {}", ex.seq, ex.label);
    let _ = writeln!(out, "> {} {}", req.method, req.url);
    for (k, v) in &req.headers {
        let _ = writeln!(out, "> {k}: {v}");
    }
    if let Some(body) = &req.body {
        write_body(out, ">", body, body.len() as u64);
    }
    if let Some(resp) = &ex.response {
        let _ = writeln!(
            out,
            "< {} {} ({} ms)",
            resp.http_version, resp.status, ex.elapsed_ms
        );
        for (k, v) in &resp.headers {
            let _ = writeln!(out, "< {k}: {v}");
        }
        write_body(out, "<", &resp.body, resp.body_bytes);
        if resp.body_truncated {
            let _ = writeln!(
                out,
                "< [body capped by the harness at {} bytes]",
                resp.body_bytes
            );
        }
        if resp.body_lossy {
            out.push_str("< [body was not valid UTF-8; invalid bytes are shown as U+FFFD]\n");
        }
    }
    if let Some(err) = &ex.error {
        let _ = writeln!(out, "! transport error after {} ms: {err}", ex.elapsed_ms);
    }
    out.push('\n');
}

fn write_body(out: &mut String, mark: &str, body: &str, received: u64) {
    if body.is_empty() {
        return;
    }
    let (shown, cut) = clip(body, BODY_LIMIT);
    let _ = writeln!(out, "{mark} body:");
    out.push_str(shown);
    if cut {
        let _ = write!(
            out,
            "\n[… cut at {} of {received} bytes; the HTML report shows more]",
            shown.len()
        );
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::sample;

    fn parse(xml: &str) -> roxmltree::Document<'_> {
        match roxmltree::Document::parse(xml) {
            Ok(doc) => doc,
            Err(e) => panic!("not well-formed XML: {e}\n{xml}"),
        }
    }

    fn count(doc: &roxmltree::Document<'_>, tag: &str) -> usize {
        doc.descendants().filter(|n| n.has_tag_name(tag)).count()
    }

    const HOSTILE: &str = "nul\u{0} esc\u{1b}[31m bell\u{7} vt\u{b} ]]> </system-out> \
                           <script>alert(1)</script> bad\u{fffd}utf8 nonchar\u{fffe} & \"q\" 'a'";

    #[test]
    fn hostile_server_text_stays_well_formed_and_visible() {
        let xml = render(&sample::hostile(HOSTILE));
        let doc = parse(&xml);

        assert_eq!(count(&doc, "testcase"), 6);
        assert_eq!(count(&doc, "failure"), 1);
        assert_eq!(count(&doc, "error"), 1);
        assert_eq!(count(&doc, "skipped"), 1);

        // Markup arrives as text, not as elements, and control characters as visible stand-ins.
        assert_eq!(count(&doc, "script"), 0);
        let text: String = doc
            .descendants()
            .filter(|n| n.has_tag_name("system-out"))
            .filter_map(|n| n.text())
            .collect();
        for survives in [
            "]]>",
            "</system-out>",
            "<script>alert(1)</script>",
            "bad\u{fffd}utf8",
            "nul\u{2400}",
            "esc\u{241b}[31m",
            "bell\u{2407}",
            "vt\u{240b}",
            "nonchar\u{fffd}",
            "& \"q\" 'a'",
        ] {
            assert!(text.contains(survives), "lost {survives:?}");
        }
        let failure = doc.descendants().find(|n| n.has_tag_name("failure"));
        let message = failure.and_then(|n| n.attribute("message")).unwrap_or("");
        assert!(message.contains("<script>alert(1)</script>"), "{message}");
    }

    #[test]
    fn outcomes_map_to_junit_states() {
        let xml = render(&sample::clean());
        let doc = parse(&xml);
        let case = |name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
                .unwrap_or_else(|| panic!("no testcase {name}"))
        };
        let children = |name: &str| -> Vec<String> {
            case(name)
                .children()
                .filter(|n| n.is_element())
                .map(|n| n.tag_name().name().to_owned())
                .collect()
        };
        assert_eq!(children("FAPI2-SP-A: Item FAPI2-SP-A"), ["system-out"]);
        assert_eq!(
            children("FAPI2-SP-B: Item FAPI2-SP-B"),
            ["properties", "failure", "system-out"]
        );
        assert_eq!(
            children("FAPI2-SP-C: Item FAPI2-SP-C"),
            ["properties", "system-out"]
        );
        assert_eq!(
            children("FAPI2-SP-D: Item FAPI2-SP-D"),
            ["properties", "skipped", "system-out"]
        );
        assert_eq!(
            children("FAPI2-SP-F: Item FAPI2-SP-F"),
            ["properties", "error", "system-out"]
        );

        let warn_out = case("FAPI2-SP-C: Item FAPI2-SP-C")
            .descendants()
            .find(|n| n.has_tag_name("system-out"))
            .and_then(|n| n.text())
            .unwrap_or("");
        assert!(
            warn_out.starts_with("WARN: unexpected error: access_denied"),
            "{warn_out}"
        );
        assert!(xml.contains(r#"<property name="outcome" value="WARN"/>"#));
        assert!(xml.contains(r#"<property name="outcome" value="REVIEW"/>"#));
        assert!(xml.contains(r#"<failure message="accepted: code" type="FAIL">"#));

        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "testsuites");
        assert_eq!(root.attribute("tests"), Some("6"));
        assert_eq!(root.attribute("failures"), Some("1"));
        assert_eq!(root.attribute("errors"), Some("1"));
    }

    #[test]
    fn one_suite_per_variant_in_plan_order() {
        let doc_text = render(&sample::clean());
        let doc = parse(&doc_text);
        let suites: Vec<(&str, usize)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .map(|s| {
                let cases = s.children().filter(|n| n.has_tag_name("testcase")).count();
                (s.attribute("name").unwrap_or(""), cases)
            })
            .collect();
        assert_eq!(
            suites,
            [
                ("fapi2-security-profile [all]", 1),
                (
                    "fapi2-security-profile [client_auth=private_key_jwt,sender_constraint=dpop]",
                    2
                ),
                (
                    "fapi2-security-profile [client_auth=private_key_jwt,sender_constraint=mtls]",
                    3
                ),
            ]
        );
        let classnames: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .filter_map(|n| n.attribute("classname"))
            .collect();
        assert_eq!(classnames[0], "fapi2-security-profile.all");
        assert_eq!(
            classnames[1],
            "fapi2-security-profile.client_auth=private_key_jwt,sender_constraint=dpop"
        );
    }

    #[test]
    fn long_bodies_are_cut_with_a_note() {
        let mut record = sample::clean();
        let body = "é".repeat(BODY_LIMIT);
        if let Some(resp) = record.results[1].exchanges[0].response.as_mut() {
            resp.body = body.clone();
            resp.body_bytes = body.len() as u64;
        }
        let xml = render(&record);
        parse(&xml);
        assert!(xml.contains(&format!("[… cut at {BODY_LIMIT} of {} bytes", body.len())));
        assert!(!xml.contains(&body));
    }

    #[test]
    fn snapshot_of_a_small_run() {
        insta::assert_snapshot!(render(&sample::clean()));
    }
}
