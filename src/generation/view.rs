//! How a generation looks to API callers.

use chrono::{DateTime, Utc};
use entity::qr_generation::{CodeKind, GenerationStatus, Model};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::wechat::qrcode::showqrcode_url;

/// A generation as the JSON API answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GenerationView {
    /// Generation id.
    pub id: i64,
    /// Temporary or permanent.
    pub kind: KindView,
    /// WeChat's action name.
    pub action_name: String,
    /// Integer scene sent to WeChat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_id: Option<u32>,
    /// String scene sent to WeChat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_str: Option<String>,
    /// `pending` while WeChat has not answered, then `succeeded` or `failed`.
    pub status: StatusView,
    /// WeChat's ticket.
    pub ticket: Option<String>,
    /// The QR content.
    pub url: Option<String>,
    /// Seconds to expiry as WeChat answered.
    pub expire_seconds: Option<i32>,
    /// Expiry time.
    pub expires_at: Option<DateTime<Utc>>,
    /// WeChat's image of the code (`showqrcode`, ticket URL-encoded).
    pub image_url: Option<String>,
    /// This service's own renderings of the code.
    pub images: Option<Images>,
    /// Attribution data.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// `payload.activity_id`.
    pub activity_id: Option<String>,
    /// Passive reply text (a text welcome sent as the reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// The code's own actions, as given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<crate::actions::spec::Actions>,
    /// When the permanent code was retired (its scene is never made again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<DateTime<Utc>>,
    /// WeChat's errcode of a failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    /// WeChat's errmsg of a failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errmsg: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A code's kind, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KindView {
    /// Expires after `expire_seconds`.
    Temporary,
    /// Never expires.
    Permanent,
}

impl From<CodeKind> for KindView {
    fn from(kind: CodeKind) -> Self {
        match kind {
            CodeKind::Temporary => Self::Temporary,
            CodeKind::Permanent => Self::Permanent,
        }
    }
}

/// Where a generation stands, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusView {
    /// Logged; WeChat has not answered yet.
    Pending,
    /// WeChat answered with a ticket.
    Succeeded,
    /// No ticket: see `errcode` and `errmsg`.
    Failed,
}

impl From<GenerationStatus> for StatusView {
    fn from(status: GenerationStatus) -> Self {
        match status {
            GenerationStatus::Pending => Self::Pending,
            GenerationStatus::Succeeded => Self::Succeeded,
            GenerationStatus::Failed => Self::Failed,
        }
    }
}

impl From<StatusView> for GenerationStatus {
    fn from(status: StatusView) -> Self {
        match status {
            StatusView::Pending => Self::Pending,
            StatusView::Succeeded => Self::Succeeded,
            StatusView::Failed => Self::Failed,
        }
    }
}

/// Links to the locally drawn images.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Images {
    /// PNG.
    pub png: String,
    /// SVG.
    pub svg: String,
}

impl GenerationView {
    /// The view of `m`, with `showqrcode` links under `mp_base`.
    pub fn new(m: Model, mp_base: &str) -> Self {
        let is_id = matches!(m.action_name.as_str(), "QR_SCENE" | "QR_LIMIT_SCENE");
        let (scene_id, scene_str) = match (is_id, m.scene.parse::<u32>()) {
            (true, Ok(id)) => (Some(id), None),
            _ => (None, Some(m.scene)),
        };
        let image_url = m.ticket.as_deref().map(|t| showqrcode_url(mp_base, t));
        let images = m.url.as_ref().map(|_| Images {
            png: format!("/api/v1/qrcodes/{}/image.png", m.id),
            svg: format!("/api/v1/qrcodes/{}/image.svg", m.id),
        });
        Self {
            id: m.id,
            kind: m.kind.into(),
            action_name: m.action_name,
            scene_id,
            scene_str,
            status: m.status.into(),
            ticket: m.ticket,
            url: m.url,
            expire_seconds: m.expire_seconds,
            expires_at: m.expires_at,
            image_url,
            images,
            payload: m.payload,
            activity_id: m.activity_id,
            reply: m.reply.as_deref().and_then(reply_text),
            actions: m
                .actions
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok()),
            retired_at: m.retired_at,
            errcode: m.errcode,
            errmsg: m.errmsg,
            created_at: m.created_at,
        }
    }
}

/// The text of a stored passive reply, if it is a text reply.
fn reply_text(stored: &str) -> Option<String> {
    let value: Value = serde_json::from_str(stored).ok()?;
    (value.get("type")?.as_str()? == "text")
        .then(|| value.get("content")?.as_str().map(str::to_owned))
        .flatten()
}
