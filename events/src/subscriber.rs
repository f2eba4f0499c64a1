//! Where the journal's events go once they are written: the terminal, the report fold.
use crate::Event;
use std::sync::{Arc, Mutex};

/// A reader of the run's events, each masked and in journal order.
pub trait Subscriber: Send {
    fn event(&mut self, event: &Event);
}

/// A subscriber that its owner reads while, or after, the journal feeds it.
impl<T: Subscriber + ?Sized> Subscriber for Arc<Mutex<T>> {
    fn event(&mut self, event: &Event) {
        self.lock().unwrap_or_else(|e| e.into_inner()).event(event)
    }
}

/// Every event, kept (tests, short runs).
impl Subscriber for Vec<Event> {
    fn event(&mut self, event: &Event) {
        self.push(event.clone())
    }
}
