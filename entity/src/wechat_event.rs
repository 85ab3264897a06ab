//! One push from WeChat, stored once however often WeChat retried it.

use sea_orm::entity::prelude::*;

/// A row of `wechat_event`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_event")]
pub struct Model {
    /// Event id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// `m:{MsgId}` for messages, `e:{openid}:{CreateTime}:{Event}:{EventKey}` for events.
    #[sea_orm(unique)]
    pub dedup_key: String,
    /// `ToUserName`: the account's original id.
    pub account: String,
    /// `FromUserName`: the user's openid.
    pub openid: String,
    /// `MsgType` as sent.
    pub msg_type: String,
    /// `Event` as sent.
    pub event: Option<String>,
    /// Our classification: subscribe, scan, unsubscribe, click, view, location,
    /// template_send_job_finish, message or other.
    pub kind: String,
    /// `EventKey` as sent.
    pub event_key: Option<String>,
    /// The scene of a subscribe or SCAN from a parametric code.
    pub scene: Option<String>,
    /// `Ticket` of a scan.
    pub ticket: Option<String>,
    /// `MsgId` of an ordinary message.
    pub msg_id: Option<i64>,
    /// WeChat's `CreateTime`, Unix seconds.
    pub create_time: i64,
    /// `CreateTime` as a timestamp.
    pub occurred_at: DateTimeUtc,
    /// When qrscene stored it.
    pub received_at: DateTimeUtc,
    /// The generation whose code was scanned.
    pub generation_id: Option<i64>,
    /// The passive reply text sent, so that a retry gets the same one.
    pub reply: Option<String>,
    /// The plaintext XML.
    pub xml: String,
}

/// Events point at the generation they came from.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The scanned code.
    #[sea_orm(
        belongs_to = "super::qr_generation::Entity",
        from = "Column::GenerationId",
        to = "super::qr_generation::Column::Id"
    )]
    Generation,
}

impl Related<super::qr_generation::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Generation.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
