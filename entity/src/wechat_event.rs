//! One push from WeChat, stored once however often WeChat retried it.

use sea_orm::entity::prelude::*;

/// A row of `wechat_event`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_event")]
pub struct Model {
    /// Event id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account (`account.id`) the row belongs to.
    pub account_id: i64,
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
    /// Our classification.
    pub kind: EventKind,
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

/// What a push is, as stored in `wechat_event.kind` (and `wechat_follower.last_event_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum EventKind {
    /// A follow, with or without a scene.
    #[sea_orm(string_value = "subscribe")]
    Subscribe,
    /// A follower scanned a parametric code.
    #[sea_orm(string_value = "scan")]
    Scan,
    /// An unfollow.
    #[sea_orm(string_value = "unsubscribe")]
    Unsubscribe,
    /// Menu click.
    #[sea_orm(string_value = "click")]
    Click,
    /// Menu link.
    #[sea_orm(string_value = "view")]
    View,
    /// Location report.
    #[sea_orm(string_value = "location")]
    Location,
    /// Template message delivery report.
    #[sea_orm(string_value = "template_send_job_finish")]
    TemplateSendJobFinish,
    /// An ordinary message (text, image, ...).
    #[sea_orm(string_value = "message")]
    Message,
    /// Anything else; still answered `success`.
    #[sea_orm(string_value = "other")]
    Other,
}

impl EventKind {
    /// The stored value, borrowed for the process's lifetime (metrics labels, SQL literals).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Scan => "scan",
            Self::Unsubscribe => "unsubscribe",
            Self::Click => "click",
            Self::View => "view",
            Self::Location => "location",
            Self::TemplateSendJobFinish => "template_send_job_finish",
            Self::Message => "message",
            Self::Other => "other",
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn as_str_is_the_stored_value() {
        for kind in EventKind::iter() {
            assert_eq!(kind.as_str(), kind.to_value());
        }
    }
}
