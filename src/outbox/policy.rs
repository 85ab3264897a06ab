//! How the jobs of one kind are tried: how many at once, for how long, how often, and when
//! to give up.

use std::time::Duration;

use rand::RngExt;

/// The retry and batching rules of one kind of job.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts before a job that keeps failing is dead.
    pub max_attempts: i32,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    /// Most jobs handed to one run.
    pub batch: u64,
    /// Runs of this kind at the same time on one instance.
    pub concurrency: usize,
    /// How long one run may take; a run over it is abandoned and its jobs retried.
    pub timeout: Duration,
    /// Jobs written up to this long after the oldest due one join its run (taggings wait
    /// for their neighbours so that one call tags many followers).
    pub gather: Duration,
}

impl Policy {
    /// When attempt `attempts` (1 for the first) failed at `now_ms`: the epoch milliseconds
    /// of the next one, `base * 2^(attempts-1)` capped at [`Policy::max_backoff`], with
    /// ±20% jitter so that jobs that failed together do not come back together; `None` once
    /// the attempts are spent.
    pub fn next_attempt(&self, attempts: i32, base: Duration, now_ms: i64) -> Option<i64> {
        if attempts >= self.max_attempts {
            return None;
        }
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(30);
        let delay = base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_backoff);
        let jitter = rand::rng().random_range(0.8..1.2);
        let delay_ms = (delay.as_millis() as f64 * jitter) as i64;
        Some(now_ms + delay_ms.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            max_attempts: 5,
            max_backoff: Duration::from_secs(60),
            batch: 1,
            concurrency: 1,
            timeout: Duration::from_secs(1),
            gather: Duration::ZERO,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap_then_gives_up() {
        let base = Duration::from_secs(5);
        for (attempt, nominal) in [(1, 5_000), (2, 10_000), (3, 20_000), (4, 40_000)] {
            let at = policy().next_attempt(attempt, base, 0).unwrap();
            assert!(
                (nominal * 8 / 10..=nominal * 12 / 10).contains(&at),
                "attempt {attempt}: {at}"
            );
        }
        let capped = Policy {
            max_attempts: 100,
            ..policy()
        };
        let at = capped.next_attempt(20, base, 0).unwrap();
        assert!((48_000..=72_000).contains(&at), "{at}");
        assert_eq!(policy().next_attempt(5, base, 0), None);
    }
}
