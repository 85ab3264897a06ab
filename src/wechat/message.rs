//! Inbound push XML: the safe-mode envelope, the raw message with WeChat's field names,
//! and the entry point that refuses DTDs before anything is deserialized; and the passive
//! replies sent back ([`PassiveReply`]).

use serde::Deserialize;

mod article;
mod guard;
mod push;
mod reply;

pub use article::{
    Article, MAX_ARTICLE_DESCRIPTION_CHARS, MAX_ARTICLE_TITLE_CHARS, MAX_ARTICLE_URL_BYTES,
};
pub use guard::reject_doctype;
pub use push::{MessageKind, Push};
pub use reply::{MAX_REPLY_ARTICLES, MAX_TEXT_BYTES, PassiveReply, encrypted_reply, text_reply};
pub(crate) use reply::{validate_media_id, validate_text};

/// Fields without which a push is not a push; serde reports them as missing by name.
const REQUIRED_FIELDS: [&str; 5] = [
    "ToUserName",
    "FromUserName",
    "CreateTime",
    "MsgType",
    "Encrypt",
];

/// Why push XML was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    /// The body is not UTF-8.
    #[error("XML body is not UTF-8")]
    NotUtf8,
    /// The document has a DOCTYPE (and so possibly ENTITY) declaration.
    #[error("XML contains a DOCTYPE or ENTITY declaration")]
    Doctype,
    /// A reference to an entity other than the five predefined ones or a character.
    #[error("XML references undefined entity `{0}`")]
    UndefinedEntity(String),
    /// The document is not well-formed.
    #[error("XML is malformed: {0}")]
    Malformed(String),
    /// A required element is absent.
    #[error("XML lacks required element <{0}>")]
    MissingField(&'static str),
    /// An element has a value of the wrong type, e.g. a non-numeric `CreateTime`.
    #[error("XML does not match the push schema: {0}")]
    Schema(String),
}

/// The body of a safe-mode or compatible-mode push: only `Encrypt` is trusted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EncryptedEnvelope {
    /// The account's original id (`gh_...`), when present.
    #[serde(rename = "ToUserName")]
    pub to_user_name: Option<String>,
    /// Base64 ciphertext to verify with `msg_signature` and then decrypt.
    #[serde(rename = "Encrypt")]
    pub encrypt: String,
}

impl EncryptedEnvelope {
    /// Parses an envelope, ignoring the plaintext fields of compatible mode.
    ///
    /// # Errors
    ///
    /// See [`parse`]; a missing `Encrypt` is [`XmlError::MissingField`].
    pub fn parse(xml: &str) -> Result<Self, XmlError> {
        deserialize(xml)
    }
}

/// A push as WeChat sends it; [`RawMessage::push`] gives the typed view.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RawMessage {
    /// The account's original id (`gh_...`).
    #[serde(rename = "ToUserName")]
    pub to_user_name: String,
    /// The sender's openid.
    #[serde(rename = "FromUserName")]
    pub from_user_name: String,
    /// Unix seconds when WeChat created the push.
    #[serde(rename = "CreateTime")]
    pub create_time: i64,
    /// `event`, `text`, `image`, ... as sent.
    #[serde(rename = "MsgType")]
    pub msg_type: String,
    /// The event name for `MsgType=event`, in WeChat's own letter case.
    #[serde(rename = "Event")]
    pub event: Option<String>,
    /// Scene (`qrscene_`-prefixed on subscribe), menu key or URL.
    #[serde(rename = "EventKey")]
    pub event_key: Option<String>,
    /// The QR code ticket of a scan.
    #[serde(rename = "Ticket")]
    pub ticket: Option<String>,
    /// 64-bit: real ids exceed 2^53, so never route them through a float.
    #[serde(rename = "MsgId")]
    pub msg_id: Option<i64>,
    /// Text message body.
    #[serde(rename = "Content")]
    pub content: Option<String>,
    /// Image URL of an image message.
    #[serde(rename = "PicUrl")]
    pub pic_url: Option<String>,
    /// Media id of an image, voice, video or short video.
    #[serde(rename = "MediaId")]
    pub media_id: Option<String>,
    /// Voice format, e.g. `amr`.
    #[serde(rename = "Format")]
    pub format: Option<String>,
    /// Speech recognition result, when enabled.
    #[serde(rename = "Recognition")]
    pub recognition: Option<String>,
    /// Thumbnail media id of a video.
    #[serde(rename = "ThumbMediaId")]
    pub thumb_media_id: Option<String>,
    /// Latitude of a location message.
    #[serde(rename = "Location_X")]
    pub location_x: Option<f64>,
    /// Longitude of a location message.
    #[serde(rename = "Location_Y")]
    pub location_y: Option<f64>,
    /// Map zoom of a location message.
    #[serde(rename = "Scale")]
    pub scale: Option<i64>,
    /// Place name of a location message.
    #[serde(rename = "Label")]
    pub label: Option<String>,
    /// Title of a link message.
    #[serde(rename = "Title")]
    pub title: Option<String>,
    /// Description of a link message.
    #[serde(rename = "Description")]
    pub description: Option<String>,
    /// URL of a link message.
    #[serde(rename = "Url")]
    pub url: Option<String>,
    /// Latitude of a `LOCATION` event.
    #[serde(rename = "Latitude")]
    pub latitude: Option<f64>,
    /// Longitude of a `LOCATION` event.
    #[serde(rename = "Longitude")]
    pub longitude: Option<f64>,
    /// Precision in metres of a `LOCATION` event.
    #[serde(rename = "Precision")]
    pub precision: Option<f64>,
    /// `TEMPLATESENDJOBFINISH` spells it `MsgID`, unlike ordinary messages.
    #[serde(rename = "MsgID")]
    pub template_msg_id: Option<i64>,
    /// Outcome of a template message send, e.g. `success`.
    #[serde(rename = "Status")]
    pub status: Option<String>,
}

/// Parses a plaintext push (or a decrypted safe-mode one).
///
/// # Errors
///
/// [`XmlError::Doctype`], [`XmlError::UndefinedEntity`] or [`XmlError::Malformed`] from
/// [`reject_doctype`]; [`XmlError::MissingField`] naming `ToUserName`, `FromUserName`,
/// `CreateTime` or `MsgType`; [`XmlError::Schema`] for a value of the wrong type.
pub fn parse(xml: &str) -> Result<RawMessage, XmlError> {
    deserialize(xml)
}

fn deserialize<T: for<'de> Deserialize<'de>>(xml: &str) -> Result<T, XmlError> {
    reject_doctype(xml.as_bytes())?;
    quick_xml::de::from_str(xml).map_err(|e| {
        let text = e.to_string();
        REQUIRED_FIELDS
            .into_iter()
            .find(|f| text == format!("missing field `{f}`"))
            .map_or(XmlError::Schema(text), XmlError::MissingField)
    })
}

#[cfg(test)]
mod tests;
