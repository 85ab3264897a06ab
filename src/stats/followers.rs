//! One follower: whether they follow, the code that first brought them, recent events.

use chrono::{DateTime, Utc};
use entity::{qr_generation, wechat_event, wechat_follower};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::StatsError;
use super::events::EventView;

/// Recent events shown with a follower.
pub const RECENT_EVENTS: u64 = 20;

/// A follower as the API answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FollowerView {
    /// The user.
    pub openid: String,
    /// Whether they follow now.
    pub subscribed: bool,
    /// Their first follow seen by qrscene.
    pub first_followed_at: Option<DateTime<Utc>>,
    /// Their latest follow.
    pub subscribed_at: Option<DateTime<Utc>>,
    /// Their latest unfollow.
    pub unsubscribed_at: Option<DateTime<Utc>>,
    /// The code of their first follow, with its payload.
    pub first_touch: Option<FirstTouch>,
    /// Their latest events, newest first.
    pub recent_events: Vec<EventView>,
}

/// The code that first brought a follower.
#[derive(Debug, Serialize, ToSchema)]
pub struct FirstTouch {
    /// Generation id.
    pub qrcode_id: i64,
    /// Its activity.
    pub activity_id: Option<String>,
    /// Its scene.
    pub scene: String,
    /// Its payload.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// The follower `openid` of account `account_id`, or `None` if qrscene never saw them
/// follow, scan or leave that account. Another account's follower with the same openid is
/// another person, never shown here.
///
/// # Errors
/// [`StatsError::Database`]: the database failed.
pub async fn find(
    db: &DatabaseConnection,
    account_id: i64,
    openid: &str,
) -> Result<Option<FollowerView>, StatsError> {
    let Some(f) = wechat_follower::Entity::find_by_id((account_id, openid.to_owned()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let first_touch = match f.first_generation_id {
        Some(id) => qr_generation::Entity::find_by_id(id)
            .filter(qr_generation::Column::AccountId.eq(account_id))
            .one(db)
            .await?
            .map(|g| FirstTouch {
                qrcode_id: g.id,
                activity_id: g.activity_id,
                scene: g.scene,
                payload: g.payload,
                created_at: g.created_at,
            }),
        None => None,
    };
    let recent_events = wechat_event::Entity::find()
        .filter(wechat_event::Column::AccountId.eq(account_id))
        .filter(wechat_event::Column::Openid.eq(openid))
        .order_by_desc(wechat_event::Column::Id)
        .limit(RECENT_EVENTS)
        .all(db)
        .await?
        .into_iter()
        .map(EventView::from)
        .collect();
    Ok(Some(FollowerView {
        openid: f.openid,
        subscribed: f.subscribed,
        first_followed_at: f.first_followed_at,
        subscribed_at: f.subscribed_at,
        unsubscribed_at: f.unsubscribed_at,
        first_touch,
        recent_events,
    }))
}
