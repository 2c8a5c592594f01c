//! The command line: clap definitions and the commands. Errors become one message and exit code.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};

use crate::error::{Diagnostic, InputError, exit};
use crate::fapi::step::DEFAULT_MAX_WAIT_SECS;
use crate::plan::select::{Selection, TargetVariants, parse_shard, parse_variant_arg, select};
use crate::plan::{LoadedPlan, load_plan};
use crate::redact::Redactor;
use crate::report::console::{Console, Verbosity};
use crate::report::{Aggregator, write_all};
use crate::runner::events::RunMeta;
use crate::runner::{DEFAULT_ITEM_TIMEOUT, DEFAULT_JOBS, RunContext, RunOptions, run};
use crate::target::{LoginMode, Target, load_target};
use crate::{catalogue, coverage, http};

const EXAMPLES: &str = "\
Examples:
  fapi-harness run --plan fapi2-security-profile --target my-as.yaml
  fapi-harness run --plan test-plans/fapi2-security-profile.yaml --target my-as.yaml \\
      --variant client_auth=private_key_jwt --only 'FAPI2-SP-5.3.2.1-*' --out reports/
  fapi-harness run ... --shard 2/4          # CI job 2 of 4; together the shards cover the plan once
  fapi-harness validate --plan my-plan.yaml --target my-as.yaml
  fapi-harness list --plan fapi2-security-profile
  fapi-harness explain FAPI2-SP-5.3.2.1-8
  fapi-harness coverage --plan fapi2-security-profile   # covered / explained / missing requirements

Exit codes: 0 no FAIL or ERROR; 1 at least one FAIL or ERROR (or WARN with --strict); 2 usage, plan or target error.";

#[derive(Debug, Parser)]
#[command(name = "fapi-harness", version, about = "Conformance and security test harness for FAPI 2.0 and FAPI 1.0 Advanced authorization and resource servers", after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a plan against a target and write JUnit, HTML and JSON reports.
    Run(RunArgs),
    /// List a plan's items with level, tags and the variants each applies to.
    List {
        /// Plan file, or the name of a built-in plan.
        #[arg(long)]
        plan: PathBuf,
        /// Narrow the variants to what this target supports.
        #[arg(long)]
        target: Option<PathBuf>,
    },
    /// Check a plan (and a target) without sending anything.
    Validate {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long)]
        target: Option<PathBuf>,
    },
    /// Show a requirement or plan item: its wording, refs, and what the item sends and expects.
    Explain {
        /// A catalogue id (FAPI2-SP-5.3.2.1-8) or a plan item id.
        id: String,
        /// Also search this plan (the built-in plans are always searched).
        #[arg(long)]
        plan: Option<PathBuf>,
    },
    /// List every requirement in scope for the plan's profile as covered (by which items),
    /// explained (why no item covers it) or missing; exit 1 when any is missing.
    Coverage {
        /// Plan file, or the name of a built-in plan.
        #[arg(long)]
        plan: PathBuf,
        /// Why uncovered requirements are not covered [default: the plan path with
        /// `.coverage.yaml`; the built-in plans have theirs built in].
        #[arg(long)]
        explanations: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t)]
        format: coverage::Format,
    },
    /// Start the built-in reference AS + RS in-process and run the FAPI 2.0 plan against it.
    Demo(DemoArgs),
    /// Run the built-in reference AS + RS standalone and write a target file for it.
    Reference(ReferenceArgs),
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Switch on a non-conformance in the reference server (repeatable; see `reference --list-faults`).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Include items tagged `slow` (deliberate waits such as code expiry).
    #[arg(long)]
    pub full: bool,
    /// Treat WARN as failing (exit 1). On by default with `--fault`: faults that break a SHOULD
    /// show up as WARN, and a fault demo should end in exit 1 whenever its fault shows.
    #[arg(long)]
    pub strict: bool,
    /// The reference AS and RS demand server-provided DPoP nonces (RFC 9449 §8, §9). Faults
    /// about nonces switch this on themselves.
    #[arg(long)]
    pub dpop_nonce: bool,
    /// Directory for junit.xml, report.html and report.json.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Restrict a variant dimension, e.g. sender_constraint=dpop (repeatable).
    #[arg(long = "variant", value_name = "KEY=VALUE")]
    pub variants: Vec<String>,
    /// Run only items whose id matches this glob (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// Items in flight at once.
    #[arg(long, default_value_t = DEFAULT_JOBS)]
    pub jobs: usize,
    /// Only the summary.
    #[arg(long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Every finding of every item.
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReferenceArgs {
    /// Print the fault switches, one per line: name<TAB>description.
    #[arg(long)]
    pub list_faults: bool,
    /// Port of the authorization server (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Port of the resource server (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub rs_port: u16,
    /// Switch on a non-conformance (repeatable).
    #[arg(long = "fault", value_name = "NAME")]
    pub faults: Vec<String>,
    /// Serve an HTML login and consent form instead of approving automatically.
    #[arg(long)]
    pub login_form: bool,
    /// Demand server-provided DPoP nonces at the AS and RS (RFC 9449 §8, §9).
    #[arg(long)]
    pub dpop_nonce: bool,
    /// Register the clients' redirect URIs at https://127.0.0.1:PORT instead of on the AS's
    /// own port, so that a manual login's redirect listener can take that port.
    #[arg(long, value_name = "PORT")]
    pub redirect_port: Option<u16>,
    /// Where to write target.yaml and the test PKI.
    #[arg(long, default_value = "reference-target")]
    pub dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Plan file, or the name of a built-in plan (fapi2-security-profile).
    #[arg(long)]
    pub plan: PathBuf,
    /// Target file: the AS, its RS, clients and keys.
    #[arg(long)]
    pub target: PathBuf,
    /// Restrict a variant dimension, e.g. client_auth=private_key_jwt (repeatable).
    #[arg(long = "variant", value_name = "KEY=VALUE")]
    pub variants: Vec<String>,
    /// Run only items whose id matches this glob (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub only: Vec<String>,
    /// Leave out items whose id matches this glob (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub skip: Vec<String>,
    /// Run only items with this tag (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Leave out items with this tag (repeatable).
    #[arg(long = "skip-tag", value_name = "TAG")]
    pub skip_tags: Vec<String>,
    /// Leave out items tagged `slow` (deliberate waits such as code expiry).
    #[arg(long)]
    pub fast: bool,
    /// Items in flight at once.
    #[arg(long, default_value_t = DEFAULT_JOBS)]
    pub jobs: usize,
    /// Seconds before an item is stopped and reported as ERROR. Deliberate waits do not count.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_ITEM_TIMEOUT.as_secs())]
    pub item_timeout: u64,
    /// Longest deliberate wait, in seconds. A timed item that would wait longer (a token or
    /// request_uri lifetime the target announces, plus a margin) is SKIP, with the reason.
    #[arg(long, value_name = "SECS", default_value_t = DEFAULT_MAX_WAIT_SECS)]
    pub max_wait: u64,
    /// Run shard K of N (1-based); N jobs with K = 1..N cover the plan exactly once.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
    /// Directory for junit.xml, report.html and report.json.
    #[arg(long, default_value = "reports")]
    pub out: PathBuf,
    /// Treat WARN as failing (exit 1).
    #[arg(long)]
    pub strict: bool,
    /// Only the summary.
    #[arg(long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Every finding of every item.
    #[arg(long)]
    pub verbose: bool,
    /// Advice for including slow items again; the demo has its own flag for it.
    #[arg(skip)]
    pub slow_hint: Option<String>,
}

/// Parses the arguments, runs the command and returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            // Printing help or a usage error to a closed pipe is not worth a panic.
            let _ = e.print();
            return code;
        }
    };
    match dispatch(cli) {
        Ok(code) => code,
        Err(e) => {
            let mut err = anstream::stderr();
            let _ = write!(err, "{e}");
            exit::USAGE
        }
    }
}

fn dispatch(cli: Cli) -> Result<i32, InputError> {
    match cli.command {
        Command::Run(args) => run_command(args),
        Command::List { plan, target } => list_command(&plan, target.as_deref()),
        Command::Validate { plan, target } => validate_command(&plan, target.as_deref()),
        Command::Explain { id, plan } => explain_command(&id, plan.as_deref()),
        Command::Coverage {
            plan,
            explanations,
            format,
        } => coverage::command(&plan, explanations.as_deref(), format),
        Command::Demo(args) => demo_command(args),
        Command::Reference(args) => reference_command(args),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "fapi-harness",
                &mut std::io::stdout(),
            );
            Ok(exit::OK)
        }
    }
}

fn target_variants(t: &Target) -> TargetVariants {
    TargetVariants {
        client_auth: t.client_auths(),
        sender_constraint: t.sender_constraints.clone(),
    }
}

fn selection(args: &RunArgs) -> Result<Selection, InputError> {
    let mut sel = Selection {
        only: args.only.clone(),
        skip: args.skip.clone(),
        tags: args.tags.clone(),
        skip_tags: args.skip_tags.clone(),
        fast: args.fast,
        ..Default::default()
    };
    let mut problems = Vec::new();
    for v in &args.variants {
        if let Err(d) = parse_variant_arg(v, &mut sel.variants) {
            problems.push(d);
        }
    }
    if let Some(s) = &args.shard {
        match parse_shard(s) {
            Ok(shard) => sel.shard = Some(shard),
            Err(d) => problems.push(d),
        }
    }
    if args.jobs == 0 {
        problems.push(Diagnostic::new("--jobs must be at least 1"));
    }
    if args.item_timeout == 0 {
        problems.push(Diagnostic::new("--item-timeout must be at least 1 second"));
    }
    if problems.is_empty() {
        Ok(sel)
    } else {
        Err(InputError {
            diagnostics: problems,
        })
    }
}

/// Loads plan and target together so that both files' problems are reported in one go.
fn load_both(
    plan: &Path,
    target: Option<&Path>,
    redactor: &Redactor,
) -> Result<(LoadedPlan, Option<Target>), InputError> {
    let p = load_plan(plan);
    let t = target.map(|t| load_target(t, redactor));
    match (p, t) {
        (Ok(p), None) => Ok((p, None)),
        (Ok(p), Some(Ok(t))) => Ok((p, Some(t))),
        (Err(mut a), Some(Err(b))) => {
            a.diagnostics.extend(b.diagnostics);
            Err(a)
        }
        (Err(a), _) | (_, Some(Err(a))) => Err(a),
    }
}

fn new_runtime() -> Result<tokio::runtime::Runtime, InputError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            InputError::one(Diagnostic::new(format!(
                "cannot start the async runtime: {e}"
            )))
        })
}

fn run_command(args: RunArgs) -> Result<i32, InputError> {
    let runtime = new_runtime()?;
    run_with(args, &runtime)
}

/// Runs a plan on `runtime`, which may also host the target (the demo's reference server).
fn run_with(args: RunArgs, runtime: &tokio::runtime::Runtime) -> Result<i32, InputError> {
    let redactor = Arc::new(Redactor::new());
    let sel = selection(&args)?;
    let (loaded, target) = load_both(&args.plan, Some(&args.target), &redactor)?;
    let target = target.expect("a target path was given");
    let selected = select(&loaded.plan, &sel, Some(&target_variants(&target)));
    if selected.units.is_empty() {
        let why = if selected.variants.is_empty() {
            format!(
                "no variant of the plan can run against this target ({})",
                selected
                    .variants_not_run
                    .iter()
                    .map(|(v, r)| format!("{v}: {r}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        } else {
            "no item matches the selection (--only/--skip/--tag/--skip-tag/--shard/--fast)"
                .to_owned()
        };
        return Err(InputError::one(Diagnostic::new(why).hint(
            "a run that checks nothing cannot pass; widen the selection (see `fapi-harness list`)",
        )));
    }
    // A person's login prompt shares stderr with the console; a redrawing progress bar would
    // tear it apart, so a manual-login run shows plain lines.
    let bar = std::io::stderr().is_terminal() && target.login.mode != LoginMode::Manual;
    let http = http::Http::new(&target, redactor.clone())?;
    let meta = run_meta(&loaded, &target, &selected, &args);
    let plan = Arc::new(loaded.plan);
    let mut ctx = RunContext::new(target, http);
    ctx.max_wait_secs = args.max_wait;
    let ctx = Arc::new(ctx);
    let opts = RunOptions {
        jobs: args.jobs,
        item_timeout: Duration::from_secs(args.item_timeout),
    };
    let verbosity = if args.quiet {
        Verbosity::Quiet
    } else if args.verbose {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let mut console = Console::new(verbosity, bar, args.strict);
    if let Some(hint) = &args.slow_hint {
        console = console.slow_hint(hint);
    }
    let mut aggregator = Aggregator::default();
    let mut record = None;
    let summary = runtime.block_on(run(
        plan,
        ctx,
        selected,
        meta,
        opts,
        async {
            // If the handler cannot be installed, never fire: the run simply cannot be interrupted.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        },
        |ev| {
            console.handle(ev);
            if let Some(r) = aggregator.handle(ev) {
                record = Some(r);
            }
        },
    ));
    let record = record.expect("RunFinished produces a record");
    match write_all(&record, &args.out) {
        Ok(paths) => console.reports_written(&paths),
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(exit::FAILED);
        }
    }
    let failing = summary.interrupted
        || record
            .results
            .iter()
            .any(|r| r.outcome.fails_run(args.strict));
    Ok(if failing { exit::FAILED } else { exit::OK })
}

fn parse_faults(names: &[String]) -> Result<Vec<crate::reference::Fault>, InputError> {
    let mut faults = Vec::new();
    let mut problems = Vec::new();
    for n in names {
        match crate::reference::Fault::parse(n) {
            Some(f) => faults.push(f),
            None => {
                let close: Vec<&str> = crate::reference::Fault::ALL
                    .iter()
                    .map(|f| f.name())
                    .filter(|name| catalogue::edit_distance(n, name) <= 4)
                    .collect();
                let hint = if close.is_empty() {
                    "`fapi-harness reference --list-faults` lists them".to_owned()
                } else {
                    format!(
                        "did you mean {}? `fapi-harness reference --list-faults` lists them all",
                        close.join(", ")
                    )
                };
                problems.push(Diagnostic::new(format!("unknown fault `{n}`")).hint(hint));
            }
        }
    }
    if problems.is_empty() {
        Ok(faults)
    } else {
        Err(InputError {
            diagnostics: problems,
        })
    }
}

fn start_reference(
    runtime: &tokio::runtime::Runtime,
    opts: crate::reference::ReferenceOptions,
) -> Result<crate::reference::ReferenceServer, InputError> {
    runtime
        .block_on(crate::reference::start(opts))
        .map_err(|e| {
            InputError::one(Diagnostic::new(format!(
                "cannot start the reference server: {e}"
            )))
        })
}

fn demo_command(args: DemoArgs) -> Result<i32, InputError> {
    let faults = parse_faults(&args.faults)?;
    let runtime = new_runtime()?;
    let server = start_reference(
        &runtime,
        crate::reference::ReferenceOptions {
            faults: faults.clone(),
            dpop_nonce: args.dpop_nonce,
            ..Default::default()
        },
    )?;
    // The reference target's keys are throwaway test keys, but they still stay out of the
    // reports directory: they live in a private temporary directory removed afterwards.
    let dir = std::env::temp_dir().join(format!("fapi-harness-demo-{}", std::process::id()));
    let target = server.write_target(&dir).map_err(|e| {
        InputError::one(Diagnostic::new(format!(
            "cannot write the demo target into {}: {e}",
            dir.display()
        )))
    })?;
    let mut out = anstream::stderr();
    let faults_text = if faults.is_empty() {
        "no faults (conformant)".to_owned()
    } else {
        faults
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let nonce_text = if server.dpop_nonce() {
        ", demanding DPoP nonces"
    } else {
        ""
    };
    let _ = writeln!(
        out,
        "demo: reference AS {} and RS {} with {faults_text}{nonce_text}",
        server.issuer(),
        server.resource_url()
    );
    let run = RunArgs {
        plan: PathBuf::from("fapi2-security-profile"),
        target,
        variants: args.variants,
        only: args.only,
        skip: Vec::new(),
        tags: Vec::new(),
        skip_tags: Vec::new(),
        fast: !args.full,
        jobs: args.jobs,
        item_timeout: DEFAULT_ITEM_TIMEOUT.as_secs(),
        max_wait: DEFAULT_MAX_WAIT_SECS,
        shard: None,
        out: args.out,
        strict: args.strict || !faults.is_empty(),
        quiet: args.quiet,
        verbose: args.verbose,
        slow_hint: Some("`demo --full` includes them".to_owned()),
    };
    let result = run_with(run, &runtime);
    runtime.block_on(server.shutdown());
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn reference_command(args: ReferenceArgs) -> Result<i32, InputError> {
    let mut out = anstream::stdout();
    if args.list_faults {
        for f in crate::reference::Fault::ALL {
            let _ = writeln!(out, "{}\t{}", f.name(), f.description());
        }
        return Ok(exit::OK);
    }
    let faults = parse_faults(&args.faults)?;
    let runtime = new_runtime()?;
    let opts = crate::reference::ReferenceOptions {
        faults,
        as_port: args.port,
        rs_port: args.rs_port,
        login_form: args.login_form,
        dpop_nonce: args.dpop_nonce,
        redirect_port: args.redirect_port,
        ..Default::default()
    };
    let server = start_reference(&runtime, opts)?;
    let target = server.write_target(&args.dir).map_err(|e| {
        InputError::one(Diagnostic::new(format!(
            "cannot write the target into {}: {e}",
            args.dir.display()
        )))
    })?;
    let _ = writeln!(out, "reference AS: {}", server.issuer());
    let _ = writeln!(out, "reference RS: {}", server.resource_url());
    let _ = writeln!(out, "target file:  {}", target.display());
    let _ = writeln!(
        out,
        "run:          fapi-harness run --plan fapi2-security-profile --target {}",
        target.display()
    );
    let _ = writeln!(out, "Ctrl-C stops the servers.");
    let _ = out.flush();
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    runtime.block_on(server.shutdown());
    Ok(exit::OK)
}

fn run_meta(
    loaded: &LoadedPlan,
    target: &Target,
    selected: &crate::plan::select::Selected,
    args: &RunArgs,
) -> RunMeta {
    let mut selection = indexmap::IndexMap::new();
    let mut put = |k: &str, v: String| {
        if !v.is_empty() {
            selection.insert(k.to_owned(), v);
        }
    };
    put("variant", args.variants.join(" "));
    put("only", args.only.join(" "));
    put("skip", args.skip.join(" "));
    put("tag", args.tags.join(" "));
    put("skip_tag", args.skip_tags.join(" "));
    put("shard", args.shard.clone().unwrap_or_default());
    put(
        "fast",
        if args.fast {
            "yes".into()
        } else {
            String::new()
        },
    );
    put("jobs", args.jobs.to_string());
    put("item_timeout_secs", args.item_timeout.to_string());
    put("max_wait_secs", args.max_wait.to_string());
    put(
        "strict",
        if args.strict {
            "yes".into()
        } else {
            String::new()
        },
    );
    let plan = &loaded.plan;
    RunMeta {
        tool: "fapi-harness".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        plan: plan.plan.clone(),
        plan_title: plan.title.clone(),
        plan_file: loaded.file.display().to_string(),
        spec: plan.spec.clone(),
        profile: serde_json::to_value(plan.profile)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        target: target.name.clone(),
        target_file: target.file.display().to_string(),
        issuer: target.issuer.clone(),
        variants: selected.variants.iter().map(|v| v.label()).collect(),
        variants_not_run: selected.variants_not_run.clone(),
        selection,
        started_at: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        host: host_name(),
    }
}

/// The machine's name, for the report header (which machine produced this evidence).
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

fn list_command(plan: &Path, target: Option<&Path>) -> Result<i32, InputError> {
    let redactor = Redactor::new();
    let (loaded, target) = load_both(plan, target, &redactor)?;
    let tv = target.as_ref().map(target_variants);
    let selected = select(&loaded.plan, &Selection::default(), tv.as_ref());
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "{} — {} ({} items)",
        loaded.plan.plan,
        loaded.plan.title,
        loaded.plan.items.len()
    );
    for (i, item) in loaded.plan.items.iter().enumerate() {
        let variants: Vec<&str> = selected
            .units
            .iter()
            .filter(|u| u.item == i)
            .map(|u| u.variant_label.as_str())
            .collect();
        let variants = if variants.is_empty() {
            "(none: no variant applies)".to_owned()
        } else {
            variants.join(" | ")
        };
        let tags = if item.tags.is_empty() {
            "-".to_owned()
        } else {
            item.tags.join(",")
        };
        let _ = writeln!(
            out,
            "{}\t{}\t{}\t{}\t{}",
            item.id.value,
            item.level.as_str(),
            tags,
            variants,
            item.title
        );
    }
    for (v, why) in &selected.variants_not_run {
        let _ = writeln!(out, "variant not run: {v} ({why})");
    }
    Ok(exit::OK)
}

fn validate_command(plan: &Path, target: Option<&Path>) -> Result<i32, InputError> {
    let redactor = Redactor::new();
    let (loaded, target) = load_both(plan, target, &redactor)?;
    let selected = select(
        &loaded.plan,
        &Selection::default(),
        target.as_ref().map(target_variants).as_ref(),
    );
    let mut out = anstream::stdout();
    let _ = writeln!(
        out,
        "plan {}: {} items, {} variants, {} units",
        loaded.file.display(),
        loaded.plan.items.len(),
        selected.variants.len(),
        selected.units.len()
    );
    if let Some(t) = &target {
        let _ = writeln!(
            out,
            "target {}: issuer {}, {} clients, {} resources",
            t.file.display(),
            t.issuer,
            t.clients.len(),
            t.resources.len()
        );
        if selected.units.is_empty() {
            return Err(InputError::one(
                Diagnostic::new("no variant of the plan can run against this target").hint(
                    selected
                        .variants_not_run
                        .iter()
                        .map(|(v, r)| format!("{v}: {r}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            ));
        }
    }
    let _ = writeln!(out, "ok");
    Ok(exit::OK)
}

fn explain_command(id: &str, plan: Option<&Path>) -> Result<i32, InputError> {
    let mut plans: Vec<LoadedPlan> = Vec::new();
    if let Some(p) = plan {
        plans.push(load_plan(p)?);
    }
    for (name, _) in crate::plan::BUILTIN {
        plans.push(load_plan(Path::new(name))?);
    }
    let mut out = anstream::stdout();
    let mut found = false;
    if let Some(req) = catalogue::get(id) {
        found = true;
        let _ = writeln!(
            out,
            "{}  [{}; testable: {}]",
            req.id, req.level, req.testable
        );
        let _ = writeln!(out, "  section:     {}", req.section);
        let _ = writeln!(out, "  requirement: {}", req.requirement);
        let _ = writeln!(out, "  how checked: {}", req.how);
    }
    for lp in &plans {
        for item in &lp.plan.items {
            let refs: Vec<&str> = item.refs.iter().map(|r| r.value.as_str()).collect();
            if item.id.value != id && !refs.contains(&id) {
                continue;
            }
            found = true;
            let _ = writeln!(
                out,
                "\nplan item {} ({}, {})",
                item.id.value,
                lp.plan.plan,
                lp.file.display()
            );
            let _ = writeln!(out, "  title: {}", item.title);
            let _ = writeln!(out, "  level: {}", item.level.as_str());
            let _ = writeln!(out, "  refs:  {}", refs.join(", "));
            for r in &refs {
                if let Some(c) = catalogue::get(r) {
                    let _ = writeln!(out, "    {r}: {}", c.requirement);
                }
            }
            if let Some(o) = &item.oidf {
                let _ = writeln!(out, "  OIDF module: {o}");
            }
            if let Some(d) = &item.description {
                let _ = writeln!(out, "  about: {}", d.trim());
            }
            let _ = writeln!(out, "  sends:");
            for s in &item.flow {
                let _ = writeln!(
                    out,
                    "    - {}",
                    serde_json::to_string(&s.value).unwrap_or_default()
                );
            }
            let _ = writeln!(out, "  expects:");
            for c in &item.expect {
                let _ = writeln!(
                    out,
                    "    - {}",
                    serde_json::to_string(&c.value).unwrap_or_default()
                );
            }
        }
    }
    if found {
        Ok(exit::OK)
    } else {
        let similar = catalogue::similar(id, 3);
        Err(InputError::one(
            Diagnostic::new(format!(
                "`{id}` is neither a catalogue id nor a plan item id"
            ))
            .hint(if similar.is_empty() {
                "ids look like FAPI2-SP-5.3.2.1-8".to_owned()
            } else {
                format!("did you mean {}?", similar.join(", "))
            }),
        ))
    }
}
