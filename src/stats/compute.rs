//! `stats`: the figures of a period per activity, code or local day.
//!
//! Scans are the subscribe-with-scene and SCAN events tied to one of our codes; unique
//! scanners count distinct openids among them; new followers are subscribes through a code;
//! returning scans are SCANs; unsubscribes are those of followers a code first brought
//! (counted on the day they leave); net new followers = new followers - unsubscribes.
//!
//! On Postgres one read-only snapshot holds the rollups, their dirty marks and the events;
//! the rollups answer whole clean days when [`rollup::plan`](super::rollup::plan) says they
//! can, the events the rest.

use std::collections::HashMap;

use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, IsolationLevel, TransactionTrait,
};

use super::error::StatsError;
use super::figures::{Figures, Group, Row};
use super::from_events;
use super::period::{GroupBy, StatsQuery};
use super::rollup;

/// Memory one statistics query may use to aggregate before spilling to disk, and the time
/// it may take before Postgres cancels it (a dashboard must not pin the database). No JIT:
/// compiling costs about 100 ms, more than the rollup queries take.
const LIMITS: &str =
    "SET LOCAL work_mem = '64MB'; SET LOCAL statement_timeout = '20s'; SET LOCAL jit = off";

/// The figures of a period.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Sorted: days ascending with every day present; others by new followers.
    pub groups: Vec<Group>,
    /// The whole period.
    pub totals: Figures,
    /// Whole days answered by the daily rollups (Postgres); the rest came from the events.
    pub rollup_days: u32,
}

/// The statistics of a period, from the rollups where they hold whole clean days.
///
/// # Errors
/// [`StatsError::Database`]: the database failed.
pub async fn compute(db: &DatabaseConnection, q: &StatsQuery) -> Result<Stats, StatsError> {
    compute_with(db, q, true).await
}

/// The statistics of a period read from the events alone.
///
/// # Errors
/// [`StatsError::Database`]: the database failed.
pub async fn compute_from_events(
    db: &DatabaseConnection,
    q: &StatsQuery,
) -> Result<Stats, StatsError> {
    compute_with(db, q, false).await
}

async fn compute_with(
    db: &DatabaseConnection,
    q: &StatsQuery,
    rollups: bool,
) -> Result<Stats, StatsError> {
    let started = std::time::Instant::now();
    let (rows, total, rollup_days) = rows(db, q, rollups).await?;
    let source = if rollup_days > 0 { "rollups" } else { "events" };
    metrics::histogram!("qrscene_stats_query_duration_seconds", "group_by" => q.group_by.as_str(), "source" => source)
        .record(started.elapsed().as_secs_f64());
    Ok(Stats {
        groups: ordered(q, rows),
        totals: total.map(|r| r.figures()).unwrap_or_default(),
        rollup_days,
    })
}

/// The group rows, the totals row, and the whole days the rollups answered.
async fn rows(
    db: &DatabaseConnection,
    q: &StatsQuery,
    rollups: bool,
) -> Result<(Vec<Row>, Option<Row>, u32), StatsError> {
    if db.get_database_backend() != DbBackend::Postgres {
        let (rows, total) = from_events::run(db, q).await?;
        return Ok((rows, total, 0));
    }
    let txn = db
        .begin_with_config(
            Some(IsolationLevel::RepeatableRead),
            Some(AccessMode::ReadOnly),
        )
        .await?;
    txn.execute_unprepared(LIMITS).await?;
    let plan = if rollups {
        rollup::plan::plan(&txn, q).await?
    } else {
        None
    };
    let answer = match plan {
        Some(plan) => {
            let (rows, total) = rollup::query::run(&txn, q, &plan).await?;
            (rows, total, plan.days())
        }
        None => {
            let (rows, total) = from_events::run(&txn, q).await?;
            (rows, total, 0)
        }
    };
    txn.commit().await?;
    Ok(answer)
}

/// Days ascending with every day of the period present; other groups by new followers,
/// then scans, then key.
fn ordered(q: &StatsQuery, rows: Vec<Row>) -> Vec<Group> {
    let mut groups: Vec<Group> = rows
        .into_iter()
        .map(|r| Group {
            figures: r.figures(),
            key: r.key,
            qrcode_id: r.qrcode_id,
            activity_id: r.activity_id,
        })
        .collect();
    if q.group_by == GroupBy::Day {
        let mut by_day: HashMap<Option<String>, Group> =
            groups.into_iter().map(|g| (g.key.clone(), g)).collect();
        return q
            .days()
            .into_iter()
            .map(|(label, _, _)| {
                by_day.remove(&Some(label.clone())).unwrap_or(Group {
                    key: Some(label),
                    qrcode_id: None,
                    activity_id: None,
                    figures: Figures::default(),
                })
            })
            .collect();
    }
    groups.sort_by(|a, b| {
        b.figures
            .new_followers
            .cmp(&a.figures.new_followers)
            .then(b.figures.scans.cmp(&a.figures.scans))
            .then(a.key.cmp(&b.key))
    });
    groups
}
