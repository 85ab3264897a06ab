//! Keeping `wechat_follower` current from subscribe, SCAN and unsubscribe events, the one
//! definition both backends run: one upsert per batch, folded per openid.
//!
//! The rules, over the newly stored events of a batch:
//! - events are ordered by `CreateTime`, then by arrival (`seq`): within one second the
//!   later push wins, as it would had it come in a batch of its own;
//! - every time is clamped to the batch's receipt (`$2`): a CreateTime in the future (within
//!   the allowed clock skew) never dates the follower later than we saw them;
//! - the latest event decides `subscribed` (false only after an unsubscribe) and the
//!   `last_event_*` columns; the first subscribe gives `first_followed_at` and its code
//!   `first_generation_id`; the latest subscribe and unsubscribe their times;
//! - merged with the stored row so that a late retry of an old event never undoes a newer
//!   one ([`MERGE`]); rows are locked in (account, openid) order, so concurrent batches cannot deadlock.

use std::sync::LazyLock;

use super::event::{EventKind, touches_follower};
use super::link::{kinds_sql, literal};

/// Folds the relation `touched(id, account_id, openid, account, kind, create_time, occurred_at,
/// generation_id, seq)` of newly stored events (received at `$2`) into `wechat_follower`.
pub(super) static FOLD: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO wechat_follower (account_id, openid, account, subscribed, first_followed_at, \
            first_generation_id, subscribed_at, unsubscribed_at, last_event_id, last_event_kind, \
            last_event_at) \
        SELECT f.account_id, f.openid, f.account, f.kind <> {unsubscribe}, f.first_followed_at, \
            f.first_generation_id, f.subscribed_at, f.unsubscribed_at, f.id, f.kind, f.at \
        FROM (SELECT c.account_id, c.openid, c.account, c.id, c.kind, c.at, \
            ROW_NUMBER() OVER (PARTITION BY c.account_id, c.openid ORDER BY c.create_time DESC, c.seq DESC) AS latest, \
            MIN(CASE WHEN c.kind = {subscribe} THEN c.at END) OVER (PARTITION BY c.account_id, c.openid) AS first_followed_at, \
            FIRST_VALUE(CASE WHEN c.kind = {subscribe} THEN c.generation_id END) OVER (PARTITION BY c.account_id, c.openid \
                ORDER BY CASE WHEN c.kind = {subscribe} THEN 0 ELSE 1 END, c.create_time, c.seq) AS first_generation_id, \
            MAX(CASE WHEN c.kind = {subscribe} THEN c.at END) OVER (PARTITION BY c.account_id, c.openid) AS subscribed_at, \
            MAX(CASE WHEN c.kind = {unsubscribe} THEN c.at END) OVER (PARTITION BY c.account_id, c.openid) AS unsubscribed_at \
            FROM (SELECT t.account_id, t.openid, t.account, t.id, t.kind, t.create_time, t.seq, t.generation_id, \
                CASE WHEN t.occurred_at > $2 THEN $2 ELSE t.occurred_at END AS at \
                FROM touched t WHERE {touching}) c) f \
        WHERE f.latest = 1 ORDER BY f.account_id, f.openid{MERGE}",
        touching = kinds_sql("t.kind", touches_follower),
        subscribe = literal(EventKind::Subscribe),
        unsubscribe = literal(EventKind::Unsubscribe),
    )
});

/// Merges a batch's fold (`excluded`) with the stored row: the later event (a tie goes to
/// the later batch) decides the state; first follow is the earliest, latest follow and
/// unfollow the latest.
const MERGE: &str = " ON CONFLICT (account_id, openid) DO UPDATE SET \
    subscribed = CASE WHEN excluded.last_event_at >= wechat_follower.last_event_at \
        THEN excluded.subscribed ELSE wechat_follower.subscribed END, \
    first_generation_id = CASE WHEN wechat_follower.first_followed_at IS NULL \
        OR excluded.first_followed_at < wechat_follower.first_followed_at \
        THEN excluded.first_generation_id ELSE wechat_follower.first_generation_id END, \
    first_followed_at = CASE WHEN wechat_follower.first_followed_at IS NULL \
        OR excluded.first_followed_at < wechat_follower.first_followed_at \
        THEN excluded.first_followed_at ELSE wechat_follower.first_followed_at END, \
    subscribed_at = CASE WHEN wechat_follower.subscribed_at IS NULL \
        OR excluded.subscribed_at > wechat_follower.subscribed_at \
        THEN COALESCE(excluded.subscribed_at, wechat_follower.subscribed_at) ELSE wechat_follower.subscribed_at END, \
    unsubscribed_at = CASE WHEN wechat_follower.unsubscribed_at IS NULL \
        OR excluded.unsubscribed_at > wechat_follower.unsubscribed_at \
        THEN COALESCE(excluded.unsubscribed_at, wechat_follower.unsubscribed_at) ELSE wechat_follower.unsubscribed_at END, \
    last_event_id = CASE WHEN excluded.last_event_at >= wechat_follower.last_event_at \
        THEN excluded.last_event_id ELSE wechat_follower.last_event_id END, \
    last_event_kind = CASE WHEN excluded.last_event_at >= wechat_follower.last_event_at \
        THEN excluded.last_event_kind ELSE wechat_follower.last_event_kind END, \
    last_event_at = CASE WHEN excluded.last_event_at >= wechat_follower.last_event_at \
        THEN excluded.last_event_at ELSE wechat_follower.last_event_at END";
