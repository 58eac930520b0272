//! The one-node store: maps in process, behind one lock (each operation is one short critical
//! section, so it is atomic), with claimed nonces and settled tasks also written to a redb file
//! so a restart keeps them.
//!
//! Writes go to the file from a thread of their own, in batches: each batch is one durable
//! redb transaction, however many requests it holds, so the request path never waits for the
//! disk. What a crash can lose is the batch being written (milliseconds of claims); holds on
//! busy tasks and rates are not kept across a restart (a hold lasts seconds, a rate refills).

use super::{Admission, Admitted, Begin, Steps, gcra, millis, now_ms};
use anyhow::Context as _;
use redb::{Database, ReadableDatabase as _, ReadableTable as _, TableDefinition};
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::convert::Infallible;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Claimed nonces: key ([`compact`]) → when the claim ends (ms since the epoch).
const NONCES: TableDefinition<u128, u64> = TableDefinition::new("nonces");
/// Settled tasks: key ([`compact`]) → when the record ends (ms since the epoch).
const SETTLED: TableDefinition<u128, u64> = TableDefinition::new("settled");

/// A key in 16 bytes. The filter's keys are a kind, `:` and a SHA-256 in hex, whose first 128
/// bits are as unique as any key needs to be; another component's keys are hashed first. A
/// remembered request then costs some 40 bytes of map instead of a 70-character string.
fn compact(key: &str) -> u128 {
    let digest = key.rsplit(':').next().unwrap_or(key);
    if digest.len() == 64
        && let Some(Ok(value)) = digest.get(..32).map(|hex| u128::from_str_radix(hex, 16))
    {
        return value;
    }
    let hashed = Sha256::digest(key.as_bytes());
    let mut first = [0; 16];
    first.copy_from_slice(&hashed[..16]);
    u128::from_be_bytes(first)
}

/// How often expired entries are swept from the maps and the file.
const SWEEP_MS: u64 = 10_000;

/// One write for the file.
enum Write {
    Nonce(u128, u64),
    Settled(u128, u64),
    /// Sweep expired rows as of this time.
    Sweep(u64),
    /// Tell the sender when everything before this is written.
    Flush(std::sync::mpsc::SyncSender<()>),
}

#[derive(Default)]
struct Maps {
    nonces: HashMap<u128, u64>,
    settled: HashMap<u128, u64>,
    /// Task → (owner, hold ends).
    busy: HashMap<String, (String, u64)>,
    /// Access key → theoretical arrival time (ms).
    rates: HashMap<String, f64>,
    next_sweep: u64,
}

/// The embedded store.
pub struct Embedded {
    maps: Mutex<Maps>,
    /// To the writer thread; taken on drop, which ends the thread.
    writes: Mutex<Option<Sender<Write>>>,
    /// Joined on drop, so that the file is closed when the store is.
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Ok(mut writes) = self.writes.lock() {
            writes.take();
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Embedded {
    /// Opens (or creates) the file and loads what has not expired.
    pub fn open(path: &Path) -> anyhow::Result<Embedded> {
        let db = Database::create(path)
            .with_context(|| format!("opening the store file {}", path.display()))?;
        let now = now_ms();
        let mut maps = Maps {
            next_sweep: now + SWEEP_MS,
            ..Maps::default()
        };
        {
            let write = db.begin_write()?;
            // Create both tables, so that a new file can be read at once.
            write.open_table(NONCES)?;
            write.open_table(SETTLED)?;
            write.commit()?;
        }
        let read = db.begin_read()?;
        for (table, map) in [(NONCES, &mut maps.nonces), (SETTLED, &mut maps.settled)] {
            for row in read.open_table(table)?.iter()? {
                let (key, until) = row?;
                if until.value() > now {
                    map.insert(key.value(), until.value());
                }
            }
        }
        drop(read);
        let (sender, receiver) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("taskgate-store".into())
            .spawn(move || write_all(&db, &receiver))
            .context("starting the store's writer thread")?;
        Ok(Embedded {
            maps: Mutex::new(maps),
            writes: Mutex::new(Some(sender)),
            writer: Some(writer),
        })
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        // A panic while holding the lock leaves plain maps behind, still usable.
        let mut maps = self.maps.lock().unwrap_or_else(|e| e.into_inner());
        let now = now_ms();
        if now >= maps.next_sweep {
            maps.nonces.retain(|_, until| *until > now);
            maps.settled.retain(|_, until| *until > now);
            maps.busy.retain(|_, (_, until)| *until > now);
            // A rate whose arrival time has passed is as good as new.
            maps.rates.retain(|_, tat| *tat > now as f64);
            maps.next_sweep = now + SWEEP_MS;
            self.write(Write::Sweep(now));
        }
        maps
    }

    fn write(&self, write: Write) {
        // The writer lives as long as the store; if it died, the maps still serve this run.
        if let Ok(writes) = self.writes.lock()
            && let Some(sender) = writes.as_ref()
        {
            let _ = sender.send(write);
        }
    }

    /// See [`super::Store::admit`]: the memory's order ([`super::admit`]) with every step
    /// under one lock, so it is one atomic step.
    pub fn admit(&self, admission: &Admission<'_>) -> Admitted {
        let mut locked = Locked {
            store: self,
            maps: self.maps(),
            now: now_ms(),
        };
        let Ok(admitted) = super::admit(&mut locked, admission);
        admitted
    }

    /// See [`super::Store::begin`].
    pub fn begin(&self, task: &str, owner: &str, ttl: Duration) -> Begin {
        begin(&mut self.maps(), now_ms(), task, owner, ttl)
    }

    /// See [`super::Store::settle`].
    pub fn settle(&self, task: &str, owner: &str, retention: Duration) {
        let key = compact(task);
        let mut maps = self.maps();
        let until = now_ms() + millis(retention);
        maps.settled.insert(key, until);
        release(&mut maps, task, owner);
        drop(maps);
        self.write(Write::Settled(key, until));
    }

    /// See [`super::Store::release`].
    pub fn release(&self, task: &str, owner: &str) {
        release(&mut self.maps(), task, owner);
    }

    /// Waits until everything written so far is in the file.
    pub fn flush(&self) {
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        self.write(Write::Flush(done));
        let _ = wait.recv_timeout(Duration::from_secs(5));
    }
}

/// Settled, else busy, else held by `owner` for `ttl`.
/// The maps under the store's lock, at one moment: the steps [`super::admit`] takes.
struct Locked<'a> {
    store: &'a Embedded,
    maps: MutexGuard<'a, Maps>,
    now: u64,
}

impl Steps for Locked<'_> {
    /// Steps on maps under a lock cannot fail.
    type Error = Infallible;

    fn rate(
        &mut self,
        key: &str,
        per_second: f64,
        burst: u32,
    ) -> Result<Option<Duration>, Infallible> {
        let now = self.now as f64;
        Ok(
            match gcra(self.maps.rates.get(key).copied(), now, per_second, burst) {
                Ok(tat) => {
                    self.maps.rates.insert(key.to_owned(), tat);
                    None
                }
                Err(wait) => Some(Duration::from_secs_f64(wait / 1000.0)),
            },
        )
    }

    fn claim(&mut self, key: &str, ttl: Duration) -> Result<bool, Infallible> {
        let key = compact(key);
        if self
            .maps
            .nonces
            .get(&key)
            .is_some_and(|until| *until > self.now)
        {
            return Ok(false);
        }
        let until = self.now + millis(ttl);
        self.maps.nonces.insert(key, until);
        self.store.write(Write::Nonce(key, until));
        Ok(true)
    }

    fn begin(&mut self, task: &str, owner: &str, ttl: Duration) -> Result<Begin, Infallible> {
        Ok(begin(&mut self.maps, self.now, task, owner, ttl))
    }

    fn settled(&mut self, task: &str) -> Result<bool, Infallible> {
        Ok(settled(&self.maps, self.now, task))
    }
}

fn begin(maps: &mut Maps, now: u64, task: &str, owner: &str, ttl: Duration) -> Begin {
    if settled(maps, now, task) {
        return Begin::Settled;
    }
    if maps.busy.get(task).is_some_and(|(_, until)| *until > now) {
        return Begin::Busy;
    }
    maps.busy
        .insert(task.to_owned(), (owner.to_owned(), now + millis(ttl)));
    Begin::Acquired
}

/// Whether `task` is settled (and its record not yet expired).
fn settled(maps: &Maps, now: u64, task: &str) -> bool {
    maps.settled
        .get(&compact(task))
        .is_some_and(|until| *until > now)
}

/// Drops `owner`'s hold on `task` (and only theirs: a hold that ran out may be another's now).
fn release(maps: &mut Maps, task: &str, owner: &str) {
    if maps
        .busy
        .get(task)
        .is_some_and(|(held_by, _)| held_by == owner)
    {
        maps.busy.remove(task);
    }
}

/// The writer thread: one durable transaction per batch of queued writes.
fn write_all(db: &Database, receiver: &Receiver<Write>) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        batch.extend(receiver.try_iter().take(10_000));
        if let Err(error) = write_batch(db, &mut batch) {
            // Not retried (the maps still hold it for this run); said on stderr, where the
            // gateway's own errors go.
            eprintln!("taskgate: writing the store file failed: {error:#}");
        }
        for write in batch {
            if let Write::Flush(done) = write {
                let _ = done.send(());
            }
        }
    }
}

fn write_batch(db: &Database, batch: &mut [Write]) -> anyhow::Result<()> {
    let transaction = db.begin_write()?;
    {
        let mut nonces = transaction.open_table(NONCES)?;
        let mut settled = transaction.open_table(SETTLED)?;
        for write in batch.iter() {
            match write {
                Write::Nonce(key, until) => {
                    nonces.insert(key, until)?;
                }
                Write::Settled(key, until) => {
                    settled.insert(key, until)?;
                }
                Write::Sweep(now) => {
                    nonces.retain(|_, until| until > *now)?;
                    settled.retain(|_, until| until > *now)?;
                }
                Write::Flush(_) => {}
            }
        }
    }
    transaction.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(key: &str) -> Admission<'_> {
        Admission {
            rate: None,
            nonce: Some((key, Duration::from_secs(60))),
            task: None,
            consult: None,
        }
    }

    fn store(dir: &Path) -> Embedded {
        match Embedded::open(&dir.join("state.redb")) {
            Ok(store) => store,
            Err(error) => panic!("open: {error:#}"),
        }
    }

    /// The memory's scenario every memory is held to (`taskgate_filter::memory::SCENARIO`).
    #[test]
    fn the_embedded_store_answers_the_memorys_scenario() {
        use taskgate_filter::memory::{SCENARIO, Step};
        let dir = std::env::temp_dir().join(format!("taskgate-scenario-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = store(&dir);
        for (i, step) in SCENARIO.iter().enumerate() {
            match *step {
                Step::Admit { expect, .. } => {
                    let admission = step.admission().expect("an admission");
                    assert_eq!(store.admit(&admission), expect, "step {i}: {step:?}");
                }
                Step::Settle { task, owner } => {
                    store.settle(task, owner, Duration::from_secs(3600))
                }
                Step::Release { task, owner } => store.release(task, owner),
            }
        }
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_nonce_is_claimed_once_and_a_settled_task_survives_a_restart() {
        let dir = std::env::temp_dir().join(format!("taskgate-store-{}", uuid::Uuid::new_v4()));
        let _ = std::fs::create_dir_all(&dir);
        {
            let store = store(&dir);
            assert_eq!(store.admit(&nonce("nonce:a")), Admitted::Free);
            assert_eq!(store.admit(&nonce("nonce:a")), Admitted::Replay);
            assert_eq!(
                store.begin("task:t", "n1", Duration::from_secs(5)),
                Begin::Acquired
            );
            assert_eq!(
                store.begin("task:t", "n2", Duration::from_secs(5)),
                Begin::Busy
            );
            store.settle("task:t", "n1", Duration::from_secs(60));
            assert_eq!(
                store.begin("task:t", "n2", Duration::from_secs(5)),
                Begin::Settled
            );
            store.flush();
        }
        let store = store(&dir);
        assert_eq!(store.admit(&nonce("nonce:a")), Admitted::Replay);
        assert_eq!(
            store.begin("task:t", "n3", Duration::from_secs(5)),
            Begin::Settled
        );
        assert_eq!(
            store.begin("task:u", "n3", Duration::from_secs(5)),
            Begin::Acquired
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_released_task_can_be_taken_again_and_only_the_owner_releases() {
        let dir = std::env::temp_dir().join(format!("taskgate-store-{}", uuid::Uuid::new_v4()));
        let _ = std::fs::create_dir_all(&dir);
        let store = store(&dir);
        assert_eq!(
            store.begin("task:t", "a", Duration::from_secs(5)),
            Begin::Acquired
        );
        store.release("task:t", "b");
        assert_eq!(
            store.begin("task:t", "b", Duration::from_secs(5)),
            Begin::Busy
        );
        store.release("task:t", "a");
        assert_eq!(
            store.begin("task:t", "b", Duration::from_secs(5)),
            Begin::Acquired
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
