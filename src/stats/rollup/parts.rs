//! The parts of the rollup query: each a `SELECT is_total, key, scans, new_followers,
//! returning_scans, unsubscribes, unique_scanners` whose rows [`super::query`] sums.
//!
//! Additive figures are sums and differences. Unique scanners of a group are those the
//! rollups count in their days (visits whose previous visit is before them), less the
//! scanners of the slivers with no other scan in the period's part of those days, plus the
//! scanners of the edges and of the fresh events with none either: one index-only probe per
//! scanner read.
//!
//! Every part reads the rollups, events and codes of one account (`Bound::account`).

use crate::stats::fragments::CODE_OF_EV;
use crate::stats::params::Param;

/// The values every part may refer to, bound once.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bound {
    /// The account whose rollups and events are read.
    pub(super) account: Param,
    /// The first rolled-up local day.
    pub(super) first_day: Param,
    /// The day after the last rolled-up day.
    pub(super) end_day: Param,
    /// The period's part of the rollup days: start and end instants.
    pub(super) inside: (Param, Param),
    /// The rollups' time zone.
    pub(super) tz: Param,
    /// The activity filter.
    pub(super) activity: Option<Param>,
}

impl Bound {
    /// Codes `g` of the activity filter, if any.
    pub(super) fn filter(&self) -> String {
        self.activity
            .map(|a| format!("AND g.activity_id = {a}"))
            .unwrap_or_default()
    }
}

/// What scanners are counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Level {
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
    pub(super) fn key(self) -> &'static str {
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

    /// Visits `v` of the activity filter (of the account's codes).
    fn visit_filter(self, b: &Bound) -> String {
        match (self, b.activity) {
            (_, None) | (Self::All, Some(_)) => String::new(),
            (Self::Code, Some(a)) => format!(
                "AND v.key IN (SELECT CAST(x.id AS TEXT) FROM qr_generation x \
                   WHERE x.account_id = {} AND x.activity_id = {a})",
                b.account
            ),
            (Self::Activity, Some(a)) => format!("AND v.key = {a}"),
        }
    }
}

/// How the read events are counted against the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Per {
    /// One row per key.
    Key,
    /// One row per local day (key: the day).
    Day,
    /// One totals row.
    Total,
}

/// Events read to add (edges and fresh: `ev`) or to subtract (slivers: `sl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
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
pub(super) fn additive(source: Source, key: &str, b: &Bound) -> String {
    let s = source.sign();
    format!(
        "SELECT 0, {key}, \
           {s}SUM(CASE WHEN ev.kind <> 'unsubscribe' THEN 1 ELSE 0 END), \
           {s}SUM(CASE WHEN ev.kind = 'subscribe' THEN 1 ELSE 0 END), \
           {s}SUM(CASE WHEN ev.kind = 'scan' THEN 1 ELSE 0 END), \
           {s}SUM(CASE WHEN ev.kind = 'unsubscribe' THEN 1 ELSE 0 END), 0 \
         FROM {t} AS ev {CODE_OF_EV} WHERE TRUE {filter} GROUP BY 2",
        t = source.table(),
        filter = b.filter(),
    )
}

/// Scanners of the read events with no rolled-up scan in the period's part of the rollup
/// days (of that local day, for `Per::Day`: its bounds come from `bounds`, computed in
/// Rust, since Postgres turns an ambiguous local midnight into its later instant), per
/// `level` key. The probe is a lateral `LIMIT 1` so that it stays an index probe per
/// scanner: as an anti-join the planner may hash every scan of the rollup days instead.
pub(super) fn scanners_outside(level: Level, per: Per, source: Source, b: &Bound) -> String {
    let (total, out, group) = match per {
        Per::Key => (0, "p.key", "GROUP BY p.key"),
        Per::Day => (0, "to_char(p.day, 'YYYY-MM-DD')", "GROUP BY p.day"),
        Per::Total => (1, "CAST(NULL AS TEXT)", ""),
    };
    let (lo, hi) = b.inside;
    let (lo, hi, day, bounds) = match per {
        Per::Day => (
            format!("GREATEST({lo}, COALESCE(b.lo, {hi}))"),
            format!("LEAST({hi}, COALESCE(b.hi, {hi}))"),
            format!("CAST(ev.at AT TIME ZONE {} AS DATE)", b.tz),
            "LEFT JOIN bounds b ON b.day = p.day",
        ),
        Per::Key | Per::Total => (
            lo.to_string(),
            hi.to_string(),
            "CAST(NULL AS DATE)".to_owned(),
            "",
        ),
    };
    format!(
        "SELECT {total}, {out}, 0, 0, 0, 0, {sign}COUNT(*) FROM ( \
           SELECT DISTINCT {k} AS key, {day} AS day, ev.openid AS openid \
           FROM {t} AS ev {CODE_OF_EV} WHERE ev.kind <> 'unsubscribe' {filter}) p \
         {bounds} LEFT JOIN LATERAL (SELECT 1 AS hit FROM wechat_event e2 \
           JOIN qr_generation g2 ON g2.id = e2.generation_id AND g2.account_id = e2.account_id \
           WHERE e2.account_id = {account} AND e2.openid = p.openid AND e2.kind IN ('subscribe', 'scan') \
             AND e2.occurred_at >= {lo} AND e2.occurred_at < {hi} \
             AND e2.id NOT IN (SELECT id FROM fresh) AND {m} LIMIT 1) x ON TRUE \
         WHERE x.hit IS NULL {group}",
        sign = source.sign(),
        t = source.table(),
        k = level.key(),
        m = level.matches(),
        filter = b.filter(),
        account = b.account,
    )
}

/// Scanners of the rollup days whose previous visit is before them: per key, or one
/// totals row.
pub(super) fn scanners_inside(level: Level, total: bool, b: &Bound) -> String {
    let (key, group) = if total {
        ("CAST(NULL AS TEXT)", "")
    } else {
        ("v.key", "GROUP BY v.key")
    };
    format!(
        "SELECT {t}, {key}, 0, 0, 0, 0, SUM(v.visits) FROM stats_visit v \
         WHERE v.account_id = {a} AND v.level = {l} AND v.day >= {first} AND v.day < {end} \
           AND (v.prev_day IS NULL OR v.prev_day < {first}) {f} {group}",
        t = i32::from(total),
        a = b.account,
        l = level.id(),
        f = level.visit_filter(b),
        first = b.first_day,
        end = b.end_day,
    )
}

/// Scanners of each rollup day (a day is its own run: every visit of it counts).
pub(super) fn scanners_per_day(level: Level, b: &Bound) -> String {
    format!(
        "SELECT 0, to_char(v.day, 'YYYY-MM-DD'), 0, 0, 0, 0, SUM(v.visits) FROM stats_visit v \
         WHERE v.account_id = {a} AND v.level = {l} AND v.day >= {first} AND v.day < {end} {f} \
         GROUP BY 2",
        a = b.account,
        l = level.id(),
        f = level.visit_filter(b),
        first = b.first_day,
        end = b.end_day,
    )
}

/// Additive figures of the rollup days, per `key` of code `g` or day `d.day`.
pub(super) fn rolled_up(key: &str, b: &Bound) -> String {
    format!(
        "SELECT 0, {key}, SUM(d.scans), SUM(d.new_followers), SUM(d.returning_scans), \
           SUM(d.unsubscribes), CAST(0 AS BIGINT) \
         FROM stats_day d JOIN qr_generation g ON g.id = d.generation_id AND g.account_id = d.account_id \
         WHERE d.account_id = {a} AND d.day >= {first} AND d.day < {end} {filter} GROUP BY 2",
        a = b.account,
        first = b.first_day,
        end = b.end_day,
        filter = b.filter(),
    )
}
