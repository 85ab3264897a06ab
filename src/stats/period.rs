//! The period of a statistics request: grouping, bounds, time zone, and its local days;
//! and the one configured time zone of the rollups and of requests that name none.

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use utoipa::ToSchema;

use super::error::StatsError;

/// The time zone of the daily rollups, which is also the zone of a `stats` request that
/// names none (`QRSCENE_STATS_TZ`): one setting, so that such requests use the rollups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsZone(pub Tz);

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

impl GroupBy {
    /// The query-string name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Activity => "activity",
            Self::Qrcode => "qrcode",
            Self::Day => "day",
        }
    }
}

/// A validated stats request.
#[derive(Debug, Clone)]
pub struct StatsQuery {
    /// The account (`account.id`) whose codes and events are counted.
    pub account_id: i64,
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
    /// Parses the query-string values; without `tz`, days are those of `zone`.
    ///
    /// # Errors
    /// [`StatsError::Invalid`]: a missing or invalid value, `from` not before `to`, or more
    /// than 366 days.
    pub fn parse(
        group_by: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        tz: Option<&str>,
        activity_id: Option<String>,
        zone: StatsZone,
        account_id: i64,
    ) -> Result<Self, StatsError> {
        let group_by = [GroupBy::Activity, GroupBy::Qrcode, GroupBy::Day]
            .into_iter()
            .find(|g| group_by == Some(g.as_str()))
            .ok_or_else(|| StatsError::invalid("group_by", "must be activity, qrcode or day"))?;
        let time = |field: &'static str, v: Option<&str>| {
            v.and_then(|v| DateTime::parse_from_rfc3339(v).ok())
                .map(|t| t.with_timezone(&Utc))
                .ok_or_else(|| {
                    StatsError::invalid(
                        field,
                        "must be an RFC 3339 time, e.g. 2026-11-01T00:00:00+08:00",
                    )
                })
        };
        let (from, to) = (time("from", from)?, time("to", to)?);
        if from >= to {
            return Err(StatsError::invalid("to", "must be after from"));
        }
        if to - from > chrono::TimeDelta::days(MAX_DAYS) {
            return Err(StatsError::invalid(
                "to",
                "the period may span at most 366 days",
            ));
        }
        let tz = match tz {
            None => zone.0,
            Some(tz) => tz.parse::<Tz>().map_err(|_| {
                StatsError::invalid("tz", "must be an IANA time zone such as Asia/Shanghai")
            })?,
        };
        let activity_id = activity_id.filter(|a| !a.is_empty());
        Ok(Self {
            account_id,
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

/// The first instant of local `day` in `tz` (a DST gap at midnight moves it later).
pub(crate) fn local_midnight(tz: &Tz, day: NaiveDate) -> Option<DateTime<Utc>> {
    (0..3)
        .find_map(|h| {
            tz.from_local_datetime(&day.and_hms_opt(h, 0, 0)?)
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHANGHAI: StatsZone = StatsZone(chrono_tz::Asia::Shanghai);

    #[test]
    fn a_period_may_span_366_days_and_no_more() {
        let parse = |to: &str| {
            StatsQuery::parse(
                Some("day"),
                Some("2025-01-01T00:00:00+08:00"),
                Some(to),
                None,
                None,
                SHANGHAI,
                1,
            )
        };
        assert!(parse("2026-01-02T00:00:00+08:00").is_ok(), "366 days");
        assert!(
            parse("2026-01-02T23:59:00+08:00").is_err(),
            "366 days and 23:59 is more than 366 days"
        );
    }

    #[test]
    fn days_are_local_and_clipped() {
        let q = StatsQuery::parse(
            Some("day"),
            Some("2026-11-01T12:00:00+08:00"),
            Some("2026-11-03T00:00:00+08:00"),
            None,
            None,
            SHANGHAI,
            1,
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
            SHANGHAI,
            1,
        )
        .unwrap();
        let days = q.days();
        assert_eq!(days.len(), 1);
        assert_eq!((days[0].2 - days[0].1).num_hours(), 23);
    }

    #[test]
    fn bad_values_name_their_field() {
        let parse = |g, f, t, tz| match StatsQuery::parse(g, f, t, tz, None, SHANGHAI, 1) {
            Err(StatsError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
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

    #[test]
    fn without_tz_days_are_the_configured_zone() {
        let berlin = StatsZone(chrono_tz::Europe::Berlin);
        let (f, t) = (Some("2026-11-01T00:00:00Z"), Some("2026-11-02T00:00:00Z"));
        let q = StatsQuery::parse(Some("day"), f, t, None, None, berlin, 1);
        assert_eq!(q.map(|q| q.tz).ok(), Some(chrono_tz::Europe::Berlin));
        let q = StatsQuery::parse(Some("day"), f, t, Some("UTC"), None, berlin, 1);
        assert_eq!(q.map(|q| q.tz).ok(), Some(Tz::UTC));
    }
}
