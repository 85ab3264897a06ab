//! The SQL both query paths and the refresher share: which events the statistics count and
//! how one group's figures fold. One definition, so that the rollups and the events agree.

use super::params::Param;

/// The scans tied to a code and the unsubscribes of the followers a code first brought,
/// whose time `e.occurred_at` satisfies `period`, as the CTE `name(gid, kind, openid, at)`.
pub(crate) fn events_as(name: &str, period: &str) -> String {
    format!(
        "{name} AS ( \
    SELECT e.generation_id AS gid, e.kind AS kind, e.openid AS openid, e.occurred_at AS at \
    FROM wechat_event e \
    WHERE e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL AND {period} \
    UNION ALL \
    SELECT f.first_generation_id, 'unsubscribe', e.openid, e.occurred_at \
    FROM wechat_event e JOIN wechat_follower f ON f.openid = e.openid \
    WHERE e.kind = 'unsubscribe' AND f.first_generation_id IS NOT NULL \
      AND e.occurred_at >= f.first_followed_at AND {period} )"
    )
}

/// [`events_as`] named `ev`.
pub(crate) fn events(period: &str) -> String {
    events_as("ev", period)
}

/// `column` in `[lo, hi)`.
pub(crate) fn within(column: &str, lo: Param, hi: Param) -> String {
    format!("({column} >= {lo} AND {column} < {hi})")
}

/// Per group and scanner, from `ev`.
pub(crate) const PER_SCANNER: &str = "ev.openid AS openid, \
    SUM(CASE WHEN ev.kind <> 'unsubscribe' THEN 1 ELSE 0 END) AS scans, \
    SUM(CASE WHEN ev.kind = 'subscribe' THEN 1 ELSE 0 END) AS new_followers, \
    SUM(CASE WHEN ev.kind = 'scan' THEN 1 ELSE 0 END) AS returning_scans, \
    SUM(CASE WHEN ev.kind = 'unsubscribe' THEN 1 ELSE 0 END) AS unsubscribes";

/// Per group, from the per-scanner fold.
pub(crate) const FIGURES: &str = "CAST(COALESCE(SUM(scans), 0) AS BIGINT) AS scans, \
    COUNT(DISTINCT CASE WHEN scans > 0 THEN openid END) AS unique_scanners, \
    CAST(COALESCE(SUM(new_followers), 0) AS BIGINT) AS new_followers, \
    CAST(COALESCE(SUM(returning_scans), 0) AS BIGINT) AS returning_scans, \
    CAST(COALESCE(SUM(unsubscribes), 0) AS BIGINT) AS unsubscribes";
