//! How a generation looks to API callers.

use chrono::{DateTime, Utc};
use entity::qr_generation::Model;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::wechat::qrcode::showqrcode_url;

/// A generation as the JSON API answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GenerationView {
    /// Generation id.
    pub id: i64,
    /// `temporary` or `permanent`.
    pub kind: String,
    /// WeChat's action name.
    pub action_name: String,
    /// Integer scene sent to WeChat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_id: Option<u32>,
    /// String scene sent to WeChat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scene_str: Option<String>,
    /// `succeeded` or `failed`.
    pub status: String,
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
    /// Passive reply text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
    /// WeChat's errcode of a failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errcode: Option<i64>,
    /// WeChat's errmsg of a failed attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errmsg: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
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
            kind: m.kind,
            action_name: m.action_name,
            scene_id,
            scene_str,
            status: m.status,
            ticket: m.ticket,
            url: m.url,
            expire_seconds: m.expire_seconds,
            expires_at: m.expires_at,
            image_url,
            images,
            payload: m.payload,
            activity_id: m.activity_id,
            reply: m.reply,
            errcode: m.errcode,
            errmsg: m.errmsg,
            created_at: m.created_at,
        }
    }
}
