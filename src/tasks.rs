//! The owner of every background task: one cancellation signal, and joining them all with
//! a bound at shutdown (the shape of mini-redis's `Shutdown` with a `JoinSet`).

use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Background tasks of one application, and the signal that tells them to finish.
#[derive(Default)]
pub struct Tasks {
    token: CancellationToken,
    set: JoinSet<&'static str>,
}

impl Tasks {
    /// No tasks yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The signal tasks watch; cancelled when shutdown begins.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Runs `task` on the current runtime, owned here; `name` identifies it in logs.
    pub fn spawn<F>(&mut self, name: &'static str, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.set.spawn(async move {
            task.await;
            name
        });
    }

    /// Adopts a task spawned elsewhere (one that watches [`Self::token`]).
    pub fn adopt(&mut self, name: &'static str, handle: tokio::task::JoinHandle<()>) {
        // Aborting the wrapper at the shutdown bound aborts the task too (a dropped
        // `JoinHandle` would only detach it).
        let handle = tokio_util::task::AbortOnDropHandle::new(handle);
        self.spawn(name, async move {
            if let Err(e) = handle.await {
                tracing::error!(task = name, error.message = %e, "background task failed");
            }
        });
    }

    /// Cancels every task and waits for them to finish, at most `bound`; the ones still
    /// running then are aborted. Answers how many had to be aborted.
    pub async fn shutdown(mut self, bound: Duration) -> usize {
        self.token.cancel();
        let joined = tokio::time::timeout(bound, async {
            while let Some(done) = self.set.join_next().await {
                match done {
                    Ok(name) => tracing::debug!(task = name, "background task finished"),
                    Err(e) => tracing::error!(error.message = %e, "background task failed"),
                }
            }
        })
        .await;
        if joined.is_ok() {
            return 0;
        }
        let left = self.set.len();
        tracing::error!(
            tasks = left,
            bound_ms = bound.as_millis() as u64,
            "background tasks did not finish in time; aborting them"
        );
        self.set.shutdown().await;
        left
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_joins_tasks_that_watch_the_token_and_aborts_the_others() {
        let mut tasks = Tasks::new();
        let token = tasks.token();
        let (done, mut finished) = tokio::sync::mpsc::channel(1);
        tasks.spawn("polite", async move {
            token.cancelled().await;
            let _ = done.send(()).await;
        });
        assert_eq!(tasks.shutdown(Duration::from_secs(1)).await, 0);
        assert!(
            finished.try_recv().is_ok(),
            "the polite task ran to its end"
        );

        let mut tasks = Tasks::new();
        tasks.spawn("stubborn", std::future::pending());
        let started = std::time::Instant::now();
        assert_eq!(tasks.shutdown(Duration::from_millis(50)).await, 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
