//! The statistics query. Events of the period are first folded per group and scanner
//! (a hash aggregate), then per group; unique scanners are the scanners of that fold.
//! On Postgres one statement computes the groups and the totals (GROUPING SETS) with
//! enough work memory to aggregate in memory; elsewhere the totals are a second query.

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult,
    IsolationLevel, Statement, TransactionTrait, Value,
};

use super::stats::{GroupBy, Row, StatsQuery};

/// Memory one statistics query may use to aggregate before spilling to disk, and the time
/// it may take before Postgres cancels it (a dashboard must not pin the database). No JIT:
/// compiling costs about 100 ms, more than the rollup queries take.
pub(super) const LIMITS: &str =
    "SET LOCAL work_mem = '64MB'; SET LOCAL statement_timeout = '20s'; SET LOCAL jit = off";

/// The scans tied to a code and the unsubscribes of the followers a code first brought,
/// whose time `e.occurred_at` satisfies `period`: `ev(gid, kind, openid, at)`.
pub(super) fn events(period: &str) -> String {
    events_as("ev", period)
}

/// [`events`] under another name.
pub(super) fn events_as(name: &str, period: &str) -> String {
    format!(
        "{name} AS ( \
    SELECT e.generation_id AS gid, e.kind AS kind, e.openid AS openid, e.occurred_at AS at \
    FROM wechat_event e \
    WHERE e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL AND {period} \
    UNION ALL \
    SELECT f.first_generation_id, 'unsubscribe', e.openid, e.occurred_at \
    FROM wechat_event e JOIN wechat_follower f ON f.openid = e.openid \
    WHERE e.kind = 'unsubscribe' AND f.first_generation_id IS NOT NULL \
      AND e.occurred_at >= f.first_followed_at AND {period} )"
    )
}

/// Per group and scanner.
const PER_SCANNER: &str = "ev.openid AS openid, \
    SUM(CASE WHEN ev.kind <> 'unsubscribe' THEN 1 ELSE 0 END) AS scans, \
    SUM(CASE WHEN ev.kind = 'subscribe' THEN 1 ELSE 0 END) AS new_followers, \
    SUM(CASE WHEN ev.kind = 'scan' THEN 1 ELSE 0 END) AS returning_scans, \
    SUM(CASE WHEN ev.kind = 'unsubscribe' THEN 1 ELSE 0 END) AS unsubscribes";

/// Per group, from the per-scanner fold.
pub(super) const FIGURES: &str = "CAST(COALESCE(SUM(scans), 0) AS BIGINT) AS scans, \
    COUNT(DISTINCT CASE WHEN scans > 0 THEN openid END) AS unique_scanners, \
    CAST(COALESCE(SUM(new_followers), 0) AS BIGINT) AS new_followers, \
    CAST(COALESCE(SUM(returning_scans), 0) AS BIGINT) AS returning_scans, \
    CAST(COALESCE(SUM(unsubscribes), 0) AS BIGINT) AS unsubscribes";

#[derive(Debug, FromQueryResult)]
pub(super) struct Marked {
    is_total: i32,
    key: Option<String>,
    qrcode_id: Option<i64>,
    activity_id: Option<String>,
    scans: i64,
    unique_scanners: i64,
    new_followers: i64,
    returning_scans: i64,
    unsubscribes: i64,
}

/// The rows of the groups, the totals row, and the number of whole days the rollups
/// answered. With `rollups` false, everything is read from the events.
///
/// # Errors
/// The database failed.
pub(super) async fn run(
    db: &DatabaseConnection,
    q: &StatsQuery,
    rollups: bool,
) -> Result<(Vec<Row>, Option<Row>, u32), DbErr> {
    let backend = db.get_database_backend();
    if backend != DbBackend::Postgres {
        let (rows, total) = from_events_generic(db, q).await?;
        return Ok((rows, total, 0));
    }
    // One snapshot for the rollups, their dirty marks and the events.
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    txn.execute_unprepared(LIMITS).await?;
    let plan = if rollups {
        super::stats_fast::plan(&txn, q).await?
    } else {
        None
    };
    let (rows, total, days) = match plan {
        Some(plan) => {
            let (rows, total) = super::stats_fast::run(&txn, q, &plan).await?;
            (rows, total, plan.days())
        }
        None => {
            let (rows, total) = from_events_postgres(&txn, q).await?;
            (rows, total, 0)
        }
    };
    txn.commit().await?;
    Ok((rows, total, days))
}

/// The per-group-and-scanner fold of the period, and its parameters.
fn per_scanner(q: &StatsQuery, backend: DbBackend) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = vec![q.from.into(), q.to.into()];
    let mut filter = String::new();
    if let Some(activity) = &q.activity_id {
        params.push(activity.clone().into());
        filter = format!("WHERE g.activity_id = ${}", params.len());
    }
    let mut join = String::new();
    let key = match q.group_by {
        GroupBy::Activity => "g.activity_id".to_owned(),
        GroupBy::Qrcode => "CAST(g.id AS TEXT)".to_owned(),
        GroupBy::Day if backend == DbBackend::Postgres => {
            params.push(q.tz.name().into());
            format!(
                "to_char(ev.at AT TIME ZONE ${}, 'YYYY-MM-DD')",
                params.len()
            )
        }
        GroupBy::Day => {
            // No time zones in SQLite: join the local days' UTC bounds, computed here.
            let mut days = Vec::new();
            for (label, start, end) in q.days() {
                let n = params.len();
                params.extend([label.into(), start.into(), end.into()]);
                days.push(format!(
                    "SELECT ${} AS day, ${} AS lo, ${} AS hi",
                    n + 1,
                    n + 2,
                    n + 3
                ));
            }
            join = format!(
                "JOIN ({}) d ON ev.at >= d.lo AND ev.at < d.hi",
                days.join(" UNION ALL ")
            );
            "d.day".to_owned()
        }
    };
    let (qrcode_id, activity_id) = match q.group_by {
        GroupBy::Qrcode => ("g.id", "g.activity_id"),
        _ => ("CAST(NULL AS BIGINT)", "CAST(NULL AS TEXT)"),
    };
    let events = events("e.occurred_at >= $1 AND e.occurred_at < $2");
    let per = format!(
        "WITH {events}, per AS (SELECT {key} AS key, {qrcode_id} AS qrcode_id, {activity_id} AS activity_id, {PER_SCANNER} \
         FROM ev JOIN qr_generation g ON g.id = ev.gid {join} {filter} GROUP BY 1, 2, 3, ev.openid)"
    );
    (per, params)
}

async fn from_events_postgres<C: ConnectionTrait>(
    conn: &C,
    q: &StatsQuery,
) -> Result<(Vec<Row>, Option<Row>), DbErr> {
    let backend = DbBackend::Postgres;
    let (per, params) = per_scanner(q, backend);
    let sql = format!(
        "{per} SELECT GROUPING(key, qrcode_id, activity_id) AS is_total, key, qrcode_id, activity_id, {FIGURES} \
         FROM per GROUP BY GROUPING SETS ((key, qrcode_id, activity_id), ())"
    );
    let marked = Marked::find_by_statement(Statement::from_sql_and_values(backend, sql, params))
        .all(conn)
        .await?;
    Ok(Marked::split(marked))
}

async fn from_events_generic(
    db: &DatabaseConnection,
    q: &StatsQuery,
) -> Result<(Vec<Row>, Option<Row>), DbErr> {
    let backend = db.get_database_backend();
    let (per, params) = per_scanner(q, backend);
    let grouped =
        format!("{per} SELECT key, qrcode_id, activity_id, {FIGURES} FROM per GROUP BY 1, 2, 3");
    let totals = format!(
        "{per} SELECT CAST(NULL AS TEXT) AS key, CAST(NULL AS BIGINT) AS qrcode_id, \
         CAST(NULL AS TEXT) AS activity_id, {FIGURES} FROM per"
    );
    let rows = Row::find_by_statement(Statement::from_sql_and_values(
        backend,
        grouped,
        params.clone(),
    ))
    .all(db)
    .await?;
    let total = Row::find_by_statement(Statement::from_sql_and_values(backend, totals, params))
        .one(db)
        .await?;
    Ok((rows, total))
}

impl Marked {
    /// The group rows and the totals row.
    pub(super) fn split(marked: Vec<Marked>) -> (Vec<Row>, Option<Row>) {
        let (totals, groups): (Vec<Marked>, Vec<Marked>) =
            marked.into_iter().partition(|m| m.is_total != 0);
        (
            groups.into_iter().map(Marked::row).collect(),
            totals.into_iter().next().map(Marked::row),
        )
    }

    fn row(self) -> Row {
        Row {
            key: self.key,
            qrcode_id: self.qrcode_id,
            activity_id: self.activity_id,
            scans: self.scans,
            unique_scanners: self.unique_scanners,
            new_followers: self.new_followers,
            returning_scans: self.returning_scans,
            unsubscribes: self.unsubscribes,
        }
    }
}
