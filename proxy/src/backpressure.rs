//! Backpressure: at most `max_backend_requests` requests to the storage
//! servers are in flight from this proxy. A client request takes what it
//! needs (one for a read, which asks one node at a time; one per replica
//! for a write) before it sends anything, waits at most
//! `backend_queue_timeout` for them, and otherwise answers 503 with
//! Retry-After at once, so a burst queues here, in order, instead of
//! piling timeouts onto the storage servers (which error limiting would
//! then take for failures).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{Error, Result};

/// The proxy's budget of backend requests.
pub struct Gate {
    slots: Arc<Semaphore>,
    max: u32,
    wait: Duration,
}

/// Backend requests taken; given back when dropped.
pub type Pass = OwnedSemaphorePermit;

impl Gate {
    pub fn new(max: u32, wait: Duration) -> Self {
        let max = max.max(1);
        Gate {
            slots: Arc::new(Semaphore::new(max as usize)),
            max,
            wait,
        }
    }

    /// Takes `n` backend requests (at most the whole budget), waiting at
    /// most `backend_queue_timeout`.
    pub async fn enter(&self, n: usize) -> Result<Pass> {
        let n = u32::try_from(n).unwrap_or(u32::MAX).clamp(1, self.max);
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_many_owned(n)).await {
            Ok(Ok(pass)) => Ok(pass),
            Ok(Err(_)) => Err(Error::Internal("backend gate closed".into())),
            Err(_) => Err(Error::Overloaded(format!(
                "{n} backend requests not free within {:?}",
                self.wait
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_then_refuses() {
        let g = Gate::new(3, Duration::from_millis(50));
        let a = g.enter(2).await.unwrap();
        let _b = g.enter(1).await.unwrap();
        assert!(matches!(g.enter(1).await, Err(Error::Overloaded(_))));
        drop(a);
        let _c = g.enter(5).await.err().map(|e| e.to_string());
        // A request wider than the budget takes the whole budget.
        let g = Gate::new(2, Duration::from_millis(50));
        assert!(g.enter(5).await.is_ok());
    }
}
