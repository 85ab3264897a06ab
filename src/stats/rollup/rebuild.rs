//! The SQL of a rebuild: the rollups of every local day from one day on, from the events.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::stats::fragments::events;
use crate::stats::params::{Param, Params};

/// The values of a rebuild from one day on.
pub(super) struct Since {
    /// The rollups' time zone.
    tz: Param,
    /// The first instant of the first rebuilt day.
    start: Param,
    /// The first rebuilt day.
    day: Param,
}

impl Since {
    /// The values of one statement, bound.
    pub(super) fn bind(tz: Tz, start: DateTime<Utc>, day: NaiveDate) -> (Self, Params) {
        let mut params = Params::new();
        let since = Self {
            tz: params.bind(tz.name()),
            start: params.bind(start),
            day: params.bind(day),
        };
        (since, params)
    }
}

/// The additive figures per code and local day, from the first rebuilt day on. The events
/// read start a day early and are kept by their Postgres day: Rust's time-zone data and the
/// database's may differ by an hour, and the days are the database's.
pub(super) fn days(s: &Since) -> String {
    let ev = events(&format!("e.occurred_at >= {} - INTERVAL '1 day'", s.start));
    format!(
        "INSERT INTO stats_day (day, generation_id, scans, new_followers, returning_scans, unsubscribes) \
         WITH {ev} \
         SELECT CAST(ev.at AT TIME ZONE {tz} AS DATE), ev.gid, \
           COUNT(*) FILTER (WHERE ev.kind <> 'unsubscribe'), \
           COUNT(*) FILTER (WHERE ev.kind = 'subscribe'), \
           COUNT(*) FILTER (WHERE ev.kind = 'scan'), \
           COUNT(*) FILTER (WHERE ev.kind = 'unsubscribe') \
         FROM ev WHERE CAST(ev.at AT TIME ZONE {tz} AS DATE) >= {day} GROUP BY 1, 2",
        tz = s.tz,
        day = s.day,
    )
}

/// Scanners per level, key, day and previous visit day, for days from the first rebuilt
/// one on. The previous visit needs the scanner's whole history, so every scan of the
/// scanners of those days is read: of everyone (`every_day`), or of the scanners since the
/// first rebuilt day, probed one by one through the scanner index. Sorting uses byte order:
/// the order does not matter, only the groups.
pub(super) fn visits(s: &Since, every_day: bool) -> String {
    let scans = if every_day {
        format!(
            "wechat_event e WHERE e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL \
             AND e.occurred_at >= {}",
            s.start
        )
    } else {
        format!(
            "(SELECT DISTINCT x.openid FROM wechat_event x \
               WHERE x.kind IN ('subscribe', 'scan') AND x.generation_id IS NOT NULL \
                 AND x.occurred_at >= {} - INTERVAL '1 day') u \
             CROSS JOIN LATERAL (SELECT e.openid, e.generation_id, e.occurred_at FROM wechat_event e \
               WHERE e.openid = u.openid AND e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL \
               OFFSET 0) e",
            s.start
        )
    };
    format!(
        "INSERT INTO stats_visit (level, key, day, prev_day, visits) \
         WITH s AS ( \
           SELECT DISTINCT e.openid COLLATE \"C\" AS openid, e.generation_id AS gid, \
                  CAST(e.occurred_at AT TIME ZONE {tz} AS DATE) AS day \
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
         SELECT level, key, day, prev_day, COUNT(*) FROM l WHERE day >= {day} GROUP BY 1, 2, 3, 4",
        tz = s.tz,
        day = s.day,
    )
}
