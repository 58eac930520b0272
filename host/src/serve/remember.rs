//! The `remember` phase, between check and deliver: what the gateway's memory says of a request
//! that passed every rule. In order, cheapest and least revealing first, and only for a request
//! whose signature verified (so an unauthenticated caller can neither burn a nonce nor spend
//! another key's rate):
//!
//! 1. **rate**: the access key's rate (`[throttle]` or its own), shared by every node;
//! 2. **replay**: the request's signature nonce is claimed once (Alibaba; AWS has none);
//! 3. **ledger**: a report for a settled task is answered at the edge; a report for a task
//!    that another report is with the upstream for waits (bounded) for that outcome; otherwise
//!    this request holds the task until its own outcome is known ([`Hold`]). A heartbeat
//!    settles nothing: its task is only looked up, and answered at the edge when settled.
//!
//! The three are one store operation (`Store::admit`: one Lua script, one round trip to
//! Redis); only a waiting duplicate asks again.
//!
//! Which keys are claimed comes from the filter (`Recall`); every answer is rendered by the
//! filter (`respond`). When the store cannot answer, `unavailable` decides: go on without
//! memory (counted), or answer 500.

use super::metrics::Metrics;
use crate::config::Config;
use crate::store::{Admitted, Begin, Claim, Store, StoreError, Unavailable, refusal};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use taskgate_filter::EdgeFailure;

/// How often a report waiting for another report's outcome looks again.
const POLL: Duration = Duration::from_millis(20);

/// A task this request holds in the store while its report is with the upstream: settled or
/// released once the outcome is known, and released if the request ends any other way (its
/// client went away), so no hold outlives its request by more than a store operation.
pub struct Hold {
    store: Arc<Store>,
    task: String,
    owner: String,
    done: bool,
}

impl Hold {
    /// The upstream's answer settled the task: remember it for `retention`.
    pub async fn settle(mut self, retention: Duration, metrics: &Metrics) {
        self.done = true;
        let started = Instant::now();
        let result = self.store.settle(&self.task, &self.owner, retention).await;
        observe(metrics, "settle", started, &result);
    }

    /// The outcome settled nothing: let another report try.
    pub async fn release(mut self, metrics: &Metrics) {
        self.done = true;
        let started = Instant::now();
        let result = self.store.release(&self.task, &self.owner).await;
        observe(metrics, "release", started, &result);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // The request ended before its outcome was known: let go, off the dropped future.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (store, task, owner) = (
                Arc::clone(&self.store),
                std::mem::take(&mut self.task),
                std::mem::take(&mut self.owner),
            );
            runtime.spawn(async move {
                let _ = store.release(&task, &owner).await;
            });
        }
    }
}

/// Counts one store operation's time, and its failure.
fn observe<T>(
    metrics: &Metrics,
    op: &'static str,
    started: Instant,
    result: &Result<T, StoreError>,
) {
    metrics.store_seconds.observe(started.elapsed());
    if result.is_err() {
        metrics.count_store_error(op);
    }
}

/// remember: `Ok(Some(hold))` for a report whose task this request now holds, `Ok(None)` to
/// go on with nothing held, `Err` for the answer the request ends with. `None` for `claim`
/// (an unchecked or unauthenticated call) remembers nothing.
pub async fn remember(
    store: Option<&Arc<Store>>,
    config: &Config,
    claim: Option<Claim<'_>>,
    metrics: &Metrics,
) -> Result<Option<Hold>, EdgeFailure> {
    let (Some(store), Some(claim)) = (store, claim) else {
        return Ok(None);
    };
    let settings = &config.store;
    // Only a settling report holds its task, so only it needs an owner name.
    let owner = if claim.holds() {
        next_owner()
    } else {
        String::new()
    };
    let rate = settings.rate_for(claim.access_key_id);
    let rate = rate.map(|rate| (rate.per_second, rate.burst));
    let admission = claim.admission(rate, &owner, hold_ttl(config));
    let task_token = claim.task_token;
    let steps = async {
        let started = Instant::now();
        let result = store.admit(&admission).await;
        observe(metrics, "admit", started, &result);
        // A report that asked to hold its task goes on to the ledger step (which waits on a
        // busy task); anything else is answered as `refusal` says, or goes on.
        let admitted = result?;
        let (Admitted::Task(begun), Some(task), Some(task_token)) =
            (admitted, admission.task, task_token)
        else {
            return Ok(refusal(admitted, task_token).map_or(Ok(None), Err));
        };
        ledger(
            store,
            config,
            task.0,
            task_token,
            owner.clone(),
            begun,
            metrics,
        )
        .await
    };
    match steps.await {
        Ok(outcome) => outcome,
        Err(StoreError(_)) => match settings.unavailable {
            Unavailable::Forward => {
                metrics.store_unavailable.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Unavailable::Refuse => Err(EdgeFailure::Internal),
        },
    }
}

/// A name for one hold, unique across the fleet: this process's random id (made once) and a
/// counter, instead of a random id per request (a system call each).
fn next_owner() -> String {
    static PROCESS: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string());
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!("{}-{}", *PROCESS, COUNT.fetch_add(1, Ordering::Relaxed))
}

/// How long a report's hold on its task lasts: long enough for the upstream's answer, short
/// enough that a node that died holding it does not keep the task from every other report.
fn hold_ttl(config: &Config) -> Duration {
    config.serve.upstream_timeout + Duration::from_secs(5)
}

/// The ledger step, from where `admit` found the task: settled → answered; busy → wait for the
/// other report's outcome, polling, up to `[ledger] wait_ms`; acquired → held by this request.
async fn ledger(
    store: &Arc<Store>,
    config: &Config,
    task: &str,
    task_token: &str,
    owner: String,
    mut begun: Begin,
    metrics: &Metrics,
) -> Result<Result<Option<Hold>, EdgeFailure>, StoreError> {
    let deadline = Instant::now() + config.store.wait;
    loop {
        match begun {
            Begin::Settled => {
                return Ok(Err(EdgeFailure::TaskSettled {
                    task_token: task_token.to_owned(),
                }));
            }
            Begin::Acquired => {
                return Ok(Ok(Some(Hold {
                    store: Arc::clone(store),
                    task: task.to_owned(),
                    owner,
                    done: false,
                })));
            }
            Begin::Busy if Instant::now() + POLL > deadline => {
                return Ok(Err(EdgeFailure::TaskBusy));
            }
            Begin::Busy => tokio::time::sleep(POLL).await,
        }
        let started = Instant::now();
        let result = store.begin(task, &owner, hold_ttl(config)).await;
        observe(metrics, "begin", started, &result);
        begun = result?;
    }
}
