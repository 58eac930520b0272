//! The rules a request passed, for `explain`: each rule notes itself here as it passes. Off
//! unless `explain` is running, so `check` pays one flag test per rule and allocates nothing.

use std::cell::RefCell;

thread_local! {
    /// `Some` while `explain` runs. Thread-local: the native library is called from many test
    /// threads; the component has one thread.
    static STEPS: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
}

/// Notes a passed rule. The texts are fixed: formatting a detail into each one cost the
/// component 12 KB of its size budget (BENCHMARKS.md); the verdict carries the details.
pub fn step(text: &'static str) {
    STEPS.with(|steps| {
        if let Some(steps) = steps.borrow_mut().as_mut() {
            steps.push(text.to_owned());
        }
    });
}

/// Runs `check` with the notes on and returns its result with them.
pub fn explain<T>(check: impl FnOnce() -> T) -> (T, Vec<String>) {
    STEPS.with(|steps| *steps.borrow_mut() = Some(Vec::new()));
    let result = check();
    let steps = STEPS
        .with(|steps| steps.borrow_mut().take())
        .unwrap_or_default();
    (result, steps)
}
