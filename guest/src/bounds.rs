//! The bounded numbers every build reads, declared once: each setting's default, smallest and
//! largest value. The configuration file (`taskgate serve`, the Envoy plugin) and the
//! `wasi:http` build's `wasi:config` keys check them here, with the same message, so a value
//! one build refuses is refused by all (a clock window of 0 once passed in one build only).

/// A whole-number setting's name, default and bounds (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounded {
    /// Its name in the configuration file (`section.key`).
    pub name: &'static str,
    /// The value when the setting is absent.
    pub default: u64,
    /// The smallest value allowed.
    pub min: u64,
    /// The largest value allowed.
    pub max: u64,
}

impl Bounded {
    /// `value` (the default when `None`) if it lies in range, else why not, naming the setting
    /// as the configuration file does.
    pub fn value(&self, value: Option<u64>) -> Result<u64, String> {
        self.check(self.name, value)
    }

    /// `value` (the default when `None`) if it lies in range, else why not, naming `setting`
    /// (another spelling: a `wasi:config` key).
    pub fn check(&self, setting: &str, value: Option<u64>) -> Result<u64, String> {
        let value = value.unwrap_or(self.default);
        if (self.min..=self.max).contains(&value) {
            Ok(value)
        } else {
            Err(format!(
                "{setting} must be between {} and {}",
                self.min, self.max
            ))
        }
    }

    /// As [`Bounded::value`], for the settings held as `u32` (the WIT `limits`); the bounds of
    /// those fit in one.
    pub fn value_u32(&self, value: Option<u32>) -> Result<u32, String> {
        let value = self.value(value.map(u64::from))?;
        u32::try_from(value).map_err(|_| format!("{} must be at most {}", self.name, u32::MAX))
    }
}

/// The largest body accepted from Alibaba callers (`[limits] max_body_bytes`): the vendor's own
/// 64 KiB by default; past 16 MiB a typo would exhaust the machine.
pub const MAX_BODY_BYTES: Bounded = Bounded {
    name: "limits.max_body_bytes",
    default: 64 * 1024,
    min: 1,
    max: 16 << 20,
};

/// The largest body accepted from AWS callers (`[limits] max_aws_body_bytes`). The SDKs escape
/// every non-ASCII character as `\uXXXX`: a 32768-character cause of surrogate pairs is 393 KB.
pub const MAX_AWS_BODY_BYTES: Bounded = Bounded {
    name: "limits.max_aws_body_bytes",
    default: 1024 * 1024,
    min: 1,
    max: 16 << 20,
};

/// How far a request's own time may be from its receipt, in seconds (`[limits]
/// max_clock_skew_seconds`): the vendors' 15 minutes by default; 0 would refuse every request
/// and more than a day would make a captured request good for that long.
pub const MAX_CLOCK_SKEW_SECONDS: Bounded = Bounded {
    name: "limits.max_clock_skew_seconds",
    default: 15 * 60,
    min: 1,
    max: 24 * 3600,
};

/// How long the upstream may take to answer, connection included, in milliseconds.
pub const UPSTREAM_TIMEOUT_MS: Bounded = Bounded {
    name: "serve.upstream_timeout_ms",
    default: 10_000,
    min: 1,
    max: 600_000,
};

/// The longest upstream answer relayed, in bytes; a longer one is answered 500 in the dialect.
pub const MAX_UPSTREAM_ANSWER_BYTES: Bounded = Bounded {
    name: "serve.max_upstream_answer_bytes",
    default: 16 << 20,
    min: 1024,
    max: 1 << 30,
};

/// Checks one component instance may serve (`[sandbox] instance_reuse`): 1, a fresh instance
/// per request, by default.
pub const INSTANCE_REUSE: Bounded = Bounded {
    name: "sandbox.instance_reuse",
    default: 1,
    min: 1,
    max: 100_000,
};

/// The component's linear-memory cap per check, in bytes (`[sandbox] memory_bytes`); the host
/// also wants room for a few copies of the largest body.
pub const MEMORY_BYTES: Bounded = Bounded {
    name: "sandbox.memory_bytes",
    default: 32 << 20,
    min: 2 << 20,
    max: 1 << 30,
};

/// The wall-clock budget of one check, in milliseconds (`[sandbox] deadline_ms`).
pub const DEADLINE_MS: Bounded = Bounded {
    name: "sandbox.deadline_ms",
    default: 100,
    min: 1,
    max: 60_000,
};

/// Requests handled at once (`[serve] max_in_flight`); more are answered as throttled.
pub const MAX_IN_FLIGHT: Bounded = Bounded {
    name: "serve.max_in_flight",
    default: 1024,
    min: 1,
    max: 65_536,
};

/// Threads serving connections (`[serve] workers`). When absent the host runs one per CPU
/// (within these bounds); the default here is for a host that cannot tell.
pub const WORKERS: Bounded = Bounded {
    name: "serve.workers",
    default: 1,
    min: 1,
    max: 256,
};

/// How long a client may take over its head or body, and how long a connection with nothing in
/// flight is kept, in milliseconds (`[serve] read_timeout_ms`).
pub const READ_TIMEOUT_MS: Bounded = Bounded {
    name: "serve.read_timeout_ms",
    default: 10_000,
    min: 1,
    max: 600_000,
};

/// A request head's largest size in bytes (`[serve] max_header_bytes`): hyper's smallest read
/// buffer is 8 KiB.
pub const MAX_HEADER_BYTES: Bounded = Bounded {
    name: "serve.max_header_bytes",
    default: 16 * 1024,
    min: 8192,
    max: 1 << 20,
};

/// Most header fields in a request (`[serve] max_headers`).
pub const MAX_HEADERS: Bounded = Bounded {
    name: "serve.max_headers",
    default: 64,
    min: 8,
    max: 1024,
};

/// Client connections open at once (`[serve] max_connections`).
pub const MAX_CONNECTIONS: Bounded = Bounded {
    name: "serve.max_connections",
    default: 4096,
    min: 1,
    max: 1_000_000,
};

/// Client connections from one address open at once (`[serve] max_connections_per_client`);
/// at most `max_connections` too.
pub const MAX_CONNECTIONS_PER_CLIENT: Bounded = Bounded {
    name: "serve.max_connections_per_client",
    default: 256,
    min: 1,
    max: 1_000_000,
};

/// After SIGTERM, how long the listener stays open while `/readyz` answers 503, in
/// milliseconds (`[serve] drain_delay_ms`).
pub const DRAIN_DELAY_MS: Bounded = Bounded {
    name: "serve.drain_delay_ms",
    default: 0,
    min: 0,
    max: 600_000,
};

/// How long the store may take to answer, in milliseconds (`[store] timeout_ms`).
pub const STORE_TIMEOUT_MS: Bounded = Bounded {
    name: "store.timeout_ms",
    default: 250,
    min: 1,
    max: 60_000,
};

/// How long a report waits for another report of its task that is with the upstream, in
/// milliseconds (`[ledger] wait_ms`).
pub const LEDGER_WAIT_MS: Bounded = Bounded {
    name: "ledger.wait_ms",
    default: 2_000,
    min: 0,
    max: 600_000,
};

/// How long a settled task is remembered, in hours (`[ledger] retention_hours`): a week by
/// default, long past any workflow's retries; at most a year.
pub const RETENTION_HOURS: Bounded = Bounded {
    name: "ledger.retention_hours",
    default: 168,
    min: 1,
    max: 24 * 366,
};

/// Every bounded whole-number setting, in the order docs/configuration.md lists them.
pub const ALL: [Bounded; 19] = [
    MAX_BODY_BYTES,
    MAX_AWS_BODY_BYTES,
    MAX_CLOCK_SKEW_SECONDS,
    MEMORY_BYTES,
    DEADLINE_MS,
    INSTANCE_REUSE,
    UPSTREAM_TIMEOUT_MS,
    MAX_IN_FLIGHT,
    WORKERS,
    READ_TIMEOUT_MS,
    MAX_HEADER_BYTES,
    MAX_HEADERS,
    MAX_CONNECTIONS,
    MAX_CONNECTIONS_PER_CLIENT,
    MAX_UPSTREAM_ANSWER_BYTES,
    DRAIN_DELAY_MS,
    STORE_TIMEOUT_MS,
    LEDGER_WAIT_MS,
    RETENTION_HOURS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_setting_is_its_default_when_absent_and_refused_out_of_bounds_by_name() {
        assert_eq!(MAX_CLOCK_SKEW_SECONDS.value_u32(None), Ok(900));
        assert_eq!(MAX_CLOCK_SKEW_SECONDS.value_u32(Some(1)), Ok(1));
        assert_eq!(
            MAX_CLOCK_SKEW_SECONDS.value_u32(Some(0)),
            Err("limits.max_clock_skew_seconds must be between 1 and 86400".to_owned())
        );
        assert!(MAX_BODY_BYTES.value(Some(16 << 20)).is_ok());
        assert!(MAX_BODY_BYTES.value(Some((16 << 20) + 1)).is_err());
    }

    #[test]
    fn every_default_lies_within_its_bounds_and_every_name_is_one_settings() {
        let mut names: Vec<&str> = ALL.iter().map(|bounded| bounded.name).collect();
        for bounded in ALL {
            assert_eq!(bounded.value(None), Ok(bounded.default), "{}", bounded.name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
