//! Customer-service (kefu) messages, `message/custom/send`: the types qrscene sends
//! (text, image, news, miniprogrampage), their limits, and the call.
//!
//! WeChat lets an account send 3 of them within 1 minute of a user's follow or scan (5
//! within 48 hours of a message the user sent); past the minute it answers 45015, past the
//! count 45047. News carries exactly one article (45008 for more, since October 2018).
//! Limits WeChat does not document are chosen and named below.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::ApiClient;
use super::error::{
    ERR_CONTENT_TOO_LONG, ERR_DATA_FORMAT, ERR_INVALID_MEDIA_ID, ERR_INVALID_OPENID, WeChatError,
};
use super::message::{Article, MAX_TEXT_BYTES, validate_media_id, validate_text};
use super::qrcode::LimitError;

/// Messages WeChat accepts within [`REPLY_WINDOW_SECONDS`] of a follow or a scan.
pub const MESSAGES_PER_INTERACTION: usize = 3;
/// How long after a follow or a scan (from the event's `CreateTime`) WeChat accepts them.
pub const REPLY_WINDOW_SECONDS: i64 = 60;
/// Longest mini program card title, in characters (chosen; WeChat documents none).
pub const MAX_MINIPROGRAM_TITLE_CHARS: usize = 64;

/// A customer-service message. JSON (as stored): `{"type":"text","content":...}`,
/// `{"type":"image","media_id":...}`, `{"type":"news","article":{...}}`,
/// `{"type":"miniprogrampage","title":...,"appid":...,"pagepath":...,"thumb_media_id":...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KefuMessage {
    /// A text message, at most [`MAX_TEXT_BYTES`].
    Text {
        /// The text.
        content: String,
    },
    /// An image already uploaded to WeChat.
    Image {
        /// Its media id.
        media_id: String,
    },
    /// One news card (WeChat sends one article per message).
    News {
        /// The card.
        article: Article,
    },
    /// A mini program card.
    #[serde(rename = "miniprogrampage")]
    MiniProgramPage {
        /// The card's title.
        title: String,
        /// The mini program's appid (linked to the account).
        appid: String,
        /// The page to open, e.g. `pages/index/index?from=qr`.
        pagepath: String,
        /// The card's picture, a media id.
        thumb_media_id: String,
    },
}

impl KefuMessage {
    /// WeChat's `msgtype`.
    pub fn msgtype(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::News { .. } => "news",
            Self::MiniProgramPage { .. } => "miniprogrampage",
        }
    }

    /// The body of `message/custom/send` for `touser`.
    #[must_use]
    pub fn to_request_body(&self, touser: &str) -> Value {
        let content = match self {
            Self::Text { content } => json!({ "content": content }),
            Self::Image { media_id } => json!({ "media_id": media_id }),
            Self::News { article } => json!({ "articles": [article] }),
            Self::MiniProgramPage {
                title,
                appid,
                pagepath,
                thumb_media_id,
            } => json!({
                "title": title,
                "appid": appid,
                "pagepath": pagepath,
                "thumb_media_id": thumb_media_id,
            }),
        };
        let msgtype = self.msgtype();
        let mut body = json!({ "touser": touser, "msgtype": msgtype });
        body[msgtype] = content;
        body
    }

    /// Checks WeChat's limits; the error names the field (`content`, `media_id`,
    /// `articles.title`, `miniprogram.pagepath`, ...).
    ///
    /// # Errors
    /// An empty or too long text, an empty media id, an article [`Article::validate`]
    /// refuses, or a mini program card with an empty or too long field.
    pub fn validate(&self) -> Result<(), LimitError> {
        self.check().map_err(|(_, e)| e)
    }

    /// [`KefuMessage::validate`] with the errcode WeChat would answer.
    fn check(&self) -> Result<(), (i64, LimitError)> {
        match self {
            Self::Text { content } => validate_text(content).map_err(|e| {
                let code = if content.len() > MAX_TEXT_BYTES {
                    ERR_CONTENT_TOO_LONG
                } else {
                    ERR_DATA_FORMAT
                };
                (code, e)
            }),
            Self::Image { media_id } => {
                validate_media_id("media_id", media_id).map_err(|e| (ERR_INVALID_MEDIA_ID, e))
            }
            Self::News { article } => article.validate().map_err(|e| (ERR_DATA_FORMAT, e)),
            Self::MiniProgramPage {
                title,
                appid,
                pagepath,
                thumb_media_id,
            } => {
                let format = |field, rule: &str| (ERR_DATA_FORMAT, LimitError::new(field, rule));
                if title.trim().is_empty() {
                    return Err(format("miniprogram.title", "must not be empty"));
                }
                if title.chars().count() > MAX_MINIPROGRAM_TITLE_CHARS {
                    return Err(format("miniprogram.title", "at most 64 characters"));
                }
                if appid.trim().is_empty() {
                    return Err(format("miniprogram.appid", "must not be empty"));
                }
                if pagepath.trim().is_empty() {
                    return Err(format("miniprogram.pagepath", "must not be empty"));
                }
                validate_media_id("miniprogram.thumb_media_id", thumb_media_id)
                    .map_err(|e| (ERR_INVALID_MEDIA_ID, e))
            }
        }
    }
}

impl ApiClient {
    /// Sends `message` to `touser` once (retrying only `-1`).
    ///
    /// # Errors
    /// An empty `touser` (40003) or a message [`KefuMessage::validate`] refuses (the
    /// errcode WeChat would answer) is not sent (see [`WeChatError::refused_locally`]);
    /// WeChat's 45015 (the minute after the follow or scan passed), 45047 (its messages are
    /// spent), 40003 (not a follower), 45009; timeout or transport failure.
    #[tracing::instrument(skip_all, fields(msgtype = message.msgtype()))]
    pub async fn send_custom(
        &self,
        token: &str,
        touser: &str,
        message: &KefuMessage,
    ) -> Result<(), WeChatError> {
        if touser.is_empty() {
            let limit = LimitError::new("touser", "must be an openid, not empty");
            return Err(WeChatError::refused_locally(ERR_INVALID_OPENID, &limit));
        }
        message
            .check()
            .map_err(|(code, e)| WeChatError::refused_locally(code, &e))?;
        let body = message.to_request_body(touser);
        self.post_with_token::<serde::de::IgnoredAny>(token, "/cgi-bin/message/custom/send", &body)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
