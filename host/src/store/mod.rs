//! The gateway's memory: claimed nonces, settled tasks, the task a report is in flight for, and
//! each access key's rate. Two stores behind one interface: `embedded` (in process, persisted to
//! a local redb file, for one node) and `redis` (shared by a fleet). Every change is one atomic
//! step in the store, so N nodes sharing a Redis behave as one.
//!
//! The store decides nothing: which keys a request claims comes from the filter (`Recall`), and
//! what a refusal looks like from its error table. Every operation is bounded by the store's
//! timeout, so a dead store slows no request by more than that.

mod embedded;
mod redis;

use std::path::PathBuf;
use std::time::Duration;

/// Which store, and where (`[store]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// No memory: every request that passes the rules goes on.
    None,
    /// In process, persisted to this redb file.
    Embedded {
        /// The file (created when missing).
        path: PathBuf,
    },
    /// A Redis server shared by every node.
    Redis {
        /// `redis://host:port[/db]`.
        url: String,
    },
}

/// What happens to a request when the store cannot be reached (`unavailable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unavailable {
    /// Go on as if the store had no memory of it: the engine still decides (counted).
    #[default]
    Forward,
    /// Answer 500 in the caller's dialect.
    Refuse,
}

impl taskgate_filter::Choice for Unavailable {
    const CHOICES: &'static [Unavailable] = &[Unavailable::Forward, Unavailable::Refuse];
    fn spelling(self) -> &'static str {
        match self {
            Unavailable::Forward => "forward",
            Unavailable::Refuse => "refuse",
        }
    }
}

// What a request asks of the memory, and the memory's order, are the filter library's: every
// build that remembers (this store, `taskgate test`'s stated memory, the Envoy plugin's shared
// data) runs the same `admit`.
pub use taskgate_filter::memory::{Admission, Admitted, Begin, Claim, Steps, admit, refusal};

/// The store could not answer (unreachable, timed out, or an I/O error): why, for the log.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A connected store. One per gateway, behind an `Arc`: the size of a variant costs nothing.
#[expect(
    clippy::large_enum_variant,
    reason = "one per process; boxing would only add an indirection per operation"
)]
pub enum Store {
    /// One node's memory.
    Embedded(embedded::Embedded),
    /// A fleet's memory.
    Redis(redis::RedisStore),
}

impl Store {
    /// Opens the store (`None` for `StoreKind::None`). An embedded file that cannot be opened is
    /// an error; a Redis that is down is not (it is connected on first use, and counted then).
    pub fn open(kind: &StoreKind, timeout: Duration) -> anyhow::Result<Option<Store>> {
        Ok(match kind {
            StoreKind::None => None,
            StoreKind::Embedded { path } => Some(Store::Embedded(embedded::Embedded::open(path)?)),
            StoreKind::Redis { url } => Some(Store::Redis(redis::RedisStore::new(url, timeout)?)),
        })
    }

    /// Whether the store answers now (readiness): always for the embedded store, a `PING`
    /// within the timeout for Redis.
    pub async fn ping(&self) -> Result<(), StoreError> {
        match self {
            Store::Embedded(_) => Ok(()),
            Store::Redis(store) => store.ping().await,
        }
    }

    /// An accepted request's first step, in one atomic store operation (one round trip to
    /// Redis): its access key's rate, then its nonce claim, then its task's hold, stopping at
    /// the first that refuses it.
    pub async fn admit(&self, admission: &Admission<'_>) -> Result<Admitted, StoreError> {
        match self {
            Store::Embedded(store) => Ok(store.admit(admission)),
            Store::Redis(store) => store.admit(admission).await,
        }
    }

    /// Looks a task up and, unless it is settled or busy, holds it for `owner` for `ttl`.
    pub async fn begin(&self, task: &str, owner: &str, ttl: Duration) -> Result<Begin, StoreError> {
        match self {
            Store::Embedded(store) => Ok(store.begin(task, owner, ttl)),
            Store::Redis(store) => store.begin(task, owner, ttl).await,
        }
    }

    /// Records a task as settled for `retention`, and lets go of `owner`'s hold on it.
    pub async fn settle(
        &self,
        task: &str,
        owner: &str,
        retention: Duration,
    ) -> Result<(), StoreError> {
        match self {
            Store::Embedded(store) => {
                store.settle(task, owner, retention);
                Ok(())
            }
            Store::Redis(store) => store.settle(task, owner, retention).await,
        }
    }

    /// Lets go of `owner`'s hold on a task without settling it.
    pub async fn release(&self, task: &str, owner: &str) -> Result<(), StoreError> {
        match self {
            Store::Embedded(store) => {
                store.release(task, owner);
                Ok(())
            }
            Store::Redis(store) => store.release(task, owner).await,
        }
    }

    /// Writes what is still queued for the embedded file (before exit); nothing for Redis.
    pub fn flush(&self) {
        if let Store::Embedded(store) = self {
            store.flush();
        }
    }
}

/// GCRA on one key: with the theoretical arrival time `tat` (ms, `None` for a new key) at
/// `now` (ms), the new `tat` if the request is allowed, else the wait in ms. One request costs
/// `1000 / rate` ms; `burst` requests may come at once. Shared by the embedded store and, as
/// the same arithmetic in Lua, by Redis.
fn gcra(tat: Option<f64>, now: f64, rate: f64, burst: u32) -> Result<f64, f64> {
    let emission = 1000.0 / rate;
    let tat = tat.map_or(now, |tat| tat.max(now));
    let next = tat + emission;
    let allowed_at = next - f64::from(burst.max(1)) * emission;
    if now < allowed_at {
        Err(allowed_at - now)
    } else {
        Ok(next)
    }
}

/// A duration in whole milliseconds, at least 1 (Redis refuses an expiry of 0).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Milliseconds since the Unix epoch (0 before it).
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::gcra;

    #[test]
    fn gcra_lets_a_burst_through_then_one_per_interval() {
        // 10 per second (100 ms each), bursts of 3.
        let (mut tat, now) = (None, 1_000.0);
        for _ in 0..3 {
            tat = Some(gcra(tat, now, 10.0, 3).unwrap_or_else(|wait| panic!("refused: {wait}")));
        }
        let wait = gcra(tat, now, 10.0, 3).err();
        assert_eq!(wait, Some(100.0));
        assert!(gcra(tat, now + 100.0, 10.0, 3).is_ok());
    }
}
