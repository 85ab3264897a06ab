//! Statistics from the daily rollups (Postgres), exact.
//!
//! The period splits into a run of whole local days the rollups hold and are clean for
//! (`R`), and what is left: the part of the first day before its midnight (`head`) and
//! everything from the end of `R` on (`tail`: the last partial day, and days with events
//! newer than the last refresh). Additive figures are sums over both. Unique scanners of a
//! group are the scanners of `R` (rollup visits whose previous visit is before `R`) plus the
//! scanners of `head` and `tail` with no scan in `R` (one index probe each).

use chrono::{DateTime, Days, Utc};
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

    fn days_range(&self) -> (chrono::NaiveDate, chrono::NaiveDate) {
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
    dirty_since: Option<DateTime<Utc>>,
}

/// The split of `q`, or `None` when the rollups cannot answer any whole day of it (not
/// built yet, days in another time zone, or no clean whole day in the period).
///
/// # Errors
/// The database failed.
pub(super) async fn plan<C: ConnectionTrait>(
    conn: &C,
    q: &StatsQuery,
) -> Result<Option<Plan>, DbErr> {
    let state = State::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        "SELECT s.tz AS tz, s.built AS built, (SELECT MIN(since) FROM stats_dirty) AS dirty_since \
         FROM stats_rollup_state s WHERE s.id = 1",
    ))
    .one(conn)
    .await?;
    let Some(state) = state.filter(|s| s.built) else {
        return Ok(None);
    };
    let Ok(tz) = state.tz.parse::<Tz>() else {
        return Ok(None);
    };
    if q.group_by == GroupBy::Day && q.tz != tz {
        return Ok(None);
    }
    Ok(split(q.from, q.to, tz, state.dirty_since))
}

/// The midnight at or after `t`, and the one at or before it.
fn split(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
    dirty_since: Option<DateTime<Utc>>,
) -> Option<Plan> {
    let midnight_of = |t: DateTime<Utc>| local_midnight(&tz, t.with_timezone(&tz).date_naive());
    let first = {
        let m = midnight_of(from)?;
        if m == from {
            m
        } else {
            let next = from
                .with_timezone(&tz)
                .date_naive()
                .checked_add_days(Days::new(1))?;
            local_midnight(&tz, next)?
        }
    };
    let mut end = midnight_of(to)?;
    if let Some(since) = dirty_since {
        end = end.min(midnight_of(since)?);
    }
    (first < end).then_some(Plan {
        tz,
        head: (from, first),
        tail: (end, to),
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

/// Scanners of `head` and `tail` (per `level` key) with no scan in the rollup days.
fn scanners_outside(level: Level, total: bool, filter: &str) -> String {
    let (key, group) = if total {
        ("CAST(NULL AS TEXT)", "")
    } else {
        ("p.key", "GROUP BY p.key")
    };
    format!(
        "SELECT {t}, {key}, 0, 0, 0, 0, COUNT(*) FROM ( \
           SELECT DISTINCT {k} AS key, ev.openid AS openid FROM ev JOIN qr_generation g ON g.id = ev.gid \
           WHERE ev.kind <> 'unsubscribe' {filter}) p \
         WHERE NOT EXISTS (SELECT 1 FROM wechat_event e2 JOIN qr_generation g2 ON g2.id = e2.generation_id \
           WHERE e2.openid = p.openid AND e2.kind IN ('subscribe', 'scan') \
             AND e2.occurred_at >= $7 AND e2.occurred_at < $8 AND {m}) {group}",
        t = i32::from(total),
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
    let ev = events(
        "((e.occurred_at >= $1 AND e.occurred_at < $2) OR (e.occurred_at >= $3 AND e.occurred_at < $4))",
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
            parts.push(format!(
                "SELECT 0, {day}, 0, 0, 0, 0, COUNT(DISTINCT ev.openid) \
                 FROM ev JOIN qr_generation g ON g.id = ev.gid \
                 WHERE ev.kind <> 'unsubscribe' {filter} GROUP BY 2"
            ));
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
            parts.push(scanners_outside(level, false, filter));
        }
    }
    parts.push(scanners_inside(totals, true, filtered));
    parts.push(scanners_outside(totals, true, filter));

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
        "WITH {ev}, parts (is_total, key, scans, new_followers, returning_scans, unsubscribes, unique_scanners) AS ( \
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

    #[test]
    fn whole_days_between_partial_edges() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap_or(Tz::UTC);
        let plan = split(
            at("2026-11-01T10:00:00+08:00"),
            at("2026-11-05T09:00:00+08:00"),
            tz,
            None,
        );
        let plan = plan.as_ref();
        assert_eq!(plan.map(Plan::days), Some(3));
        assert_eq!(
            plan.map(|p| p.head),
            Some((
                at("2026-11-01T10:00:00+08:00"),
                at("2026-11-02T00:00:00+08:00")
            ))
        );
        assert_eq!(
            plan.map(|p| p.tail),
            Some((
                at("2026-11-05T00:00:00+08:00"),
                at("2026-11-05T09:00:00+08:00")
            ))
        );
    }

    #[test]
    fn aligned_period_has_empty_edges() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap_or(Tz::UTC);
        let plan = split(
            at("2026-11-01T00:00:00+08:00"),
            at("2026-11-08T00:00:00+08:00"),
            tz,
            None,
        );
        let plan = plan.as_ref();
        assert_eq!(plan.map(Plan::days), Some(7));
        assert_eq!(plan.map(|p| p.head.0 == p.head.1), Some(true));
        assert_eq!(plan.map(|p| p.tail.0 == p.tail.1), Some(true));
    }

    #[test]
    fn dirty_days_are_read_from_events() {
        let tz: Tz = "Asia/Shanghai".parse().unwrap_or(Tz::UTC);
        let from = at("2026-11-01T00:00:00+08:00");
        let to = at("2026-11-08T00:00:00+08:00");
        let plan = split(from, to, tz, Some(at("2026-11-04T13:00:00+08:00")));
        assert_eq!(plan.as_ref().map(Plan::days), Some(3));
        assert_eq!(
            plan.map(|p| p.tail),
            Some((at("2026-11-04T00:00:00+08:00"), to))
        );
        // Dirty from the first day on, or a period within one day: nothing for the rollups.
        assert!(split(from, to, tz, Some(at("2026-10-01T00:00:00Z"))).is_none());
        assert!(
            split(
                at("2026-11-01T01:00:00+08:00"),
                at("2026-11-01T23:00:00+08:00"),
                tz,
                None
            )
            .is_none()
        );
    }
}
