//! The bindings in the table `callback_replay`, for instances without Redis (or while it is
//! down). The bindings of concurrent pushes are written together: each push queues its
//! binding, and a push that gets one of [`WRITERS`] write turns writes everything queued in
//! one statement (insert unless present, answering what it inserted), then reads back the
//! bindings that were there before. A burst of pushes costs a few commits, not one each. A
//! batch that fails (or whose writer was cancelled) leaves each of its pushes to bind itself
//! alone.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use super::{Binding, ReplayError, SWEEP_EVERY};

/// The table.
const TABLE: &str = "callback_replay";
/// The most bindings one statement writes.
const MAX_BATCH: usize = 500;
/// How long a batch may take (a connection gone dark): then each of its pushes binds
/// alone, and the dropped connection is tested before reuse (`db::connect`). Below the
/// callback's own deadline, so that a push can still be bound in time.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(2);
/// Batches written at once (each holds a pooled connection while it is written): more than
/// one, so that a commit's wait does not hold up every push.
pub const WRITERS: usize = 2;

/// Postgres: binds the batch `$1` (`[{"q": query hash, "a": account id, "b": body hash}]`,
/// one prepared statement whatever its size) until `$2`; answers the queries it bound.
const POSTGRES_BIND: &str = "INSERT INTO callback_replay (query_hash, account_id, body_hash, expires_at) \
    SELECT q, a, b, $2::timestamptz FROM jsonb_to_recordset($1::jsonb) AS t(q text, a bigint, b text) \
    ON CONFLICT (query_hash) DO NOTHING RETURNING query_hash";
/// SQLite: binds the batch `$1` until `$2`; answers the queries it bound.
const SQLITE_BIND: &str = "INSERT INTO callback_replay (query_hash, account_id, body_hash, expires_at) \
    SELECT json_extract(value, '$.q'), json_extract(value, '$.a'), json_extract(value, '$.b'), $2 \
    FROM json_each($1) WHERE true ON CONFLICT (query_hash) DO NOTHING RETURNING query_hash";
/// The bindings of the queries `$1` (`["<query hash>", ...]`).
const POSTGRES_READ: &str = "SELECT query_hash, body_hash FROM callback_replay \
    WHERE query_hash IN (SELECT jsonb_array_elements_text($1::jsonb))";
/// The same on SQLite.
const SQLITE_READ: &str = "SELECT query_hash, body_hash FROM callback_replay \
    WHERE query_hash IN (SELECT value FROM json_each($1))";

/// A binding to write, and who waits for the outcome.
struct Pending {
    id: u64,
    account_id: i64,
    query_hash: String,
    body_hash: String,
    answer: oneshot::Sender<Outcome>,
}

/// What a batch made of one binding.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Bound(Binding),
    Replayed,
    /// The batch failed: bind alone.
    Failed,
}

/// The database side of the replay guard.
pub(super) struct DbBindings {
    db: DatabaseConnection,
    ttl: TimeDelta,
    queue: Mutex<Vec<Pending>>,
    /// Ids of the pending bindings.
    next_id: AtomicU64,
    /// The write turns: a few batches at a time, so that the next ones gather what arrives
    /// meanwhile.
    turns: tokio::sync::Semaphore,
    /// Unix seconds of the next sweep of expired rows.
    next_sweep: AtomicI64,
}

impl DbBindings {
    pub(super) fn new(db: DatabaseConnection, ttl: TimeDelta) -> Self {
        Self {
            db,
            ttl,
            queue: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(0),
            turns: tokio::sync::Semaphore::new(WRITERS),
            next_sweep: AtomicI64::new(0),
        }
    }

    /// Binds `query_hash` to `body_hash` unless it is bound already; answers whether it was
    /// (to the same body) or refuses another body.
    pub(super) async fn bind(
        &self,
        account_id: i64,
        query_hash: String,
        body_hash: String,
    ) -> Result<Binding, ReplayError> {
        let (answer, mut outcome) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.queue.lock().expect("poisoned").push(Pending {
            id,
            account_id,
            query_hash: query_hash.clone(),
            body_hash: body_hash.clone(),
            answer,
        });
        let outcome = loop {
            let Ok(turn) = self.turns.acquire().await else {
                break Outcome::Failed;
            };
            match outcome.try_recv() {
                Ok(outcome) => break outcome,
                // Written by a batch whose writer was cancelled: its outcome is unknown.
                Err(oneshot::error::TryRecvError::Closed) => break Outcome::Failed,
                Err(oneshot::error::TryRecvError::Empty) => {}
            }
            // Not answered yet: write what is queued (ours included, unless it is in a batch
            // being written, or further down a long queue).
            let (batch, still_queued) = {
                let mut queue = self.queue.lock().expect("poisoned");
                let n = queue.len().min(MAX_BATCH);
                let batch: Vec<_> = queue.drain(..n).collect();
                (batch, queue.iter().any(|p| p.id == id))
            };
            self.write(batch).await;
            if !still_queued {
                drop(turn);
                // Answered by the batch just written, or by the one that holds it.
                break outcome.await.unwrap_or(Outcome::Failed);
            }
        };
        self.sweep_if_due().await;
        match outcome {
            Outcome::Bound(binding) => Ok(binding),
            Outcome::Replayed => Err(ReplayError::Replayed),
            Outcome::Failed => self.bind_alone(account_id, &query_hash, &body_hash).await,
        }
    }

    /// Writes `batch` and answers each of its pushes.
    async fn write(&self, batch: Vec<Pending>) {
        if batch.is_empty() {
            return;
        }
        let outcomes = match tokio::time::timeout(WRITE_DEADLINE, self.write_all(&batch)).await {
            Ok(Ok(outcomes)) => outcomes,
            Ok(Err(e)) => {
                tracing::warn!(error.message = %e, bindings = batch.len(), "cannot write a batch of replay bindings; binding one by one");
                vec![Outcome::Failed; batch.len()]
            }
            Err(_) => {
                tracing::warn!(deadline = ?WRITE_DEADLINE, bindings = batch.len(), "a batch of replay bindings overran its deadline; binding one by one");
                vec![Outcome::Failed; batch.len()]
            }
        };
        for (pending, outcome) in batch.into_iter().zip(outcomes) {
            // A push that stopped waiting needs no answer.
            let _ = pending.answer.send(outcome);
        }
    }

    async fn write_all(&self, batch: &[Pending]) -> Result<Vec<Outcome>, DbErr> {
        // The first push of each query in the batch is the one bound.
        let mut first: HashMap<&str, usize> = HashMap::new();
        for (i, pending) in batch.iter().enumerate() {
            first.entry(pending.query_hash.as_str()).or_insert(i);
        }
        let mut unique: Vec<usize> = first.values().copied().collect();
        unique.sort_unstable();
        let input = Value::Array(
            unique
                .iter()
                .map(|&i| {
                    let p = &batch[i];
                    json!({"q": p.query_hash, "a": p.account_id, "b": p.body_hash})
                })
                .collect(),
        );
        let backend = self.db.get_database_backend();
        let params = vec![input.to_string().into(), (Utc::now() + self.ttl).into()];
        let mut inserted = HashSet::new();
        let sql = if backend == DbBackend::Postgres {
            POSTGRES_BIND
        } else {
            SQLITE_BIND
        };
        let statement = Statement::from_sql_and_values(backend, sql, params);
        for row in self.db.query_all_raw(statement).await? {
            inserted.insert(row.try_get::<String>("", "query_hash")?);
        }
        // Not bound by this batch: bound before it (or by one that committed meanwhile).
        let unseen: Vec<&str> = first
            .keys()
            .copied()
            .filter(|q| !inserted.contains(*q))
            .collect();
        // The bindings that were there before this batch.
        let mut before: HashMap<String, String> = HashMap::new();
        if !unseen.is_empty() {
            let sql = if backend == DbBackend::Postgres {
                POSTGRES_READ
            } else {
                SQLITE_READ
            };
            let statement =
                Statement::from_sql_and_values(backend, sql, [json!(unseen).to_string().into()]);
            for row in self.db.query_all_raw(statement).await? {
                before.insert(
                    row.try_get("", "query_hash")?,
                    row.try_get("", "body_hash")?,
                );
            }
        }
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let query = p.query_hash.as_str();
                let (bound, first_here) = if inserted.contains(query) {
                    (
                        Some(batch[first[query]].body_hash.as_str()),
                        first[query] == i,
                    )
                } else {
                    (before.get(query).map(String::as_str), false)
                };
                match bound {
                    // Swept between the two statements: it had expired, and so had its
                    // timestamp.
                    None => Outcome::Bound(Binding::First),
                    Some(bound) if bound != p.body_hash => Outcome::Replayed,
                    Some(_) if first_here => Outcome::Bound(Binding::First),
                    Some(_) => Outcome::Bound(Binding::Retry),
                }
            })
            .collect())
    }

    /// One binding, in statements of its own.
    async fn bind_alone(
        &self,
        account_id: i64,
        query_hash: &str,
        body_hash: &str,
    ) -> Result<Binding, ReplayError> {
        let insert = Query::insert()
            .into_table(Alias::new(TABLE))
            .columns([
                Alias::new("query_hash"),
                Alias::new("account_id"),
                Alias::new("body_hash"),
                Alias::new("expires_at"),
            ])
            .values_panic([
                query_hash.into(),
                account_id.into(),
                body_hash.into(),
                (Utc::now() + self.ttl).into(),
            ])
            .on_conflict(
                OnConflict::column(Alias::new("query_hash"))
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        if self.db.execute(&insert).await?.rows_affected() == 1 {
            return Ok(Binding::First);
        }
        let select = Query::select()
            .column(Alias::new("body_hash"))
            .from(Alias::new(TABLE))
            .and_where(Expr::col(Alias::new("query_hash")).eq(query_hash))
            .to_owned();
        let bound: Option<String> = match self.db.query_one(&select).await? {
            Some(row) => Some(row.try_get("", "body_hash")?),
            None => None,
        };
        match bound {
            Some(bound) if bound != body_hash => Err(ReplayError::Replayed),
            Some(_) => Ok(Binding::Retry),
            None => Ok(Binding::First),
        }
    }

    /// Deletes the expired rows, at most once per [`SWEEP_EVERY`] on this instance. A
    /// failure only delays the sweep.
    async fn sweep_if_due(&self) {
        let now = Utc::now().timestamp();
        let due = self.next_sweep.load(Ordering::Relaxed);
        if now < due {
            return;
        }
        let next = now.saturating_add_unsigned(SWEEP_EVERY.as_secs());
        if self
            .next_sweep
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let delete = Query::delete()
            .from_table(Alias::new(TABLE))
            .and_where(Expr::col(Alias::new("expires_at")).lt(Utc::now()))
            .to_owned();
        match self.db.execute(&delete).await {
            Ok(done) => {
                tracing::debug!(
                    deleted = done.rows_affected(),
                    "expired replay bindings swept"
                );
            }
            Err(e) => {
                tracing::warn!(error.message = %e, "cannot sweep the expired replay bindings");
            }
        }
    }
}
