//! Keeps the daily statistics rollups (Postgres) in step with the events.
//!
//! Every insert into `wechat_event` leaves a `stats_dirty` row (a trigger, same transaction)
//! with the earliest time it carried and the ids it inserted. A refresh rebuilds the rollups
//! of every local day from the earliest dirty one on, from the events, and removes the dirty
//! rows it has seen; the first refresh (or one after the time zone changed) builds every day.
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
    TransactionTrait, Value,
};

use super::period::local_midnight;
use super::stats_sql::events;

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

/// The additive figures per code and local day, from `$2` (UTC instant) on.
/// The events read start a day early and are kept by their Postgres day: Rust's time-zone
/// data and the database's may differ by an hour, and the days are the database's.
fn days() -> String {
    let ev = events("e.occurred_at >= $2 - INTERVAL '1 day'");
    format!(
        "INSERT INTO stats_day (day, generation_id, scans, new_followers, returning_scans, unsubscribes) \
         WITH {ev} \
         SELECT CAST(ev.at AT TIME ZONE $1 AS DATE), ev.gid, \
           COUNT(*) FILTER (WHERE ev.kind <> 'unsubscribe'), \
           COUNT(*) FILTER (WHERE ev.kind = 'subscribe'), \
           COUNT(*) FILTER (WHERE ev.kind = 'scan'), \
           COUNT(*) FILTER (WHERE ev.kind = 'unsubscribe') \
         FROM ev WHERE CAST(ev.at AT TIME ZONE $1 AS DATE) >= $3 GROUP BY 1, 2"
    )
}

/// Scanners per level, key, day and previous visit day, for days from `$3` on. The previous
/// visit needs the scanner's whole history, so every scan of the scanners of those days is
/// read (`{scans}`: of everyone, or of the scanners since `$2`, probed one by one through
/// the scanner index). Sorting uses byte order: the order does not matter, only the groups.
const VISITS: &str = "INSERT INTO stats_visit (level, key, day, prev_day, visits) \
    WITH s AS ( \
      SELECT DISTINCT e.openid COLLATE \"C\" AS openid, e.generation_id AS gid, \
             CAST(e.occurred_at AT TIME ZONE $1 AS DATE) AS day \
      FROM {scans} \
    ), v AS ( \
      SELECT CAST(0 AS SMALLINT) AS level, CAST(gid AS TEXT) COLLATE \"C\" AS key, openid, day FROM s \
      UNION ALL SELECT DISTINCT CAST(1 AS SMALLINT), g.activity_id COLLATE \"C\", openid, day \
        FROM s JOIN qr_generation g ON g.id = s.gid \
      UNION ALL SELECT DISTINCT CAST(2 AS SMALLINT), CAST(NULL AS TEXT) COLLATE \"C\", openid, day FROM s \
    ), l AS ( \
      SELECT level, key, day, LAG(day) OVER (PARTITION BY level, key, openid ORDER BY day) AS prev_day \
      FROM v \
    ) \
    SELECT level, key, day, prev_day, COUNT(*) FROM l WHERE day >= $3 GROUP BY 1, 2, 3, 4";

const EVERY_SCAN: &str = "wechat_event e \
    WHERE e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL AND e.occurred_at >= $2";

const SCANS_OF_SCANNERS_SINCE: &str = "(SELECT DISTINCT x.openid FROM wechat_event x \
      WHERE x.kind IN ('subscribe', 'scan') AND x.generation_id IS NOT NULL \
        AND x.occurred_at >= $2 - INTERVAL '1 day') u \
    CROSS JOIN LATERAL (SELECT e.openid, e.generation_id, e.occurred_at FROM wechat_event e \
      WHERE e.openid = u.openid AND e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL \
      OFFSET 0) e";

/// Fresh events that make a rebuild due.
const REBUILD_AFTER_EVENTS: i64 = 5_000;
/// Age of the oldest fresh event that makes a rebuild due.
const REBUILD_AFTER_SECS: f64 = 30.0;

/// Whether a rebuild is due: the rollups are not built (or in another zone), a fresh event
/// moved an attribution, or fresh events are many or old enough. Queries answer exactly
/// either way; rebuilding less often keeps the work off the database.
///
/// # Errors
/// The database failed.
pub async fn due(db: &DatabaseConnection, tz: Tz) -> Result<bool, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(false);
    }
    let Some(state) = super::stats_fast::state(db).await? else {
        return Ok(false);
    };
    metrics::gauge!("qrscene_stats_rollup_fresh_events").set(state.fresh as f64);
    Ok(!state.built
        || state.tz != tz.name()
        || state.fresh >= REBUILD_AFTER_EVENTS
        || state
            .oldest_secs
            .is_some_and(|age| age >= REBUILD_AFTER_SECS)
        || (state.fresh > 0 && super::stats_fast::reattributed(db).await?))
}

/// Rebuilds the rollups of the dirty days, in `tz` (a different zone than the rollups' one
/// rebuilds every day).
///
/// # Errors
/// The database failed (a conflict with another refresher is `Busy`, not an error).
pub async fn refresh(db: &DatabaseConnection, tz: Tz) -> Result<Refreshed, DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Refreshed::Clean);
    }
    match refresh_once(db, tz).await {
        Err(e) if is_conflict(&e) => Ok(Refreshed::Busy),
        other => other,
    }
}

async fn refresh_once(db: &DatabaseConnection, tz: Tz) -> Result<Refreshed, DbErr> {
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
        .ok_or_else(|| DbErr::Custom("stats_rollup_state has no row".into()))?;
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
    let (day_param, start_param): (Value, Value) = (day.into(), start.into());
    for table in ["stats_day", "stats_visit"] {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            format!("DELETE FROM {table} WHERE day >= $1"),
            [day_param.clone()],
        ))
        .await?;
    }
    let tz_param: Value = tz.name().into();
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        days(),
        [tz_param.clone(), start_param.clone(), day_param.clone()],
    ))
    .await?;
    let visits = VISITS.replace(
        "{scans}",
        if from.is_some() {
            SCANS_OF_SCANNERS_SINCE
        } else {
            EVERY_SCAN
        },
    );
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        visits,
        [tz_param.clone(), start_param, day_param],
    ))
    .await?;
    if let Some(max_id) = max_id {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "DELETE FROM stats_dirty WHERE id <= $1",
            [max_id.into()],
        ))
        .await?;
    }
    txn.execute_raw(Statement::from_sql_and_values(
        backend,
        "UPDATE stats_rollup_state SET tz = $1, built = TRUE, built_at = now() WHERE id = 1",
        [tz_param],
    ))
    .await?;
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

/// Checks every `every` whether a rebuild is due, and rebuilds (Postgres only).
pub fn spawn(db: DatabaseConnection, tz: Tz, every: Duration) {
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let refreshed = match due(&db, tz).await {
                Ok(true) => refresh(&db, tz).await.map(|_| ()),
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = refreshed {
                tracing::warn!(error = %e, "statistics rollup refresh failed; retrying");
            }
        }
    });
}
