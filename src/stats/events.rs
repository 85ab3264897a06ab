//! Events as API callers see them, and the events of one code.

use chrono::{DateTime, Utc};
use entity::wechat_event::Model;
use sea_orm::{DatabaseConnection, EntityTrait};
use serde::Serialize;
use utoipa::ToSchema;

use super::error::StatsError;
use super::params::Params;
use crate::paging::PageRequest;

/// A stored push, without its XML.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventView {
    /// Event id.
    pub id: i64,
    /// subscribe, scan, unsubscribe, click, view, location, template_send_job_finish, message, other.
    pub kind: String,
    /// The user.
    pub openid: String,
    /// `MsgType`.
    pub msg_type: String,
    /// `Event` as sent.
    pub event: Option<String>,
    /// `EventKey` as sent.
    pub event_key: Option<String>,
    /// The scene of a scan.
    pub scene: Option<String>,
    /// The ticket of a scan.
    pub ticket: Option<String>,
    /// `MsgId` of a message.
    pub msg_id: Option<i64>,
    /// The code it came from.
    pub generation_id: Option<i64>,
    /// WeChat's CreateTime.
    pub occurred_at: DateTime<Utc>,
    /// When qrscene stored it.
    pub received_at: DateTime<Utc>,
}

impl From<Model> for EventView {
    fn from(m: Model) -> Self {
        Self {
            id: m.id,
            kind: m.kind.as_str().to_owned(),
            openid: m.openid,
            msg_type: m.msg_type,
            event: m.event,
            event_key: m.event_key,
            scene: m.scene,
            ticket: m.ticket,
            msg_id: m.msg_id,
            generation_id: m.generation_id,
            occurred_at: m.occurred_at,
            received_at: m.received_at,
        }
    }
}

/// The scans of code `generation`, and the unsubscribes of the followers it first brought
/// (followers of the code's account: the same openid elsewhere is another person), newest
/// first, below event id `before`; and the cursor of the next page.
///
/// # Errors
/// [`StatsError::Database`]: the database failed.
pub async fn of_code(
    db: &DatabaseConnection,
    generation: i64,
    page: PageRequest,
) -> Result<(Vec<EventView>, Option<i64>), StatsError> {
    let mut params = Params::new();
    let code = params.bind(generation);
    let before = params.bind(page.before.unwrap_or(i64::MAX));
    let fetch = params.bind(i64::try_from(page.limit + 1).unwrap_or(i64::MAX));
    let sql = format!(
        "SELECT * FROM ( \
            SELECT * FROM (SELECT * FROM wechat_event WHERE generation_id = {code} AND id < {before} \
                ORDER BY id DESC LIMIT {fetch}) AS scans \
            UNION ALL \
            SELECT * FROM (SELECT e.* FROM wechat_event e \
                JOIN wechat_follower f ON f.account_id = e.account_id AND f.openid = e.openid \
                WHERE f.first_generation_id = {code} AND e.kind = 'unsubscribe' AND e.id < {before} \
                AND e.occurred_at >= f.first_followed_at \
                ORDER BY e.id DESC LIMIT {fetch}) AS unsubscribes \
        ) AS events ORDER BY id DESC LIMIT {fetch}"
    );
    let statement = params.statement(db.get_database_backend(), sql);
    let mut rows = entity::wechat_event::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await?;
    let next = page.cut(&mut rows, |r| r.id);
    Ok((rows.into_iter().map(EventView::from).collect(), next))
}
