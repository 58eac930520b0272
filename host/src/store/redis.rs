//! The fleet's store: a Redis server every node shares. Each change is one command or one Lua
//! script (`SET NX PX`, and scripts for the task hold and the rate), which Redis runs
//! atomically, so concurrent nodes see one history. Times come from the Redis server's clock
//! (`TIME` inside the rate script), so nodes with drifting clocks still share one rate.

use super::{Begin, StoreError, millis};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Every key taskgate writes starts with this, so a shared Redis can hold other data too.
const PREFIX: &str = "taskgate:";

/// Connections kept open (each multiplexes any number of requests).
const POOL: usize = 2;

/// Settled, else busy, else take the hold: one atomic step.
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

/// GCRA (as `super::gcra`): ARGV[1] the ms one request costs, ARGV[2] the burst. Returns the
/// wait in ms as a string, "0" when allowed.
static THROTTLE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
        local t = redis.call('TIME')
        local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
        local emission = tonumber(ARGV[1])
        local burst = tonumber(ARGV[2])
        local tat = tonumber(redis.call('GET', KEYS[1]))
        if not tat or tat < now then tat = now end
        local next = tat + emission
        local allowed_at = next - burst * emission
        if now < allowed_at then return tostring(allowed_at - now) end
        redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.ceil(next - now) + 1)
        return '0'
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
        match tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection)).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError(format!("redis: {error}"))),
            Err(_) => Err(StoreError(format!(
                "redis: no answer within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    /// See [`super::Store::throttle`].
    pub async fn throttle(
        &self,
        key: &str,
        rate: f64,
        burst: u32,
    ) -> Result<Option<Duration>, StoreError> {
        let mut invocation = THROTTLE.prepare_invoke();
        invocation
            .key(format!("{PREFIX}rate:{key}"))
            .arg(1000.0 / rate)
            .arg(burst.max(1));
        let wait: String = self.run(invocation).await?;
        let wait: f64 = wait
            .parse()
            .map_err(|_| StoreError(format!("redis: the rate script answered {wait:?}")))?;
        Ok((wait > 0.0).then(|| Duration::from_secs_f64(wait / 1000.0)))
    }

    /// See [`super::Store::claim`].
    pub async fn claim(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let command = redis::cmd("SET")
            .arg(format!("{PREFIX}{key}"))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis(ttl))
            .to_owned();
        let claimed: Option<String> =
            match tokio::time::timeout(self.timeout, command.query_async(&mut connection)).await {
                Ok(Ok(value)) => value,
                Ok(Err(error)) => return Err(StoreError(format!("redis: {error}"))),
                Err(_) => return Err(StoreError("redis: no answer in time".to_owned())),
            };
        Ok(claimed.is_some())
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
