//! The remember phase inside Envoy: replayed nonces and settled tasks, kept in proxy-wasm shared
//! data, which every worker thread's VM of one Envoy sees. The memory's order and its answers
//! are the filter library's (`taskgate_filter::memory`: `admit` over this module's [`Steps`],
//! then `refusal`), as in `taskgate serve`: nonce first, then the task's ledger (settled →
//! `TaskSettled`; held by another report → `TaskBusy`; free → held by this report until the
//! upstream's answer settles or releases it). Which keys to claim or consult comes from the
//! filter (`Recall`); the plugin keeps no rates.
//!
//! Shared data has no delete and no "create if absent" (a CAS against a missing key always
//! wins), so entries do not get a key each: they live in a fixed set of shard keys, made
//! empty when the plugin starts, each holding the live entries of its shard as packed bytes.
//! Every write is a compare-and-swap of a whole shard that also drops the entries past their
//! time, so the memory is bounded by what is live, and two workers can never both claim one
//! nonce or hold one task.

use std::time::Duration;
use taskgate_filter::memory::{self, Admission, Admitted, Begin, Steps};

/// Shard keys per table: a shard's value is copied out and back on every claim, so more
/// shards keep each copy small (at 1,000 claims a second over a 30-minute nonce window, about
/// 10 KB).
pub const SHARDS: usize = 4096;

/// Tries of one compare-and-swap before the store counts as unavailable.
const TRIES: usize = 32;

/// Shared data as the plugin uses it: a value and its CAS stamp; a write that names a stamp
/// fails when the value changed since.
pub trait SharedData {
    /// The value under `key` and its stamp; `(None, None)` when the key was never written
    /// (Envoy gives an empty value as `None` with a stamp).
    fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>);
    /// Writes `value` if the stamp still matches (`None`: unconditionally); false on a
    /// mismatch or any other refusal.
    fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
}

/// Shared data kept refusing a write (contention past [`TRIES`]): the request goes on without
/// memory, as `taskgate serve` with `unavailable = "forward"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

/// A task's state in its shard.
const HELD: u8 = 1;
const SETTLED: u8 = 2;

/// One packed entry: a 16-byte id, the second it expires, the state and the owner (tasks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: [u8; 16],
    expires: u64,
    state: u8,
    owner: u64,
}

const ENTRY_BYTES: usize = 16 + 8 + 1 + 8;

/// The two tables' names, each a prefix of its shard keys.
const NONCES: &str = "taskgate.nonce";
const TASKS: &str = "taskgate.task";

/// Makes every shard key exist (empty) without touching one that does: run at start-up, on
/// every worker, before requests arrive, so that requests only ever swap existing keys.
pub fn prepare(shared: &dyn SharedData) {
    for table in [NONCES, TASKS] {
        for shard in 0..SHARDS {
            let key = shard_key(table, shard);
            // A key that exists has a stamp, even when its value is empty.
            if shared.get(&key).1.is_none() {
                shared.set(&key, &[], None);
            }
        }
    }
}

/// Runs the memory's order (`taskgate_filter::memory::admit`) for `admission` on shared data
/// at `now` (seconds); `owner` names this request's hold (the admission's owner text is its
/// decimal form).
pub fn admit(
    shared: &dyn SharedData,
    admission: &Admission<'_>,
    owner: u64,
    now: u64,
) -> Result<Admitted, Unavailable> {
    memory::admit(&mut SharedSteps { shared, owner, now }, admission)
}

/// The memory's steps on shared data, for one request.
struct SharedSteps<'a> {
    shared: &'a dyn SharedData,
    owner: u64,
    now: u64,
}

impl Steps for SharedSteps<'_> {
    type Error = Unavailable;

    /// The plugin keeps no rates (Envoy's `local_ratelimit` does that): its admissions carry
    /// none.
    fn rate(
        &mut self,
        _key: &str,
        _per_second: f64,
        _burst: u32,
    ) -> Result<Option<Duration>, Unavailable> {
        Ok(None)
    }

    fn claim(&mut self, key: &str, ttl: Duration) -> Result<bool, Unavailable> {
        let until = self.now + ttl.as_secs().max(1);
        update(self.shared, NONCES, key, self.now, |entries, id| {
            if entries.iter().any(|e| e.id == id) {
                return false;
            }
            entries.push(Entry {
                id,
                expires: until,
                state: 0,
                owner: 0,
            });
            true
        })
        .ok_or(Unavailable)
    }

    fn begin(&mut self, task: &str, _owner: &str, ttl: Duration) -> Result<Begin, Unavailable> {
        let (now, owner) = (self.now, self.owner);
        update(self.shared, TASKS, task, now, |entries, id| {
            match entries.iter().find(|e| e.id == id) {
                Some(e) if e.state == SETTLED => Begin::Settled,
                Some(_) => Begin::Busy,
                None => {
                    entries.push(Entry {
                        id,
                        expires: now + ttl.as_secs().max(1),
                        state: HELD,
                        owner,
                    });
                    Begin::Acquired
                }
            }
        })
        .ok_or(Unavailable)
    }

    fn settled(&mut self, task: &str) -> Result<bool, Unavailable> {
        update(self.shared, TASKS, task, self.now, |entries, id| {
            entries.iter().any(|e| e.id == id && e.state == SETTLED)
        })
        .ok_or(Unavailable)
    }
}

/// The upstream's answer settled the task this request holds: remember it for `retention`.
pub fn settle(shared: &dyn SharedData, task: &str, owner: u64, now: u64, retention: u64) {
    update(shared, TASKS, task, now, |entries, id| {
        entries.retain(|e| e.id != id || e.state == SETTLED || e.owner != owner);
        if !entries.iter().any(|e| e.id == id) {
            entries.push(Entry {
                id,
                expires: now + retention,
                state: SETTLED,
                owner: 0,
            });
        }
    });
}

/// The outcome settled nothing, or the request ended without one: let another report try.
pub fn release(shared: &dyn SharedData, task: &str, owner: u64, now: u64) {
    update(shared, TASKS, task, now, |entries, id| {
        entries.retain(|e| !(e.id == id && e.state == HELD && e.owner == owner));
    });
}

/// Runs `change` on the live entries of `key`'s shard and swaps the result in, again from a
/// fresh read when another worker wrote first; `None` when it never got through.
fn update<R>(
    shared: &dyn SharedData,
    table: &str,
    key: &str,
    now: u64,
    mut change: impl FnMut(&mut Vec<Entry>, [u8; 16]) -> R,
) -> Option<R> {
    let (shard, id) = locate(key);
    let shard_key = shard_key(table, shard);
    for _ in 0..TRIES {
        let (value, cas) = shared.get(&shard_key);
        let mut entries = decode(value.as_deref().unwrap_or_default(), now);
        let result = change(&mut entries, id);
        if shared.set(&shard_key, &encode(&entries), cas) {
            return Some(result);
        }
    }
    None
}

fn shard_key(table: &str, shard: usize) -> String {
    format!("{table}.{shard:03x}")
}

/// A memory key (a SHA-256 digest in hex, from the filter) as its shard and 16-byte id; any
/// other text is hashed the same way so that nothing can make it fail.
fn locate(key: &str) -> (usize, [u8; 16]) {
    let bytes: [u8; 32] = match taskgate_filter::sign::unhex(key).map(<[u8; 32]>::try_from) {
        Some(Ok(digest)) => digest,
        _ => {
            use sha2::Digest as _;
            sha2::Sha256::digest(key.as_bytes()).into()
        }
    };
    let shard = (usize::from(bytes[0]) << 4 | usize::from(bytes[1] >> 4)) % SHARDS;
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[16..]);
    (shard, id)
}

/// The live entries of a shard's value (a malformed tail is dropped).
fn decode(value: &[u8], now: u64) -> Vec<Entry> {
    value
        .chunks_exact(ENTRY_BYTES)
        .map(|chunk| {
            let mut id = [0u8; 16];
            id.copy_from_slice(&chunk[..16]);
            let number = |at: usize| {
                let mut raw = [0u8; 8];
                raw.copy_from_slice(&chunk[at..at + 8]);
                u64::from_be_bytes(raw)
            };
            Entry {
                id,
                expires: number(16),
                state: chunk[24],
                owner: number(25),
            }
        })
        .filter(|entry| entry.expires > now)
        .collect()
}

fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut value = Vec::with_capacity(entries.len() * ENTRY_BYTES);
    for entry in entries {
        value.extend_from_slice(&entry.id);
        value.extend_from_slice(&entry.expires.to_be_bytes());
        value.push(entry.state);
        value.extend_from_slice(&entry.owner.to_be_bytes());
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
    use taskgate_filter::Recall;
    use taskgate_filter::memory::Claim;

    /// Shared data with Envoy's rules: a stamp per write; a stamped write to a changed value
    /// fails; any write to a missing key succeeds.
    #[derive(Default)]
    struct Map {
        values: RefCell<HashMap<String, (Vec<u8>, u32)>>,
        stamp: RefCell<u32>,
        /// Writes to refuse before letting one through (contention from another worker).
        refuse: RefCell<usize>,
    }

    impl SharedData for Map {
        fn get(&self, key: &str) -> (Option<Vec<u8>>, Option<u32>) {
            match self.values.borrow().get(key) {
                // As Envoy's: an empty value comes back as none, with its stamp.
                Some((value, cas)) if value.is_empty() => (None, Some(*cas)),
                Some((value, cas)) => (Some(value.clone()), Some(*cas)),
                None => (None, None),
            }
        }

        fn set(&self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
            if *self.refuse.borrow() > 0 {
                *self.refuse.borrow_mut() -= 1;
                return false;
            }
            let mut values = self.values.borrow_mut();
            if let (Some(cas), Some((_, now))) = (cas, values.get(key))
                && cas != *now
            {
                return false;
            }
            *self.stamp.borrow_mut() += 1;
            values.insert(key.to_owned(), (value.to_vec(), *self.stamp.borrow()));
            true
        }
    }

    fn digest(text: &str) -> String {
        use sha2::Digest as _;
        taskgate_filter::sign::hex(&sha2::Sha256::digest(text.as_bytes()))
    }

    fn recall(nonce: Option<&str>, task: Option<&str>, settles: bool) -> Recall {
        Recall {
            nonce: nonce.map(digest),
            nonce_seconds: 60,
            task: task.map(digest),
            settles,
        }
    }

    /// What the memory says of a request with this recall (and a task token when `token`),
    /// at `now`, held for `owner` for `hold` seconds, as a word.
    fn admitted(
        map: &Map,
        recall: &Recall,
        token: bool,
        now: u64,
        owner: u64,
        hold: u64,
    ) -> &'static str {
        let claim = Claim {
            access_key_id: "AK",
            recall,
            task_token: token.then_some("token"),
        };
        let owner_text = owner.to_string();
        let admission = claim.admission(None, &owner_text, Duration::from_secs(hold));
        match admit(map, &admission, owner, now) {
            Ok(Admitted::Free) => "free",
            Ok(Admitted::Task(Begin::Acquired)) => "held",
            Ok(Admitted::Task(Begin::Busy)) => "busy",
            Ok(Admitted::Task(Begin::Settled)) => "settled",
            Ok(Admitted::Replay) => "replay",
            Ok(Admitted::Limited(_)) => "limited",
            Err(Unavailable) => "unavailable",
        }
    }

    #[test]
    fn a_nonce_is_claimed_once_until_it_expires() {
        let map = Map::default();
        prepare(&map);
        let first = recall(Some("n1"), None, false);
        assert_eq!(admitted(&map, &first, false, 1000, 1, 30), "free");
        assert_eq!(admitted(&map, &first, false, 1059, 2, 30), "replay");
        assert_eq!(admitted(&map, &first, false, 1060, 3, 30), "free");
        let other = recall(Some("n2"), None, false);
        assert_eq!(admitted(&map, &other, false, 1060, 4, 30), "free");
    }

    #[test]
    fn a_task_is_held_then_settled_and_a_second_report_is_answered() {
        let map = Map::default();
        prepare(&map);
        let report = recall(None, Some("task"), true);
        assert_eq!(admitted(&map, &report, true, 100, 1, 30), "held");
        assert_eq!(admitted(&map, &report, true, 101, 2, 30), "busy");
        let heartbeat = recall(None, Some("task"), false);
        assert_eq!(admitted(&map, &heartbeat, true, 101, 3, 30), "free");
        settle(&map, &digest("task"), 1, 102, 3600);
        assert_eq!(admitted(&map, &report, true, 103, 4, 30), "settled");
        assert_eq!(admitted(&map, &heartbeat, true, 103, 5, 30), "settled");
        assert_eq!(admitted(&map, &report, true, 3702, 6, 30), "held");
    }

    #[test]
    fn a_released_or_abandoned_hold_lets_the_next_report_through() {
        let map = Map::default();
        prepare(&map);
        let report = recall(None, Some("task"), true);
        assert_eq!(admitted(&map, &report, true, 100, 1, 30), "held");
        release(&map, &digest("task"), 2, 100);
        assert_eq!(admitted(&map, &report, true, 100, 3, 30), "busy");
        release(&map, &digest("task"), 1, 100);
        assert_eq!(admitted(&map, &report, true, 100, 3, 30), "held");
        // Owner 3 vanished: its hold ends with its time.
        assert_eq!(admitted(&map, &report, true, 130, 4, 30), "held");
    }

    #[test]
    fn a_lost_race_is_retried_on_a_fresh_read() {
        let map = Map::default();
        prepare(&map);
        *map.refuse.borrow_mut() = TRIES - 1;
        let first = recall(Some("n"), None, false);
        assert_eq!(admitted(&map, &first, false, 1, 1, 30), "free");
        *map.refuse.borrow_mut() = TRIES;
        let second = recall(Some("m"), None, false);
        assert_eq!(admitted(&map, &second, false, 1, 2, 30), "unavailable");
    }

    #[test]
    fn expired_entries_leave_the_shard() {
        let map = Map::default();
        prepare(&map);
        for i in 0..50 {
            let nonce = recall(Some(&format!("n{i}")), None, false);
            admitted(&map, &nonce, false, 10, i, 30);
        }
        let total =
            |map: &Map| -> usize { map.values.borrow().values().map(|(v, _)| v.len()).sum() };
        assert_eq!(total(&map), 50 * ENTRY_BYTES);
        // Each later write drops what expired in its shard; an entry of each shard touched.
        for i in 0..50 {
            let nonce = recall(Some(&format!("n{i}")), None, false);
            assert_eq!(admitted(&map, &nonce, false, 1000, 100 + i, 30), "free");
        }
        assert_eq!(total(&map), 50 * ENTRY_BYTES);
        assert!(map.values.borrow().len() == 2 * SHARDS);
    }

    /// The memory's scenario every memory is held to (`taskgate_filter::memory::SCENARIO`).
    #[test]
    fn shared_data_answers_the_memorys_scenario() {
        use taskgate_filter::memory::{SCENARIO, Step};
        let map = Map::default();
        prepare(&map);
        let number = |owner: &str| u64::from(owner.as_bytes()[0]);
        for (i, step) in SCENARIO.iter().enumerate() {
            match *step {
                Step::Admit { owner, expect, .. } => {
                    let admission = step.admission().expect("an admission");
                    let got = admit(&map, &admission, number(owner), 1000);
                    assert_eq!(got, Ok(expect), "step {i}: {step:?}");
                }
                Step::Settle { task, owner } => settle(&map, task, number(owner), 1000, 3600),
                Step::Release { task, owner } => release(&map, task, number(owner), 1000),
            }
        }
    }

    #[test]
    fn keys_that_are_not_digests_still_have_a_place() {
        let (shard, _) = locate("not hex at all");
        assert!(shard < SHARDS);
        let (a, id_a) = locate(&digest("x"));
        let (b, id_b) = locate(&digest("x"));
        assert_eq!((a, id_a), (b, id_b));
    }
}
