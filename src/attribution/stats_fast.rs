//! Statistics from the daily rollups (Postgres), exact.
//!
//! The rollups answer a run of whole local days. A partial first or last day of the period
//! is either left out of that run and read from the events (an `edge`), or kept in it and
//! the part outside the period subtracted (a `sliver`), whichever has fewer events. Events
//! stored since the last refresh (`fresh`: the ids of the dirty marks) are not in the
//! rollups and are read from the events, like the edges.
//!
//! Additive figures are sums and differences. Unique scanners of a group are those the
//! rollups count in their days (visits whose previous visit is before them), less the
//! scanners of the slivers with no other scan in the period's part of those days, plus the
//! scanners of the edges and of the fresh events with none either: one index-only probe per
//! scanner read.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};

use super::period::local_midnight;
use super::stats::{GroupBy, Row, StatsQuery};
use super::stats_sql::{Marked, events, events_as};

type Span = (DateTime<Utc>, DateTime<Utc>);

/// How a query splits between rollups and events.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    tz: Tz,
    /// The whole days the rollups answer.
    rollup: Span,
    /// Parts of the period outside those days, read from the events (empty spans allowed).
    edges: [Span; 2],
    /// Parts of those days outside the period, subtracted.
    slivers: [Span; 2],
    /// The period's part of those days.
    inside: Span,
}

impl Plan {
    /// Days answered by the rollups.
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

/// The rollups' state.
#[derive(Debug, FromQueryResult)]
pub(super) struct State {
    /// Their time zone.
    pub(super) tz: String,
    /// Built at least once.
    pub(super) built: bool,
    /// Events not rolled up yet.
    pub(super) fresh: i64,
    /// Age of the oldest of them, in seconds.
    pub(super) oldest_secs: Option<f64>,
}

/// The rollups' state (none before the migration's row exists).
///
/// # Errors
/// The database failed.
pub(super) async fn state<C: ConnectionTrait>(conn: &C) -> Result<Option<State>, DbErr> {
    State::find_by_statement(Statement::from_string(DbBackend::Postgres, STATE))
        .one(conn)
        .await
}

/// Whether a fresh event is the first follow of a scanner with rolled-up unsubscribes after
/// it: it moves their attribution, which the rollups hold. (Fresh unsubscribes are read with
/// the current attribution anyway.)
///
/// # Errors
/// The database failed.
pub(super) async fn reattributed<C: ConnectionTrait>(conn: &C) -> Result<bool, DbErr> {
    let row = conn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, REATTRIBUTED))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "reattributed"))
        .transpose()?
        .unwrap_or(false))
}

/// Fresh events above which the rollups wait for the refresher (a bulk import).
const MAX_FRESH: i64 = 50_000;

/// The rollups' state and how many events they miss.
const STATE: &str = "SELECT s.tz AS tz, s.built AS built, \
      (SELECT COALESCE(SUM(cardinality(d.ids)), 0) FROM stats_dirty d) AS fresh, \
      (SELECT CAST(EXTRACT(EPOCH FROM now() - MIN(d.marked_at)) AS DOUBLE PRECISION) FROM stats_dirty d) \
        AS oldest_secs \
    FROM stats_rollup_state s WHERE s.id = 1";

const REATTRIBUTED: &str = "SELECT EXISTS (SELECT 1 FROM stats_dirty d CROSS JOIN LATERAL unnest(d.ids) AS n(id) \
      JOIN wechat_event e ON e.id = n.id \
      JOIN wechat_follower f ON f.openid = e.openid AND f.first_followed_at = e.occurred_at \
      WHERE e.kind = 'subscribe' AND EXISTS (SELECT 1 FROM wechat_event u \
        WHERE u.openid = e.openid AND u.kind = 'unsubscribe' AND u.occurred_at >= e.occurred_at \
          AND u.id NOT IN (SELECT unnest(d2.ids) FROM stats_dirty d2))) AS reattributed";

/// The split of `q`, or `None` when the rollups cannot answer it (not built yet, days in
/// another time zone, no day worth taking from them, or too much they miss).
///
/// # Errors
/// The database failed.
pub(super) async fn plan<C: ConnectionTrait>(
    conn: &C,
    q: &StatsQuery,
) -> Result<Option<Plan>, DbErr> {
    let Some(state) = state(conn)
        .await?
        .filter(|s| s.built && s.fresh <= MAX_FRESH)
    else {
        return Ok(None);
    };
    if state.fresh > 0 && reattributed(conn).await? {
        return Ok(None);
    }
    let Ok(tz) = state.tz.parse::<Tz>() else {
        return Ok(None);
    };
    if q.group_by == GroupBy::Day && q.tz != tz {
        return Ok(None);
    }
    let Some(days) = Days::around(q.from, q.to, tz) else {
        return Ok(None);
    };
    let (from, to) = (q.from, q.to);
    // A period starting or ending at midnight has nothing to weigh on that side.
    let (head_aligned, tail_aligned) = (days.first_start == from, days.last_start == to);
    let weigh = |aligned: bool, span: Span| if aligned { (span.0, span.0) } else { span };
    let counts = count(
        conn,
        [
            weigh(head_aligned, (days.first_start, from)),
            weigh(head_aligned, (from, days.first_end.min(to))),
            weigh(tail_aligned, (days.last_start.max(from), to)),
            weigh(tail_aligned, (to, days.last_end)),
        ],
    )
    .await?;
    let head = Partial {
        inside: counts[1],
        outside: counts[0],
    };
    let tail = Partial {
        inside: counts[2],
        outside: counts[3],
    };
    Ok(split(from, to, tz, &days, head, tail))
}

/// Events of the statistics in each span.
async fn count<C: ConnectionTrait>(conn: &C, spans: [Span; 4]) -> Result<[i64; 4], DbErr> {
    let one = |n: usize| {
        format!(
            "(SELECT COUNT(*) FROM wechat_event e WHERE e.kind IN ('subscribe', 'scan', 'unsubscribe') \
             AND e.occurred_at >= ${} AND e.occurred_at < ${}) AS c{n}",
            2 * n + 1,
            2 * n + 2
        )
    };
    let sql = format!("SELECT {}, {}, {}, {}", one(0), one(1), one(2), one(3));
    let params: Vec<Value> = spans
        .iter()
        .flat_map(|(a, b)| [(*a).into(), (*a).max(*b).into()])
        .collect();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            params,
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("no counts".into()))?;
    let mut counts = [0; 4];
    for (n, c) in counts.iter_mut().enumerate() {
        *c = row.try_get("", &format!("c{n}"))?;
    }
    Ok(counts)
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

/// Events of a partial day: in the period's part, and outside it.
#[derive(Debug, Clone, Copy)]
struct Partial {
    inside: i64,
    outside: i64,
}

/// Keeps a partial day in the rollups (subtracting what lies outside the period) when that
/// reads fewer events than reading its part of the period.
fn split(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    tz: Tz,
    days: &Days,
    head: Partial,
    tail: Partial,
) -> Option<Plan> {
    let none = (from, from);
    if days.first_start == days.last_start {
        // Within one day: all of it from the rollups, or all of it from the events.
        let outside = head.outside + tail.outside;
        return (outside <= head.inside).then_some(Plan {
            tz,
            rollup: (days.first_start, days.first_end),
            edges: [none, none],
            slivers: [(days.first_start, from), (to, days.first_end)],
            inside: (from, to),
        });
    }
    let (start, head_edge, head_sliver) = if days.first_start == from {
        (from, none, none)
    } else if head.outside <= head.inside {
        (days.first_start, none, (days.first_start, from))
    } else {
        (days.first_end, (from, days.first_end), none)
    };
    let (end, tail_edge, tail_sliver) = if days.last_start == to {
        (to, none, none)
    } else if tail.outside <= tail.inside {
        (days.last_end, none, (to, days.last_end))
    } else {
        (days.last_start, (days.last_start, to), none)
    };
    (start < end).then_some(Plan {
        tz,
        rollup: (start, end),
        edges: [head_edge, tail_edge],
        slivers: [head_sliver, tail_sliver],
        inside: (start.max(from), end.min(to)),
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
            Self::Code => "e2.generation_id = CAST(p.key AS BIGINT)",
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

/// Events read to add (edges and fresh: `ev`) or to subtract (slivers: `sl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Added,
    Subtracted,
}

impl Source {
    fn table(self) -> &'static str {
        match self {
            Self::Added => "ev",
            Self::Subtracted => "sl",
        }
    }

    fn sign(self) -> &'static str {
        match self {
            Self::Added => "",
            Self::Subtracted => "-",
        }
    }
}

/// Additive figures of the read events, per `key`.
fn additive(source: Source, key: &str, filter: &str) -> String {
    let s = source.sign();
    format!(
        "SELECT 0, {key}, \
           {s}SUM(CASE WHEN ev.kind <> 'unsubscribe' THEN 1 ELSE 0 END), \
           {s}SUM(CASE WHEN ev.kind = 'subscribe' THEN 1 ELSE 0 END), \
           {s}SUM(CASE WHEN ev.kind = 'scan' THEN 1 ELSE 0 END), \
           {s}SUM(CASE WHEN ev.kind = 'unsubscribe' THEN 1 ELSE 0 END), 0 \
         FROM {t} AS ev JOIN qr_generation g ON g.id = ev.gid WHERE TRUE {filter} GROUP BY 2",
        t = source.table(),
    )
}

/// Scanners of the read events with no rolled-up scan in the period's part of the rollup
/// days (of that local day, for `Per::Day`: its bounds come from `bounds`, computed here,
/// since Postgres turns an ambiguous local midnight into its later instant), per `level`
/// key. The probe is a lateral `LIMIT 1` so that it stays an index probe per scanner: as an
/// anti-join the planner may hash every scan of the rollup days instead.
fn scanners_outside(level: Level, per: Per, source: Source, filter: &str) -> String {
    let (total, out, group) = match per {
        Per::Key => (0, "p.key", "GROUP BY p.key"),
        Per::Day => (0, "to_char(p.day, 'YYYY-MM-DD')", "GROUP BY p.day"),
        Per::Total => (1, "CAST(NULL AS TEXT)", ""),
    };
    let (lo, hi, day, bounds) = match per {
        Per::Day => (
            "GREATEST($7, COALESCE(b.lo, $8))",
            "LEAST($8, COALESCE(b.hi, $8))",
            "CAST(ev.at AT TIME ZONE $9 AS DATE)",
            "LEFT JOIN bounds b ON b.day = p.day",
        ),
        Per::Key | Per::Total => ("$7", "$8", "CAST(NULL AS DATE)", ""),
    };
    format!(
        "SELECT {total}, {out}, 0, 0, 0, 0, {sign}COUNT(*) FROM ( \
           SELECT DISTINCT {k} AS key, {day} AS day, ev.openid AS openid \
           FROM {t} AS ev JOIN qr_generation g ON g.id = ev.gid WHERE ev.kind <> 'unsubscribe' {filter}) p \
         {bounds} LEFT JOIN LATERAL (SELECT 1 AS hit FROM wechat_event e2 JOIN qr_generation g2 ON g2.id = e2.generation_id \
           WHERE e2.openid = p.openid AND e2.kind IN ('subscribe', 'scan') \
             AND e2.occurred_at >= {lo} AND e2.occurred_at < {hi} \
             AND e2.id NOT IN (SELECT id FROM fresh) AND {m} LIMIT 1) x ON TRUE \
         WHERE x.hit IS NULL {group}",
        sign = source.sign(),
        t = source.table(),
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

/// Additive figures of the rollup days, per `key` of code `g` or day `d.day`.
fn rolled_up(key: &str, filter: &str) -> String {
    format!(
        "SELECT 0, {key}, SUM(d.scans), SUM(d.new_followers), SUM(d.returning_scans), \
           SUM(d.unsubscribes), CAST(0 AS BIGINT) \
         FROM stats_day d JOIN qr_generation g ON g.id = d.generation_id \
         WHERE d.day >= $5 AND d.day < $6 {filter} GROUP BY 2"
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
        plan.edges[0].0.into(),
        plan.edges[0].1.into(),
        plan.edges[1].0.into(),
        plan.edges[1].1.into(),
        first_day.into(),
        end_day.into(),
        plan.inside.0.into(),
        plan.inside.1.into(),
        plan.tz.name().into(),
        q.activity_id.clone().into(),
        plan.slivers[0].0.into(),
        plan.slivers[0].1.into(),
        plan.slivers[1].0.into(),
        plan.slivers[1].1.into(),
    ];
    let filtered = q.activity_id.is_some();
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
    let is_fresh = "e.id = ANY (ARRAY(SELECT id FROM fresh))";
    // Added: the edges, and the fresh events of the period's part of the rollup days.
    let ev = events(&format!(
        "((e.occurred_at >= $1 AND e.occurred_at < $2) OR (e.occurred_at >= $3 AND e.occurred_at < $4) \
          OR ({is_fresh} AND e.occurred_at >= $7 AND e.occurred_at < $8))"
    ));
    // Subtracted: the rolled-up events of the slivers.
    let sl = events_as(
        "sl",
        "((e.occurred_at >= $11 AND e.occurred_at < $12) OR (e.occurred_at >= $13 AND e.occurred_at < $14)) \
         AND e.id NOT IN (SELECT id FROM fresh)",
    );
    // The local days' UTC bounds (day grouping only).
    let mut bounds = String::new();
    if q.group_by == GroupBy::Day {
        let mut rows = Vec::new();
        for (label, start, end) in q.days() {
            let Ok(day) = NaiveDate::parse_from_str(&label, "%Y-%m-%d") else {
                continue;
            };
            let n = params.len();
            params.extend([day.into(), start.into(), end.into()]);
            rows.push(format!(
                "(CAST(${} AS DATE), CAST(${} AS TIMESTAMPTZ), CAST(${} AS TIMESTAMPTZ))",
                n + 1,
                n + 2,
                n + 3
            ));
        }
        if !rows.is_empty() {
            bounds = format!(", bounds (day, lo, hi) AS (VALUES {})", rows.join(", "));
        }
    }
    let mut parts = Vec::new();
    match q.group_by {
        GroupBy::Day => {
            parts.push(rolled_up("to_char(d.day, 'YYYY-MM-DD')", filter));
            let day = "to_char(ev.at AT TIME ZONE $9, 'YYYY-MM-DD')";
            parts.push(additive(Source::Added, day, filter));
            parts.push(additive(Source::Subtracted, day, filter));
            parts.push(format!(
                "SELECT 0, to_char(v.day, 'YYYY-MM-DD'), 0, 0, 0, 0, SUM(v.visits) FROM stats_visit v \
                 WHERE v.level = {l} AND v.day >= $5 AND v.day < $6 {f} GROUP BY 2",
                l = totals.id(),
                f = totals.visit_filter(filtered),
            ));
            for source in [Source::Added, Source::Subtracted] {
                parts.push(scanners_outside(totals, Per::Day, source, filter));
            }
        }
        GroupBy::Activity | GroupBy::Qrcode => {
            let level = if q.group_by == GroupBy::Qrcode {
                Level::Code
            } else {
                Level::Activity
            };
            parts.push(rolled_up(level.key(), filter));
            parts.push(additive(Source::Added, level.key(), filter));
            parts.push(additive(Source::Subtracted, level.key(), filter));
            parts.push(scanners_inside(level, false, filtered));
            for source in [Source::Added, Source::Subtracted] {
                parts.push(scanners_outside(level, Per::Key, source, filter));
            }
        }
    }
    parts.push(scanners_inside(totals, true, filtered));
    for source in [Source::Added, Source::Subtracted] {
        parts.push(scanners_outside(totals, Per::Total, source, filter));
    }

    let (qrcode_id, activity_id, join) = if q.group_by == GroupBy::Qrcode {
        (
            "g.id",
            "g.activity_id",
            "LEFT JOIN qr_generation g ON p.is_total = 0 AND g.id = CAST(p.key AS BIGINT)",
        )
    } else {
        ("CAST(NULL AS BIGINT)", "CAST(NULL AS TEXT)", "")
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
    let marked = Marked::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        params,
    ))
    .all(conn)
    .await?;
    let (mut groups, total) = Marked::split(marked);
    // A group whose events all lie in a sliver nets to nothing: it is not in the period.
    groups.retain(|g| {
        g.scans != 0
            || g.unique_scanners != 0
            || g.new_followers != 0
            || g.returning_scans != 0
            || g.unsubscribes != 0
    });
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

    fn plan(from: &str, to: &str, head: (i64, i64), tail: (i64, i64)) -> Option<Plan> {
        let tz = chrono_tz::Asia::Shanghai;
        let (from, to) = (at(from), at(to));
        let days = Days::around(from, to, tz)?;
        let partial = |(inside, outside)| Partial { inside, outside };
        split(from, to, tz, &days, partial(head), partial(tail))
    }

    const FROM: &str = "2026-11-01T10:00:00+08:00";
    const TO: &str = "2026-11-05T09:00:00+08:00";

    #[test]
    fn busy_outside_parts_make_edges() {
        let p = plan(FROM, TO, (10, 50), (10, 50));
        let p = p.as_ref();
        assert_eq!(p.map(Plan::days), Some(3));
        assert_eq!(
            p.map(|p| p.edges),
            Some([
                (at(FROM), at("2026-11-02T00:00:00+08:00")),
                (at("2026-11-05T00:00:00+08:00"), at(TO))
            ])
        );
        assert_eq!(p.map(|p| p.slivers[0].0 == p.slivers[0].1), Some(true));
    }

    #[test]
    fn quiet_outside_parts_make_slivers() {
        let p = plan(FROM, TO, (50, 10), (50, 0));
        let p = p.as_ref();
        assert_eq!(p.map(Plan::days), Some(5));
        assert_eq!(
            p.map(|p| p.slivers),
            Some([
                (at("2026-11-01T00:00:00+08:00"), at(FROM)),
                (at(TO), at("2026-11-06T00:00:00+08:00"))
            ])
        );
        assert_eq!(p.map(|p| p.inside), Some((at(FROM), at(TO))));
        assert_eq!(p.map(|p| p.edges[0].0 == p.edges[0].1), Some(true));
    }

    #[test]
    fn within_one_day_it_is_all_or_nothing() {
        let (from, to) = ("2026-11-01T01:00:00+08:00", "2026-11-01T23:00:00+08:00");
        assert!(plan(from, to, (10, 8), (10, 8)).is_none());
        assert_eq!(plan(from, to, (10, 4), (10, 4)).map(|p| p.days()), Some(1));
    }

    #[test]
    fn aligned_period_reads_no_event() {
        let p = plan(
            "2026-11-01T00:00:00+08:00",
            "2026-11-08T00:00:00+08:00",
            (0, 0),
            (0, 0),
        );
        let p = p.as_ref();
        assert_eq!(p.map(Plan::days), Some(7));
        let empty = |s: &Span| s.0 == s.1;
        assert_eq!(
            p.map(|p| p.edges.iter().chain(&p.slivers).all(empty)),
            Some(true)
        );
    }
}
