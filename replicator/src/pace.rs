//! A rate limit for a daemon's work items (Swift's `RateLimitedIterator`):
//! at most `per_second` items start per second, evenly spaced, without a
//! burst after an idle stretch.

use std::time::Duration;

use tokio::time::Instant;

/// Spaces items `1 / per_second` apart.
pub struct Pacer {
    gap: Option<Duration>,
    next: Option<Instant>,
}

impl Pacer {
    /// None: no limit.
    pub fn new(per_second: Option<f64>) -> Self {
        Pacer {
            gap: per_second
                .filter(|r| r.is_finite() && *r > 0.0)
                .map(|r| Duration::from_secs_f64(1.0 / r)),
            next: None,
        }
    }

    /// Waits until the next item may start.
    pub async fn wait(&mut self) {
        let Some(gap) = self.gap else {
            return;
        };
        let now = Instant::now();
        let at = match self.next {
            Some(t) if t > now => t,
            _ => now,
        };
        tokio::time::sleep_until(at).await;
        self.next = Some(at + gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spaces_items() {
        let mut p = Pacer::new(Some(100.0));
        let t0 = Instant::now();
        for _ in 0..5 {
            p.wait().await;
        }
        // The first starts at once, each next one 10 ms later.
        assert!(
            t0.elapsed() >= Duration::from_millis(40),
            "{:?}",
            t0.elapsed()
        );
        let mut free = Pacer::new(None);
        let t1 = Instant::now();
        for _ in 0..100 {
            free.wait().await;
        }
        assert!(t1.elapsed() < Duration::from_millis(40));
    }
}
