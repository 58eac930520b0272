//! The fleet's store: a Redis server every node shares. Each change is one command or one Lua
//! script (`SET NX PX`, and scripts for the task hold and the rate), which Redis runs
//! atomically, so concurrent nodes see one history. Times come from the Redis server's clock
//! (`TIME` inside the rate script), so nodes with drifting clocks still share one rate.

use super::{Admission, Admitted, Begin, StoreError, millis};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Every key taskgate writes starts with this, so a shared Redis can hold other data too.
const PREFIX: &str = "taskgate:";

/// Connections kept open (each multiplexes any number of requests).
const POOL: usize = 2;

/// An accepted request's first step (see `Store::admit`), atomically: `super::admit`'s order
/// (rate, nonce, task) written in Lua, since it must run inside Redis. KEYS: the rate, the
/// nonce, the settled task and the task's hold (placeholders for parts that are absent). ARGV:
/// has a rate, ms one request costs, burst; has a nonce, its ttl in ms; the task's use ('1'
/// hold, '2' only consult, '0' none), owner, the hold's ttl in ms. The rate is GCRA as `super::gcra`, on the Redis server's clock. Returns
/// `{outcome, wait ms}`.
static ADMIT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if ARGV[1] == '1' then
            local t = redis.call('TIME')
            local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
            local emission = tonumber(ARGV[2])
            local tat = tonumber(redis.call('GET', KEYS[1]))
            if not tat or tat < now then tat = now end
            local next = tat + emission
            local allowed_at = next - tonumber(ARGV[3]) * emission
            if now < allowed_at then return {'limited', tostring(allowed_at - now)} end
            redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.ceil(next - now) + 1)
        end
        if ARGV[4] == '1' then
            if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[5]) then
                return {'replay', '0'}
            end
        end
        if ARGV[6] == '1' then
            if redis.call('EXISTS', KEYS[3]) == 1 then return {'settled', '0'} end
            if redis.call('SET', KEYS[4], ARGV[7], 'NX', 'PX', ARGV[8]) then
                return {'acquired', '0'}
            end
            return {'busy', '0'}
        end
        if ARGV[6] == '2' and redis.call('EXISTS', KEYS[3]) == 1 then return {'settled', '0'} end
        return {'free', '0'}
        ",
    )
});

/// Settled, else busy, else take the hold: one atomic step (a waiting duplicate's poll).
static BEGIN: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 'settled' end
        if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'acquired' end
        return 'busy'
        ",
    )
});

/// Record the task settled and drop the caller's own hold (not one that ran out and was taken).
static SETTLE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
        if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
        return 1
        ",
    )
});

/// Drop the caller's own hold.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
        return 1
        ",
    )
});

/// The Redis store.
pub struct RedisStore {
    pool: Vec<ConnectionManager>,
    next: AtomicUsize,
    timeout: Duration,
}

impl RedisStore {
    /// Prepares connections to `url` without connecting: a Redis that is down at start is
    /// tried again on each use, and each use waits at most `timeout`.
    pub fn new(url: &str, timeout: Duration) -> anyhow::Result<RedisStore> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let pool = (0..POOL)
            .map(|_| ConnectionManager::new_lazy_with_config(client.clone(), config.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RedisStore {
            pool,
            next: AtomicUsize::new(0),
            timeout,
        })
    }

    fn connection(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.pool.len();
        self.pool[i].clone()
    }

    /// Runs one script, bounded by the timeout whatever the connection is doing.
    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut connection = self.connection();
        self.bounded(invocation.invoke_async(&mut connection)).await
    }

    /// One operation's answer, or why there is none within the timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError(format!("redis: {error}"))),
            Err(_) => Err(StoreError(format!(
                "redis: no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// See [`super::Store::ping`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        let mut connection = self.connection();
        let command = redis::cmd("PING");
        let ping = command.query_async::<String>(&mut connection);
        self.bounded(ping).await.map(drop)
    }

    /// See [`super::Store::admit`].
    pub async fn admit(&self, admission: &Admission<'_>) -> Result<Admitted, StoreError> {
        let flag = |present: bool| if present { "1" } else { "0" };
        let (rate_key, emission, burst) = admission
            .rate
            .map_or((String::new(), 0.0, 0), |(key, rate, burst)| {
                (key.to_owned(), 1000.0 / rate, burst.max(1))
            });
        let (nonce, nonce_ttl) = admission
            .nonce
            .map_or(("", 1), |(key, ttl)| (key, millis(ttl)));
        let (task, owner, hold, task_use) = match (admission.task, admission.consult) {
            (Some((task, owner, ttl)), _) => (task, owner, millis(ttl), "1"),
            (None, Some(task)) => (task, "", 1, "2"),
            (None, None) => ("", "", 1, "0"),
        };
        let mut invocation = ADMIT.prepare_invoke();
        invocation
            .key(format!("{PREFIX}rate:{rate_key}"))
            .key(format!("{PREFIX}{nonce}"))
            .key(format!("{PREFIX}settled:{task}"))
            .key(format!("{PREFIX}busy:{task}"))
            .arg(flag(admission.rate.is_some()))
            .arg(emission)
            .arg(burst)
            .arg(flag(admission.nonce.is_some()))
            .arg(nonce_ttl)
            .arg(task_use)
            .arg(owner)
            .arg(hold);
        let (outcome, wait): (String, String) = self.run(invocation).await?;
        Ok(match outcome.as_str() {
            "limited" => {
                let wait: f64 = wait.parse().unwrap_or(1000.0);
                Admitted::Limited(Duration::from_secs_f64(wait.max(0.0) / 1000.0))
            }
            "replay" => Admitted::Replay,
            "settled" => Admitted::Task(Begin::Settled),
            "busy" => Admitted::Task(Begin::Busy),
            "acquired" => Admitted::Task(Begin::Acquired),
            "free" => Admitted::Free,
            other => {
                return Err(StoreError(format!(
                    "redis: the admit script answered {other:?}"
                )));
            }
        })
    }

    /// See [`super::Store::begin`].
    pub async fn begin(&self, task: &str, owner: &str, ttl: Duration) -> Result<Begin, StoreError> {
        let mut invocation = BEGIN.prepare_invoke();
        invocation
            .key(format!("{PREFIX}settled:{task}"))
            .key(format!("{PREFIX}busy:{task}"))
            .arg(owner)
            .arg(millis(ttl));
        let state: String = self.run(invocation).await?;
        match state.as_str() {
            "settled" => Ok(Begin::Settled),
            "busy" => Ok(Begin::Busy),
            "acquired" => Ok(Begin::Acquired),
            other => Err(StoreError(format!(
                "redis: the task script answered {other:?}"
            ))),
        }
    }

    /// See [`super::Store::settle`].
    pub async fn settle(
        &self,
        task: &str,
        owner: &str,
        retention: Duration,
    ) -> Result<(), StoreError> {
        let mut invocation = SETTLE.prepare_invoke();
        invocation
            .key(format!("{PREFIX}settled:{task}"))
            .key(format!("{PREFIX}busy:{task}"))
            .arg(owner)
            .arg(millis(retention));
        let _: i64 = self.run(invocation).await?;
        Ok(())
    }

    /// See [`super::Store::release`].
    pub async fn release(&self, task: &str, owner: &str) -> Result<(), StoreError> {
        let mut invocation = RELEASE.prepare_invoke();
        invocation.key(format!("{PREFIX}busy:{task}")).arg(owner);
        let _: i64 = self.run(invocation).await?;
        Ok(())
    }
}
