use crate::group_commit::{GroupCommit, SyncStats};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use testrunner_events::{Event, Subscriber};
use testrunner_scenario::Masker;

/// The run's one sink. Appends every event to `journal.jsonl` as it happens, then hands it,
/// masked, to its subscribers in order (the terminal, the report fold). Every line reaches the kernel before `emit` returns (a SIGKILLed
/// run loses none); syncs to disk are batched (group commit), except for the records that
/// must be durable before the run goes on: undo entries, the run's end, errors, interrupts,
/// and what [`Journal::emit_durable`] is given. Events are not kept: memory is what the
/// subscribers hold.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    masker: Arc<Masker>,
    state: Mutex<State>,
    commit: GroupCommit,
}

struct State {
    file: Arc<File>,
    /// Lines written so far.
    seq: u64,
    subscribers: Vec<Box<dyn Subscriber>>,
}

impl Journal {
    pub fn create(
        path: &Path,
        masker: Arc<Masker>,
        subscribers: Vec<Box<dyn Subscriber>>,
    ) -> std::io::Result<Journal> {
        Journal::on(File::create(path)?, masker, subscribers)
    }

    /// Appends to an existing journal (`testrunner cleanup` records what it undid there).
    pub fn append(path: &Path, masker: Arc<Masker>) -> std::io::Result<Journal> {
        let file = std::fs::OpenOptions::new().append(true).open(path)?;
        Journal::on(file, masker, vec![])
    }

    fn on(
        file: File,
        masker: Arc<Masker>,
        subscribers: Vec<Box<dyn Subscriber>>,
    ) -> std::io::Result<Journal> {
        let file = Arc::new(file);
        let commit = GroupCommit::start(file.clone())?;
        let state = Mutex::new(State { file, seq: 0, subscribers });
        Ok(Journal { inner: Arc::new(Inner { masker, state, commit }) })
    }

    /// The state, also after a panic elsewhere held the lock: a file handle, a counter and
    /// the subscribers, each whole after any panic, and the run must still write its report.
    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn emit(&self, event: Event) {
        let durable = must_be_durable(&event);
        self.write(event, durable);
    }

    /// Emits a record that is on disk when this returns (a step that changed the world).
    pub fn emit_durable(&self, event: Event) {
        self.write(event, true);
    }

    fn write(&self, event: Event, durable: bool) {
        let (event, mut line) = self.masked(event);
        line.push('\n');
        let seq = {
            // One lock: the file and every subscriber see the events in the same order.
            let mut st = self.state();
            // A full disk must not stop the run; the subscribers still get the event.
            let _ = (&*st.file).write_all(line.as_bytes());
            st.seq += 1;
            for s in &mut st.subscribers {
                s.event(&event);
            }
            st.seq
        };
        if durable {
            self.inner.commit.sync_through(seq);
        } else {
            self.inner.commit.written(seq);
        }
    }

    /// Lines written and synced, and syncs made.
    pub fn sync_stats(&self) -> SyncStats {
        self.inner.commit.stats()
    }

    /// The event with every secret masked, and its journal line. The line is serialized once
    /// and searched for secrets as text (the masker knows their JSON-escaped forms); only an
    /// event that holds one is masked field by field, so its JSON stays valid whatever the
    /// secret looks like.
    fn masked(&self, event: Event) -> (Event, String) {
        let line = serde_json::to_string(&event).unwrap_or_default();
        if self.inner.masker.is_empty()
            || matches!(self.inner.masker.mask(&line), std::borrow::Cow::Borrowed(_))
        {
            return (event, line);
        }
        let mut v = serde_json::to_value(&event).unwrap_or_default();
        self.inner.masker.mask_json(&mut v);
        let event = serde_json::from_value(v).unwrap_or(event);
        let line = serde_json::to_string(&event).unwrap_or_default();
        (event, line)
    }
}

/// Records the run must not go on without, on disk: an undo entry before its fault takes
/// effect, what was undone, and how the run ended.
fn must_be_durable(event: &Event) -> bool {
    matches!(
        event,
        Event::UndoPending { .. }
            | Event::UndoSettled { .. }
            | Event::Undo { .. }
            | Event::HarnessError { .. }
            | Event::Interrupted { .. }
            | Event::CleanupAbandoned { .. }
            | Event::RunFinished { .. }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use testrunner_events::{parse_journal, Verdict};

    fn log(msg: &str) -> Event {
        Event::Log { step: None, t_ms: 1, message: msg.into() }
    }

    fn pending(key: &str) -> Event {
        Event::UndoPending {
            key: key.into(),
            description: "start it again".into(),
            action: "docker.start".into(),
            params: serde_json::json!({"name": key}),
            t_ms: 2,
        }
    }

    #[test]
    fn undo_records_are_on_disk_when_emit_returns_and_the_rest_is_batched() {
        let dir = tempfile::tempdir().unwrap();
        let j =
            Journal::create(&dir.path().join("journal.jsonl"), Arc::new(Masker::default()), vec![]).unwrap();
        for i in 0..500 {
            j.emit(log(&format!("line {i}")));
        }
        let before = j.sync_stats();
        assert!(before.syncs < 50, "{before:?}: every line synced");
        j.emit(pending("db"));
        let s = j.sync_stats();
        assert_eq!((s.written, s.synced), (501, 501), "the undo record and all before it are durable");
        j.emit_durable(log("a step that changed the world"));
        assert_eq!(j.sync_stats().synced, 502);
        // Negative control: an ordinary line is not waited for.
        j.emit(log("later"));
        assert_eq!(j.sync_stats().written, 503);
        let text = std::fs::read_to_string(dir.path().join("journal.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 503, "every line reached the file before emit returned");
    }

    #[test]
    fn secrets_are_masked_in_the_line_and_the_report_and_json_stays_valid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        // A secret that is also a number in the line (t_ms 2) and one with a quote.
        let masker = Arc::new(Masker::new(vec!["hunter2\"x".to_string(), "123".to_string()]));
        let seen = Arc::new(Mutex::new(Vec::<Event>::new()));
        let j = Journal::create(&path, masker, vec![Box::new(seen.clone())]).unwrap();
        j.emit(Event::Log { step: None, t_ms: 1234, message: "pw hunter2\"x and 123".into() });
        j.emit(log("nothing secret"));
        let text = std::fs::read_to_string(&path).unwrap();
        let events = parse_journal(&text).unwrap();
        assert_eq!(events.len(), 2, "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        match &events[0] {
            Event::Log { message, t_ms, .. } => {
                assert_eq!(message, "pw **** and ****");
                assert_eq!(*t_ms, 1234, "a number is not a string to mask");
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(seen.lock().unwrap()[0], events[0], "subscribers see the masked event");
    }

    #[test]
    fn every_subscriber_sees_every_event_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (Arc::new(Mutex::new(Vec::<Event>::new())), Arc::new(Mutex::new(Vec::<Event>::new())));
        let j = Journal::create(
            &dir.path().join("journal.jsonl"),
            Arc::new(Masker::default()),
            vec![Box::new(a.clone()), Box::new(b.clone())],
        )
        .unwrap();
        j.emit(pending("db"));
        j.emit(Event::RunFinished { verdict: Verdict::Pass, exit_code: 0, at: "t".into(), duration_ms: 9 });
        let (a, b) = (a.lock().unwrap(), b.lock().unwrap());
        assert_eq!(*a, *b);
        assert!(matches!(a[..], [Event::UndoPending { .. }, Event::RunFinished { .. }]), "{a:?}");
    }
}
