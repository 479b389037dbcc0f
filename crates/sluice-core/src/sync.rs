//! Locking without poisoning.

use std::sync::{Mutex, MutexGuard};

/// Locks `m` even if a thread panicked while holding it. Every critical section in this crate
/// replaces or clones a value whole, so a panic cannot leave one half-written; refusing the
/// lock would only turn one failure into many.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(guard) => guard,
        Err(poisoned) => poisoned.into_inner(),
    }
}
