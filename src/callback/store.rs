//! Storing pushes exactly once, in group commits.
//!
//! Handlers hand events to a few committer tasks and wait. A committer takes every event
//! queued at that moment (no added delay: a batch of one when idle) and writes them
//! atomically, linked to their generations and with their followers updated: on Postgres in
//! one statement ([`super::batch_postgres`]), elsewhere in one transaction
//! ([`super::batch_generic`]). Keys already stored (WeChat's retries, from any instance)
//! are skipped and read back. Only after the commit does any waiter get its answer, so
//! `success` always means stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use sea_orm::sqlx::sqlite::SqliteError;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, RuntimeErr, Statement,
    Value,
};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::event::IncomingEvent;
use super::{batch_generic, batch_postgres};
use crate::scans::bus::ScanBus;

/// Most events in one transaction.
pub const MAX_BATCH: usize = 128;
/// Events waiting for a committer before handlers wait to enqueue.
const QUEUE: usize = 4096;
/// Attempts of a batch that hit a deadlock or a busy SQLite file.
const ATTEMPTS: u32 = 3;
/// SQLSTATE `deadlock_detected`.
const DEADLOCK: &str = "40P01";
/// SQLSTATE `serialization_failure`.
const SERIALIZATION: &str = "40001";
/// SQLite's primary result code for a busy database file.
const SQLITE_BUSY: i32 = 5;
/// SQLite's primary result code for a locked table.
const SQLITE_LOCKED: i32 = 6;

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
}

impl EventStore {
    /// Starts the committers on the current runtime: one for SQLite (a single writer),
    /// `workers` for Postgres.
    pub fn start(db: DatabaseConnection, workers: usize, bus: ScanBus) -> Self {
        let workers = if db.get_database_backend() == DbBackend::Sqlite {
            1
        } else {
            workers.max(1)
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers {
            tokio::spawn(committer(db.clone(), receiver.clone(), bus.clone()));
        }
        Self { queue }
    }

    /// Stores `event` (or finds it stored) and answers once it is committed.
    ///
    /// # Errors
    /// The database failed or the store is shut down; the event is then not stored.
    pub async fn store(&self, event: IncomingEvent) -> Result<Stored, StoreError> {
        let (done, outcome) = oneshot::channel();
        self.queue
            .send(Job { event, done })
            .await
            .map_err(|_| StoreError::Closed)?;
        outcome.await.map_err(|_| StoreError::Closed)?
    }
}

async fn committer(
    db: DatabaseConnection,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    bus: ScanBus,
) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let events: Vec<&IncomingEvent> = batch.iter().map(|j| &j.event).collect();
        let mut result = commit(&db, &events).await;
        let mut attempt = 1;
        while let Err(e) = &result
            && attempt < ATTEMPTS
            && retryable(e)
        {
            tracing::warn!(error.message = %e, attempt, "event batch conflicted; retrying");
            tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
            result = commit(&db, &events).await;
            attempt += 1;
        }
        match result {
            Ok(outcomes) => {
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
                bus.publish(&scanned).await;
            }
            Err(e) => {
                tracing::error!(error.message = %e, error.cause_chain = ?e, events = batch.len(), "event batch not stored");
                let e = Arc::new(e);
                for job in batch {
                    let _ = job.done.send(Err(StoreError::Database(e.clone())));
                }
            }
        }
    }
}

/// What the database answered, if it answered: SQLite's result code or Postgres' SQLSTATE.
enum Code {
    Sqlite(i32),
    Sqlstate(String),
}

fn code(e: &DbErr) -> Option<Code> {
    let (DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = e
    else {
        return None;
    };
    let db = e.as_database_error()?;
    let code = db.code()?;
    if db.try_downcast_ref::<SqliteError>().is_some() {
        // The extended code; its low byte is the primary one.
        code.parse::<i32>().ok().map(|c| Code::Sqlite(c & 0xff))
    } else {
        Some(Code::Sqlstate(code.into_owned()))
    }
}

/// A deadlock (40P01) or serialization failure (40001) on Postgres, a busy or locked file
/// (primary result codes 5 and 6) on SQLite: told by the database's code, never by its
/// message text.
fn retryable(e: &DbErr) -> bool {
    match code(e) {
        Some(Code::Sqlite(c)) => matches!(c, SQLITE_BUSY | SQLITE_LOCKED),
        Some(Code::Sqlstate(c)) => c == DEADLOCK || c == SERIALIZATION,
        None => false,
    }
}

/// The database refused the data of some event (Postgres' data exceptions and integrity
/// violations, classes 22 and 23; SQLite's TOOBIG, CONSTRAINT, MISMATCH and RANGE), so that
/// storing the events one by one isolates it. A connection that failed or a statement that
/// timed out would fail every event again, slowly: those are not split.
fn refused_data(e: &DbErr) -> bool {
    match code(e) {
        Some(Code::Sqlite(c)) => matches!(c, 18 | 19 | 20 | 25),
        Some(Code::Sqlstate(c)) => c.starts_with("22") || c.starts_with("23"),
        None => false,
    }
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
) -> Result<Vec<Result<Stored, StoreError>>, DbErr> {
    let e = match commit_batch(db, events).await {
        Ok(stored) => return Ok(stored.into_iter().map(Ok).collect()),
        Err(e) if events.len() < 2 || !refused_data(&e) => return Err(e),
        Err(e) => e,
    };
    tracing::warn!(error.message = %e, error.cause_chain = ?e, events = events.len(), "event batch failed; storing its events one by one");
    metrics::counter!("qrscene_callback_batch_splits_total").increment(1);
    let mut outcomes = Vec::with_capacity(events.len());
    for event in events {
        let outcome = commit_batch(db, &[*event]).await.and_then(|stored| {
            stored
                .into_iter()
                .next()
                .ok_or_else(|| DbErr::Custom(format!("event {} has no outcome", event.dedup_key)))
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
) -> Result<Vec<Stored>, DbErr> {
    // Identical pushes within the batch become one row, placed where the first arrived;
    // keys in sorted order lock in order.
    let mut unique: Vec<(&IncomingEvent, usize)> = events.iter().copied().zip(0..).collect();
    unique.sort_by(|(a, i), (b, j)| a.dedup_key.cmp(&b.dedup_key).then(i.cmp(j)));
    unique.dedup_by(|(a, _), (b, _)| a.dedup_key == b.dedup_key);
    let received_at = Utc::now();
    let stored = match db.get_database_backend() {
        DbBackend::Postgres => batch_postgres::commit(db, &unique, received_at).await?,
        _ => batch_generic::commit(db, &unique, received_at).await?,
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

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, Database, SqliteTransactionMode, TransactionOptions};
    use sea_orm::{ConnectionTrait, TransactionTrait};

    use super::*;

    async fn connect(url: &str) -> DatabaseConnection {
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.unwrap();
        db.execute_unprepared("PRAGMA busy_timeout = 0")
            .await
            .unwrap();
        db
    }

    #[tokio::test]
    async fn sqlite_errors_are_told_by_their_code() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let (a, b) = (connect(&url).await, connect(&url).await);
        a.execute_unprepared("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .await
            .unwrap();
        let immediate = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let lock = a.begin_with_options(immediate).await.unwrap();
        let busy = b
            .execute_unprepared("INSERT INTO t VALUES ('x')")
            .await
            .unwrap_err();
        assert!(retryable(&busy) && !refused_data(&busy), "{busy:?}");
        lock.commit().await.unwrap();
        b.execute_unprepared("INSERT INTO t VALUES ('x')")
            .await
            .unwrap();
        let duplicate = b
            .execute_unprepared("INSERT INTO t VALUES ('x')")
            .await
            .unwrap_err();
        assert!(
            refused_data(&duplicate) && !retryable(&duplicate),
            "{duplicate:?}"
        );
        let syntax = b.execute_unprepared("INSERT INTO").await.unwrap_err();
        assert!(!refused_data(&syntax) && !retryable(&syntax), "{syntax:?}");
    }

    #[tokio::test]
    async fn postgres_errors_are_told_by_their_sqlstate() {
        let Some(url) = std::env::var("TEST_DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
        else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but TEST_DATABASE_URL is unset"
            );
            return;
        };
        let (a, b) = (connect_pg(&url).await, connect_pg(&url).await);
        let ta = a.begin().await.unwrap();
        let tb = b.begin().await.unwrap();
        ta.execute_unprepared("SELECT pg_advisory_xact_lock(881)")
            .await
            .unwrap();
        tb.execute_unprepared("SELECT pg_advisory_xact_lock(882)")
            .await
            .unwrap();
        // Each waits for the other's lock: Postgres breaks the cycle by failing one.
        let (ra, rb) = tokio::join!(
            ta.execute_unprepared("SELECT pg_advisory_xact_lock(882)"),
            tb.execute_unprepared("SELECT pg_advisory_xact_lock(881)"),
        );
        let deadlock = ra.err().or(rb.err()).expect("one of them deadlocked");
        assert!(
            retryable(&deadlock) && !refused_data(&deadlock),
            "{deadlock:?}"
        );
        ta.rollback().await.unwrap();
        tb.rollback().await.unwrap();
        let bad_date = a
            .execute_unprepared("SELECT '2026-13-45'::date")
            .await
            .unwrap_err();
        assert!(
            refused_data(&bad_date) && !retryable(&bad_date),
            "{bad_date:?}"
        );
    }

    async fn connect_pg(url: &str) -> DatabaseConnection {
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(1).sqlx_logging(false);
        Database::connect(options).await.unwrap()
    }
}
