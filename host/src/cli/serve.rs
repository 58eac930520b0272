//! `taskgate serve`: the gateway, until SIGTERM.

use super::sandbox;
use crate::Inputs;
use anyhow::{Context as _, bail};
use std::process::ExitCode;
use std::sync::Arc;
use taskgate::config::Config;

/// `taskgate serve`: the gateway, until SIGTERM.
pub fn run(
    listen: Option<std::net::SocketAddr>,
    admin_listen: Option<std::net::SocketAddr>,
    upstream: Option<String>,
    no_filter: bool,
    inputs: &Inputs,
) -> anyhow::Result<ExitCode> {
    let upstream = (upstream.as_deref())
        .map(|text| taskgate::config::fixed_upstream(text).context("--upstream"))
        .transpose()?;
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
    let source = taskgate::serve::Source::new(inputs.config.clone(), overrides);
    let config = Arc::new(source.load()?);
    let sandbox = sandbox(inputs, &config, true)?;
    crate::release_freed_memory();
    // Worker 0's event loop, on this thread; `serve::run` starts the others on threads of their own.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(taskgate::serve::run(source, config, sandbox))?;
    Ok(ExitCode::SUCCESS)
}
