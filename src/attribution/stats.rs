//! Statistics per activity, code or local day, computed by the database.
//!
//! Scans are the subscribe-with-scene and SCAN events tied to one of our codes; unique
//! scanners count distinct openids among them; new followers are subscribes through a code;
//! returning scans are SCANs; unsubscribes are those of followers a code first brought
//! (counted on the day they leave); net new followers = new followers - unsubscribes.

use std::collections::HashMap;

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult};
use serde::Serialize;
use utoipa::ToSchema;

use crate::wechat::qrcode::LimitError;

/// Longest period one query may cover.
pub const MAX_DAYS: i64 = 366;

/// How events are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// `payload.activity_id` of the code.
    Activity,
    /// The code.
    Qrcode,
    /// The local day (in `tz`).
    Day,
}

/// A validated stats request.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    /// Grouping.
    pub group_by: GroupBy,
    /// Start, inclusive.
    pub from: DateTime<Utc>,
    /// End, exclusive.
    pub to: DateTime<Utc>,
    /// Time zone of day buckets.
    pub tz: Tz,
    /// Only codes of this activity.
    pub activity_id: Option<String>,
}

impl StatsQuery {
    /// Parses the query-string values.
    ///
    /// # Errors
    /// A missing or invalid value, `from` not before `to`, or more than 366 days.
    pub fn parse(
        group_by: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: Option<&str>,
        activity_id: Option<String>,
    ) -> Result<Self, LimitError> {
        let limit = |field, rule: &str| LimitError {
            field,
            rule: rule.to_owned(),
        };
        let group_by = match group_by {
            Some("activity") => GroupBy::Activity,
            Some("qrcode") => GroupBy::Qrcode,
            Some("day") => GroupBy::Day,
            _ => return Err(limit("group_by", "must be activity, qrcode or day")),
        };
        let time = |field: &'static str, v: Option<&str>| {
            v.and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    limit(
                        field,
                        "must be an RFC 3339 time, e.g. 2026-11-01T00:00:00+08:00",
                    )
                })
        };
        let (from, to) = (time("from", from)?, time("to", to)?);
        if from >= to {
            return Err(limit("to", "must be after from"));
        }
        if (to - from).num_days() > MAX_DAYS {
            return Err(limit("to", "the period may span at most 366 days"));
        }
        let tz = tz
            .unwrap_or("Asia/Shanghai")
            .parse::<Tz>()
            .map_err(|_| limit("tz", "must be an IANA time zone such as Asia/Shanghai"))?;
        let activity_id = activity_id.filter(|a| !a.is_empty());
        Ok(Self {
            group_by,
            from,
            to,
            tz,
            activity_id,
        })
    }

    /// The local days the period touches: label, and their UTC bounds clipped to the period.
    pub fn days(&self) -> Vec<(String, DateTime<Utc>, DateTime<Utc>)> {
        let mut days = Vec::new();
        let mut day: NaiveDate = self.from.with_timezone(&self.tz).date_naive();
        while let Some(start) = local_midnight(&self.tz, day) {
            if start >= self.to {
                break;
            }
            let next = day.checked_add_days(Days::new(1)).unwrap_or(day);
            let end = local_midnight(&self.tz, next)
                .unwrap_or(self.to)
                .min(self.to);
            days.push((
                day.format("%Y-%m-%d").to_string(),
                start.max(self.from),
                end,
            ));
            if next == day {
                break;
            }
            day = next;
        }
        days
    }
}

fn local_midnight(tz: &Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    // The first instant of the day (a DST gap at midnight moves it later).
    (0..3)
        .find_map(|h| {
            tz.from_local_datetime(&day.and_hms_opt(h, 0, 0)?)
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

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
#[derive(Debug, FromQueryResult)]
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

/// The groups (sorted: days ascending with every day present; others by new followers)
/// and the totals of the period.
///
/// # Errors
/// The database failed.
pub async fn compute(
    db: &DatabaseConnection,
    q: &StatsQuery,
) -> Result<(Vec<Group>, Figures), DbErr> {
    let (rows, total) = super::stats_sql::run(db, q).await?;
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
    Ok((groups, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_local_and_clipped() {
        let q = StatsQuery::parse(
            Some("day"),
            Some("2026-11-01T12:00:00+08:00"),
            Some("2026-11-03T00:00:00+08:00"),
            None,
            None,
        )
        .unwrap();
        let days = q.days();
        assert_eq!(
            days.iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
            ["2026-11-01", "2026-11-02"]
        );
        assert_eq!(days[0].1, q.from);
        assert_eq!(days[1].1.to_rfc3339(), "2026-11-01T16:00:00+00:00");
        assert_eq!(days[1].2, q.to);
    }

    #[test]
    fn a_dst_day_has_23_hours() {
        let q = StatsQuery::parse(
            Some("day"),
            Some("2026-03-08T00:00:00-05:00"),
            Some("2026-03-09T00:00:00-04:00"),
            Some("America/New_York"),
            None,
        )
        .unwrap();
        let days = q.days();
        assert_eq!(days.len(), 1);
        assert_eq!((days[0].2 - days[0].1).num_hours(), 23);
    }

    #[test]
    fn bad_values_name_their_field() {
        let parse = |g, f, t, tz| StatsQuery::parse(g, f, t, tz, None).unwrap_err().field;
        let (f, t) = (Some("2026-11-01T00:00:00Z"), Some("2026-11-02T00:00:00Z"));
        assert_eq!(parse(Some("week"), f, t, None), "group_by");
        assert_eq!(parse(Some("day"), Some("yesterday"), t, None), "from");
        assert_eq!(parse(Some("day"), t, f, None), "to");
        assert_eq!(
            parse(Some("day"), Some("2024-01-01T00:00:00Z"), t, None),
            "to"
        );
        assert_eq!(parse(Some("day"), f, t, Some("Mars/Base")), "tz");
    }
}
