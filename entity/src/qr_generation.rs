//! One attempt to create a QR code: logged as `pending` before WeChat is called, then
//! settled as `succeeded` or `failed`.

use sea_orm::entity::prelude::*;

/// Temporary (expiring) or permanent; stored as `temporary` / `permanent`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum CodeKind {
    /// Expires after `expire_seconds`.
    #[sea_orm(string_value = "temporary")]
    Temporary,
    /// Never expires; at most 100,000 per account.
    #[sea_orm(string_value = "permanent")]
    Permanent,
}

/// Where an attempt stands; stored as `pending` / `succeeded` / `failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum GenerationStatus {
    /// Logged, WeChat not yet answered (or the process stopped before it was recorded:
    /// the code may exist at WeChat).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// WeChat answered with a ticket.
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// WeChat refused or could not be reached: no ticket.
    #[sea_orm(string_value = "failed")]
    Failed,
}

/// A row of `qr_generation`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "qr_generation")]
pub struct Model {
    /// Generation id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account (`account.id`) the row belongs to.
    pub account_id: i64,
    /// Temporary or permanent.
    pub kind: CodeKind,
    /// WeChat's action name, e.g. `QR_STR_SCENE`.
    pub action_name: String,
    /// The scene sent to WeChat, as it comes back in events.
    pub scene: String,
    /// The caller's original scene string when it was replaced by a short key (legacy API).
    pub scene_source: Option<String>,
    /// Attribution data given by the caller.
    pub payload: Option<Json>,
    /// `payload.activity_id`, indexed.
    pub activity_id: Option<String>,
    /// WeChat's ticket (successes only).
    pub ticket: Option<String>,
    /// The QR content url (successes only).
    pub url: Option<String>,
    /// Seconds to expiry as WeChat answered (temporary codes).
    pub expire_seconds: Option<i32>,
    /// When the code expires (temporary codes).
    pub expires_at: Option<DateTimeUtc>,
    /// Pending, succeeded or failed.
    pub status: GenerationStatus,
    /// WeChat's errcode of a failure.
    pub errcode: Option<i64>,
    /// WeChat's errmsg, or our description, of a failure.
    pub errmsg: Option<String>,
    /// Name of the API key that asked.
    pub api_key: Option<String>,
    /// Passive reply sent to whoever scans this code, as JSON (`{"type": "text", ...}`).
    pub reply: Option<String>,
    /// The code's own actions (JSON), if it has any.
    pub actions: Option<String>,
    /// Which events trigger them: `subscribe`, `scan` or `both`.
    pub actions_on: Option<String>,
    /// Whether they tag the follower.
    pub action_tags: bool,
    /// Whether they send a kefu message.
    pub action_kefu: bool,
    /// When the permanent code was retired (its scene is never made again).
    pub retired_at: Option<DateTimeUtc>,
    /// When the attempt was made.
    pub created_at: DateTimeUtc,
}

/// No relations are declared here; events point at generations from their side.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
