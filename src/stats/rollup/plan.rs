//! How a query splits between the rollups and the events.
//!
//! The rollups answer a run of whole local days. A partial first or last day of the period
//! is either left out of that run and read from the events (an `edge`), or kept in it and
//! the part outside the period subtracted (a `sliver`), whichever has fewer events. Events
//! stored since the last refresh (`fresh`) are not in the rollups and are read from the
//! events, like the edges. The rollups answer nothing when not built, in another zone than
//! a day grouping asks for, or when too many events are fresh.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::state;
use crate::stats::fragments::within;
use crate::stats::params::Params;
use crate::stats::period::{GroupBy, StatsQuery, local_midnight};

/// A span of time, `[start, end)`.
pub(crate) type Span = (DateTime<Utc>, DateTime<Utc>);

/// Fresh events above which the rollups wait for the refresher (a bulk import).
const MAX_FRESH: i64 = 50_000;

/// How a query splits between rollups and events.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) tz: Tz,
    /// The whole days the rollups answer.
    pub(crate) rollup: Span,
    /// Parts of the period outside those days, read from the events (empty spans allowed).
    pub(crate) edges: [Span; 2],
    /// Parts of those days outside the period, subtracted.
    pub(crate) slivers: [Span; 2],
    /// The period's part of those days.
    pub(crate) inside: Span,
}

impl Plan {
    /// Days answered by the rollups.
    pub fn days(&self) -> u32 {
        let (from, to) = self.days_range();
        u32::try_from((to - from).num_days()).unwrap_or(0)
    }

    /// The first rolled-up local day, and the day after the last.
    pub(crate) fn days_range(&self) -> (NaiveDate, NaiveDate) {
        (
            self.rollup.0.with_timezone(&self.tz).date_naive(),
            self.rollup.1.with_timezone(&self.tz).date_naive(),
        )
    }
}

/// The split of `q`, or `None` when the rollups cannot answer it (not built yet, days in
/// another time zone, no day worth taking from them, or too much they miss). Postgres only.
///
/// # Errors
/// The database failed.
pub async fn plan<C: ConnectionTrait>(conn: &C, q: &StatsQuery) -> Result<Option<Plan>, DbErr> {
    let Some(state) = state::read(conn)
        .await?
        .filter(|s| s.built && s.fresh <= MAX_FRESH)
    else {
        return Ok(None);
    };
    if state.fresh > 0 && state::reattributed(conn, Some(q.account_id)).await? {
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
        q.account_id,
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

/// Events of the statistics of `account` in each span.
async fn count<C: ConnectionTrait>(
    conn: &C,
    account: i64,
    spans: [Span; 4],
) -> Result<[i64; 4], DbErr> {
    let mut params = Params::new();
    let account = params.bind(account);
    let columns: Vec<String> = spans
        .iter()
        .enumerate()
        .map(|(n, &(lo, hi))| {
            let span = within("e.occurred_at", params.bind(lo), params.bind(lo.max(hi)));
            format!(
                "(SELECT COUNT(*) FROM wechat_event e \
                 WHERE e.account_id = {account} AND e.kind IN ('subscribe', 'scan', 'unsubscribe') \
                   AND {span}) AS c{n}"
            )
        })
        .collect();
    let sql = format!("SELECT {}", columns.join(", "));
    let row = conn
        .query_one_raw(params.statement(DbBackend::Postgres, sql))
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
