//! The console displayer: owns stderr, shows progress and the closing summary.
//!
//! On a terminal it draws an indicatif bar; piped, it prints plain lines. Colour goes through
//! anstream, which drops it for pipes and honours NO_COLOR and CLICOLOR.

use std::io::Write;

use anstyle::{AnsiColor, Style};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::WrittenReports;
use crate::checks::FindingStatus;
use crate::runner::events::{Event, ItemResult, RunStats};
use crate::runner::outcome::Outcome;

/// How much the console says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

pub struct Console {
    verbosity: Verbosity,
    strict: bool,
    /// How the user includes slow items again, e.g. "run without --fast".
    slow_hint: String,
    bar: Option<ProgressBar>,
    /// Non-passing results, for the summary.
    notable: Vec<(Outcome, String, String, String)>,
}

fn style(o: Outcome) -> Style {
    let c = match o {
        Outcome::Pass => AnsiColor::Green,
        Outcome::Fail | Outcome::Error => AnsiColor::Red,
        Outcome::Warn | Outcome::Review => AnsiColor::Yellow,
        Outcome::Skip => AnsiColor::BrightBlack,
    };
    Style::new().fg_color(Some(c.into())).bold()
}

impl Console {
    pub fn new(verbosity: Verbosity, is_tty: bool, strict: bool) -> Self {
        Console {
            verbosity,
            strict,
            slow_hint: "run without --fast to include them".to_owned(),
            bar: None,
            notable: Vec::new(),
        }
        .with_bar(is_tty && verbosity != Verbosity::Quiet)
    }

    /// Replaces the advice printed when slow items were left out.
    pub fn slow_hint(mut self, hint: &str) -> Self {
        self.slow_hint = hint.to_owned();
        self
    }

    fn with_bar(mut self, on: bool) -> Self {
        if on {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let template = "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}";
            if let Ok(s) = ProgressStyle::with_template(template) {
                bar.set_style(s);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            self.bar = Some(bar);
        }
        self
    }

    /// Prints a line above the progress bar (or plainly when there is none).
    fn line(&self, text: &str) {
        match &self.bar {
            Some(b) => b.suspend(|| {
                let _ = writeln!(anstream::stderr(), "{text}");
            }),
            None => {
                let _ = writeln!(anstream::stderr(), "{text}");
            }
        }
    }

    pub fn handle(&mut self, event: &Event) {
        match event {
            Event::RunStarted { meta, total } => {
                if let Some(b) = &self.bar {
                    b.set_length(*total as u64);
                }
                if self.verbosity != Verbosity::Quiet {
                    self.line(&format!(
                        "fapi-harness {}: plan {} against {} ({}), {} items in {} variant(s)",
                        meta.tool_version,
                        meta.plan,
                        meta.target,
                        meta.issuer,
                        total,
                        meta.variants.len()
                    ));
                    for (v, why) in &meta.variants_not_run {
                        self.line(&format!("  variant not run: {v} ({why})"));
                    }
                }
            }
            Event::ItemStarted { key, .. } => {
                if let Some(b) = &self.bar {
                    b.set_message(key.id.clone());
                }
            }
            Event::ItemWaiting {
                key,
                seconds,
                reason,
            } => {
                if self.verbosity != Verbosity::Quiet {
                    self.line(&format!("  … {} waits {seconds} s: {reason}", key.id));
                }
            }
            Event::ItemFinished { result } => self.finished(result),
            Event::RunFinished {
                stats,
                elapsed,
                interrupted,
                slow_excluded,
            } => {
                if let Some(b) = self.bar.take() {
                    b.finish_and_clear();
                }
                self.summary(stats, elapsed.as_secs_f64(), *interrupted, *slow_excluded);
            }
        }
    }

    fn finished(&mut self, r: &ItemResult) {
        if let Some(b) = &self.bar {
            b.inc(1);
        }
        let o = r.outcome;
        if o != Outcome::Pass {
            self.notable
                .push((o, r.key.id.clone(), r.key.variant.clone(), r.reason.clone()));
        }
        let show = match self.verbosity {
            Verbosity::Quiet => false,
            Verbosity::Normal => true,
            Verbosity::Verbose => true,
        };
        if !show {
            return;
        }
        let s = style(o);
        let mut text = format!(
            "{s}{:<6}{s:#} {} [{}] {} ({} ms)",
            o.as_str(),
            r.key.id,
            r.key.variant,
            r.info.title,
            r.duration_ms
        );
        if o != Outcome::Pass {
            text.push_str(&format!("\n       {}", r.reason));
        }
        if self.verbosity == Verbosity::Verbose {
            for f in &r.findings {
                // The one status that decides a FAIL stands out in plain text too.
                let mark = match f.status {
                    FindingStatus::Violated => "VIOLATED",
                    other => other.as_str(),
                };
                text.push_str(&format!("\n       - {} [{mark}] {}", f.check, f.message));
            }
        }
        self.line(&text);
    }

    fn summary(&self, stats: &RunStats, secs: f64, interrupted: bool, slow_excluded: usize) {
        let mut text = String::from("\n");
        let counts: Vec<String> = Outcome::ALL
            .iter()
            .map(|o| {
                let n = stats.count(*o);
                if n > 0 {
                    let s = style(*o);
                    format!("{s}{n} {}{s:#}", o.as_str())
                } else {
                    format!("{n} {}", o.as_str())
                }
            })
            .collect();
        text.push_str(&format!(
            "{} items in {secs:.1} s: {}\n",
            stats.total,
            counts.join(", ")
        ));
        for wanted in [
            Outcome::Fail,
            Outcome::Error,
            Outcome::Warn,
            Outcome::Review,
        ] {
            for (o, id, variant, reason) in self.notable.iter().filter(|n| n.0 == wanted) {
                let s = style(*o);
                text.push_str(&format!(
                    "  {s}{:<6}{s:#} {id} [{variant}]: {reason}\n",
                    o.as_str()
                ));
            }
        }
        if slow_excluded > 0 {
            text.push_str(&format!(
                "{slow_excluded} slow item(s) with timed waits were left out; {}\n",
                self.slow_hint
            ));
        }
        if interrupted {
            text.push_str("run interrupted: unfinished items are reported as ERROR\n");
        }
        if self.strict && stats.warn > 0 {
            text.push_str("--strict: WARN counts as failing\n");
        }
        let _ = write!(anstream::stderr(), "{text}");
    }

    pub fn reports_written(&self, paths: &WrittenReports) {
        let _ = writeln!(
            anstream::stderr(),
            "reports: {}  {}  {}",
            paths.html.display(),
            paths.junit.display(),
            paths.json.display()
        );
    }
}
