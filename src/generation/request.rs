//! `POST /api/v1/qrcodes` bodies, parsed into a [`NewGeneration`] that WeChat will accept.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::view::KindView;
use crate::actions::spec::{Actions, StoredActions};
use crate::wechat::qrcode::{ExpireSeconds, LimitError, QrKind, Scene, SceneId, SceneStr};

/// Largest payload accepted, serialized.
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024;
/// Longest `activity_id`, in characters (the column is `VARCHAR(128)`).
pub const MAX_ACTIVITY_ID_CHARS: usize = 128;
/// Longest passive reply, in bytes (WeChat's text messages allow 2048).
pub const MAX_REPLY_BYTES: usize = 2048;

/// The rule of every stored text: PostgreSQL cannot store U+0000 in text or JSON.
pub const NO_NUL: &str = "must not contain the NUL character (U+0000)";

/// The body as sent; numbers stay JSON values so that errors can name the rule broken.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kind": "temporary", "expire_seconds": 86400, "payload": {"activity_id": "MT1950"}}))]
pub struct CreateQrcodeBody {
    /// The account (appid) to make the code for; may be left out when the key (or the
    /// deployment) has exactly one.
    #[schema(example = "wx1234567890abcdef")]
    pub account: Option<String>,
    /// Temporary or permanent.
    #[schema(value_type = KindView, example = "temporary")]
    pub kind: String,
    /// Integer scene: temporary 1..4294967295, permanent 1..100000. Give `scene_id` or
    /// `scene_str`, not both; without either a unique `scene_str` is assigned.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 4294967295_i64)]
    pub scene_id: Option<Value>,
    /// String scene: 1 to 64 characters without control characters.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub scene_str: Option<String>,
    /// Seconds to expiry, 1..2592000; temporary codes only (default 604800).
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 2592000)]
    pub expire_seconds: Option<Value>,
    /// Attribution data: a JSON object of at most 8 KiB; its `activity_id` (string or
    /// number) is indexed.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// Passive text reply for whoever scans the code: at most 2048 bytes (UTF-8), not
    /// blank, without NUL.
    #[schema(min_length = 1, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub reply: Option<String>,
    /// What the code does to whoever scans it: tags, a welcome (a passive reply or a kefu
    /// message), on `subscribe`, `scan` or both. A code without actions takes its
    /// activity's (`PUT /api/v1/activities/{activity_id}/actions`).
    pub actions: Option<Actions>,
}

/// Attribution data: a JSON object, with its `activity_id` pulled out for indexing.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    /// The object.
    pub value: Value,
    /// `activity_id` as a string, when present.
    pub activity_id: Option<String>,
}

impl Payload {
    /// # Errors
    /// Not an object, over 8 KiB, a NUL character in a key or a string (which the database
    /// cannot store), or an `activity_id` that is neither a string nor a number.
    pub fn parse(field: &'static str, value: Value) -> Result<Self, LimitError> {
        if !value.is_object() {
            return Err(LimitError::new(field, "must be a JSON object"));
        }
        if contains_nul(&value) {
            return Err(LimitError::new(field, NO_NUL));
        }
        if value.to_string().len() > MAX_PAYLOAD_BYTES {
            return Err(LimitError::new(
                field,
                format!("must be at most {MAX_PAYLOAD_BYTES} bytes of JSON"),
            ));
        }
        let activity_id = match value.get("activity_id") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if (1..=MAX_ACTIVITY_ID_CHARS).contains(&s.chars().count()) => {
                Some(s.clone())
            }
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(_) => {
                return Err(LimitError::new(
                    field,
                    format!(
                        "activity_id must be a string of 1 to {MAX_ACTIVITY_ID_CHARS} characters or a number"
                    ),
                ));
            }
        };
        Ok(Self { value, activity_id })
    }
}

/// A generation request that WeChat will accept; the scene is assigned when absent.
#[derive(Debug, Clone)]
pub struct NewGeneration {
    /// Temporary or permanent.
    pub kind: QrKind,
    /// The caller's scene, if any.
    pub scene: Option<Scene>,
    /// Temporary only; the configured default applies when absent.
    pub expire: Option<ExpireSeconds>,
    /// Attribution data.
    pub payload: Option<Payload>,
    /// Passive reply text.
    pub reply: Option<String>,
    /// The code's own actions.
    pub actions: Option<StoredActions>,
}

impl TryFrom<CreateQrcodeBody> for NewGeneration {
    type Error = LimitError;

    fn try_from(body: CreateQrcodeBody) -> Result<Self, LimitError> {
        let kind = QrKind::parse(&body.kind)?;
        let scene = match (body.scene_id, body.scene_str) {
            (Some(_), Some(_)) => {
                return Err(LimitError::new(
                    "scene_id",
                    "give scene_id or scene_str, not both",
                ));
            }
            (Some(id), None) => Some(Scene::Id(SceneId::parse(kind, integer("scene_id", &id)?)?)),
            (None, Some(s)) => Some(Scene::Str(SceneStr::parse(&s)?)),
            (None, None) => None,
        };
        let expire = match (kind, body.expire_seconds) {
            (QrKind::Permanent, Some(_)) => {
                return Err(LimitError::new(
                    "expire_seconds",
                    "permanent codes do not expire; leave it out",
                ));
            }
            (_, Some(v)) => Some(ExpireSeconds::parse(
                "expire_seconds",
                integer("expire_seconds", &v)?,
            )?),
            (_, None) => None,
        };
        let payload = body
            .payload
            .filter(|v| !v.is_null())
            .map(|v| Payload::parse("payload", v))
            .transpose()?;
        let reply = match body.reply {
            Some(r) if r.trim().is_empty() => {
                return Err(LimitError::new("reply", "must not be empty when given"));
            }
            Some(r) if r.len() > MAX_REPLY_BYTES => {
                return Err(LimitError::new(
                    "reply",
                    format!("must be at most {MAX_REPLY_BYTES} bytes"),
                ));
            }
            Some(r) if r.contains('\0') => return Err(LimitError::new("reply", NO_NUL)),
            other => other,
        };
        if reply.is_some() && body.actions.as_ref().is_some_and(|a| a.welcome.is_some()) {
            return Err(LimitError::new(
                "reply",
                "give reply or actions.welcome, not both",
            ));
        }
        let actions = body.actions.map(Actions::validate).transpose()?;
        Ok(Self {
            kind,
            scene,
            expire,
            payload,
            reply,
            actions,
        })
    }
}

/// Whether a key or a string anywhere in `value` holds U+0000.
fn contains_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(contains_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

/// `value` as an integer. JSON Schema counts `60.0` as an integer, so it is one here too.
///
/// # Errors
/// Not a number, a fraction, or out of the 64-bit range.
pub fn integer(field: &'static str, value: &Value) -> Result<i64, LimitError> {
    let integral_float = || {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    };
    value
        .as_i64()
        .or_else(integral_float)
        .ok_or_else(|| LimitError::new(field, format!("must be an integer, got {value}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<NewGeneration, LimitError> {
        NewGeneration::try_from(serde_json::from_value::<CreateQrcodeBody>(v).unwrap())
    }

    #[test]
    fn rules_name_their_field() {
        let cases = [
            (serde_json::json!({"kind":"forever"}), "kind"),
            (
                serde_json::json!({"kind":"temporary","scene_id":1,"scene_str":"a"}),
                "scene_id",
            ),
            (
                serde_json::json!({"kind":"temporary","scene_id":1.5}),
                "scene_id",
            ),
            (
                serde_json::json!({"kind":"permanent","scene_id":100001}),
                "scene_id",
            ),
            (
                serde_json::json!({"kind":"permanent","expire_seconds":60}),
                "expire_seconds",
            ),
            (
                serde_json::json!({"kind":"temporary","expire_seconds":2592001}),
                "expire_seconds",
            ),
            (
                serde_json::json!({"kind":"temporary","payload":[1]}),
                "payload",
            ),
            (serde_json::json!({"kind":"temporary","reply":" "}), "reply"),
            (
                serde_json::json!({"kind":"temporary","reply":"a\0b"}),
                "reply",
            ),
            (
                serde_json::json!({"kind":"temporary","payload":{"a":[{"b":"\0"}]}}),
                "payload",
            ),
            (
                serde_json::json!({"kind":"temporary","payload":{"k\0":1}}),
                "payload",
            ),
            (
                serde_json::json!({"kind":"temporary","scene_str":"a\0"}),
                "scene_str",
            ),
        ];
        for (body, field) in cases {
            assert_eq!(parse(body.clone()).unwrap_err().field, field, "{body}");
        }
    }

    #[test]
    fn integral_floats_are_integers() {
        let g = parse(serde_json::json!({"kind":"temporary","scene_id":7.0,"expire_seconds":60.0}))
            .unwrap();
        assert_eq!(
            g.scene,
            Some(Scene::Id(SceneId::parse(QrKind::Temporary, 7).unwrap()))
        );
        assert_eq!(g.expire.unwrap().get(), 60);
        assert!(integer("x", &serde_json::json!(1e300)).is_err());
        assert!(integer("x", &serde_json::json!("1")).is_err());
    }

    #[test]
    fn activity_id_is_pulled_out_of_the_payload() {
        let g = parse(serde_json::json!({"kind":"temporary","payload":{"activity_id":"MT1950"}}))
            .unwrap();
        assert_eq!(g.payload.unwrap().activity_id.as_deref(), Some("MT1950"));
        let g =
            parse(serde_json::json!({"kind":"temporary","payload":{"activity_id":42}})).unwrap();
        assert_eq!(g.payload.unwrap().activity_id.as_deref(), Some("42"));
    }
}
