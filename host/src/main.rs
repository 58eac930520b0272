//! `taskgate`: checks workflow task callbacks with the filter component.
//!
//! `taskgate serve` runs the gateway. `taskgate check FILE|-` prints the verdict on one raw
//! HTTP/1.1 request as JSON and exits 0 (forward), 1 (reject) or 2 (usage or configuration
//! error). `taskgate test PATH…` runs policy case files in the sandbox (exit 1 if any fails).
//! `taskgate token mint|decode` makes and inspects task tokens. Each subcommand is a file of
//! `cli/`.

mod cli;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc: per-thread free lists instead of glibc's bins and chunk consolidation, 5–8 % of
/// the gateway's CPU per request (BENCHMARKS.md). Built without transparent huge pages
/// (`no_thp`): a 2 MiB page per heap would more than double the idle gateway's memory.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Hands the memory freed so far back to the system. Start-up (compiling the component) frees
/// far more than serving keeps, and mimalloc purges freed pages only when it is next called on
/// that thread, which the thread that started an idle gateway never is.
#[expect(
    unsafe_code,
    reason = "mimalloc's C API: `mi_collect` has no preconditions"
)]
fn release_freed_memory() {
    // SAFETY: `mi_collect` only walks and purges the allocator's own structures.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

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

/// What a subcommand loads: the configuration and the filter component.
#[derive(clap::Args)]
struct Inputs {
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
        inputs: Inputs,
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
        inputs: Inputs,
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
        inputs: Inputs,
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
        Command::Check { file, now, inputs } => {
            cli::check::run(file.as_deref(), now.as_deref(), &inputs)
        }
        Command::Test {
            paths,
            verbose,
            config,
            component,
        } => cli::test::run(&paths, verbose, config.as_deref(), component.as_deref()),
        Command::Serve {
            listen,
            admin_listen,
            upstream,
            no_filter,
            inputs,
        } => cli::serve::run(listen, admin_listen, upstream, no_filter, &inputs),
        Command::Token {
            command:
                TokenCommand::Mint {
                    execution_id,
                    event_id,
                    kind,
                    account,
                    config,
                },
        } => cli::token::mint(
            &execution_id,
            event_id,
            &kind,
            account.as_deref(),
            config.as_deref(),
        ),
        Command::Token {
            command: TokenCommand::Decode { token, inputs },
        } => cli::token::decode(&token, &inputs),
    }
}
