//! Group commit: concurrent callers queue their rows; whichever caller finds no
//! commit in progress becomes the leader, takes everything queued, commits it
//! as one transaction (one fsync), and wakes every caller whose rows were in
//! it. A caller returns only after the transaction holding its rows committed,
//! so an acknowledged update survives kill -9, yet N concurrent updates cost
//! one fsync rather than N.

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use super::error::{DbError, DbResult};

struct State<R> {
    queue: Vec<(u64, Vec<R>)>,
    leader: bool,
    /// Requests in the previous batch: the concurrency the caller keeps up.
    last_batch: usize,
    next_id: u64,
    done: HashMap<u64, Result<(), String>>,
}

/// A group-commit queue for rows of type `R`.
pub struct GroupCommit<R> {
    state: Mutex<State<R>>,
    cv: Condvar,
}

impl<R> Default for GroupCommit<R> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                queue: Vec::new(),
                leader: false,
                last_batch: 0,
                next_id: 0,
                done: HashMap::new(),
            }),
            cv: Condvar::new(),
        }
    }
}

/// How long and how often a new leader waits for a batch to fill.
const GATHER_WAIT: std::time::Duration = std::time::Duration::from_micros(200);
const GATHER_ROUNDS: usize = 4;

fn poisoned<T>(_: std::sync::PoisonError<T>) -> DbError {
    DbError::Batch("group commit lock poisoned".into())
}

impl<R> GroupCommit<R> {
    /// Queues `rows` and blocks until they are committed by `commit` (called
    /// by the leader with every queued row, in arrival order).
    pub fn submit(&self, rows: Vec<R>, commit: impl Fn(Vec<R>) -> DbResult<()>) -> DbResult<()> {
        let mut st = self.state.lock().map_err(poisoned)?;
        let id = st.next_id;
        st.next_id += 1;
        st.queue.push((id, rows));
        loop {
            if let Some(res) = st.done.remove(&id) {
                return res.map_err(DbError::Batch);
            }
            if !st.leader {
                st.leader = true;
                // Right after a commit answers N callers, the first of them
                // to come back would otherwise commit alone while the other
                // N-1 queue behind it: one fsync for one row. Waiting a
                // fraction of an fsync for the queue to refill keeps batches
                // near the callers' concurrency.
                for _ in 0..GATHER_ROUNDS {
                    if st.queue.len() * 2 > st.last_batch {
                        break;
                    }
                    drop(st);
                    std::thread::sleep(GATHER_WAIT);
                    st = self.state.lock().map_err(poisoned)?;
                }
                let batch = std::mem::take(&mut st.queue);
                st.last_batch = batch.len();
                drop(st);
                let ids: Vec<u64> = batch.iter().map(|(i, _)| *i).collect();
                let rows: Vec<R> = batch.into_iter().flat_map(|(_, r)| r).collect();
                let res = commit(rows).map_err(|e| e.to_string());
                st = self.state.lock().map_err(poisoned)?;
                for i in ids {
                    st.done.insert(i, res.clone());
                }
                st.leader = false;
                self.cv.notify_all();
                continue;
            }
            st = self.cv.wait(st).map_err(poisoned)?;
        }
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
    }
}
