//! The subcommands, a file each, and what they share: the configuration and the component
//! they load.

pub mod check;
pub mod serve;
pub mod test;
pub mod token;

use crate::Inputs;
use anyhow::Context as _;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;
use taskgate::config::Config;
use taskgate::sandbox::Sandbox;
use taskgate_filter::parse_timestamp;

/// `--config`'s file, or the built-in demo configuration.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Arc<Config>> {
    Ok(Arc::new(match path {
        Some(path) => Config::load(path)?,
        None => Config::demo()?,
    }))
}

/// The sandbox for a command: `--component`'s file or the embedded component; compiled for a
/// long-running process when `gateway` (see `Sandbox::for_gateway`).
pub fn sandbox(inputs: &Inputs, config: &Config, gateway: bool) -> anyhow::Result<Sandbox> {
    let bytes = component(inputs.component.as_deref())?;
    let (memory, reuse) = (config.sandbox.memory_bytes, config.sandbox.instance_reuse);
    if gateway {
        Sandbox::for_gateway(&bytes, memory, reuse)
    } else {
        Sandbox::new(&bytes, memory, reuse)
    }
}

/// The filter component: `--component`'s file, or the one embedded in the binary.
pub fn component(path: Option<&Path>) -> anyhow::Result<Vec<u8>> {
    Ok(match path {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("reading the component {}", path.display()))?,
        None => taskgate::EMBEDDED_COMPONENT.to_vec(),
    })
}

/// Reads at most `limit` bytes: a larger request is rejected by the filter on its body size
/// anyway, and a huge file must not be read whole.
pub fn read_input(path: &Path, limit: u64) -> anyhow::Result<Vec<u8>> {
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

/// `--now`: `YYYY-MM-DDThh:mm:ssZ` or Unix seconds.
pub fn parse_time(text: &str) -> anyhow::Result<u64> {
    parse_timestamp(text)
        .or_else(|| text.parse().ok())
        .with_context(|| format!("--now {text:?} is neither YYYY-MM-DDThh:mm:ssZ nor Unix seconds"))
}

/// The time now, in Unix seconds.
pub fn now_seconds() -> anyhow::Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs())
}
