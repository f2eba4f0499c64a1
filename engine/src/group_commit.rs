//! Group commit for the journal. Every line is written to the kernel before `emit` returns,
//! so a killed runner (SIGKILL, OOM) loses nothing; what a power loss or kernel crash can
//! lose is bounded by one thread that `fdatasync`s the written lines in batches, at most
//! every [`SYNC_EVERY`]. A record that must be durable before the run goes on (an undo
//! entry before its fault) is synced by its emitter at once.
use std::fs::File;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Shortest time between two batched syncs: a power loss loses at most the lines of this
/// window plus the sync in flight. Fault and undo records are never in it.
pub const SYNC_EVERY: Duration = Duration::from_millis(5);

pub struct GroupCommit {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    file: Arc<File>,
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncStats {
    /// Lines written to the kernel.
    pub written: u64,
    /// Lines known to be on disk.
    pub synced: u64,
    /// `fdatasync` calls made (batched and immediate).
    pub syncs: u64,
}

#[derive(Default)]
struct State {
    stats: SyncStats,
    /// The sync thread waits for a first unsynced line (a writer must wake it).
    idle: bool,
    closing: bool,
}

impl GroupCommit {
    pub fn start(file: Arc<File>) -> std::io::Result<GroupCommit> {
        let shared = Arc::new(Shared { file, state: Mutex::new(State::default()), wake: Condvar::new() });
        let s = shared.clone();
        let thread = std::thread::Builder::new().name("journal-sync".into()).spawn(move || s.run())?;
        Ok(GroupCommit { shared, thread: Some(thread) })
    }

    /// Lines up to `seq` are written; the sync thread will make them durable soon.
    pub fn written(&self, seq: u64) {
        let mut st = self.shared.lock();
        st.stats.written = st.stats.written.max(seq);
        if st.idle {
            st.idle = false;
            self.shared.wake.notify_one();
        }
    }

    /// Returns when lines up to `seq` (all written already) are on disk.
    pub fn sync_through(&self, seq: u64) {
        {
            let mut st = self.shared.lock();
            st.stats.written = st.stats.written.max(seq);
            if st.stats.synced >= seq {
                return;
            }
        }
        // In the caller: it must not go on before this is durable. Concurrent syncs of
        // one file are fine; each covers what was written before it started.
        let _ = self.shared.file.sync_data();
        let mut st = self.shared.lock();
        st.stats.synced = st.stats.synced.max(seq);
        st.stats.syncs += 1;
    }

    pub fn stats(&self) -> SyncStats {
        self.shared.lock().stats
    }
}

impl Shared {
    /// The counters, also after a panic elsewhere held the lock: they are plain numbers,
    /// whole after any panic, and a run must still sync its journal.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn run(&self) {
        let mut st = self.lock();
        loop {
            while st.stats.synced >= st.stats.written && !st.closing {
                st.idle = true;
                st = self.wake.wait(st).unwrap_or_else(PoisonError::into_inner);
            }
            st.idle = false;
            if st.stats.synced >= st.stats.written {
                return; // closing, nothing left
            }
            let target = st.stats.written;
            drop(st);
            let started = Instant::now();
            let _ = self.file.sync_data();
            st = self.lock();
            st.stats.synced = st.stats.synced.max(target);
            st.stats.syncs += 1;
            // Pace the batches: lines written meanwhile wait for the next one.
            let next = started + SYNC_EVERY;
            while !st.closing {
                let now = Instant::now();
                if now >= next {
                    break;
                }
                st = self.wake.wait_timeout(st, next - now).unwrap_or_else(PoisonError::into_inner).0;
            }
        }
    }
}

impl Drop for GroupCommit {
    /// Syncs what is left and ends the thread.
    fn drop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.closing = true;
            self.shared.wake.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file() -> (tempfile::TempDir, Arc<File>) {
        let dir = tempfile::tempdir().unwrap();
        let f = File::create(dir.path().join("j")).unwrap();
        (dir, Arc::new(f))
    }

    #[test]
    fn an_immediate_sync_is_done_before_it_returns() {
        let (_d, f) = file();
        let gc = GroupCommit::start(f.clone()).unwrap();
        (&*f).write_all(b"undo\n").unwrap();
        gc.sync_through(1);
        let s = gc.stats();
        assert_eq!((s.written, s.synced), (1, 1));
        assert!(s.syncs >= 1);
        // Already durable: no second sync.
        gc.sync_through(1);
        assert_eq!(gc.stats().syncs, s.syncs);
    }

    #[test]
    fn batched_lines_take_far_fewer_syncs_and_all_are_synced_at_close() {
        let (_d, f) = file();
        let gc = GroupCommit::start(f.clone()).unwrap();
        let t = Instant::now();
        let n = 2000u64;
        for seq in 1..=n {
            (&*f).write_all(b"{\"event\":\"poll\"}\n").unwrap();
            gc.written(seq);
        }
        let elapsed = t.elapsed();
        let shared = gc.shared.clone();
        drop(gc);
        let s = shared.state.lock().unwrap().stats;
        assert_eq!((s.written, s.synced), (n, n), "close syncs everything");
        // One sync per SYNC_EVERY window at most, plus the last one at close.
        let bound = elapsed.as_millis() as u64 / SYNC_EVERY.as_millis() as u64 + 2;
        assert!(s.syncs <= bound, "{} syncs for {n} lines in {elapsed:?}", s.syncs);
        assert!(s.syncs < n / 10, "{} syncs for {n} lines: not batched", s.syncs);
    }

    #[test]
    fn an_idle_journal_keeps_its_thread_asleep() {
        let (_d, f) = file();
        let gc = GroupCommit::start(f).unwrap();
        gc.written(0);
        drop(gc); // returns: the thread ends without anything to sync
    }
}
