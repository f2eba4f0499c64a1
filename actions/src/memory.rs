//! What one step leaves in memory for later steps of the same run (a writer pool's id sets,
//! read by `sql.verify_no_loss`). It travels in the action context, so two runs in one
//! process (tests, a suite) never see each other's values.
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

type Slots = HashMap<(String, TypeId), Arc<dyn Any + Send + Sync>>;

/// Values keyed by the step that left them and their type. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct StepMemory(Arc<Mutex<Slots>>);

impl StepMemory {
    /// Keeps `value` for step `step`, replacing what an earlier attempt of it left.
    pub fn put<T: Any + Send + Sync>(&self, step: &str, value: Arc<T>) {
        // A panic elsewhere while holding the lock left the map itself intact.
        let mut slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slots.insert((step.to_string(), TypeId::of::<T>()), value);
    }

    /// The value of type `T` step `step` left, if it ran in this run.
    pub fn get<T: Any + Send + Sync>(&self, step: &str) -> Option<Arc<T>> {
        let slots = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        slots.get(&(step.to_string(), TypeId::of::<T>())).cloned()?.downcast().ok()
    }
}

impl std::fmt::Debug for StepMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepMemory")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_kept_per_step_and_type_and_runs_do_not_share() {
        let (a, b) = (StepMemory::default(), StepMemory::default());
        a.put("writers", Arc::new(7u32));
        assert_eq!(a.get::<u32>("writers").as_deref(), Some(&7));
        assert!(a.get::<u64>("writers").is_none(), "another type is another slot");
        assert!(a.get::<u32>("other").is_none());
        assert!(b.get::<u32>("writers").is_none(), "a second run's state sees nothing of the first");
        a.clone().put("writers", Arc::new(8u32));
        assert_eq!(a.get::<u32>("writers").as_deref(), Some(&8), "clones share; a retry replaces");
    }
}
