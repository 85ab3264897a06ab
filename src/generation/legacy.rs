//! The legacy `createQrCode` request: `{"sceneStr": "<base64 JSON>", "second": N}`.
//!
//! `sceneStr` is usually far over WeChat's 64 characters, so WeChat gets a short assigned
//! key; the decoded JSON becomes the payload and the original string is kept.

use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::request::{NO_NUL, Payload, integer};
use crate::actions::spec::{Actions, StoredActions};
use crate::wechat::qrcode::{ExpireSeconds, LimitError};

/// Longest `sceneStr` accepted, in characters.
pub const MAX_SCENE_STR_CHARS: usize = 4096;

/// The legacy body as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"sceneStr": "eyJhY3Rpdml0eV9pZCI6Ik1UMTk1MCJ9", "second": 86400}))]
pub struct LegacyBody {
    /// Usually base64 of a JSON object (which becomes the payload), at most 4096
    /// characters, not blank, without NUL; kept as it came.
    #[serde(rename = "sceneStr")]
    #[schema(
        value_type = String,
        required = true,
        min_length = 1,
        max_length = 4096,
        pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"
    )]
    pub scene_str: Option<Value>,
    /// Seconds to expiry, 1..2592000 (an integer or a string of digits); default
    /// `QRSCENE_DEFAULT_EXPIRE_SECONDS`.
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 2592000)]
    pub second: Option<Value>,
    /// What the code does to whoever scans it (tags, welcome), as on `POST /api/v1/qrcodes`.
    pub actions: Option<Actions>,
}

/// The legacy answer, exactly as the old service gave it.
#[derive(Debug, Serialize, ToSchema)]
pub struct LegacyAnswer {
    /// WeChat's ticket.
    pub ticket: String,
    /// Seconds to expiry.
    pub expire_seconds: u32,
    /// The QR content.
    pub url: String,
}

/// A parsed legacy request.
#[derive(Debug)]
pub struct LegacyRequest {
    /// The original `sceneStr`.
    pub scene_source: String,
    /// The decoded JSON object, when `sceneStr` is base64 of one.
    pub payload: Option<Payload>,
    /// Expiry; the configured default when `second` is absent.
    pub expire: Option<ExpireSeconds>,
    /// The code's own actions.
    pub actions: Option<StoredActions>,
}

impl TryFrom<LegacyBody> for LegacyRequest {
    type Error = LimitError;

    fn try_from(body: LegacyBody) -> Result<Self, LimitError> {
        let scene_source = match body.scene_str {
            Some(Value::String(s)) if !s.trim().is_empty() => s,
            Some(Value::String(_)) | None | Some(Value::Null) => {
                return Err(LimitError::new(
                    "sceneStr",
                    "is required and must not be empty",
                ));
            }
            Some(_) => return Err(LimitError::new("sceneStr", "must be a string")),
        };
        if scene_source.contains('\0') {
            return Err(LimitError::new("sceneStr", NO_NUL));
        }
        if scene_source.chars().count() > MAX_SCENE_STR_CHARS {
            return Err(LimitError::new(
                "sceneStr",
                format!("must be at most {MAX_SCENE_STR_CHARS} characters"),
            ));
        }
        let expire = match body.second {
            None | Some(Value::Null) => None,
            Some(n @ Value::Number(_)) => Some(integer("second", &n)?),
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| LimitError::new("second", "must be an integer"))?,
            ),
            Some(_) => return Err(LimitError::new("second", "must be an integer")),
        }
        .map(|n| ExpireSeconds::parse("second", n))
        .transpose()?;
        let payload = decode_json_object(&scene_source)
            .map(|v| Payload::parse("sceneStr", v))
            .transpose()?;
        let actions = body.actions.map(Actions::validate).transpose()?;
        Ok(Self {
            scene_source,
            payload,
            expire,
            actions,
        })
    }
}

/// `s` as base64 (standard or URL-safe, padded or not) of a JSON object, if it is one.
pub fn decode_json_object(s: &str) -> Option<Value> {
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let s = s.trim();
    [alphabet::STANDARD, alphabet::URL_SAFE]
        .iter()
        .find_map(|a| GeneralPurpose::new(a, config).decode(s).ok())
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real `sceneStr` of the protocol notes.
    pub const REAL: &str = "eyJhY3Rpdml0eV90eXBlX25hbWUiOiJQS+i1my3mtojotLnogIXln7norq0iLCJhY3Rpdml0eV90eXBlIjoiMyIsImFjdGl2aXR5X2lkIjoiTVQxOTUwIiwiaWQiOjQ5MjgyLCJhY3Rpdml0eV90aGVtZSI6IjIyIiwiYWN0aXZpdHlfdGhlbWVfbmFtZSI6IuWmiOWmiOeahOeIsSIsImNvZGVfdHlwZSI6InNpZ24ifQ==";

    #[test]
    fn the_real_scene_str_decodes_to_its_activity() {
        let req = LegacyRequest::try_from(LegacyBody {
            scene_str: Some(Value::String(REAL.into())),
            second: Some(86400.into()),
            actions: None,
        })
        .unwrap();
        let payload = req.payload.unwrap();
        assert_eq!(payload.activity_id.as_deref(), Some("MT1950"));
        assert_eq!(payload.value["activity_type_name"], "PK赛-消费者培训");
        assert_eq!(req.expire.unwrap().get(), 86400);
    }

    #[test]
    fn plain_scene_strings_are_kept_without_payload() {
        let req = LegacyRequest::try_from(LegacyBody {
            scene_str: Some("hello".into()),
            second: None,
            actions: None,
        })
        .unwrap();
        assert!(req.payload.is_none());
        let err = LegacyRequest::try_from(LegacyBody {
            scene_str: Some("x".into()),
            second: Some("0".into()),
            actions: None,
        })
        .unwrap_err();
        assert_eq!(err.field, "second");
    }

    #[test]
    fn nul_in_scene_str_or_its_decoded_json_names_scene_str() {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"a":"x\u0000"}"#);
        for scene in ["a\0b".to_owned(), encoded] {
            let err = LegacyRequest::try_from(LegacyBody {
                scene_str: Some(scene.clone().into()),
                second: None,
                actions: None,
            })
            .unwrap_err();
            assert_eq!(err.field, "sceneStr", "{scene}");
        }
    }
}
