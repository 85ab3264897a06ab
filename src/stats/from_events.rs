//! The statistics read from the events alone, on any backend. Events of the account and
//! period are first folded per group and scanner (a hash aggregate), then per group; unique
//! scanners are the scanners of that fold. On Postgres one statement computes the groups
//! and the totals (GROUPING SETS); elsewhere the totals are a second query.

use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};

use super::figures::{Marked, Row};
use super::fragments::{CODE_OF_EV, FIGURES, PER_SCANNER, Scope, events, within};
use super::params::Params;
use super::period::{GroupBy, StatsQuery};

/// The group rows and the totals row of `q`.
///
/// # Errors
/// The database failed.
pub(crate) async fn run<C: ConnectionTrait>(
    conn: &C,
    q: &StatsQuery,
) -> Result<(Vec<Row>, Option<Row>), DbErr> {
    let backend = conn.get_database_backend();
    let mut params = Params::new();
    let per = per_scanner(q, backend, &mut params);
    if backend == DbBackend::Postgres {
        let sql = format!(
            "{per} SELECT GROUPING(key, qrcode_id, activity_id) AS is_total, key, qrcode_id, activity_id, {FIGURES} \
             FROM per GROUP BY GROUPING SETS ((key, qrcode_id, activity_id), ())"
        );
        let marked = Marked::find_by_statement(params.statement(backend, sql))
            .all(conn)
            .await?;
        return Ok(Marked::split(marked));
    }
    let grouped =
        format!("{per} SELECT key, qrcode_id, activity_id, {FIGURES} FROM per GROUP BY 1, 2, 3");
    let totals = format!(
        "{per} SELECT CAST(NULL AS TEXT) AS key, CAST(NULL AS BIGINT) AS qrcode_id, \
         CAST(NULL AS TEXT) AS activity_id, {FIGURES} FROM per"
    );
    let rows = Row::find_by_statement(params.clone().statement(backend, grouped))
        .all(conn)
        .await?;
    let total = Row::find_by_statement(params.statement(backend, totals))
        .one(conn)
        .await?;
    Ok((rows, total))
}

/// The per-group-and-scanner fold of the period (`WITH ev, per`), its values bound.
fn per_scanner(q: &StatsQuery, backend: DbBackend, params: &mut Params) -> String {
    let account = Scope::Account(params.bind(q.account_id));
    let period = within("e.occurred_at", params.bind(q.from), params.bind(q.to));
    let filter = match &q.activity_id {
        Some(activity) => format!("WHERE g.activity_id = {}", params.bind(activity.clone())),
        None => String::new(),
    };
    let mut join = String::new();
    let key = match q.group_by {
        GroupBy::Activity => "g.activity_id".to_owned(),
        GroupBy::Qrcode => "CAST(g.id AS TEXT)".to_owned(),
        GroupBy::Day if backend == DbBackend::Postgres => format!(
            "to_char(ev.at AT TIME ZONE {}, 'YYYY-MM-DD')",
            params.bind(q.tz.name())
        ),
        GroupBy::Day => {
            // No time zones in SQLite: join the local days' UTC bounds, computed here.
            let days: Vec<String> = q
                .days()
                .into_iter()
                .map(|(label, start, end)| {
                    format!(
                        "SELECT {} AS day, {} AS lo, {} AS hi",
                        params.bind(label),
                        params.bind(start),
                        params.bind(end)
                    )
                })
                .collect();
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
    let events = events(account, &period);
    format!(
        "WITH {events}, per AS (SELECT {key} AS key, {qrcode_id} AS qrcode_id, {activity_id} AS activity_id, {PER_SCANNER} \
         FROM ev {CODE_OF_EV} {join} {filter} GROUP BY 1, 2, 3, ev.openid)"
    )
}
