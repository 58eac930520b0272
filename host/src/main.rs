//! `taskgate`: checks workflow task callbacks with the filter component.
//!
//! `taskgate check FILE|-` prints the verdict on one raw HTTP/1.1 request as JSON and exits 0
//! (forward), 1 (reject) or 2 (usage or configuration error). `taskgate test PATH…` runs policy
//! case files in the sandbox (exit 1 if any fails). `taskgate token mint|decode` makes and
//! inspects task tokens.

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate::sandbox::Sandbox;
use taskgate::{http1, output};
use taskgate_filter::{Verdict, parse_timestamp};

/// The request checked when `check` is given no file: a ReportTaskFailed signed with the demo
/// access key, checked at the moment it was signed so that it stays valid.
const EXAMPLE_REQUEST: &[u8] = include_bytes!("../../examples/report-task-failed.http");
const EXAMPLE_RECEIVED_AT: &str = "2026-11-22T08:00:00Z";

/// Bytes read from a request file beyond the body limit: room for the request line and headers.
const HEAD_ALLOWANCE: u64 = 1 << 20;

#[derive(Parser)]
#[command(
    name = "taskgate",
    version = concat!(
        env!("CARGO_PKG_VERSION"),
        " (filter component ",
        env!("TASKGATE_WIT_PACKAGE"),
        ")"
    ),
    about = "An edge filter for workflow task callbacks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Common {
    /// Configuration file (TOML). Default: the built-in demo configuration.
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Filter component to load instead of the embedded one.
    #[arg(long, value_name = "PATH")]
    component: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Check one raw HTTP/1.1 request and print the verdict as JSON.
    Check {
        /// The request file, or `-` for standard input. Default: the shipped example request.
        file: Option<PathBuf>,
        /// Time of receipt: `YYYY-MM-DDThh:mm:ssZ` or Unix seconds. Default: now.
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Run the edge proxy: check every callback, forward accepted ones (or record them in the
    /// local sink when no upstream is configured), answer bad ones as the vendor would.
    Serve {
        /// Listen here instead of the configured address (`127.0.0.1:0` picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Serve /metrics and /healthz here instead of the configured address.
        #[arg(long, value_name = "ADDR")]
        admin_listen: Option<std::net::SocketAddr>,
        /// Forward accepted callbacks to this upstream (`http[s]://host[:port]`) instead of the configured one.
        #[arg(long, value_name = "URL")]
        upstream: Option<String>,
        /// Forward without checking (only for measuring the filter's cost).
        #[arg(long)]
        no_filter: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Run policy case files (a request, its configuration and the verdict expected) in the
    /// sandbox: one line per case, a diff for each failure, exit 1 if any fails.
    Test {
        /// Case files, or directories searched for `*.toml` case files (each directory's
        /// `taskgate.toml` is the base configuration of the cases under it).
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Show each case's request, configuration overrides and full verdict.
        #[arg(long, short)]
        verbose: bool,
        /// Base configuration for every case, instead of the nearest `taskgate.toml`.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
        /// Filter component to test instead of the embedded one.
        #[arg(long, value_name = "PATH")]
        component: Option<PathBuf>,
    },
    /// Make and inspect task tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a task token with an account's token key from the configuration.
    Mint {
        /// The execution's UUID.
        #[arg(long)]
        execution_id: String,
        /// The event id.
        #[arg(long)]
        event_id: u64,
        /// The kind letter.
        #[arg(long, default_value = "a")]
        kind: String,
        /// Whose token key to use. Default: the first configured token key's account.
        #[arg(long)]
        account: Option<String>,
        /// Configuration file (TOML). Default: the built-in demo configuration.
        #[arg(long, value_name = "PATH")]
        config: Option<PathBuf>,
    },
    /// Decode a task token and verify its MAC against the configured token keys.
    Decode {
        /// The token.
        token: String,
        #[command(flatten)]
        common: Common,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("taskgate: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// One function per subcommand.
fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Check { file, now, common } => check(file.as_deref(), now.as_deref(), &common),
        Command::Test {
            paths,
            verbose,
            config,
            component,
        } => test(&paths, verbose, config.as_deref(), component.as_deref()),
        Command::Serve {
            listen,
            admin_listen,
            upstream,
            no_filter,
            common,
        } => serve(listen, admin_listen, upstream, no_filter, &common),
        Command::Token {
            command:
                TokenCommand::Mint {
                    execution_id,
                    event_id,
                    kind,
                    account,
                    config,
                },
        } => mint_token(
            &execution_id,
            event_id,
            &kind,
            account.as_deref(),
            config.as_deref(),
        ),
        Command::Token {
            command: TokenCommand::Decode { token, common },
        } => decode_token(&token, &common),
    }
}

/// `taskgate check`: one request file (or the shipped example), its verdict on stdout.
fn check(file: Option<&Path>, now: Option<&str>, common: &Common) -> anyhow::Result<ExitCode> {
    let config = load_config(common.config.as_deref())?;
    let sandbox = sandbox(common, &config, false)?;
    let (bytes, received_at) = match file {
        None => {
            eprintln!(
                "taskgate: no file given: checking the shipped example request as received at {EXAMPLE_RECEIVED_AT}"
            );
            (EXAMPLE_REQUEST.to_vec(), parse_time(EXAMPLE_RECEIVED_AT)?)
        }
        Some(path) => {
            let limit = u64::from(config.limits.largest_body()) + HEAD_ALLOWANCE;
            (
                read_input(path, limit)?,
                now.map_or_else(now_seconds, parse_time)?,
            )
        }
    };
    let mut request = http1::parse(&bytes, received_at)?;
    // The filter needs only to see that the body is over the limit, as a gateway that
    // stops reading there would: never copy more than one byte past it into the sandbox.
    let limit = config
        .limits
        .body_limit(taskgate_filter::dialect_of(&request));
    request.body.truncate(limit as usize + 1);
    let verdict = match sandbox.check(&config, request.clone()) {
        Ok(verdict) => verdict,
        Err(error) => {
            // The caller still gets an answer in its own dialect, as from a gateway:
            // the component's, or the built-in table's if it cannot give even that.
            eprintln!("taskgate: the filter component failed: {error:#}");
            let failure = taskgate_filter::EdgeFailure::Internal;
            Verdict::Reject(
                sandbox
                    .respond(&config, &request, failure.clone())
                    .unwrap_or_else(|_| taskgate_filter::edge_response(&request, failure)),
            )
        }
    };
    println!("{:#}", output::verdict(&verdict));
    Ok(match verdict {
        Verdict::Forward(_) | Verdict::Pass(_) => ExitCode::SUCCESS,
        Verdict::Reject(_) => ExitCode::from(1),
    })
}

/// `taskgate serve`: the gateway, until SIGTERM.
fn serve(
    listen: Option<std::net::SocketAddr>,
    admin_listen: Option<std::net::SocketAddr>,
    upstream: Option<String>,
    no_filter: bool,
    common: &Common,
) -> anyhow::Result<ExitCode> {
    if let Some(upstream) = &upstream {
        taskgate::config::check_upstream(upstream)?;
    }
    // Applied at start-up and again on every reload (SIGHUP).
    let overrides = move |config: &mut Config| {
        if let Some(listen) = listen {
            config.serve.listen = listen;
        }
        if let Some(admin_listen) = admin_listen {
            config.serve.admin_listen = admin_listen;
        }
        if let Some(upstream) = &upstream {
            config.serve.upstream = Some(upstream.clone());
        }
        if no_filter {
            if config.serve.upstream.is_none() && config.serve.routes.is_empty() {
                bail!(
                    "--no-filter needs an upstream or routes: the sink records only checked reports"
                );
            }
            config.serve.filter = false;
        }
        Ok(())
    };
    let source = taskgate::serve::Source::new(common.config.clone(), overrides);
    let config = Arc::new(source.load()?);
    let sandbox = sandbox(common, &config, true)?;
    // Worker 0's event loop, on this thread; `serve::run` starts the others on threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(taskgate::serve::run(source, config, sandbox))?;
    Ok(ExitCode::SUCCESS)
}

/// `taskgate token mint`: a task token made with a configured token key.
fn mint_token(
    execution_id: &str,
    event_id: u64,
    kind: &str,
    account: Option<&str>,
    config: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let config = load_config(config)?;
    let key = match &account {
        Some(account) => config
            .keyring
            .token_keys()
            .iter()
            .find(|k| &k.account == account),
        None => config.keyring.token_keys().first(),
    };
    let Some(key) = key else {
        bail!(
            "no token key is configured{}",
            account
                .map(|a| format!(" for account {a}"))
                .unwrap_or_default()
        );
    };
    let token = taskgate_filter::token::mint(kind, execution_id, event_id, &key.secret)
        .map_err(anyhow::Error::msg)?;
    println!("{token}");
    Ok(ExitCode::SUCCESS)
}

/// `taskgate token decode`: what a task token holds, and whether a configured key made it.
fn decode_token(token: &str, common: &Common) -> anyhow::Result<ExitCode> {
    let config = load_config(common.config.as_deref())?;
    let sandbox = sandbox(common, &config, false)?;
    match sandbox.decode_token(&config, token)? {
        Ok(token) => {
            println!("{:#}", output::token(&token));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            let why = match error {
                taskgate_filter::TokenError::Unverified => {
                    "its MAC matches no configured token key".to_owned()
                }
                taskgate_filter::TokenError::Malformed(why) => why,
            };
            println!("{}", serde_json::json!({ "valid": false, "error": why }));
            Ok(ExitCode::from(1))
        }
    }
}

fn load_config(path: Option<&Path>) -> anyhow::Result<Arc<Config>> {
    Ok(Arc::new(match path {
        Some(path) => Config::load(path)?,
        None => Config::demo()?,
    }))
}

/// The sandbox for a command: `--component`'s file or the embedded component; compiled for a
/// long-running process when `gateway` (see `Sandbox::for_gateway`).
fn sandbox(common: &Common, config: &Config, gateway: bool) -> anyhow::Result<Sandbox> {
    let bytes = match &common.component {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("reading the component {}", path.display()))?,
        None => taskgate::EMBEDDED_COMPONENT.to_vec(),
    };
    let (memory, reuse) = (config.sandbox.memory_bytes, config.sandbox.instance_reuse);
    if gateway {
        Sandbox::for_gateway(&bytes, memory, reuse)
    } else {
        Sandbox::new(&bytes, memory, reuse)
    }
}

/// Reads at most `limit` bytes: a larger request is rejected by the filter on its body size
/// anyway, and a huge file must not be read whole.
fn read_input(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(limit)
            .read_to_end(&mut bytes)
            .context("reading standard input")?;
    } else {
        let file =
            std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        file.take(limit)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", path.display()))?;
    }
    Ok(bytes)
}

fn parse_time(text: &str) -> anyhow::Result<u64> {
    parse_timestamp(text)
        .or_else(|| text.parse().ok())
        .with_context(|| format!("--now {text:?} is neither YYYY-MM-DDThh:mm:ssZ nor Unix seconds"))
}

fn now_seconds() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs())
}

/// `taskgate test`: every case in the sandbox, in the spirit of `cargo test`.
fn test(
    paths: &[PathBuf],
    verbose: bool,
    config: Option<&Path>,
    component: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use taskgate::cases;
    let files = cases::collect(paths)?;
    if files.is_empty() {
        bail!("no case files (*.toml) under the given paths");
    }
    let base = match config {
        Some(path) => Some(
            toml::from_str::<toml::Table>(
                &std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
            )
            .with_context(|| format!("parsing {}", path.display()))?,
        ),
        None => None,
    };
    // One sandbox for every case, its memory slots large enough for any sensible case (each
    // check is still capped by its own case's `sandbox.memory_bytes`).
    let bytes = match component {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("reading the component {}", path.display()))?,
        None => taskgate::EMBEDDED_COMPONENT.to_vec(),
    };
    let sandbox = Sandbox::new(&bytes, 256 << 20, 1)?;
    println!(
        "running {} case{}",
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    );
    let mut failed = Vec::new();
    let mut bases: HashMap<PathBuf, Option<toml::Table>> = HashMap::new();
    for file in &files {
        let name = display_name(file, paths);
        // Cases in one directory share their base configuration: read it once.
        let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
        let base = match &base {
            Some(base) => Some(base),
            None => match bases.entry(dir) {
                Entry::Occupied(found) => found.into_mut().as_ref(),
                Entry::Vacant(slot) => slot.insert(cases::base_for(file).ok()).as_ref(),
            },
        };
        let outcome = cases::run(&sandbox, file, base);
        let status = if outcome.problems.is_empty() {
            "ok"
        } else {
            "FAILED"
        };
        println!("case {name} ... {status}");
        if verbose {
            if let Some(case) = &outcome.case {
                if let Some(description) = &case.description {
                    println!("    {description}");
                }
                println!("    request: {} {}", case.request.method, case.request.path);
                if let Some(overrides) = &case.config {
                    let keys: Vec<&str> = overrides.keys().map(String::as_str).collect();
                    println!("    config overrides: {}", keys.join(", "));
                }
            }
            for step in &outcome.steps {
                println!("    passed {step}");
            }
            if let Some(verdict) = &outcome.verdict {
                println!("    verdict: {}", cases::shown(verdict));
            }
        }
        if !outcome.problems.is_empty() {
            failed.push((name, outcome));
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        for (name, outcome) in &failed {
            println!("\n---- {name} ----");
            for problem in &outcome.problems {
                println!("  {problem}");
            }
            if let Some(verdict) = &outcome.verdict {
                println!("  full verdict: {}", cases::shown(verdict));
            }
        }
        println!();
    }
    println!(
        "{} passed, {} failed",
        files.len() - failed.len(),
        failed.len()
    );
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A case's name: its path relative to the argument it was found under, without `.toml`.
fn display_name(file: &Path, roots: &[PathBuf]) -> String {
    let relative = roots
        .iter()
        .filter(|root| root.is_dir())
        .find_map(|root| file.strip_prefix(root).ok())
        .unwrap_or(file);
    relative.with_extension("").display().to_string()
}
