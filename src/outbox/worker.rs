//! The workers: on every instance, for each kind, a few loops that claim due jobs, run them
//! with the kind's timeout and record the outcomes; and a sampler that publishes the queue's
//! figures and purges old finished jobs. All of them are owned by [`Tasks`] and stop at
//! shutdown after the run in hand is recorded.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{Job, Outcome, Ran, Runner, claim, now_ms, store};
use crate::tasks::Tasks;

/// How the outbox runs.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// How long a claim holds a job; a job whose worker died is claimed again after it.
    pub lease: Duration,
    /// The first retry's delay; each later one doubles it (`QRSCENE_OUTBOX_RETRY_BASE_MS`).
    pub retry_base: Duration,
    /// How often idle workers look for due jobs (a commit on this instance wakes them at once).
    pub poll: Duration,
    /// How long finished jobs are kept (the webhooks' delivery log).
    pub retention: Duration,
    /// How long a tagging waits for others to share its WeChat call (`QRSCENE_TAG_GATHER_MS`).
    pub tag_gather: Duration,
    /// This worker's name in `claimed_by`.
    pub instance: String,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            retry_base: Duration::from_secs(5),
            poll: Duration::from_millis(500),
            retention: Duration::from_secs(7 * 24 * 3600),
            tag_gather: Duration::from_secs(2),
            instance: format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()),
        }
    }
}

/// The outbox of one instance: its settings and the signal that wakes its workers.
#[derive(Clone)]
pub struct Outbox {
    db: DatabaseConnection,
    settings: Arc<OutboxSettings>,
    wake: Arc<Notify>,
}

impl Outbox {
    /// An outbox over `db`; no worker runs until [`Outbox::start`].
    pub fn new(db: DatabaseConnection, settings: OutboxSettings) -> Self {
        Self {
            db,
            settings: Arc::new(settings),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Its settings.
    pub fn settings(&self) -> &OutboxSettings {
        &self.settings
    }

    /// Wakes the idle workers: jobs were just written.
    pub fn nudge(&self) {
        self.wake.notify_waiters();
    }

    /// Starts `runners` (each with its policy's concurrency) and the sampler, owned by `tasks`.
    pub fn start(&self, runners: Vec<Arc<dyn Runner>>, tasks: &mut Tasks) {
        for runner in runners {
            for _ in 0..runner.policy().concurrency.max(1) {
                let worker = Worker {
                    outbox: self.clone(),
                    runner: runner.clone(),
                };
                tasks.spawn("outbox worker", worker.run(tasks.token()));
            }
        }
        tasks.spawn("outbox sampler", sample(self.clone(), tasks.token()));
    }
}

struct Worker {
    outbox: Outbox,
    runner: Arc<dyn Runner>,
}

impl Worker {
    async fn run(self, token: CancellationToken) {
        let kind = self.runner.kind();
        let policy = self.runner.policy();
        let settings = self.outbox.settings.clone();
        while !token.is_cancelled() {
            // Registered before the claim, so that a nudge during it is not missed.
            let woken = self.outbox.wake.notified();
            let claimed = claim::claim(
                &self.outbox.db,
                kind,
                &policy,
                settings.lease,
                &settings.instance,
                now_ms(),
            )
            .await;
            let jobs = match claimed {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(kind, error.message = %e, "outbox jobs could not be claimed");
                    metrics::counter!("qrscene_outbox_claim_errors_total", "kind" => kind)
                        .increment(1);
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    () = woken => {}
                    () = tokio::time::sleep(settings.poll) => {}
                    () = token.cancelled() => break,
                }
                continue;
            }
            // A run ends well inside its lease, so that no other worker claims its jobs
            // while it still runs.
            let timeout = policy.timeout.min(settings.lease.mul_f64(0.8));
            let ran = match tokio::time::timeout(timeout, self.runner.run(jobs.clone())).await {
                Ok(ran) => ran,
                Err(_) => timed_out(&jobs, timeout),
            };
            if let Err(e) =
                claim::record(&self.outbox.db, &jobs, ran, &policy, settings.retry_base).await
            {
                tracing::error!(kind, jobs = jobs.len(), error.message = %e, "outbox outcomes not recorded; the jobs run again after their lease");
                metrics::counter!("qrscene_outbox_record_errors_total", "kind" => kind)
                    .increment(1);
            }
        }
    }
}

fn timed_out(jobs: &[Job], timeout: Duration) -> Vec<Ran> {
    jobs.iter()
        .map(|job| {
            Ran::new(
                job.id,
                Outcome::Retry {
                    error: format!("the run took longer than {timeout:?}"),
                    code: None,
                },
            )
        })
        .collect()
}

/// Every 10 s: the jobs per kind and state (`qrscene_outbox_jobs`) and the age of the
/// oldest due job per kind (`qrscene_outbox_oldest_due_seconds`); every hour, finished jobs
/// past the retention are deleted.
async fn sample(outbox: Outbox, token: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    let mut last_purge: Option<tokio::time::Instant> = None;
    let kinds = [super::kind::TAG, super::kind::KEFU, super::kind::WEBHOOK];
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = token.cancelled() => return,
        }
        match store::counts(&outbox.db).await {
            Ok(counts) => {
                let now = now_ms();
                for kind in kinds {
                    for state in [
                        super::state::PENDING,
                        super::state::RUNNING,
                        super::state::DEAD,
                    ] {
                        let jobs = counts
                            .iter()
                            .find(|c| c.kind == kind && c.state == state)
                            .map_or(0, |c| c.jobs);
                        metrics::gauge!("qrscene_outbox_jobs", "kind" => kind, "state" => state)
                            .set(jobs as f64);
                    }
                    let oldest = counts
                        .iter()
                        .filter(|c| c.kind == kind && c.state != super::state::DEAD)
                        .filter_map(|c| c.oldest_ms)
                        .min()
                        .map_or(0, |due| (now - due).max(0));
                    metrics::gauge!("qrscene_outbox_oldest_due_seconds", "kind" => kind)
                        .set(oldest as f64 / 1000.0);
                }
            }
            Err(e) => tracing::warn!(error.message = %e, "outbox figures could not be read"),
        }
        if last_purge.is_none_or(|at| at.elapsed() > Duration::from_secs(3600)) {
            last_purge = Some(tokio::time::Instant::now());
            let before =
                now_ms() - i64::try_from(outbox.settings.retention.as_millis()).unwrap_or(0);
            match store::purge(&outbox.db, before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(
                    jobs = n,
                    "finished outbox jobs past their retention deleted"
                ),
                Err(e) => {
                    tracing::warn!(error.message = %e, "finished outbox jobs could not be purged")
                }
            }
        }
    }
}
