//! The rollups' state, owned by the refresher: the time zone of their days, whether they
//! were built, and the events inserted since (the `stats_dirty` marks a trigger leaves).
//! One state for every account: a rebuild rebuilds the days of every account.
//! The query side reads it; only the refresher and start-up write it.

use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement};

use crate::stats::params::Params;

/// The rollups' state as a reader sees it.
#[derive(Debug, FromQueryResult)]
pub struct State {
    /// Their time zone.
    pub tz: String,
    /// Built at least once in that zone.
    pub built: bool,
    /// Events not rolled up yet.
    pub fresh: i64,
    /// Age of the oldest of them, in seconds.
    pub oldest_secs: Option<f64>,
}

/// The rollups' state and how many events they miss.
const STATE: &str = "SELECT s.tz AS tz, s.built AS built, \
      (SELECT COALESCE(SUM(cardinality(d.ids)), 0) FROM stats_dirty d) AS fresh, \
      (SELECT CAST(EXTRACT(EPOCH FROM now() - MIN(d.marked_at)) AS DOUBLE PRECISION) FROM stats_dirty d) \
        AS oldest_secs \
    FROM stats_rollup_state s WHERE s.id = 1";

/// Whether a fresh first follow `e` that satisfies `only` moves a rolled-up unsubscribe.
fn reattributed_sql(only: &str) -> String {
    format!(
        "SELECT EXISTS (SELECT 1 FROM stats_dirty d CROSS JOIN LATERAL unnest(d.ids) AS n(id) \
      JOIN wechat_event e ON e.id = n.id \
      JOIN wechat_follower f ON f.account_id = e.account_id AND f.openid = e.openid \
        AND f.first_followed_at = e.occurred_at \
      WHERE {only} AND e.kind = 'subscribe' AND EXISTS (SELECT 1 FROM wechat_event u \
        WHERE u.account_id = e.account_id AND u.openid = e.openid AND u.kind = 'unsubscribe' \
          AND u.occurred_at >= e.occurred_at \
          AND u.id NOT IN (SELECT unnest(d2.ids) FROM stats_dirty d2))) AS reattributed"
    )
}

/// The rollups' state (none without the state row). Postgres only.
///
/// # Errors
/// The database failed.
pub async fn read<C: ConnectionTrait>(conn: &C) -> Result<Option<State>, DbErr> {
    State::find_by_statement(Statement::from_string(DbBackend::Postgres, STATE))
        .one(conn)
        .await
}

/// Whether a fresh event is the first follow of a scanner with rolled-up unsubscribes after
/// it: it moves their attribution, which the rollups hold. (Fresh unsubscribes are read with
/// the current attribution anyway.) Of account `account`, or of any account (`None`: the
/// refresher's question). Postgres only.
///
/// # Errors
/// The database failed.
pub async fn reattributed<C: ConnectionTrait>(
    conn: &C,
    account: Option<i64>,
) -> Result<bool, DbErr> {
    let mut params = Params::new();
    let only = match account {
        Some(account) => format!("e.account_id = {}", params.bind(account)),
        None => "TRUE".to_owned(),
    };
    let row = conn
        .query_one_raw(params.statement(DbBackend::Postgres, reattributed_sql(&only)))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "reattributed"))
        .transpose()?
        .unwrap_or(false))
}

/// Records the configured zone `tz` at start-up (Postgres; nothing elsewhere): creates the
/// state row if missing and, when the rollups are in another zone, marks them unbuilt so
/// that queries read the events until the refresher has rebuilt every day in `tz`.
/// Returns whether the row was written.
///
/// # Errors
/// The database failed.
pub async fn configure<C: ConnectionTrait>(conn: &C, tz: Tz) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    if backend != DbBackend::Postgres {
        return Ok(false);
    }
    // Read first: the upsert would wait for a refresher holding the row for a rebuild.
    let current = conn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT tz FROM stats_rollup_state WHERE id = 1",
        ))
        .await?
        .map(|row| row.try_get::<String>("", "tz"))
        .transpose()?;
    if current.as_deref() == Some(tz.name()) {
        return Ok(false);
    }
    let mut params = Params::new();
    let zone = params.bind(tz.name());
    let sql = format!(
        "INSERT INTO stats_rollup_state AS s (id, tz, built) VALUES (1, {zone}, FALSE) \
         ON CONFLICT (id) DO UPDATE SET tz = EXCLUDED.tz, built = FALSE, built_at = NULL \
         WHERE s.tz <> EXCLUDED.tz"
    );
    let changed = conn
        .execute_raw(params.statement(backend, sql))
        .await?
        .rows_affected();
    if changed > 0 {
        tracing::info!(tz = tz.name(), "statistics rollups set to a new time zone");
    }
    Ok(changed > 0)
}
