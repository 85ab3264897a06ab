//! Keeping `wechat_follower` current from subscribe, SCAN and unsubscribe events: one upsert
//! per batch, folded per openid, applied in event-time order so that a late retry of an old
//! event does not undo a newer one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

use super::event::{EventKind, IncomingEvent};

/// A newly stored event that touches its follower.
#[derive(Debug)]
pub struct FollowEvent<'a> {
    /// The stored event.
    pub event: &'a IncomingEvent,
    /// Its id.
    pub id: i64,
    /// The generation it came from.
    pub generation_id: Option<i64>,
}

/// One follower's changes within a batch.
#[derive(Debug)]
struct Change<'a> {
    account: &'a str,
    subscribed: bool,
    first_followed_at: Option<DateTime<Utc>>,
    first_generation_id: Option<i64>,
    subscribed_at: Option<DateTime<Utc>>,
    unsubscribed_at: Option<DateTime<Utc>>,
    last_event_id: i64,
    last_event_kind: &'static str,
    last_event_at: DateTime<Utc>,
}

const UPSERT_HEAD: &str = "INSERT INTO wechat_follower (openid, account, subscribed, first_followed_at, \
    first_generation_id, subscribed_at, unsubscribed_at, last_event_id, last_event_kind, last_event_at) VALUES ";

pub(super) const UPSERT_TAIL: &str = " ON CONFLICT (openid) DO UPDATE SET \
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

/// Applies `events` (newly stored, any order) to their followers in one statement.
///
/// # Errors
/// The database failed.
pub async fn apply<C: ConnectionTrait>(
    db: &C,
    mut events: Vec<FollowEvent<'_>>,
) -> Result<(), DbErr> {
    events.retain(|f| f.event.kind.touches_follower());
    if events.is_empty() {
        return Ok(());
    }
    events.sort_by_key(|f| (f.event.create_time, f.id));
    // BTreeMap: rows are locked in openid order, so concurrent batches cannot deadlock.
    let mut changes: BTreeMap<&str, Change<'_>> = BTreeMap::new();
    for f in &events {
        let e = f.event;
        let change = changes.entry(e.openid.as_str()).or_insert(Change {
            account: &e.account,
            subscribed: true,
            first_followed_at: None,
            first_generation_id: None,
            subscribed_at: None,
            unsubscribed_at: None,
            last_event_id: f.id,
            last_event_kind: e.kind.as_str(),
            last_event_at: e.occurred_at,
        });
        match e.kind {
            EventKind::Subscribe => {
                change.subscribed = true;
                change.subscribed_at = Some(e.occurred_at);
                if change.first_followed_at.is_none() {
                    change.first_followed_at = Some(e.occurred_at);
                    change.first_generation_id = f.generation_id;
                }
            }
            EventKind::Unsubscribe => {
                change.subscribed = false;
                change.unsubscribed_at = Some(e.occurred_at);
            }
            // Only a follower can send SCAN.
            _ => change.subscribed = true,
        }
        change.last_event_id = f.id;
        change.last_event_kind = e.kind.as_str();
        change.last_event_at = e.occurred_at;
    }
    let mut sql = String::from(UPSERT_HEAD);
    let mut params: Vec<Value> = Vec::with_capacity(changes.len() * 10);
    for (i, (openid, c)) in changes.into_iter().enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let base = i * 10;
        let row: Vec<String> = (1..=10).map(|n| format!("${}", base + n)).collect();
        sql.push('(');
        sql.push_str(&row.join(", "));
        sql.push(')');
        params.extend([
            openid.into(),
            c.account.into(),
            c.subscribed.into(),
            c.first_followed_at.into(),
            c.first_generation_id.into(),
            c.subscribed_at.into(),
            c.unsubscribed_at.into(),
            c.last_event_id.into(),
            c.last_event_kind.into(),
            c.last_event_at.into(),
        ]);
    }
    sql.push_str(UPSERT_TAIL);
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        params,
    ))
    .await?;
    Ok(())
}
