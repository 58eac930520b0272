//! What a request that passed its checks asks of a memory (rate, replay, settled tasks), and
//! the memory's order, for every build that remembers: `taskgate serve`'s stores, `taskgate
//! test`'s stated memory and the Envoy plugin's shared data. Which keys to claim is the filter's
//! (`Recall`); a memory only keeps them, one [`Steps`] each, and [`admit`] runs them in order.

use crate::error::EdgeFailure;
use crate::types::{PassedCall, Recall, Report, Verdict};
use std::time::Duration;

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

/// The three things a memory keeps, one step each: what [`admit`] asks of the gateway's
/// embedded store (its maps, under one lock), of a policy case's stated memory and of the Envoy
/// plugin's shared data. A step may fail (`Error`: the plugin's shared data under contention);
/// a memory whose steps cannot fail says `Infallible`.
pub trait Steps {
    /// Why a step could not be taken.
    type Error;
    /// Spends one request of the key's rate; how long until one is allowed, when over it.
    fn rate(
        &mut self,
        key: &str,
        per_second: f64,
        burst: u32,
    ) -> Result<Option<Duration>, Self::Error>;
    /// Claims the nonce for `ttl`; false when it was claimed before (a replay).
    fn claim(&mut self, key: &str, ttl: Duration) -> Result<bool, Self::Error>;
    /// Looks the task up and, unless it is settled or busy, holds it for `owner`.
    fn begin(&mut self, task: &str, owner: &str, ttl: Duration) -> Result<Begin, Self::Error>;
    /// Whether the task is settled.
    fn settled(&mut self, task: &str) -> Result<bool, Self::Error>;
}

/// The memory's order, in one place: the rate, then the nonce, then the task, stopping at the
/// first that refuses (or at a step that fails). The gateway's embedded store, `taskgate test`
/// and the Envoy plugin run this; the gateway's Redis script is its transcription into Lua,
/// held to the same answers by [`SCENARIO`] (run against every memory) and the fleet tests.
pub fn admit<S: Steps>(steps: &mut S, admission: &Admission<'_>) -> Result<Admitted, S::Error> {
    if let Some((key, per_second, burst)) = admission.rate
        && let Some(wait) = steps.rate(key, per_second, burst)?
    {
        return Ok(Admitted::Limited(wait));
    }
    if let Some((key, ttl)) = admission.nonce
        && !steps.claim(key, ttl)?
    {
        return Ok(Admitted::Replay);
    }
    Ok(match (admission.task, admission.consult) {
        (Some((task, owner, ttl)), _) => Admitted::Task(steps.begin(task, owner, ttl)?),
        (None, Some(task)) if steps.settled(task)? => Admitted::Task(Begin::Settled),
        (None, _) => Admitted::Free,
    })
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

/// One step of [`SCENARIO`].
#[derive(Debug, Clone, Copy)]
pub enum Step {
    /// A request claims `nonce` and holds (`settles`) or consults its `task`, as `owner`; the
    /// memory must answer `expect`.
    Admit {
        /// The nonce key claimed, if any.
        nonce: Option<&'static str>,
        /// The task key, if any.
        task: Option<&'static str>,
        /// Whether the request settles its task (held) or not (only consulted).
        settles: bool,
        /// Who holds the task if it is taken.
        owner: &'static str,
        /// The memory's answer.
        expect: Admitted,
    },
    /// The upstream's answer settled `task`, held by `owner`.
    Settle {
        /// The task key.
        task: &'static str,
        /// Its holder.
        owner: &'static str,
    },
    /// The request holding `task` as `owner` ended without settling it.
    Release {
        /// The task key.
        task: &'static str,
        /// Its holder (any other releases nothing).
        owner: &'static str,
    },
}

impl Step {
    /// The admission of an [`Step::Admit`]: nonces claimed for a minute, holds for a minute.
    pub fn admission(&self) -> Option<Admission<'static>> {
        let Step::Admit {
            nonce,
            task,
            settles,
            owner,
            ..
        } = *self
        else {
            return None;
        };
        let minute = Duration::from_secs(60);
        Some(Admission {
            rate: None,
            nonce: nonce.map(|nonce| (nonce, minute)),
            task: task.filter(|_| settles).map(|task| (task, owner, minute)),
            consult: task.filter(|_| !settles),
        })
    }
}

/// What every memory answers, in order, from empty (within a minute, so nothing expires): the
/// gateway's embedded store and Redis, and the Envoy plugin's shared data each run it in their
/// tests, so that the memory's order and answers are the same wherever a request is
/// remembered. Rates are left out: the plugin keeps none.
pub const SCENARIO: &[Step] = &[
    // A nonce is claimed once.
    Step::Admit {
        nonce: Some("nonce-1"),
        task: None,
        settles: false,
        owner: "a",
        expect: Admitted::Free,
    },
    Step::Admit {
        nonce: Some("nonce-1"),
        task: None,
        settles: false,
        owner: "a",
        expect: Admitted::Replay,
    },
    // A report holds its task; a second one finds it busy; a heartbeat only looks.
    Step::Admit {
        nonce: None,
        task: Some("task-1"),
        settles: true,
        owner: "a",
        expect: Admitted::Task(Begin::Acquired),
    },
    Step::Admit {
        nonce: None,
        task: Some("task-1"),
        settles: true,
        owner: "b",
        expect: Admitted::Task(Begin::Busy),
    },
    Step::Admit {
        nonce: None,
        task: Some("task-1"),
        settles: false,
        owner: "c",
        expect: Admitted::Free,
    },
    // Settled by its holder: every later report and heartbeat finds it settled.
    Step::Settle {
        task: "task-1",
        owner: "a",
    },
    Step::Admit {
        nonce: None,
        task: Some("task-1"),
        settles: true,
        owner: "c",
        expect: Admitted::Task(Begin::Settled),
    },
    Step::Admit {
        nonce: None,
        task: Some("task-1"),
        settles: false,
        owner: "c",
        expect: Admitted::Task(Begin::Settled),
    },
    // Only the holder lets a task go.
    Step::Admit {
        nonce: None,
        task: Some("task-2"),
        settles: true,
        owner: "a",
        expect: Admitted::Task(Begin::Acquired),
    },
    Step::Release {
        task: "task-2",
        owner: "b",
    },
    Step::Admit {
        nonce: None,
        task: Some("task-2"),
        settles: true,
        owner: "c",
        expect: Admitted::Task(Begin::Busy),
    },
    Step::Release {
        task: "task-2",
        owner: "a",
    },
    Step::Admit {
        nonce: None,
        task: Some("task-2"),
        settles: true,
        owner: "c",
        expect: Admitted::Task(Begin::Acquired),
    },
    // The nonce comes first: a replay takes no task.
    Step::Admit {
        nonce: Some("nonce-2"),
        task: Some("task-3"),
        settles: true,
        owner: "a",
        expect: Admitted::Task(Begin::Acquired),
    },
    Step::Admit {
        nonce: Some("nonce-2"),
        task: Some("task-4"),
        settles: true,
        owner: "b",
        expect: Admitted::Replay,
    },
    Step::Admit {
        nonce: None,
        task: Some("task-4"),
        settles: true,
        owner: "b",
        expect: Admitted::Task(Begin::Acquired),
    },
];
