//! The background job that owns the daily rollups (Postgres) and keeps them in step with
//! the events.
//!
//! Every insert into `wechat_event` leaves a `stats_dirty` row (a trigger, same transaction)
//! with the earliest time it carried and the ids it inserted. A refresh rebuilds the rollups
//! of every account and local day from the earliest dirty one on, from the events, and
//! removes the dirty rows it has seen; the first refresh (or one after the time zone
//! changed, or after the migration that made the rollups per account) builds every day.
//! Until then, queries read those events next to the rollups, so figures are exact at any
//! moment; the refresher only bounds how many they read.
//!
//! One refresh runs at a time across instances: each one updates the state row, so two that
//! overlap conflict and the later one gives up (`NOWAIT`, repeatable read).

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, IsolationLevel, RuntimeErr, Statement,
    TransactionTrait,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::rebuild::{Since, clear, days, visits};
use super::state;
use crate::stats::error::StatsError;
use crate::stats::params::Params;
use crate::stats::period::local_midnight;

/// What a refresh did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refreshed {
    /// Nothing was dirty.
    Clean,
    /// Another instance is refreshing.
    Busy,
    /// Days from this one on (every day when `None`) were rebuilt.
    Rebuilt {
        /// The first rebuilt day.
        from: Option<NaiveDate>,
        /// Dirty marks consumed.
        marks: i64,
    },
}

/// Fresh events that make a rebuild due.
const REBUILD_AFTER_EVENTS: i64 = 5_000;
/// Age of the oldest fresh event that makes a rebuild due.
const REBUILD_AFTER_SECS: f64 = 30.0;

/// Whether a rebuild is due: the rollups are not built (or in another zone), a fresh event
/// moved an attribution, or fresh events are many or old enough. Queries answer exactly
/// either way; rebuilding less often keeps the work off the database.
///
/// # Errors
/// [`StatsError::Database`]: the database failed.
pub async fn due(db: &DatabaseConnection, tz: Tz) -> Result<bool, StatsError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let Some(state) = state::read(db).await? else {
        return Ok(false);
    };
    metrics::gauge!("qrscene_stats_rollup_fresh_events").set(state.fresh as f64);
    Ok(!state.built
        || state.tz != tz.name()
        || state.fresh >= REBUILD_AFTER_EVENTS
        || state
            .oldest_secs
            .is_some_and(|age| age >= REBUILD_AFTER_SECS)
        || (state.fresh > 0 && state::reattributed(db, None).await?))
}

/// Rebuilds the rollups of the dirty days, in `tz` (a different zone than the rollups' one
/// rebuilds every day).
///
/// # Errors
/// [`StatsError::NoRollupState`]: the migrations have not run; [`StatsError::Database`]:
/// the database failed (a conflict with another refresher is `Busy`, not an error).
pub async fn refresh(db: &DatabaseConnection, tz: Tz) -> Result<Refreshed, StatsError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Refreshed::Clean);
    }
    match refresh_once(db, tz).await {
        Err(StatsError::Database(e)) if is_conflict(&e) => Ok(Refreshed::Busy),
        other => other,
    }
}

async fn refresh_once(db: &DatabaseConnection, tz: Tz) -> Result<Refreshed, StatsError> {
    let backend = DbBackend::Postgres;
    let txn = db
        .begin_with_config(Some(IsolationLevel::RepeatableRead), None)
        .await?;
    let state = txn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT tz, built FROM stats_rollup_state WHERE id = 1 FOR UPDATE NOWAIT",
        ))
        .await?
        .ok_or(StatsError::NoRollupState)?;
    let (built_tz, built): (String, bool) = (state.try_get("", "tz")?, state.try_get("", "built")?);
    let marks = txn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT MIN(since) AS since, MAX(id) AS max_id, COUNT(*) AS marks FROM stats_dirty",
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no answer from stats_dirty".into()))?;
    let since: Option<DateTime<Utc>> = marks.try_get("", "since")?;
    let max_id: Option<i64> = marks.try_get("", "max_id")?;
    let count: i64 = marks.try_get("", "marks")?;

    let full = !built || built_tz != tz.name();
    let from = match (full, since) {
        (true, _) => None,
        (false, Some(since)) => Some(since.with_timezone(&tz).date_naive()),
        (false, None) => {
            txn.rollback().await?;
            return Ok(Refreshed::Clean);
        }
    };
    let started = Instant::now();
    txn.execute_unprepared("SET LOCAL work_mem = '256MB'")
        .await?;
    // Every day: from the epoch (no scan is older).
    let day = from.unwrap_or(NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default());
    let start = local_midnight(&tz, day).unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
    let mut params = Params::new();
    let first = from.map(|day| params.bind(day));
    for sql in clear(first) {
        txn.execute_raw(params.clone().statement(backend, sql))
            .await?;
    }
    let (s, params) = Since::bind(tz, start, day);
    txn.execute_raw(params.statement(backend, days(&s))).await?;
    let (s, params) = Since::bind(tz, start, day);
    txn.execute_raw(params.statement(backend, visits(&s, from.is_none())))
        .await?;
    if let Some(max_id) = max_id {
        let mut params = Params::new();
        let sql = format!(
            "DELETE FROM stats_dirty WHERE id <= {}",
            params.bind(max_id)
        );
        txn.execute_raw(params.statement(backend, sql)).await?;
    }
    let mut params = Params::new();
    let sql = format!(
        "UPDATE stats_rollup_state SET tz = {}, built = TRUE, built_at = now() WHERE id = 1",
        params.bind(tz.name())
    );
    txn.execute_raw(params.statement(backend, sql)).await?;
    txn.commit().await?;
    metrics::histogram!("qrscene_stats_rollup_rebuild_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    tracing::info!(
        from = ?from,
        marks = count,
        took_ms = started.elapsed().as_millis() as u64,
        "statistics rollups rebuilt"
    );
    Ok(Refreshed::Rebuilt { from, marks: count })
}

/// Lock held by another refresher (55P03), or a concurrent refresh committed first (40001).
fn is_conflict(e: &DbErr) -> bool {
    let (DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e))) = e else {
        return false;
    };
    let code = e.as_database_error().and_then(|d| d.code());
    matches!(code.as_deref(), Some("55P03" | "40001"))
}

/// Checks every `every` whether a rebuild is due, and rebuilds (Postgres only: elsewhere
/// the task ends at once). Cancelling `stop` ends the task between two checks; a rebuild
/// under way completes (it is one transaction, and the next refresh would redo it).
pub fn spawn(
    db: DatabaseConnection,
    tz: Tz,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if db.get_database_backend() != DbBackend::Postgres {
            return;
        }
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            let refreshed = match due(&db, tz).await {
                Ok(true) => refresh(&db, tz).await.map(|_| ()),
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = refreshed {
                tracing::warn!(error.message = %e, error.cause_chain = ?e, "statistics rollup refresh failed; retrying");
            }
        }
        tracing::debug!("statistics rollup refresher stopped");
    })
}
