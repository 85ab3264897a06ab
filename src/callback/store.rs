//! Storing pushes exactly once, in group commits.
//!
//! Handlers hand events to a few committer tasks and wait. A committer takes every event
//! queued at that moment (no added delay: a batch of one when idle) and writes them
//! atomically, linked to their generations and with their followers updated: on Postgres in
//! one statement ([`super::batch_postgres`]), elsewhere in one transaction
//! ([`super::batch_generic`]). Keys already stored (WeChat's retries, from any instance)
//! are skipped and read back. Only after the commit does any waiter get its answer, so
//! `success` always means stored.
//!
//! A batch has [`COMMIT_DEADLINE`]: one that overruns it (a connection gone dark) is
//! abandoned with its connection and its pushes answered with an error, and the committer
//! goes on; [`Committers::health`] tells `/readyz` which are stuck meanwhile. Scans are
//! announced after the answers, in the background ([`ScanBus::announce`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement, Value,
};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::db_error::{refused_data, retryable};
use super::event::IncomingEvent;
use super::{batch_generic, batch_postgres};
use crate::outbox::Outbox;
use crate::scans::bus::ScanBus;
use crate::tasks::Tasks;

/// Most events in one transaction.
pub const MAX_BATCH: usize = 128;
/// Events waiting for a committer before handlers wait to enqueue.
const QUEUE: usize = 4096;
/// Attempts of a batch that hit a deadlock or a busy SQLite file.
const ATTEMPTS: u32 = 3;
/// How long one batch, retries included, may take. A batch over it is abandoned (its
/// connection is dropped, never reused) and its pushes answered with an error, so WeChat
/// retries them; below the callback's 4 s so that the error, not WeChat's timeout, answers.
pub const COMMIT_DEADLINE: Duration = Duration::from_secs(3);
/// A committer busy with one batch for longer than this is reported stuck by `/readyz`.
pub const STUCK_AFTER: Duration = Duration::from_secs(1);

/// The outcome of storing one push.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The event row.
    pub event_id: i64,
    /// The generation it was tied to.
    pub generation_id: Option<i64>,
    /// The passive reply to send (the same for every retry).
    pub reply: Option<String>,
    /// Whether it was stored before (a retry).
    pub duplicate: bool,
}

/// The event could not be stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database failed; nothing of the batch was committed.
    #[error("the event could not be stored")]
    Database(#[source] Arc<DbErr>),
    /// The batch overran [`COMMIT_DEADLINE`]; it may or may not have been committed, and a
    /// retry is recognised either way.
    #[error("storing the event's batch took longer than {0:?}")]
    Deadline(Duration),
    /// The committers are gone (shutting down).
    #[error("the event store is shut down")]
    Closed,
}

struct Job {
    event: IncomingEvent,
    done: oneshot::Sender<Result<Stored, StoreError>>,
}

/// The handle handlers store events through.
pub struct EventStore {
    queue: mpsc::Sender<Job>,
    committers: Committers,
}

impl EventStore {
    /// Starts the committers, owned by `tasks`: one for SQLite (a single writer), `workers`
    /// for Postgres. When the tasks' token is cancelled they stop taking new events, store
    /// the ones already queued, and end.
    pub fn start(
        db: DatabaseConnection,
        workers: usize,
        bus: ScanBus,
        outbox: Outbox,
        tasks: &mut Tasks,
    ) -> Self {
        let tag_gather_ms =
            i64::try_from(outbox.settings().tag_gather.as_millis()).unwrap_or(i64::MAX);
        let workers = if db.get_database_backend() == DbBackend::Sqlite {
            1
        } else {
            workers.max(1)
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        let committers = Committers::new(workers);
        for slot in committers.slots.iter() {
            let committer = Committer {
                db: db.clone(),
                receiver: receiver.clone(),
                bus: bus.clone(),
                outbox: outbox.clone(),
                tag_gather_ms,
                slot: slot.clone(),
                epoch: committers.epoch,
            };
            tasks.spawn("event committer", committer.run(tasks.token()));
        }
        Self { queue, committers }
    }

    /// What the committers are doing, for readiness.
    pub fn committers(&self) -> Committers {
        self.committers.clone()
    }

    /// Stores `event` (or finds it stored) and answers once it is committed.
    ///
    /// # Errors
    /// The database failed, the batch overran its deadline, or the store is shut down; the
    /// event is then not known to be stored.
    pub async fn store(&self, event: IncomingEvent) -> Result<Stored, StoreError> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Job { event, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

/// A view of the committers' progress, shared with `/readyz`.
#[derive(Clone)]
pub struct Committers {
    epoch: Instant,
    slots: Arc<[Arc<Slot>]>,
}

/// One committer: since when it has been on its current batch, and whether it still runs.
#[derive(Default)]
struct Slot {
    /// Milliseconds after the epoch plus one when the current batch began; 0 when idle.
    busy_since: AtomicU64,
    ended: AtomicBool,
}

/// How the committers are doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitterHealth {
    /// Committers started.
    pub total: usize,
    /// Committers on one batch for longer than [`STUCK_AFTER`], or ended.
    pub stuck: usize,
}

impl Committers {
    fn new(workers: usize) -> Self {
        Self {
            epoch: Instant::now(),
            slots: (0..workers).map(|_| Arc::new(Slot::default())).collect(),
        }
    }

    /// How many committers there are, and how many are stuck.
    pub fn health(&self) -> CommitterHealth {
        let now = millis_since(self.epoch);
        let stuck_after = STUCK_AFTER.as_millis() as u64;
        let stuck = self
            .slots
            .iter()
            .filter(|slot| {
                let since = slot.busy_since.load(Ordering::Relaxed);
                slot.ended.load(Ordering::Relaxed)
                    || (since > 0 && now.saturating_sub(since - 1) > stuck_after)
            })
            .count();
        CommitterHealth {
            total: self.slots.len(),
            stuck,
        }
    }
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

struct Committer {
    db: DatabaseConnection,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    bus: ScanBus,
    outbox: Outbox,
    tag_gather_ms: i64,
    slot: Arc<Slot>,
    epoch: Instant,
}

/// Sets its slot's `ended` when dropped.
struct Ended(Arc<Slot>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.ended.store(true, Ordering::Relaxed);
    }
}

impl Committer {
    /// Takes batches until the queue is closed and empty.
    async fn run(self, token: CancellationToken) {
        // Marks the committer ended however it ends, a panic included, so that readiness
        // reports it.
        let _ended = Ended(self.slot.clone());
        while let Some(batch) = self.next_batch(&token).await {
            self.slot
                .busy_since
                .store(millis_since(self.epoch) + 1, Ordering::Relaxed);
            self.store(batch).await;
            self.slot.busy_since.store(0, Ordering::Relaxed);
        }
    }

    /// Every job queued at this moment (at least one); `None` once the queue is closed
    /// (shutdown) and drained.
    async fn next_batch(&self, token: &CancellationToken) -> Option<Vec<Job>> {
        let mut receiver = self.receiver.lock().await;
        let first = tokio::select! {
            biased;
            job = receiver.recv() => job,
            () = token.cancelled() => {
                // No new pushes; the ones queued are still stored and answered.
                receiver.close();
                receiver.recv().await
            }
        }?;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        Some(batch)
    }

    async fn store(&self, batch: Vec<Job>) {
        let events: Vec<&IncomingEvent> = batch.iter().map(|j| &j.event).collect();
        // Dropping the attempt on the deadline drops its connection: the pool tests it
        // with a deadline of its own before reuse and closes it (`db::connect`).
        let result = tokio::time::timeout(
            COMMIT_DEADLINE,
            commit_with_retries(&self.db, &events, self.tag_gather_ms),
        )
        .await
        .unwrap_or(Err(None));
        match result {
            Ok(outcomes) => {
                if outcomes.iter().flatten().any(|o| !o.duplicate) {
                    // New events may have written jobs: idle workers look now.
                    self.outbox.nudge();
                }
                // Only subscribe/SCAN events are linked to a code: each new one is a scan.
                let mut scanned: Vec<i64> = outcomes
                    .iter()
                    .flatten()
                    .filter(|o| !o.duplicate)
                    .filter_map(|o| o.generation_id)
                    .collect();
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.done.send(outcome);
                }
                scanned.sort_unstable();
                scanned.dedup();
                // In the background: storing never waits on Redis.
                self.bus.announce(scanned);
            }
            Err(failure) => {
                let error = match failure {
                    Some(e) => {
                        tracing::error!(error.message = %e, error.cause_chain = ?e, events = batch.len(), "event batch not stored");
                        StoreError::Database(Arc::new(e))
                    }
                    None => {
                        tracing::error!(deadline = ?COMMIT_DEADLINE, events = batch.len(), "event batch overran its deadline; its connection is dropped");
                        metrics::counter!("qrscene_event_batches_abandoned_total").increment(1);
                        StoreError::Deadline(COMMIT_DEADLINE)
                    }
                };
                for job in batch {
                    let _ = job.done.send(Err(error.clone()));
                }
            }
        }
    }
}

/// Commits one batch, retrying conflicts; `Err(Some(_))` is the database's last error.
async fn commit_with_retries(
    db: &DatabaseConnection,
    events: &[&IncomingEvent],
    tag_gather_ms: i64,
) -> Result<Vec<Result<Stored, StoreError>>, Option<DbErr>> {
    let mut result = commit(db, events, tag_gather_ms).await;
    let mut attempt = 1;
    while let Err(e) = &result
        && attempt < ATTEMPTS
        && retryable(e)
    {
        tracing::warn!(error.message = %e, attempt, "event batch conflicted; retrying");
        tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
        result = commit(db, events, tag_gather_ms).await;
        attempt += 1;
    }
    result.map_err(Some)
}

/// A stored event as read back.
#[derive(Debug, FromQueryResult)]
pub(super) struct Existing {
    pub id: i64,
    pub dedup_key: String,
    pub generation_id: Option<i64>,
    pub reply: Option<String>,
}

impl Existing {
    pub(super) fn into_stored(self, duplicate: bool) -> (String, Stored) {
        let stored = Stored {
            event_id: self.id,
            generation_id: self.generation_id,
            reply: self.reply,
            duplicate,
        };
        (self.dedup_key, stored)
    }
}

/// The rows already stored under `keys` (retries).
pub(super) async fn read_stored<C: ConnectionTrait>(
    db: &C,
    keys: &[&str],
) -> Result<Vec<Existing>, DbErr> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, dedup_key, generation_id, reply FROM wechat_event WHERE dedup_key IN ({})",
        placeholders.join(", ")
    );
    let params: Vec<Value> = keys.iter().map(|k| (*k).into()).collect();
    Existing::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        params,
    ))
    .all(db)
    .await
}

/// Stores one batch; the outcomes are in the order of `events`. A batch whose data the
/// database refuses ([`refused_data`]) is stored again one event at a time, so that the event
/// at fault fails alone; conflicts are left to the committer to retry whole.
///
/// The committers call it with the jobs they took; tests call it with batches of their own.
///
/// # Errors
/// Any failure but refused data, and any failure of a batch of one.
pub async fn commit(
    db: &DatabaseConnection,
    events: &[&IncomingEvent],
    tag_gather_ms: i64,
) -> Result<Vec<Result<Stored, StoreError>>, DbErr> {
    let e = match commit_batch(db, events, tag_gather_ms).await {
        Ok(stored) => return Ok(stored.into_iter().map(Ok).collect()),
        Err(e) if events.len() < 2 || !refused_data(&e) => return Err(e),
        Err(e) => e,
    };
    tracing::warn!(error.message = %e, error.cause_chain = ?e, events = events.len(), "event batch failed; storing its events one by one");
    metrics::counter!("qrscene_callback_batch_splits_total").increment(1);
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let outcome = commit_batch(db, &[*event], tag_gather_ms)
            .await
            .and_then(|stored| {
                stored.into_iter().next().ok_or_else(|| {
                    DbErr::Custom(format!("event {} has no outcome", event.dedup_key))
                })
            });
        outcomes.push(outcome.map_err(|e| {
            tracing::error!(error.message = %e, error.cause_chain = ?e, key = %event.dedup_key, "event not stored");
            StoreError::Database(Arc::new(e))
        }));
    }
    Ok(outcomes)
}

/// Stores one batch atomically; the outcomes are in the order of `events`.
async fn commit_batch(
    db: &DatabaseConnection,
    events: &[&IncomingEvent],
    tag_gather_ms: i64,
) -> Result<Vec<Stored>, DbErr> {
    // Identical pushes within the batch become one row, placed where the first arrived;
    // keys in sorted order lock in order.
    let mut unique: Vec<(&IncomingEvent, usize)> = events.iter().copied().zip(0..).collect();
    unique.sort_by(|(a, i), (b, j)| a.dedup_key.cmp(&b.dedup_key).then(i.cmp(j)));
    unique.dedup_by(|(a, _), (b, _)| a.dedup_key == b.dedup_key);
    let received_at = Utc::now();
    let stored = match db.get_database_backend() {
        DbBackend::Postgres => {
            batch_postgres::commit(db, &unique, received_at, tag_gather_ms).await?
        }
        _ => batch_generic::commit(db, &unique, received_at, tag_gather_ms).await?,
    };
    // Within the batch, the second of two identical pushes is a retry too.
    let mut first_seen: HashMap<&str, bool> = HashMap::new();
    events
        .iter()
        .map(|e| {
            let mut outcome = stored.get(&e.dedup_key).cloned().ok_or_else(|| {
                DbErr::Custom(format!("event {} neither inserted nor found", e.dedup_key))
            })?;
            if first_seen.insert(e.dedup_key.as_str(), true).is_some() {
                outcome.duplicate = true;
            }
            Ok(outcome)
        })
        .collect()
}
