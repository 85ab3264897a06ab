//! The workers of one instance: a dispatcher that claims due jobs for every kind with a free
//! run (one claim at a time, so that an idle outbox costs one query per kind and poll, and a
//! dark database path holds one connection), runs them with the kind's timeout and records
//! the outcomes; and a sampler that publishes the queue's figures and purges old finished
//! jobs. Both are owned by [`Tasks`] and stop at shutdown after the runs in hand are recorded.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{Job, Outcome, Ran, Runner, claim, now_ms, store};
use crate::tasks::Tasks;

/// How long a claim, a recording of outcomes or a sampling may wait on the database: a
/// connection gone dark is dropped at this deadline (the pool never reuses it), so that the
/// outbox does not hold the pool's connections while the committers need them.
const DB_DEADLINE: Duration = Duration::from_secs(3);

/// Claims made by this process, for unique claim tokens.
static CLAIMS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

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
    /// This instance's name, the prefix of its claim tokens (`claimed_by`).
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

    /// Starts the dispatcher of `runners` and the sampler, owned by `tasks`.
    pub fn start(&self, runners: Vec<Arc<dyn Runner>>, tasks: &mut Tasks) {
        tasks.spawn(
            "outbox dispatcher",
            dispatch(self.clone(), runners, tasks.token()),
        );
        tasks.spawn("outbox sampler", sample(self.clone(), tasks.token()));
    }
}

/// The outbox of one instance: one loop claims due jobs for every kind that has a free
/// run (up to its policy's concurrency), one kind after the other on one connection at a
/// time, and starts each run as a task of its own. It sleeps when nothing was claimed until
/// a commit nudges it, a run ends, or the poll interval passes. At shutdown it claims no
/// more and waits for the runs in hand, which end within their timeout.
async fn dispatch(outbox: Outbox, runners: Vec<Arc<dyn Runner>>, token: CancellationToken) {
    let settings = outbox.settings.clone();
    let slots: Vec<Arc<Semaphore>> = runners
        .iter()
        .map(|r| Arc::new(Semaphore::new(r.policy().concurrency.max(1))))
        .collect();
    let mut runs = JoinSet::new();
    while !token.is_cancelled() {
        // Registered before the claims, so that a nudge during them is not missed.
        let woken = outbox.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let mut claimed_any = false;
        for (runner, slot) in runners.iter().zip(&slots) {
            let Ok(permit) = slot.clone().try_acquire_owned() else {
                continue;
            };
            let jobs = claim_due(&outbox, runner.as_ref()).await;
            if jobs.is_empty() {
                continue;
            }
            claimed_any = true;
            let (outbox, runner) = (outbox.clone(), runner.clone());
            runs.spawn(async move {
                run(&outbox, runner.as_ref(), jobs).await;
                drop(permit);
                // More may be due: look again now.
                outbox.wake.notify_waiters();
            });
        }
        while runs.try_join_next().is_some() {}
        if claimed_any {
            continue;
        }
        tokio::select! {
            () = woken => {}
            () = tokio::time::sleep(settings.poll) => {}
            () = token.cancelled() => break,
        }
    }
    while runs.join_next().await.is_some() {}
}

/// Due jobs of `runner`'s kind, claimed for this instance; none when the database does not
/// answer in time.
async fn claim_due(outbox: &Outbox, runner: &dyn Runner) -> Vec<Job> {
    let kind = runner.kind();
    let settings = &outbox.settings;
    let token = format!(
        "{}:{}",
        settings.instance,
        CLAIMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let claimed = tokio::time::timeout(
        DB_DEADLINE,
        claim::claim(
            &outbox.db,
            kind,
            &runner.policy(),
            settings.lease,
            &token,
            now_ms(),
        ),
    )
    .await
    .unwrap_or_else(|_| Err(DbErr::Custom(format!("no answer within {DB_DEADLINE:?}"))));
    claimed.unwrap_or_else(|e| {
        tracing::warn!(kind, error.message = %e, "outbox jobs could not be claimed");
        metrics::counter!("qrscene_outbox_claim_errors_total", "kind" => kind).increment(1);
        Vec::new()
    })
}

/// Runs `jobs` with the kind's timeout, and records their outcomes.
async fn run(outbox: &Outbox, runner: &dyn Runner, jobs: Vec<Job>) {
    let kind = runner.kind();
    let policy = runner.policy();
    let settings = &outbox.settings;
    // A run ends well inside its lease, so that no other worker claims its jobs while it
    // still runs.
    let timeout = policy.timeout.min(settings.lease.mul_f64(0.8));
    // A job claimed more often than its attempts allow came back from expired leases: its
    // runs keep dying (or never record); it is not run again.
    let (worn, fresh): (Vec<Job>, Vec<Job>) = jobs
        .iter()
        .cloned()
        .partition(|j| j.attempts > policy.max_attempts);
    let mut ran = if fresh.is_empty() {
        Vec::new()
    } else {
        match tokio::time::timeout(timeout, runner.run(fresh.clone())).await {
            Ok(ran) => ran,
            Err(_) => timed_out(&fresh, timeout),
        }
    };
    ran.extend(worn.iter().map(|j| {
        Ran::new(
            j.id,
            Outcome::Dead {
                error: format!(
                    "claimed {} times without an outcome: its runs keep dying or timing out",
                    j.attempts
                ),
                code: None,
            },
        )
    }));
    let recorded = tokio::time::timeout(
        DB_DEADLINE,
        claim::record(&outbox.db, &jobs, ran, &policy, settings.retry_base),
    )
    .await
    .unwrap_or_else(|_| Err(DbErr::Custom(format!("no answer within {DB_DEADLINE:?}"))));
    if let Err(e) = recorded {
        tracing::error!(kind, jobs = jobs.len(), error.message = %e, "outbox outcomes not recorded; the jobs run again after their lease");
        metrics::counter!("qrscene_outbox_record_errors_total", "kind" => kind).increment(1);
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
        let counts = tokio::time::timeout(DB_DEADLINE, store::counts(&outbox.db))
            .await
            .unwrap_or_else(|_| Err(DbErr::Custom(format!("no answer within {DB_DEADLINE:?}"))));
        match counts {
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
            let purged = tokio::time::timeout(DB_DEADLINE * 10, store::purge(&outbox.db, before))
                .await
                .unwrap_or_else(|_| Err(DbErr::Custom("the purge took too long".into())));
            match purged {
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
