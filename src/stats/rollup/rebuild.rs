//! The SQL of a rebuild: the rollups of every account and local day from one day on, from
//! the events.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use crate::stats::fragments::{CODE_OF_EV, Scope, events};
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

/// Deletes the rollups of every account from local day `first` on (every row when
/// `None`), from `stats_day` and `stats_visit`. Account by account and every level, so that
/// their account-led keys answer: the query side reads them per account.
pub(super) fn clear(first: Option<Param>) -> [String; 2] {
    let Some(first) = first else {
        return [
            "DELETE FROM stats_day".into(),
            "DELETE FROM stats_visit".into(),
        ];
    };
    let every = Scope::Every.holds("account_id");
    [
        format!("DELETE FROM stats_day WHERE {every} AND day >= {first}"),
        format!("DELETE FROM stats_visit WHERE {every} AND level IN (0, 1, 2) AND day >= {first}"),
    ]
}

/// The additive figures per account, code and local day, from the first rebuilt day on.
/// The events read start a day early and are kept by their Postgres day: Rust's time-zone
/// data and the database's may differ by an hour, and the days are the database's.
pub(super) fn days(s: &Since) -> String {
    let ev = events(
        Scope::Every,
        &format!("e.occurred_at >= {} - INTERVAL '1 day'", s.start),
    );
    format!(
        "INSERT INTO stats_day (account_id, day, generation_id, scans, new_followers, returning_scans, \
           unsubscribes) \
         WITH {ev} \
         SELECT ev.account_id, CAST(ev.at AT TIME ZONE {tz} AS DATE), ev.gid, \
           COUNT(*) FILTER (WHERE ev.kind <> 'unsubscribe'), \
           COUNT(*) FILTER (WHERE ev.kind = 'subscribe'), \
           COUNT(*) FILTER (WHERE ev.kind = 'scan'), \
           COUNT(*) FILTER (WHERE ev.kind = 'unsubscribe') \
         FROM ev {CODE_OF_EV} WHERE CAST(ev.at AT TIME ZONE {tz} AS DATE) >= {day} GROUP BY 1, 2, 3",
        tz = s.tz,
        day = s.day,
    )
}

/// Scanners per account, level, key, day and previous visit day, for days from the first
/// rebuilt one on. A scanner is an openid of one account: the previous visit is that of the
/// same account's openid. It needs the scanner's whole history, so every scan of the
/// scanners of those days is read: of everyone (`every_day`), or of the scanners since the
/// first rebuilt day, probed one by one through the scanner index. Sorting uses byte order:
/// the order does not matter, only the groups.
pub(super) fn visits(s: &Since, every_day: bool) -> String {
    let scan = "e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL";
    // The scans read (`e`), and which of them count.
    let (scans, only) = if every_day {
        (
            "wechat_event e".to_owned(),
            format!(
                "{every} AND {scan} AND e.occurred_at >= {start}",
                every = Scope::Every.holds("e.account_id"),
                start = s.start,
            ),
        )
    } else {
        let scans = format!(
            "(SELECT DISTINCT x.account_id, x.openid FROM wechat_event x \
               WHERE {every} AND x.kind IN ('subscribe', 'scan') AND x.generation_id IS NOT NULL \
                 AND x.occurred_at >= {start} - INTERVAL '1 day') u \
             CROSS JOIN LATERAL (SELECT e.account_id, e.openid, e.generation_id, e.occurred_at \
               FROM wechat_event e WHERE e.account_id = u.account_id AND e.openid = u.openid AND {scan} \
               OFFSET 0) e",
            every = Scope::Every.holds("x.account_id"),
            start = s.start,
        );
        (scans, "TRUE".to_owned())
    };
    format!(
        "INSERT INTO stats_visit (account_id, level, key, day, prev_day, visits) \
         WITH s AS ( \
           SELECT DISTINCT e.account_id AS account_id, e.openid COLLATE \"C\" AS openid, \
                  e.generation_id AS gid, g.activity_id AS activity_id, \
                  CAST(e.occurred_at AT TIME ZONE {tz} AS DATE) AS day \
           FROM {scans} JOIN qr_generation g ON g.id = e.generation_id AND g.account_id = e.account_id \
           WHERE {only} \
         ), v AS ( \
           SELECT account_id, CAST(0 AS SMALLINT) AS level, CAST(gid AS TEXT) COLLATE \"C\" AS key, \
             openid, day FROM s \
           UNION ALL SELECT DISTINCT account_id, CAST(1 AS SMALLINT), activity_id COLLATE \"C\", openid, day \
             FROM s \
           UNION ALL SELECT DISTINCT account_id, CAST(2 AS SMALLINT), CAST(NULL AS TEXT) COLLATE \"C\", \
             openid, day FROM s \
         ), l AS ( \
           SELECT account_id, level, key, day, \
             LAG(day) OVER (PARTITION BY account_id, level, key, openid ORDER BY day) AS prev_day \
           FROM v \
         ) \
         SELECT account_id, level, key, day, prev_day, COUNT(*) FROM l WHERE day >= {day} \
         GROUP BY 1, 2, 3, 4, 5",
        tz = s.tz,
        day = s.day,
    )
}
