//! Statistics from the daily rollups (Postgres), exact.
//!
//! The period splits into a run of whole local days the rollups answer (`R`) and what is
//! left: the part of the first day before its midnight (`head`) and of the last day after
//! its midnight (`tail`); a partial day with no event outside the period counts as whole.
//! Events stored since the last refresh (`fresh`: the ids of the dirty marks) are not in the
//! rollups and are read from the events, like the edges.
//!
//! Additive figures are sums. Unique scanners of a group are the scanners the rollups count
//! in `R` (visits whose previous visit is before `R`), plus the scanners of the edges and of
//! the fresh events with no earlier-stored scan in `R` (one index-only probe each).

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};

use super::period::local_midnight;
use super::stats::{GroupBy, Row, StatsQuery};
use super::stats_sql::{Marked, events};

/// How a query splits between rollups and events.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    tz: Tz,
    head: (DateTime<Utc>, DateTime<Utc>),
    tail: (DateTime<Utc>, DateTime<Utc>),
    rollup: (DateTime<Utc>, DateTime<Utc>),
}

impl Plan {
    /// Whole days answered by the rollups.
    pub(super) fn days(&self) -> u32 {
        let (from, to) = self.days_range();
        u32::try_from((to - from).num_days()).unwrap_or(0)
    }

    fn days_range(&self) -> (NaiveDate, NaiveDate) {
        (
            self.rollup.0.with_timezone(&self.tz).date_naive(),
            self.rollup.1.with_timezone(&self.tz).date_naive(),
        )
    }
}

#[derive(Debug, FromQueryResult)]
struct State {
    tz: String,
    built: bool,
    fresh: i64,
    reattributed: bool,
}

/// Fresh events above which the rollups wait for the refresher (a bulk import).
const MAX_FRESH: i64 = 50_000;

/// The rollups' state, how many events they miss, and whether a fresh event is the first
/// follow of a scanner who already has unsubscribes (it moves their attribution, which the
/// rollups hold).
const STATE: &str = "SELECT s.tz AS tz, s.built AS built, \
      (SELECT COALESCE(SUM(cardinality(d.ids)), 0) FROM stats_dirty d) AS fresh, \
      EXISTS (SELECT 1 FROM stats_dirty d CROSS JOIN LATERAL unnest(d.ids) AS n(id) \
        JOIN wechat_event e ON e.id = n.id \
        JOIN wechat_follower f ON f.openid = e.openid AND f.first_followed_at = e.occurred_at \
        WHERE e.kind = 'subscribe' AND EXISTS (SELECT 1 FROM wechat_event u \
          WHERE u.openid = e.openid AND u.kind = 'unsubscribe' AND u.occurred_at >= e.occurred_at)) \
        AS reattributed \
    FROM stats_rollup_state s WHERE s.id = 1";

/// The split of `q`, or `None` when the rollups cannot answer any whole day of it (not
/// built yet, days in another time zone, no whole day in the period, or too much they
/// miss).
///
/// # Errors
/// The database failed.
pub(super) async fn plan<C: ConnectionTrait>(
    conn: &C,
    q: &StatsQuery,
) -> Result<Option<Plan>, DbErr> {
    let state = State::find_by_statement(Statement::from_string(DbBackend::Postgres, STATE))
        .one(conn)
        .await?;
    let Some(state) = state.filter(|s| s.built && s.fresh <= MAX_FRESH && !s.reattributed) else {
        return Ok(None);
    };
    let Ok(tz) = state.tz.parse::<Tz>() else {
        return Ok(None);
    };
    if q.group_by == GroupBy::Day && q.tz != tz {
        return Ok(None);
    }
    let Some(days) = Days::around(q.from, q.to, tz) else {
        return Ok(None);
    };
    let head_quiet = days.first_start < q.from && quiet(conn, days.first_start, q.from).await?;
    let tail_quiet = days.last_end > q.to && quiet(conn, q.to, days.last_end).await?;
    Ok(split(q.from, q.to, tz, &days, head_quiet, tail_quiet))
}

/// No event of the statistics between `from` and `to`.
async fn quiet<C: ConnectionTrait>(
    conn: &C,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT NOT EXISTS (SELECT 1 FROM wechat_event e \
               WHERE e.kind IN ('subscribe', 'scan', 'unsubscribe') \
                 AND e.occurred_at >= $1 AND e.occurred_at < $2) AS quiet",
            [from.into(), to.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "quiet"))
        .transpose()?
        .unwrap_or(false))
}

/// The local midnights around a period: of its first day, after it, before its end, and
/// after its last day.
#[derive(Debug, Clone, Copy)]
struct Days {
    first_start: DateTime<Utc>,
    first_end: DateTime<Utc>,
    last_start: DateTime<Utc>,
    last_end: DateTime<Utc>,
}

impl Days {
    fn around(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> Option<Self> {
        let day_of = |t: DateTime<Utc>| t.with_timezone(&tz).date_naive();
        let next = |d: NaiveDate| d.checked_add_days(chrono::Days::new(1));
        let (first, last) = (day_of(from), day_of(to));
        Some(Self {
            first_start: local_midnight(&tz, first)?,
            first_end: local_midnight(&tz, next(first)?)?,
            last_start: local_midnight(&tz, last)?,
            last_end: local_midnight(&tz, next(last)?)?,
        })
    }
}

/// The whole days of `[from, to)`, a partial first or last day counting as whole when it
/// is quiet outside the period.
fn split(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
    days: &Days,
    head_quiet: bool,
    tail_quiet: bool,
) -> Option<Plan> {
    let first = if days.first_start == from || head_quiet {
        days.first_start
    } else {
        days.first_end
    };
    let end = if days.last_start == to || !tail_quiet {
        days.last_start
    } else {
        days.last_end
    };
    (first < end).then_some(Plan {
        tz,
        head: (from, first.max(from)),
        tail: (end.min(to), to),
        rollup: (first, end),
    })
}

/// What scanners are counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Code,
    Activity,
    All,
}

impl Level {
    fn id(self) -> i16 {
        match self {
            Self::Code => 0,
            Self::Activity => 1,
            Self::All => 2,
        }
    }

    /// The key of an event's code `g`.
    fn key(self) -> &'static str {
        match self {
            Self::Code => "CAST(g.id AS TEXT)",
            Self::Activity => "g.activity_id",
            Self::All => "CAST(NULL AS TEXT)",
        }
    }

    /// Code `g2` has key `p.key`.
    fn matches(self) -> &'static str {
        match self {
            Self::Code => "CAST(g2.id AS TEXT) = p.key",
            Self::Activity => "g2.activity_id IS NOT DISTINCT FROM p.key",
            Self::All => "TRUE",
        }
    }

    /// Visits of the activity filter (`$10`).
    fn visit_filter(self, filtered: bool) -> &'static str {
        match (self, filtered) {
            (_, false) | (Self::All, true) => "",
            (Self::Code, true) => {
                "AND v.key IN (SELECT CAST(x.id AS TEXT) FROM qr_generation x WHERE x.activity_id = $10)"
            }
            (Self::Activity, true) => "AND v.key = $10",
        }
    }
}

const ADDITIVE_RAW: &str = "SUM(CASE WHEN ev.kind <> 'unsubscribe' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN ev.kind = 'subscribe' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN ev.kind = 'scan' THEN 1 ELSE 0 END), \
    SUM(CASE WHEN ev.kind = 'unsubscribe' THEN 1 ELSE 0 END)";

/// How the read events are counted against the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Per {
    /// One row per key.
    Key,
    /// One row per local day (key: the day).
    Day,
    /// One totals row.
    Total,
}

/// Scanners of the read events (edges and fresh) with no earlier-stored scan in the rollup
/// days (of that local day, for `Per::Day`), per `level` key. The probe is a lateral
/// `LIMIT 1` so that it stays an index probe per scanner: as an anti-join the planner may
/// hash every scan of the rollup days instead.
fn scanners_outside(level: Level, per: Per, filter: &str) -> String {
    let (total, out, group) = match per {
        Per::Key => (0, "p.key", "GROUP BY p.key"),
        Per::Day => (0, "to_char(p.day, 'YYYY-MM-DD')", "GROUP BY p.day"),
        Per::Total => (1, "CAST(NULL AS TEXT)", ""),
    };
    let (lo, hi) = match per {
        Per::Day => (
            "GREATEST($7, CAST(p.day AS TIMESTAMP) AT TIME ZONE $9)",
            "LEAST($8, CAST(p.day + 1 AS TIMESTAMP) AT TIME ZONE $9)",
        ),
        Per::Key | Per::Total => ("$7", "$8"),
    };
    let day = if per == Per::Day {
        "CAST(ev.at AT TIME ZONE $9 AS DATE)"
    } else {
        "CAST(NULL AS DATE)"
    };
    format!(
        "SELECT {total}, {out}, 0, 0, 0, 0, COUNT(*) FROM ( \
           SELECT DISTINCT {k} AS key, {day} AS day, ev.openid AS openid \
           FROM ev JOIN qr_generation g ON g.id = ev.gid WHERE ev.kind <> 'unsubscribe' {filter}) p \
         LEFT JOIN LATERAL (SELECT 1 AS hit FROM wechat_event e2 JOIN qr_generation g2 ON g2.id = e2.generation_id \
           WHERE e2.openid = p.openid AND e2.kind IN ('subscribe', 'scan') \
             AND e2.occurred_at >= {lo} AND e2.occurred_at < {hi} \
             AND e2.id NOT IN (SELECT id FROM fresh) AND {m} LIMIT 1) x ON TRUE \
         WHERE x.hit IS NULL {group}",
        k = level.key(),
        m = level.matches(),
    )
}

/// Scanners of the rollup days whose previous visit is before them.
fn scanners_inside(level: Level, total: bool, filtered: bool) -> String {
    let (key, group) = if total {
        ("CAST(NULL AS TEXT)", "")
    } else {
        ("v.key", "GROUP BY v.key")
    };
    format!(
        "SELECT {t}, {key}, 0, 0, 0, 0, SUM(v.visits) FROM stats_visit v \
         WHERE v.level = {l} AND v.day >= $5 AND v.day < $6 \
           AND (v.prev_day IS NULL OR v.prev_day < $5) {f} {group}",
        t = i32::from(total),
        l = level.id(),
        f = level.visit_filter(filtered),
    )
}

/// The rows of the groups and the totals row.
///
/// # Errors
/// The database failed.
pub(super) async fn run<C: ConnectionTrait>(
    conn: &C,
    q: &StatsQuery,
    plan: &Plan,
) -> Result<(Vec<Row>, Option<Row>), DbErr> {
    let (first_day, end_day) = plan.days_range();
    let mut params: Vec<Value> = vec![
        plan.head.0.into(),
        plan.head.1.into(),
        plan.tail.0.into(),
        plan.tail.1.into(),
        first_day.into(),
        end_day.into(),
        plan.rollup.0.into(),
        plan.rollup.1.into(),
        plan.tz.name().into(),
    ];
    let filtered = q.activity_id.is_some();
    if let Some(activity) = &q.activity_id {
        params.push(activity.clone().into());
    }
    let filter = if filtered {
        "AND g.activity_id = $10"
    } else {
        ""
    };
    let totals = if filtered {
        Level::Activity
    } else {
        Level::All
    };
    // The edges, and the fresh events of the rollup days.
    let ev = events(
        "((e.occurred_at >= $1 AND e.occurred_at < $2) OR (e.occurred_at >= $3 AND e.occurred_at < $4) \
          OR (e.id = ANY (ARRAY(SELECT id FROM fresh)) AND e.occurred_at >= $7 AND e.occurred_at < $8))",
    );
    let mut parts = Vec::new();
    match q.group_by {
        GroupBy::Day => {
            parts.push(format!(
                "SELECT 0, to_char(d.day, 'YYYY-MM-DD'), SUM(d.scans), SUM(d.new_followers), \
                 SUM(d.returning_scans), SUM(d.unsubscribes), CAST(0 AS BIGINT) \
                 FROM stats_day d JOIN qr_generation g ON g.id = d.generation_id \
                 WHERE d.day >= $5 AND d.day < $6 {filter} GROUP BY 2"
            ));
            let day = "to_char(ev.at AT TIME ZONE $9, 'YYYY-MM-DD')";
            parts.push(format!(
                "SELECT 0, {day}, {ADDITIVE_RAW}, 0 FROM ev JOIN qr_generation g ON g.id = ev.gid \
                 WHERE TRUE {filter} GROUP BY 2"
            ));
            parts.push(format!(
                "SELECT 0, to_char(v.day, 'YYYY-MM-DD'), 0, 0, 0, 0, SUM(v.visits) FROM stats_visit v \
                 WHERE v.level = {l} AND v.day >= $5 AND v.day < $6 {f} GROUP BY 2",
                l = totals.id(),
                f = totals.visit_filter(filtered),
            ));
            parts.push(scanners_outside(totals, Per::Day, filter));
        }
        GroupBy::Activity | GroupBy::Qrcode => {
            let level = if q.group_by == GroupBy::Qrcode {
                Level::Code
            } else {
                Level::Activity
            };
            let key = level.key();
            parts.push(format!(
                "SELECT 0, {key}, SUM(d.scans), SUM(d.new_followers), SUM(d.returning_scans), \
                 SUM(d.unsubscribes), CAST(0 AS BIGINT) \
                 FROM stats_day d JOIN qr_generation g ON g.id = d.generation_id \
                 WHERE d.day >= $5 AND d.day < $6 {filter} GROUP BY 2"
            ));
            parts.push(format!(
                "SELECT 0, {key}, {ADDITIVE_RAW}, 0 FROM ev JOIN qr_generation g ON g.id = ev.gid \
                 WHERE TRUE {filter} GROUP BY 2"
            ));
            parts.push(scanners_inside(level, false, filtered));
            parts.push(scanners_outside(level, Per::Key, filter));
        }
    }
    parts.push(scanners_inside(totals, true, filtered));
    parts.push(scanners_outside(totals, Per::Total, filter));

    let (qrcode_id, activity_id, join) = if q.group_by == GroupBy::Qrcode {
        (
            "g.id",
            "g.activity_id",
            "LEFT JOIN qr_generation g ON p.is_total = 0 AND CAST(g.id AS TEXT) = p.key",
        )
    } else {
        ("CAST(NULL AS BIGINT)", "CAST(NULL AS TEXT)", "")
    };
    let sql = format!(
        "WITH fresh AS (SELECT unnest(d.ids) AS id FROM stats_dirty d), {ev}, parts (is_total, key, scans, new_followers, returning_scans, unsubscribes, unique_scanners) AS ( \
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
    let marked = Marked::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        params,
    ))
    .all(conn)
    .await?;
    let (groups, total) = Marked::split(marked);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn plan(from: &str, to: &str, head_quiet: bool, tail_quiet: bool) -> Option<Plan> {
        let tz = chrono_tz::Asia::Shanghai;
        let (from, to) = (at(from), at(to));
        let days = Days::around(from, to, tz)?;
        split(from, to, tz, &days, head_quiet, tail_quiet)
    }

    #[test]
    fn whole_days_between_partial_edges() {
        let p = plan(
            "2026-11-01T10:00:00+08:00",
            "2026-11-05T09:00:00+08:00",
            false,
            false,
        );
        let p = p.as_ref();
        assert_eq!(p.map(Plan::days), Some(3));
        assert_eq!(
            p.map(|p| p.head),
            Some((
                at("2026-11-01T10:00:00+08:00"),
                at("2026-11-02T00:00:00+08:00")
            ))
        );
        assert_eq!(
            p.map(|p| p.tail),
            Some((
                at("2026-11-05T00:00:00+08:00"),
                at("2026-11-05T09:00:00+08:00")
            ))
        );
    }

    #[test]
    fn quiet_partial_days_count_as_whole() {
        let p = plan(
            "2026-11-01T10:00:00+08:00",
            "2026-11-05T09:00:00+08:00",
            true,
            true,
        );
        let p = p.as_ref();
        assert_eq!(p.map(Plan::days), Some(5));
        assert_eq!(
            p.map(|p| p.rollup),
            Some((
                at("2026-11-01T00:00:00+08:00"),
                at("2026-11-06T00:00:00+08:00")
            ))
        );
        assert_eq!(p.map(|p| p.head.0 == p.head.1), Some(true));
        assert_eq!(p.map(|p| p.tail.0 == p.tail.1), Some(true));
        // Within one day: a whole day only when it is quiet on both sides.
        let within = ("2026-11-01T01:00:00+08:00", "2026-11-01T23:00:00+08:00");
        assert!(plan(within.0, within.1, true, false).is_none());
        assert_eq!(
            plan(within.0, within.1, true, true).map(|p| p.days()),
            Some(1)
        );
    }

    #[test]
    fn aligned_period_has_empty_edges() {
        let p = plan(
            "2026-11-01T00:00:00+08:00",
            "2026-11-08T00:00:00+08:00",
            false,
            false,
        );
        let p = p.as_ref();
        assert_eq!(p.map(Plan::days), Some(7));
        assert_eq!(p.map(|p| p.head.0 == p.head.1), Some(true));
        assert_eq!(p.map(|p| p.tail.0 == p.tail.1), Some(true));
    }
}
