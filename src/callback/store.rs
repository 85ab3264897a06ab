//! Storing pushes exactly once, in group commits.
//!
//! Handlers hand events to a few committer tasks and wait. A committer takes every event
//! queued at that moment (no added delay: a batch of one when idle), links them to their
//! generations, and writes them in one transaction: a multi-row insert that skips keys
//! already stored (WeChat's retries, from any instance), a read of those skipped rows, and
//! one follower upsert. Only after the commit does any waiter get its answer, so `success`
//! always means stored.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait, Value,
};
use tokio::sync::{Mutex, mpsc, oneshot};

use super::event::IncomingEvent;
use super::followers::{self, FollowEvent};
use super::link;

/// Most events in one transaction.
pub const MAX_BATCH: usize = 128;
/// Events waiting for a committer before handlers wait to enqueue.
const QUEUE: usize = 4096;
/// Attempts of a batch that hit a deadlock or a busy SQLite file.
const ATTEMPTS: u32 = 3;

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
    pub fn start(db: DatabaseConnection, workers: usize) -> Self {
        let workers = if db.get_database_backend() == DbBackend::Sqlite {
            1
        } else {
            workers.max(1)
        };
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..workers {
            tokio::spawn(committer(db.clone(), receiver.clone()));
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

async fn committer(db: DatabaseConnection, receiver: Arc<Mutex<mpsc::Receiver<Job>>>) {
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
                for (job, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = job.done.send(Ok(outcome));
                }
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

fn retryable(e: &DbErr) -> bool {
    let text = e.to_string();
    text.contains("deadlock")
        || text.contains("database is locked")
        || text.contains("could not serialize")
}

#[derive(Debug, FromQueryResult)]
struct Existing {
    id: i64,
    dedup_key: String,
    generation_id: Option<i64>,
    reply: Option<String>,
}

const COLUMNS: usize = 16;
const INSERT_HEAD: &str = "INSERT INTO wechat_event (dedup_key, account, openid, msg_type, event, kind, \
    event_key, scene, ticket, msg_id, create_time, occurred_at, received_at, generation_id, reply, xml) VALUES ";

/// Stores one batch; the outcomes are in the order of `events`.
async fn commit(db: &DatabaseConnection, events: &[&IncomingEvent]) -> Result<Vec<Stored>, DbErr> {
    // Identical pushes within the batch become one row; keys in sorted order lock in order.
    let mut unique: Vec<&IncomingEvent> = events.to_vec();
    unique.sort_by(|a, b| a.dedup_key.cmp(&b.dedup_key));
    unique.dedup_by(|a, b| a.dedup_key == b.dedup_key);
    let links = link::resolve(db, &unique).await?;
    let link_of: HashMap<&str, &Option<link::Link>> = unique
        .iter()
        .zip(&links)
        .map(|(e, l)| (e.dedup_key.as_str(), l))
        .collect();

    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let txn = db.begin_with_options(options).await?;
    let backend = txn.get_database_backend();
    let received_at = Utc::now();
    let mut sql = String::from(INSERT_HEAD);
    let mut params: Vec<Value> = Vec::with_capacity(unique.len() * COLUMNS);
    for (i, (e, l)) in unique.iter().zip(&links).enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let row: Vec<String> = (1..=COLUMNS)
            .map(|n| format!("${}", i * COLUMNS + n))
            .collect();
        sql.push('(');
        sql.push_str(&row.join(", "));
        sql.push(')');
        params.extend([
            e.dedup_key.clone().into(),
            e.account.clone().into(),
            e.openid.clone().into(),
            e.msg_type.clone().into(),
            e.event.clone().into(),
            e.kind.as_str().into(),
            e.event_key.clone().into(),
            e.scene.clone().into(),
            e.ticket.clone().into(),
            e.msg_id.into(),
            e.create_time.into(),
            e.occurred_at.into(),
            received_at.into(),
            l.as_ref().map(|l| l.id).into(),
            l.as_ref().and_then(|l| l.reply.clone()).into(),
            e.xml.clone().into(),
        ]);
    }
    sql.push_str(
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key, generation_id, reply",
    );
    let inserted =
        Existing::find_by_statement(Statement::from_sql_and_values(backend, sql, params))
            .all(&txn)
            .await?;
    let mut stored: HashMap<String, Stored> = HashMap::with_capacity(unique.len());
    let mut follow = Vec::new();
    for row in inserted {
        if let Some(e) = unique.iter().find(|e| e.dedup_key == row.dedup_key) {
            let generation_id = link_of
                .get(e.dedup_key.as_str())
                .and_then(|l| l.as_ref())
                .map(|l| l.id);
            follow.push(FollowEvent {
                event: e,
                id: row.id,
                generation_id,
            });
        }
        stored.insert(
            row.dedup_key,
            Stored {
                event_id: row.id,
                generation_id: row.generation_id,
                reply: row.reply,
                duplicate: false,
            },
        );
    }
    let retried: Vec<&str> = unique
        .iter()
        .map(|e| e.dedup_key.as_str())
        .filter(|k| !stored.contains_key(*k))
        .collect();
    if !retried.is_empty() {
        let placeholders: Vec<String> = (1..=retried.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, dedup_key, generation_id, reply FROM wechat_event WHERE dedup_key IN ({})",
            placeholders.join(", ")
        );
        let params: Vec<Value> = retried.iter().map(|k| (*k).into()).collect();
        for row in Existing::find_by_statement(Statement::from_sql_and_values(backend, sql, params))
            .all(&txn)
            .await?
        {
            stored.insert(
                row.dedup_key,
                Stored {
                    event_id: row.id,
                    generation_id: row.generation_id,
                    reply: row.reply,
                    duplicate: true,
                },
            );
        }
    }
    followers::apply(&txn, follow).await?;
    txn.commit().await?;

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
