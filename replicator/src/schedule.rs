//! The loop every daemon runs: a pass, then a wait so that passes start an
//! `interval` apart (at once when a pass took longer), until shutdown; a
//! shutdown drops the pass under way.

use std::future::Future;
use std::time::{Duration, Instant};

/// Runs `pass` every `interval` until `shutdown` resolves.
pub async fn every<F, P>(interval: Duration, shutdown: impl Future<Output = ()>, mut pass: F)
where
    F: FnMut() -> P,
    P: Future,
{
    tokio::pin!(shutdown);
    loop {
        let begin = Instant::now();
        tokio::select! {
            _ = pass() => {}
            _ = &mut shutdown => return,
        }
        let wait = interval.saturating_sub(begin.elapsed());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut shutdown => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn passes_start_an_interval_apart_until_shutdown() {
        let n = AtomicUsize::new(0);
        let stop = tokio::time::sleep(Duration::from_millis(250));
        every(Duration::from_millis(100), stop, || async {
            n.fetch_add(1, Ordering::Relaxed);
        })
        .await;
        // At 0, 100 and 200 ms (a slow machine may miss the last); without
        // the waits there would be thousands, and the shutdown ends the loop.
        assert!((2..=3).contains(&n.load(Ordering::Relaxed)));
    }
}
