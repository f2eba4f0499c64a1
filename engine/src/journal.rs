use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};
use testrunner_reports::Event;
use testrunner_scenario::Masker;

type Observer = Box<dyn Fn(&Event) + Send + Sync>;

/// Appends every event to `journal.jsonl` as it happens (flushed and synced, so a SIGKILLed
/// run still leaves its evidence), keeps them for the final report, and shows them to an
/// observer (the terminal).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
    masker: Arc<Masker>,
    observer: Arc<Observer>,
}

struct Inner {
    file: Option<File>,
    events: Vec<Event>,
}

impl Journal {
    pub fn create(path: &Path, masker: Arc<Masker>, observer: Observer) -> std::io::Result<Journal> {
        let file = File::create(path)?;
        Ok(Journal {
            inner: Arc::new(Mutex::new(Inner { file: Some(file), events: vec![] })),
            masker,
            observer: Arc::new(observer),
        })
    }

    /// Appends to an existing journal (`testrunner cleanup` records what it undid there).
    pub fn append(path: &Path, masker: Arc<Masker>) -> std::io::Result<Journal> {
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Ok(Journal {
            inner: Arc::new(Mutex::new(Inner { file: Some(file), events: vec![] })),
            masker,
            observer: Arc::new(Box::new(|_| {})),
        })
    }

    /// A journal that only keeps events in memory (tests).
    pub fn in_memory(masker: Arc<Masker>) -> Journal {
        Journal {
            inner: Arc::new(Mutex::new(Inner { file: None, events: vec![] })),
            masker,
            observer: Arc::new(Box::new(|_| {})),
        }
    }

    pub fn emit(&self, event: Event) {
        let event = self.mask(event);
        {
            let mut inner = self.inner.lock().unwrap();
            if let Some(f) = inner.file.as_mut() {
                let mut line = serde_json::to_string(&event).unwrap_or_default();
                line.push('\n');
                // A full disk must not stop the run; the report will still be built from memory.
                let _ = f.write_all(line.as_bytes()).and_then(|_| f.sync_data());
            }
            inner.events.push(event.clone());
        }
        (self.observer)(&event);
    }

    pub fn events(&self) -> Vec<Event> {
        self.inner.lock().unwrap().events.clone()
    }

    fn mask(&self, event: Event) -> Event {
        if self.masker.is_empty() {
            return event;
        }
        let mut v = serde_json::to_value(&event).unwrap_or_default();
        self.masker.mask_json(&mut v);
        serde_json::from_value(v).unwrap_or(event)
    }
}
