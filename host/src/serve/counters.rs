//! Labelled counters counted per thread: a request adds one to a cell that only its own thread
//! writes, found without a lock and, once its thread has seen that label set, without an
//! allocation; `/metrics` sums every thread's cells. The gateway runs a request on one thread
//! from start to end, and these counters were the one point every thread shared (a global
//! lock and an owned label set per request).
//!
//! Why not `prometheus-client`: its `Family` takes a lock and an owned label set on every
//! increment, which is what this replaces. The exposition stays the text format written here
//! (`render`), with every label value escaped by the format's rules.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use thread_local::ThreadLocal;

/// A label set, owned: what a cell is counted under.
type Key<const N: usize> = [Box<str>; N];

/// One label set's count in one thread.
type Cell = Arc<AtomicU64>;

/// At most `sets` distinct label sets are counted by name; a new one past that is counted
/// with its label `label` (an index) replaced by `instead`: a label whose values come from
/// callers cannot grow the exposition without bound.
#[derive(Clone, Copy)]
pub struct Cap {
    pub sets: usize,
    pub label: usize,
    pub instead: &'static str,
}

/// A counter with `N` labels.
pub struct Counter<const N: usize> {
    name: &'static str,
    help: &'static str,
    labels: [&'static str; N],
    cap: Option<Cap>,
    /// Every thread's cells with their label sets, for reading (and for the cap).
    cells: Mutex<Vec<(Key<N>, Cell)>>,
    /// This thread's cells by the label set it counted, for counting.
    local: ThreadLocal<RefCell<Vec<(Key<N>, Cell)>>>,
}

impl<const N: usize> Counter<N> {
    pub fn new(name: &'static str, help: &'static str, labels: [&'static str; N]) -> Counter<N> {
        Counter {
            name,
            help,
            labels,
            cap: None,
            cells: Mutex::new(Vec::new()),
            local: ThreadLocal::new(),
        }
    }

    /// The counter with a cap on its distinct label sets.
    pub fn capped(mut self, cap: Cap) -> Counter<N> {
        self.cap = Some(cap);
        self
    }

    /// Adds one under `values`.
    pub fn inc(&self, values: [&str; N]) {
        let local = self.local.get_or(|| RefCell::new(Vec::new()));
        // Only this thread borrows its own list, and nothing here calls back into it.
        let Ok(mut local) = local.try_borrow_mut() else {
            return;
        };
        let same = |key: &Key<N>| key.iter().zip(values).all(|(a, b)| **a == *b);
        if let Some((_, cell)) = local.iter().find(|(key, _)| same(key)) {
            cell.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // The first time this thread sees this label set: a cell of its own, registered.
        let cell = self.register(values);
        cell.fetch_add(1, Ordering::Relaxed);
        local.push((values.map(Box::from), cell));
    }

    /// A new cell for this thread under `values` (or, past the cap, under the capped set).
    fn register(&self, values: [&str; N]) -> Cell {
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let mut key: Key<N> = values.map(Box::from);
        if let Some(cap) = self.cap {
            let known = cells.iter().any(|(other, _)| *other == key);
            if !known
                && distinct(&cells) >= cap.sets
                && let Some(label) = key.get_mut(cap.label)
            {
                *label = Box::from(cap.instead);
            }
        }
        let cell = Cell::default();
        cells.push((key, Arc::clone(&cell)));
        cell
    }
}

/// A counter written into the exposition, whatever its number of labels.
pub trait Render {
    /// Writes the counter in the text exposition format.
    fn render(&self, out: &mut String);
}

impl<const N: usize> Render for Counter<N> {
    /// One line per label set, the sum of its cells, in the label values' order.
    fn render(&self, out: &mut String) {
        let (name, help) = (self.name, self.help);
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let mut sums: BTreeMap<Key<N>, u64> = BTreeMap::new();
        for (key, cell) in self
            .cells
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            *sums.entry(key.clone()).or_default() += cell.load(Ordering::Relaxed);
        }
        for (key, count) in sums {
            out.push_str(name);
            out.push('{');
            for (i, (label, value)) in self.labels.iter().zip(&key).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(label);
                out.push_str("=\"");
                escape_into(out, value);
                out.push('"');
            }
            let _ = writeln!(out, "}} {count}");
        }
    }
}

/// How many distinct label sets `cells` holds (several threads may hold a cell for one set).
fn distinct<const N: usize>(cells: &[(Key<N>, Cell)]) -> usize {
    let mut keys: Vec<&Key<N>> = cells.iter().map(|(key, _)| key).collect();
    keys.sort();
    keys.dedup();
    keys.len()
}

/// A label value as the text exposition format writes it: backslash, double quote and line
/// feed escaped.
fn escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_every_thread_are_summed() {
        let counter = Arc::new(Counter::new("t_total", "Test.", ["dialect", "code"]));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.inc(["fnf", "Accepted"]);
                    }
                    counter.inc(["states", "InvalidSignatureException"]);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        counter.inc(["fnf", "Accepted"]);
        let mut out = String::new();
        counter.render(&mut out);
        assert_eq!(
            out,
            "# HELP t_total Test.\n# TYPE t_total counter\n\
             t_total{dialect=\"fnf\",code=\"Accepted\"} 4001\n\
             t_total{dialect=\"states\",code=\"InvalidSignatureException\"} 4\n"
        );
    }

    #[test]
    fn every_label_value_is_escaped() {
        let counter = Counter::new("t_total", "Test.", ["a", "b"]);
        counter.inc(["quote \" and back\\slash", "line\nfeed"]);
        let mut out = String::new();
        counter.render(&mut out);
        assert!(
            out.ends_with("t_total{a=\"quote \\\" and back\\\\slash\",b=\"line\\nfeed\"} 1\n"),
            "{out}"
        );
    }

    #[test]
    fn past_the_cap_a_new_label_set_is_counted_under_the_stand_in() {
        let cap = Cap {
            sets: 2,
            label: 1,
            instead: "other",
        };
        let counter = Counter::new("t_total", "Test.", ["dialect", "action"]).capped(cap);
        for action in ["A", "B", "C", "D", "A"] {
            counter.inc(["states", action]);
        }
        // Another thread sees the same sets: A is still known by name.
        std::thread::scope(|scope| {
            scope.spawn(|| counter.inc(["states", "A"]));
        });
        let mut out = String::new();
        counter.render(&mut out);
        assert!(
            out.contains("t_total{dialect=\"states\",action=\"A\"} 3\n"),
            "{out}"
        );
        assert!(
            out.contains("t_total{dialect=\"states\",action=\"B\"} 1\n"),
            "{out}"
        );
        assert!(
            out.contains("t_total{dialect=\"states\",action=\"other\"} 2\n"),
            "{out}"
        );
        assert!(!out.contains("\"C\"") && !out.contains("\"D\""), "{out}");
    }
}
