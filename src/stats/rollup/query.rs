//! Statistics of one account from the daily rollups (Postgres), exact: one statement sums
//! the rolled-up days, the events read next to them (edges and fresh events, added; slivers,
//! subtracted) and the scanners of each, as [`super::plan`] split the period.

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult};

use super::parts::{
    Bound, Level, Per, Source, additive, rolled_up, scanners_inside, scanners_outside,
    scanners_per_day,
};
use super::plan::Plan;
use crate::stats::figures::{Marked, Row};
use crate::stats::fragments::{Scope, events, events_as, within};
use crate::stats::params::Params;
use crate::stats::period::{GroupBy, StatsQuery};

/// The rows of the groups and the totals row of `q` split by `plan`.
///
/// # Errors
/// The database failed.
pub(crate) async fn run<C: ConnectionTrait>(
    conn: &C,
    q: &StatsQuery,
    plan: &Plan,
) -> Result<(Vec<Row>, Option<Row>), DbErr> {
    let mut params = Params::new();
    let account = params.bind(q.account_id);
    let (first_day, end_day) = plan.days_range();
    let mut span = |(lo, hi): (_, _)| within("e.occurred_at", params.bind(lo), params.bind(hi));
    let (head_edge, tail_edge) = (span(plan.edges[0]), span(plan.edges[1]));
    let (head_sliver, tail_sliver) = (span(plan.slivers[0]), span(plan.slivers[1]));
    let b = Bound {
        account,
        first_day: params.bind(first_day),
        end_day: params.bind(end_day),
        inside: (params.bind(plan.inside.0), params.bind(plan.inside.1)),
        tz: params.bind(plan.tz.name()),
        activity: q.activity_id.clone().map(|a| params.bind(a)),
    };
    let inside = within("e.occurred_at", b.inside.0, b.inside.1);
    // Added: the edges, and the fresh events of the period's part of the rollup days.
    let ev = events(
        Scope::Account(account),
        &format!(
            "({head_edge} OR {tail_edge} OR (e.id = ANY (ARRAY(SELECT id FROM fresh)) AND {inside}))"
        ),
    );
    // Subtracted: the rolled-up events of the slivers.
    let sl = events_as(
        "sl",
        Scope::Account(account),
        &format!("({head_sliver} OR {tail_sliver}) AND e.id NOT IN (SELECT id FROM fresh)"),
    );
    let bounds = match q.group_by {
        GroupBy::Day => day_bounds(q, &mut params),
        GroupBy::Activity | GroupBy::Qrcode => String::new(),
    };
    let totals = if b.activity.is_some() {
        Level::Activity
    } else {
        Level::All
    };
    let mut parts = Vec::new();
    match q.group_by {
        GroupBy::Day => {
            parts.push(rolled_up("to_char(d.day, 'YYYY-MM-DD')", &b));
            let day = format!("to_char(ev.at AT TIME ZONE {}, 'YYYY-MM-DD')", b.tz);
            parts.push(additive(Source::Added, &day, &b));
            parts.push(additive(Source::Subtracted, &day, &b));
            parts.push(scanners_per_day(totals, &b));
            for source in [Source::Added, Source::Subtracted] {
                parts.push(scanners_outside(totals, Per::Day, source, &b));
            }
        }
        GroupBy::Activity | GroupBy::Qrcode => {
            let level = if q.group_by == GroupBy::Qrcode {
                Level::Code
            } else {
                Level::Activity
            };
            parts.push(rolled_up(level.key(), &b));
            parts.push(additive(Source::Added, level.key(), &b));
            parts.push(additive(Source::Subtracted, level.key(), &b));
            parts.push(scanners_inside(level, false, &b));
            for source in [Source::Added, Source::Subtracted] {
                parts.push(scanners_outside(level, Per::Key, source, &b));
            }
        }
    }
    parts.push(scanners_inside(totals, true, &b));
    for source in [Source::Added, Source::Subtracted] {
        parts.push(scanners_outside(totals, Per::Total, source, &b));
    }

    let (qrcode_id, activity_id, join) = if q.group_by == GroupBy::Qrcode {
        (
            "g.id",
            "g.activity_id",
            format!(
                "LEFT JOIN qr_generation g ON p.is_total = 0 AND g.id = CAST(p.key AS BIGINT) \
                 AND g.account_id = {account}"
            ),
        )
    } else {
        ("CAST(NULL AS BIGINT)", "CAST(NULL AS TEXT)", String::new())
    };
    let sql = format!(
        "WITH fresh AS (SELECT unnest(d.ids) AS id FROM stats_dirty d){bounds}, {ev}, {sl}, \
           parts (is_total, key, scans, new_followers, returning_scans, unsubscribes, unique_scanners) AS ( \
           {parts} ) \
         SELECT p.is_total AS is_total, p.key AS key, {qrcode_id} AS qrcode_id, {activity_id} AS activity_id, \
           CAST(COALESCE(SUM(p.scans), 0) AS BIGINT) AS scans, \
           CAST(COALESCE(SUM(p.unique_scanners), 0) AS BIGINT) AS unique_scanners, \
           CAST(COALESCE(SUM(p.new_followers), 0) AS BIGINT) AS new_followers, \
           CAST(COALESCE(SUM(p.returning_scans), 0) AS BIGINT) AS returning_scans, \
           CAST(COALESCE(SUM(p.unsubscribes), 0) AS BIGINT) AS unsubscribes \
         FROM parts p {join} GROUP BY 1, 2, 3, 4",
        parts = parts.join(" UNION ALL "),
    );
    let marked = Marked::find_by_statement(params.statement(DbBackend::Postgres, sql))
        .all(conn)
        .await?;
    let (mut groups, total) = Marked::split(marked);
    // A group whose events all lie in a sliver nets to nothing: it is not in the period.
    groups.retain(|g| !g.is_empty());
    // The additive totals are the sums of the groups (every group of the period is there).
    let total = total.map(|mut t| {
        t.scans = groups.iter().map(|g| g.scans).sum();
        t.new_followers = groups.iter().map(|g| g.new_followers).sum();
        t.returning_scans = groups.iter().map(|g| g.returning_scans).sum();
        t.unsubscribes = groups.iter().map(|g| g.unsubscribes).sum();
        t
    });
    Ok((groups, total))
}

/// The CTE `bounds(day, lo, hi)` of the local days' UTC bounds, computed in Rust.
fn day_bounds(q: &StatsQuery, params: &mut Params) -> String {
    let rows: Vec<String> = q
        .days()
        .into_iter()
        .filter_map(|(label, start, end)| {
            let day = NaiveDate::parse_from_str(&label, "%Y-%m-%d").ok()?;
            Some(format!(
                "(CAST({} AS DATE), CAST({} AS TIMESTAMPTZ), CAST({} AS TIMESTAMPTZ))",
                params.bind(day),
                params.bind(start),
                params.bind(end)
            ))
        })
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    format!(", bounds (day, lo, hi) AS (VALUES {})", rows.join(", "))
}
