//! What `qrcode/create` accepts: the four action names and their limits, as parsed types.
//!
//! Every WeChat limit is checked here, so nothing past this boundary re-checks and no
//! upstream call is made for a request WeChat would refuse.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest temporary expiry WeChat accepts: 30 days.
pub const MAX_EXPIRE_SECONDS: u32 = 2_592_000;
/// Highest permanent integer scene.
pub const MAX_PERMANENT_SCENE_ID: u64 = 100_000;
/// Most permanent codes one account may ever create.
pub const MAX_PERMANENT_CODES: u64 = 100_000;
/// Longest string scene, in characters.
pub const MAX_SCENE_STR_CHARS: usize = 64;

/// A rule of WeChat's that a request broke; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct LimitError {
    /// The request field at fault.
    pub field: &'static str,
    /// The rule it broke, in words.
    pub rule: String,
}

impl LimitError {
    /// A broken rule of `field`.
    pub fn new(field: &'static str, rule: impl Into<String>) -> Self {
        Self {
            field,
            rule: rule.into(),
        }
    }
}

/// Temporary (expiring) or permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QrKind {
    /// Expires after `expire_seconds`; unlimited in number.
    Temporary,
    /// Never expires; at most 100,000 per account.
    Permanent,
}

impl QrKind {
    /// The wire name, also stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Temporary => "temporary",
            Self::Permanent => "permanent",
        }
    }

    /// Parses the wire name.
    ///
    /// # Errors
    /// Anything but `temporary` or `permanent`.
    pub fn parse(s: &str) -> Result<Self, LimitError> {
        match s {
            "temporary" => Ok(Self::Temporary),
            "permanent" => Ok(Self::Permanent),
            other => Err(LimitError::new(
                "kind",
                format!("must be \"temporary\" or \"permanent\", got {other:?}"),
            )),
        }
    }
}

/// An integer scene, within the range of its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SceneId(u32);

impl SceneId {
    /// # Errors
    /// Temporary: 1..=4294967295 (a non-zero 32-bit integer). Permanent: 1..=100000.
    pub fn parse(kind: QrKind, value: i64) -> Result<Self, LimitError> {
        let max = match kind {
            QrKind::Temporary => u64::from(u32::MAX),
            QrKind::Permanent => MAX_PERMANENT_SCENE_ID,
        };
        match u64::try_from(value) {
            Ok(v) if (1..=max).contains(&v) => Ok(Self(v as u32)),
            _ => Err(LimitError::new(
                "scene_id",
                format!(
                    "a {} code's scene_id must be between 1 and {max}, got {value}",
                    kind.as_str()
                ),
            )),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A string scene of 1 to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SceneStr(String);

impl SceneStr {
    /// # Errors
    /// Empty, longer than 64 characters, or containing control characters.
    pub fn parse(value: &str) -> Result<Self, LimitError> {
        let chars = value.chars().count();
        if chars == 0 {
            return Err(LimitError::new("scene_str", "must not be empty"));
        }
        if chars > MAX_SCENE_STR_CHARS {
            return Err(LimitError::new(
                "scene_str",
                format!("must be at most {MAX_SCENE_STR_CHARS} characters, got {chars}"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(LimitError::new(
                "scene_str",
                "must not contain control characters",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The scene of a code: the value WeChat echoes back in scan events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scene {
    /// `scene_id`.
    Id(SceneId),
    /// `scene_str`.
    Str(SceneStr),
}

impl fmt::Display for Scene {
    /// The scene as it appears in an event's `EventKey` (after `qrscene_`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{}", id.get()),
            Self::Str(s) => f.write_str(s.as_str()),
        }
    }
}

/// Seconds until a temporary code expires: 1..=2592000.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireSeconds(u32);

impl ExpireSeconds {
    /// # Errors
    /// Zero, negative, or over 30 days.
    pub fn parse(field: &'static str, value: i64) -> Result<Self, LimitError> {
        match u32::try_from(value) {
            Ok(v) if (1..=MAX_EXPIRE_SECONDS).contains(&v) => Ok(Self(v)),
            _ => Err(LimitError::new(
                field,
                format!(
                    "must be between 1 and {MAX_EXPIRE_SECONDS} seconds (30 days), got {value}"
                ),
            )),
        }
    }

    /// The number of seconds.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A request WeChat will accept: kind, scene and (temporary only) expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrSpec {
    /// The scene.
    pub scene: Scene,
    /// `Some` for temporary codes, `None` for permanent ones.
    pub expire: Option<ExpireSeconds>,
}

impl QrSpec {
    /// A temporary code.
    pub fn temporary(scene: Scene, expire: ExpireSeconds) -> Self {
        Self {
            scene,
            expire: Some(expire),
        }
    }

    /// A permanent code (no expiry is sent).
    pub fn permanent(scene: Scene) -> Self {
        Self {
            scene,
            expire: None,
        }
    }

    /// Temporary or permanent.
    pub fn kind(&self) -> QrKind {
        if self.expire.is_some() {
            QrKind::Temporary
        } else {
            QrKind::Permanent
        }
    }

    /// WeChat's `action_name`.
    pub fn action_name(&self) -> &'static str {
        match (&self.scene, self.kind()) {
            (Scene::Id(_), QrKind::Temporary) => "QR_SCENE",
            (Scene::Str(_), QrKind::Temporary) => "QR_STR_SCENE",
            (Scene::Id(_), QrKind::Permanent) => "QR_LIMIT_SCENE",
            (Scene::Str(_), QrKind::Permanent) => "QR_LIMIT_STR_SCENE",
        }
    }

    /// The JSON body of `qrcode/create`.
    pub fn to_request_body(&self) -> serde_json::Value {
        let scene = match &self.scene {
            Scene::Id(id) => serde_json::json!({ "scene_id": id.get() }),
            Scene::Str(s) => serde_json::json!({ "scene_str": s.as_str() }),
        };
        let mut body = serde_json::json!({
            "action_name": self.action_name(),
            "action_info": { "scene": scene },
        });
        if let Some(expire) = self.expire {
            body["expire_seconds"] = expire.get().into();
        }
        body
    }
}

/// WeChat's answer to `qrcode/create`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct QrTicket {
    /// Identifies the code; also the key of `showqrcode`.
    pub ticket: String,
    /// Seconds until it expires (temporary codes only).
    pub expire_seconds: Option<u32>,
    /// The content of the QR image.
    pub url: String,
}

/// The `showqrcode` link of a ticket, with the ticket URL-encoded.
pub fn showqrcode_url(mp_base: &str, ticket: &str) -> String {
    let encoded = percent_encoding::utf8_percent_encode(ticket, percent_encoding::NON_ALPHANUMERIC);
    format!(
        "{}/cgi-bin/showqrcode?ticket={encoded}",
        mp_base.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_id_ranges_follow_the_kind() {
        assert!(SceneId::parse(QrKind::Temporary, 4_294_967_295).is_ok());
        assert!(SceneId::parse(QrKind::Temporary, 4_294_967_296).is_err());
        assert!(SceneId::parse(QrKind::Temporary, 0).is_err());
        assert!(SceneId::parse(QrKind::Permanent, 100_000).is_ok());
        let err = SceneId::parse(QrKind::Permanent, 100_001).unwrap_err();
        assert_eq!(err.field, "scene_id");
        assert!(err.rule.contains("100000"), "{err}");
    }

    #[test]
    fn scene_str_counts_characters() {
        assert!(SceneStr::parse(&"妈".repeat(64)).is_ok());
        assert!(SceneStr::parse(&"a".repeat(65)).is_err());
        assert!(SceneStr::parse("").is_err());
        assert!(SceneStr::parse("a\nb").is_err());
    }

    #[test]
    fn bodies_match_the_four_action_names() {
        let expire = ExpireSeconds::parse("expire_seconds", 60).unwrap();
        let id = Scene::Id(SceneId::parse(QrKind::Temporary, 7).unwrap());
        let s = Scene::Str(SceneStr::parse("abc").unwrap());
        let t = QrSpec::temporary(s.clone(), expire).to_request_body();
        assert_eq!(
            t,
            serde_json::json!({"expire_seconds":60,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"abc"}}})
        );
        assert_eq!(
            QrSpec::temporary(id.clone(), expire).action_name(),
            "QR_SCENE"
        );
        let p = QrSpec::permanent(id).to_request_body();
        assert_eq!(p["action_name"], "QR_LIMIT_SCENE");
        assert!(p.get("expire_seconds").is_none());
        assert_eq!(QrSpec::permanent(s).action_name(), "QR_LIMIT_STR_SCENE");
    }

    #[test]
    fn showqrcode_encodes_the_ticket() {
        assert_eq!(
            showqrcode_url("https://mp.weixin.qq.com/", "gQH+/8=="),
            "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=gQH%2B%2F8%3D%3D"
        );
    }
}
