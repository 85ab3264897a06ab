//! Statistics per activity, code or local day, computed by the database.
//!
//! Scans are the subscribe-with-scene and SCAN events tied to one of our codes; unique
//! scanners count distinct openids among them; new followers are subscribes through a code;
//! returning scans are SCANs; unsubscribes are those of followers a code first brought
//! (counted on the day they leave); net new followers = new followers - unsubscribes.
use std::collections::HashMap;

use sea_orm::{DatabaseConnection, DbErr, FromQueryResult};
use serde::Serialize;
use utoipa::ToSchema;

pub use super::period::{GroupBy, MAX_DAYS, StatsQuery};

/// The figures of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Figures {
    /// subscribe-with-scene + SCAN.
    pub scans: i64,
    /// Distinct openids among scans.
    pub unique_scanners: i64,
    /// Subscribes through a code.
    pub new_followers: i64,
    /// SCANs.
    pub returning_scans: i64,
    /// Unsubscribes of followers the code first brought.
    pub unsubscribes: i64,
    /// new_followers - unsubscribes.
    pub net_new_followers: i64,
}

/// One group.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Group {
    /// Activity id, code id or day; `null` for codes without activity.
    pub key: Option<String>,
    /// The code (qrcode grouping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qrcode_id: Option<i64>,
    /// The code's activity (qrcode grouping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity_id: Option<String>,
    /// Its figures.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One result row of the statistics query.
#[derive(Debug, Clone, FromQueryResult)]
pub(super) struct Row {
    pub(super) key: Option<String>,
    pub(super) qrcode_id: Option<i64>,
    pub(super) activity_id: Option<String>,
    pub(super) scans: i64,
    pub(super) unique_scanners: i64,
    pub(super) new_followers: i64,
    pub(super) returning_scans: i64,
    pub(super) unsubscribes: i64,
}

impl Row {
    fn figures(&self) -> Figures {
        Figures {
            scans: self.scans,
            unique_scanners: self.unique_scanners,
            new_followers: self.new_followers,
            returning_scans: self.returning_scans,
            unsubscribes: self.unsubscribes,
            net_new_followers: self.new_followers - self.unsubscribes,
        }
    }
}

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
/// The database failed.
pub async fn compute(db: &DatabaseConnection, q: &StatsQuery) -> Result<Stats, DbErr> {
    compute_with(db, q, true).await
}

/// The statistics of a period read from the events alone (the reference the rollups are
/// checked against).
///
/// # Errors
/// The database failed.
pub async fn compute_from_events(db: &DatabaseConnection, q: &StatsQuery) -> Result<Stats, DbErr> {
    compute_with(db, q, false).await
}

async fn compute_with(
    db: &DatabaseConnection,
    q: &StatsQuery,
    rollups: bool,
) -> Result<Stats, DbErr> {
    let started = std::time::Instant::now();
    let (rows, total, rollup_days) = super::stats_sql::run(db, q, rollups).await?;
    let source = if rollup_days > 0 { "rollups" } else { "events" };
    metrics::histogram!("qrscene_stats_query_duration_seconds", "group_by" => q.group_by.as_str(), "source" => source)
        .record(started.elapsed().as_secs_f64());
    let total = total.map(|r| r.figures()).unwrap_or_default();
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
        groups = q
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
    } else {
        groups.sort_by(|a, b| {
            b.figures
                .new_followers
                .cmp(&a.figures.new_followers)
                .then(b.figures.scans.cmp(&a.figures.scans))
                .then(a.key.cmp(&b.key))
        });
    }
    Ok(Stats {
        groups,
        totals: total,
        rollup_days,
    })
}
