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
use taskgate_filter::{EdgeFailure, PassedCall, Recall, Report, Verdict};

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

/// Where a report's task stands when a node wants to forward it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Settled before: answer at the edge.
    Settled,
    /// Another report for it is with the upstream now.
    Busy,
    /// This node now holds it until `settle` or `release` (or the lock's time runs out).
    Acquired,
}

/// What an accepted request asks of the store in its first step; each part is skipped when
/// absent.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    /// The access key, its rate per second and its burst (GCRA: [`gcra`]).
    pub rate: Option<(&'a str, f64, u32)>,
    /// The nonce key, claimed once for this long.
    pub nonce: Option<(&'a str, Duration)>,
    /// The task key, the owner to hold it for, and how long the hold lasts.
    pub task: Option<(&'a str, &'a str, Duration)>,
    /// A task key only looked up, never held (a heartbeat's): settled → `Task(Settled)`, else
    /// `Free`. Given only when `task` is not.
    pub consult: Option<&'a str>,
}

/// The store's answer to an [`Admission`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admitted {
    /// Over the rate: this long until a request would be allowed.
    Limited(Duration),
    /// The nonce was claimed before.
    Replay,
    /// Rate and nonce passed; where the task stands (a consulted task: only `Settled`).
    Task(Begin),
    /// Rate and nonce passed, and there is no task.
    Free,
}

/// What a request that passed its checks asks of the memory: an authenticated caller's key,
/// the keys the filter named to claim (`Recall`), and, for a report or heartbeat, its token.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The access key whose signature verified.
    pub access_key_id: &'a str,
    /// The store keys the filter named.
    pub recall: &'a Recall,
    /// A report's or heartbeat's task token.
    pub task_token: Option<&'a str>,
}

impl<'a> Claim<'a> {
    /// The claim of a verdict: a report's, or an authenticated passed call's; `None` for a
    /// rejection or a call passed unauthenticated (nothing of it is remembered).
    pub fn of(verdict: &'a Verdict) -> Option<Claim<'a>> {
        match verdict {
            Verdict::Forward(report) => Some(Claim::of_report(report)),
            Verdict::Pass(call) => Claim::of_call(call),
            Verdict::Reject(_) => None,
        }
    }

    /// A report's claim.
    pub fn of_report(report: &'a Report) -> Claim<'a> {
        Claim {
            access_key_id: &report.access_key_id,
            recall: &report.recall,
            task_token: Some(&report.task_token),
        }
    }

    /// A passed call's claim, when its caller was authenticated.
    pub fn of_call(call: &'a PassedCall) -> Option<Claim<'a>> {
        Some(Claim {
            access_key_id: call.access_key_id.as_deref()?,
            recall: &call.recall,
            task_token: None,
        })
    }

    /// Whether the claim holds its task while it is with the upstream (a settling report).
    pub fn holds(&self) -> bool {
        self.recall.task.is_some() && self.task_token.is_some() && self.recall.settles
    }

    /// What the claim asks of the store: the key's rate (`(per second, burst)`, when it has
    /// one), its nonce, and its task: held for `owner` for `hold_ttl` by a settling report,
    /// only looked up by a heartbeat.
    pub fn admission(
        &self,
        rate: Option<(f64, u32)>,
        owner: &'a str,
        hold_ttl: Duration,
    ) -> Admission<'a> {
        let recall = self.recall;
        let task = recall.task.as_deref().filter(|_| self.task_token.is_some());
        Admission {
            rate: rate.map(|(per_second, burst)| (self.access_key_id, per_second, burst)),
            nonce: recall.nonce.as_deref().map(|nonce| {
                let seconds = u64::from(recall.nonce_seconds.max(1));
                (nonce, Duration::from_secs(seconds))
            }),
            task: task
                .filter(|_| recall.settles)
                .map(|task| (task, owner, hold_ttl)),
            // A heartbeat settles nothing: its task is only looked up.
            consult: task.filter(|_| !recall.settles),
        }
    }
}

/// The three things a memory keeps, one step each: what [`admit`] asks of the embedded store
/// (its maps, under one lock) and of a policy case's stated memory (`cases::StoreState`).
pub trait Steps {
    /// Spends one request of the key's rate; how long until one is allowed, when over it.
    fn rate(&mut self, key: &str, per_second: f64, burst: u32) -> Option<Duration>;
    /// Claims the nonce for `ttl`; false when it was claimed before (a replay).
    fn claim(&mut self, key: &str, ttl: Duration) -> bool;
    /// Looks the task up and, unless it is settled or busy, holds it for `owner`.
    fn begin(&mut self, task: &str, owner: &str, ttl: Duration) -> Begin;
    /// Whether the task is settled.
    fn settled(&mut self, task: &str) -> bool;
}

/// The memory's order, in one place: the rate, then the nonce, then the task, stopping at the
/// first that refuses. The embedded store and `taskgate test` run this; the Redis script
/// (`redis.rs`) is its transcription into Lua, held to the same answers by the fleet tests.
pub fn admit(steps: &mut impl Steps, admission: &Admission<'_>) -> Admitted {
    if let Some((key, per_second, burst)) = admission.rate
        && let Some(wait) = steps.rate(key, per_second, burst)
    {
        return Admitted::Limited(wait);
    }
    if let Some((key, ttl)) = admission.nonce
        && !steps.claim(key, ttl)
    {
        return Admitted::Replay;
    }
    match (admission.task, admission.consult) {
        (Some((task, owner, ttl)), _) => Admitted::Task(steps.begin(task, owner, ttl)),
        (None, Some(task)) if steps.settled(task) => Admitted::Task(Begin::Settled),
        (None, _) => Admitted::Free,
    }
}

/// The edge's answer to what the store admitted, if it refuses the request. `task_token` is the
/// report's (for the service's "already closed" answer). A busy task is `TaskBusy`: the gateway
/// first waits (bounded) for the other report's outcome.
pub fn refusal(admitted: Admitted, task_token: Option<&str>) -> Option<EdgeFailure> {
    match admitted {
        Admitted::Limited(wait) => {
            // Whole seconds, rounded up: a client that waits that long is allowed.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let retry_after = u32::try_from(seconds).unwrap_or(u32::MAX).max(1);
            Some(EdgeFailure::RateLimited { retry_after })
        }
        Admitted::Replay => Some(EdgeFailure::NonceUsed),
        Admitted::Task(Begin::Settled) => Some(EdgeFailure::TaskSettled {
            task_token: task_token.unwrap_or_default().to_owned(),
        }),
        Admitted::Task(Begin::Busy) => Some(EdgeFailure::TaskBusy),
        Admitted::Task(Begin::Acquired) | Admitted::Free => None,
    }
}

/// The store could not answer (unreachable, timed out, or an I/O error): why, for the log.
#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A connected store. One per gateway, behind an `Arc`: the size of a variant costs nothing.
#[allow(
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
