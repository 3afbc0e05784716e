//! Group commit: concurrent callers queue their rows, each with a completion
//! callback; one leader at a time takes everything queued, commits it as one
//! transaction (one fsync), and calls back every caller whose rows were in
//! it. A caller hears "done" only after the transaction holding its rows
//! committed, so an acknowledged update survives kill -9, yet N concurrent
//! updates cost one fsync rather than N.
//!
//! Callers need not block: [`GroupCommit::enqueue`] queues and says whether
//! the caller must start a leader ([`GroupCommit::lead`], on a thread that
//! may block); an async server awaits a channel the callback completes, so a
//! waiting update holds no thread. The leader keeps committing while rows
//! keep arriving, so under steady load one thread does every commit and a
//! request costs one queue push and one wake-up. [`GroupCommit::submit`] is
//! the blocking form.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use super::error::{DbError, DbResult};

/// Called once with the outcome of the transaction that held the rows.
pub type Done = Box<dyn FnOnce(DbResult<()>) + Send>;

struct State<R> {
    rows: Vec<R>,
    waiters: Vec<Done>,
    leader: bool,
    /// The leader is waiting for the queue to fill (enqueue wakes it).
    gathering: bool,
    /// Callers in the previous batch: the concurrency they keep up.
    last_batch: usize,
}

/// A group-commit queue for rows of type `R`.
pub struct GroupCommit<R> {
    state: Mutex<State<R>>,
    filled: Condvar,
}

impl<R> Default for GroupCommit<R> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                rows: Vec::new(),
                waiters: Vec::new(),
                leader: false,
                gathering: false,
                last_batch: 0,
            }),
            filled: Condvar::new(),
        }
    }
}

/// How long a leader waits at most for a batch to fill. Right after a
/// commit answers N callers, the first of them to come back would otherwise
/// commit alone while the other N-1 queue behind it: one fsync for one row.
/// The leader waits (signalled, not polling) until more than half of the
/// previous batch is back. Not for all of it: while one half's commit is
/// syncing, the other half's requests are answered and parsed, so disk and
/// CPU work overlap. (Waiting for everyone measured 20-26k rows/s at
/// concurrency 16 on this 2-core machine, half 25-30k.)
const GATHER_WAIT: Duration = Duration::from_micros(800);

fn poisoned<T>(_: std::sync::PoisonError<T>) -> DbError {
    DbError::Batch("group commit lock poisoned".into())
}

/// Whether a batch of `waiters` callers is worth committing now.
fn full_enough(waiters: usize, last_batch: usize) -> bool {
    waiters * 2 > last_batch
}

/// Clears the leader flag if a commit panics, so later callers can lead
/// again (the panicking batch's callbacks are dropped, which their receivers
/// see as a failure). A normal return clears it itself, under the lock that
/// found the queue empty.
struct LeaderGuard<'a, R>(&'a GroupCommit<R>);

impl<R> Drop for LeaderGuard<'_, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut st) = self.0.state.lock() {
                st.leader = false;
                st.gathering = false;
            }
        }
    }
}

impl<R> GroupCommit<R> {
    /// Queues `rows`; `done` is called once they are committed (or their
    /// batch failed). Returns true when no leader is running: the caller
    /// must then call [`GroupCommit::lead`] (on a thread that may block).
    pub fn enqueue(&self, rows: Vec<R>, done: Done) -> DbResult<bool> {
        let mut st = self.state.lock().map_err(poisoned)?;
        st.rows.extend(rows);
        st.waiters.push(done);
        if st.gathering && full_enough(st.waiters.len(), st.last_batch) {
            self.filled.notify_one();
        }
        let lead = !st.leader;
        st.leader = true;
        Ok(lead)
    }

    /// Commits queued rows with `commit`, batch after batch, until the
    /// queue stays empty; then gives up leadership.
    pub fn lead(&self, commit: impl Fn(Vec<R>) -> DbResult<()>) {
        let _guard = LeaderGuard(self);
        loop {
            let Ok(mut st) = self.state.lock() else {
                return;
            };
            let deadline = Instant::now() + GATHER_WAIT;
            while !full_enough(st.waiters.len(), st.last_batch) {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                st.gathering = true;
                st = match self.filled.wait_timeout(st, deadline - now) {
                    Ok((g, _)) => g,
                    Err(_) => return,
                };
                st.gathering = false;
            }
            if st.waiters.is_empty() {
                // Nobody came back within the wait: stop leading. The
                // next caller finds no leader and starts one.
                st.leader = false;
                st.last_batch = 0;
                return;
            }
            let rows = std::mem::take(&mut st.rows);
            let waiters = std::mem::take(&mut st.waiters);
            st.last_batch = waiters.len();
            drop(st);
            let res = commit(rows).map_err(|e| e.to_string());
            for done in waiters {
                done(res.clone().map_err(DbError::Batch));
            }
        }
    }

    /// Queues `rows` and blocks until they are committed by `commit` (run
    /// here if no leader is running, with every queued row in arrival order).
    pub fn submit(&self, rows: Vec<R>, commit: impl Fn(Vec<R>) -> DbResult<()>) -> DbResult<()> {
        let (tx, rx) = std::sync::mpsc::channel();
        let done: Done = Box::new(move |r| {
            let _ = tx.send(r);
        });
        if self.enqueue(rows, done)? {
            self.lead(commit);
        }
        rx.recv()
            .map_err(|_| DbError::Batch("commit abandoned".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn batches_concurrent_submits() {
        let gc = Arc::new(GroupCommit::<u32>::default());
        let commits = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(Mutex::new(Vec::new()));
        let mut hs = Vec::new();
        for t in 0..16u32 {
            let (gc, commits, total) = (gc.clone(), commits.clone(), total.clone());
            hs.push(std::thread::spawn(move || {
                for i in 0..50u32 {
                    gc.submit(vec![t * 1000 + i], |rows| {
                        commits.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        total.lock().unwrap().extend(rows);
                        Ok(())
                    })
                    .unwrap();
                }
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(total.lock().unwrap().len(), 800);
        assert!(commits.load(Ordering::SeqCst) < 800);
    }

    #[test]
    fn failure_reaches_every_member() {
        let gc = GroupCommit::<u32>::default();
        let r = gc.submit(vec![1], |_| Err(DbError::Invalid("disk".into())));
        assert!(matches!(r, Err(DbError::Batch(_))));
        // The next caller leads again.
        assert!(gc.submit(vec![2], |_| Ok(())).is_ok());
    }

    #[test]
    fn callbacks_follow_their_commit() {
        // Enqueued without blocking: only the first caller is told to lead,
        // and every callback runs after the commit that held its rows.
        let gc = GroupCommit::<u32>::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut leads = 0;
        for i in 0..5u32 {
            let seen = seen.clone();
            let done: Done = Box::new(move |r| seen.lock().unwrap().push((i, r.is_ok())));
            if gc.enqueue(vec![i], done).unwrap() {
                leads += 1;
            }
        }
        assert_eq!(leads, 1);
        assert!(seen.lock().unwrap().is_empty());
        let committed = Mutex::new(Vec::new());
        gc.lead(|rows| {
            committed.lock().unwrap().push(rows);
            Ok(())
        });
        assert_eq!(*committed.lock().unwrap(), vec![vec![0, 1, 2, 3, 4]]);
        let s = seen.lock().unwrap();
        assert_eq!(s.len(), 5);
        assert!(s.iter().all(|(_, ok)| *ok));
        // Leadership was given up: the next caller leads.
        assert!(gc.enqueue(vec![9], Box::new(|_| {})).unwrap());
    }
}
