//! The gateway's memory settings: which store (`[store]`), how long settled tasks are kept and
//! how long a duplicate waits (`[ledger]`), and the rates (`[throttle]`, and per access key).

use crate::store::{StoreKind, Unavailable};
use anyhow::{Context as _, bail};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;
use taskgate_filter::bounds::{LEDGER_WAIT_MS, STORE_TIMEOUT_MS};
use taskgate_filter::config_file::{LedgerFile, RateFile, StoreFile, choice_at};

/// What the gateway remembers, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreSettings {
    /// The store (`[store] kind`).
    pub kind: StoreKind,
    /// What a request meets when the store cannot answer.
    pub unavailable: Unavailable,
    /// The longest any one store operation may take.
    pub timeout: Duration,
    /// How long a settled task is remembered (`[ledger] retention_hours`).
    pub retention: Duration,
    /// How long a report for a task that is with the upstream waits for that outcome
    /// (`[ledger] wait_ms`) before it is answered "busy".
    pub wait: Duration,
    /// The rate every access key gets unless it has its own (`[throttle]`); `None`: no limit.
    pub throttle: Option<Rate>,
    /// Access keys' own rates.
    pub rates: HashMap<String, Rate>,
}

/// A rate: requests per second, and how many may come at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Sustained requests per second.
    pub per_second: f64,
    /// Requests that may come at once after a quiet spell.
    pub burst: u32,
}

impl StoreSettings {
    /// The rate for an access key: its own, else the default, else none.
    pub fn rate_for(&self, access_key_id: &str) -> Option<Rate> {
        self.rates.get(access_key_id).copied().or(self.throttle)
    }
}

/// The store file used when `[store]` names none.
const DEFAULT_PATH: &str = "taskgate-state.redb";

/// A rate's two fields: both or neither; a positive rate and burst.
pub(super) fn validate_rate(rate: RateFile, at: &str) -> anyhow::Result<Option<Rate>> {
    match (rate.rate_per_second, rate.burst) {
        (None, None) => Ok(None),
        (Some(per_second), burst) => {
            if !(per_second.is_finite() && (0.001..=1_000_000.0).contains(&per_second)) {
                bail!("{at}rate_per_second must be between 0.001 and 1000000");
            }
            // Without a burst, a second's worth may come at once (at least one).
            let burst = burst.unwrap_or_else(|| (per_second.ceil() as u32).max(1));
            if !(1..=1_000_000).contains(&burst) {
                bail!("{at}burst must be between 1 and 1000000");
            }
            Ok(Some(Rate { per_second, burst }))
        }
        (None, Some(_)) => bail!("{at}burst needs {at}rate_per_second"),
    }
}

/// Checks `[store]`, `[ledger]` and `[throttle]`; `retention_hours` is the shared sections'
/// (`File::retention_hours`), `rates` are the access keys' own. File names
/// are relative to `base`.
pub(super) fn validate(
    store: StoreFile,
    ledger: LedgerFile,
    throttle: RateFile,
    retention_hours: u64,
    rates: HashMap<String, Rate>,
    base: &Path,
) -> anyhow::Result<StoreSettings> {
    let kind = store.kind.as_deref().unwrap_or("embedded");
    let store_kind = match kind {
        "none" => StoreKind::None,
        "embedded" => StoreKind::Embedded {
            path: base.join(
                store
                    .path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH)),
            ),
        },
        "redis" => {
            let url = store
                .url
                .unwrap_or_else(|| "redis://127.0.0.1:6379".to_owned());
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                bail!("store.url must start with redis:// or rediss://, not {url:?}");
            }
            redis::Client::open(url.as_str()).context("store.url")?;
            StoreKind::Redis { url }
        }
        other => bail!("store.kind must be \"embedded\", \"redis\" or \"none\", not {other:?}"),
    };
    if !matches!(store_kind, StoreKind::Embedded { .. }) && store.path.is_some() {
        bail!("store.path is for kind = \"embedded\"");
    }
    let unavailable: Unavailable = choice_at(store.unavailable.as_deref(), "store.unavailable")?;
    let timeout_ms = STORE_TIMEOUT_MS
        .value(store.timeout_ms)
        .map_err(anyhow::Error::msg)?;
    let wait_ms = LEDGER_WAIT_MS
        .value(ledger.wait_ms)
        .map_err(anyhow::Error::msg)?;
    Ok(StoreSettings {
        kind: store_kind,
        unavailable,
        timeout: Duration::from_millis(timeout_ms),
        retention: Duration::from_secs(retention_hours * 3600),
        wait: Duration::from_millis(wait_ms),
        throttle: validate_rate(throttle, "throttle.")?,
        rates,
    })
}
