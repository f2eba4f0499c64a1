//! Locking without cascading panics.
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `m`. A poisoned lock only says another task panicked while holding it; every
/// critical section in the actions is one push, insert or read that leaves the value whole,
/// so the value is used as is instead of failing the step that comes next.
pub fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_still_gives_its_value() {
        let m = std::sync::Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = m2.lock().unwrap();
            panic!("poison it");
        })
        .join();
        assert!(m.is_poisoned());
        lock(&m).push(2);
        assert_eq!(*lock(&m), [1, 2]);
    }
}
