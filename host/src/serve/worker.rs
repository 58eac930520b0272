//! Which worker thread this is. The gateway runs one event loop per worker (`[serve] workers`),
//! each with its own listener; state that is fastest kept per thread (the upstream connection
//! pools) is indexed by this, so a request and the connections it uses stay on one thread.

use std::cell::Cell;

thread_local! {
    static INDEX: Cell<usize> = const { Cell::new(0) };
}

/// This thread's worker index: 0 outside the workers (the main thread's loop is worker 0).
pub fn index() -> usize {
    INDEX.with(Cell::get)
}

/// Marks this thread as worker `index`; called once, when the worker starts.
pub fn set_index(index: usize) {
    INDEX.with(|cell| cell.set(index));
}
