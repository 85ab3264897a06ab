//! The SQL both query paths and the refresher share: which events the statistics count and
//! how one group's figures fold. One definition, so that the rollups and the events agree.
//!
//! Everything is per account: an event counts for its own account, a follower is the
//! account's (keyed by account and openid), and a code counts only for the account that
//! made it.

use super::params::Param;

/// Which accounts' events a statement reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// One account's (a query): its `account.id`, bound.
    Account(Param),
    /// Every account's (a rebuild): the ids of `account` as an array, so that the
    /// account-led indexes still answer a range of time (every event's account is there: a
    /// foreign key on Postgres, the only backend that rebuilds).
    Every,
}

impl Scope {
    /// `column` (an `account_id`) is one of these accounts.
    pub(crate) fn holds(self, column: &str) -> String {
        match self {
            Self::Account(account) => format!("{column} = {account}"),
            Self::Every => format!("{column} = ANY (ARRAY(SELECT a.id FROM account a))"),
        }
    }
}

/// The scans tied to a code and the unsubscribes of the followers a code first brought,
/// of the accounts of `scope`, whose time `e.occurred_at` satisfies `period`, as the CTE
/// `name(account_id, gid, kind, openid, at)`.
pub(crate) fn events_as(name: &str, scope: Scope, period: &str) -> String {
    let of = scope.holds("e.account_id");
    format!(
        "{name} AS ( \
    SELECT e.account_id AS account_id, e.generation_id AS gid, e.kind AS kind, e.openid AS openid, \
      e.occurred_at AS at \
    FROM wechat_event e \
    WHERE {of} AND e.kind IN ('subscribe', 'scan') AND e.generation_id IS NOT NULL AND {period} \
    UNION ALL \
    SELECT e.account_id, f.first_generation_id, 'unsubscribe', e.openid, e.occurred_at \
    FROM wechat_event e JOIN wechat_follower f ON f.account_id = e.account_id AND f.openid = e.openid \
    WHERE {of} AND e.kind = 'unsubscribe' AND f.first_generation_id IS NOT NULL \
      AND e.occurred_at >= f.first_followed_at AND {period} )"
    )
}

/// [`events_as`] named `ev`.
pub(crate) fn events(scope: Scope, period: &str) -> String {
    events_as("ev", scope, period)
}

/// Joins the code `g` of event `ev`, when it is a code of the event's account.
pub(crate) const CODE_OF_EV: &str =
    "JOIN qr_generation g ON g.id = ev.gid AND g.account_id = ev.account_id";

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
