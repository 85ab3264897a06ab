//! Passive replies: the XML WeChat accepts as the HTTP answer to a push, typed
//! ([`PassiveReply`]: text, image, news) and rendered with every value in CDATA.

use serde::{Deserialize, Serialize};

use super::article::Article;
use crate::wechat::qrcode::LimitError;

/// Longest text reply, in bytes. WeChat documents none for a passive reply; 2048 is its
/// documented limit for a text message elsewhere (45002 past it), kept here too.
pub const MAX_TEXT_BYTES: usize = 2048;
/// Most articles in a news reply (WeChat's documented 8; current clients show the first).
pub const MAX_REPLY_ARTICLES: usize = 8;

/// A passive reply. JSON: `{"type":"text","content":...}`, `{"type":"image","media_id":...}`
/// or `{"type":"news","articles":[{title, description, url, picurl}, ...]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PassiveReply {
    /// A text message.
    Text {
        /// The text, at most [`MAX_TEXT_BYTES`].
        content: String,
    },
    /// An image already uploaded to WeChat.
    Image {
        /// Its media id (from WeChat's material APIs).
        media_id: String,
    },
    /// News cards, 1 to [`MAX_REPLY_ARTICLES`].
    News {
        /// The cards, in order.
        articles: Vec<Article>,
    },
}

impl PassiveReply {
    /// WeChat's `MsgType`.
    pub fn msg_type(&self) -> &'static str {
        match self {
            Self::Text { .. } => "text",
            Self::Image { .. } => "image",
            Self::News { .. } => "news",
        }
    }

    /// Checks WeChat's limits; the error names the field (`content`, `media_id`,
    /// `articles`, `articles.title`, ...).
    ///
    /// # Errors
    /// An empty or too long text, an empty media id, no or too many articles, or an
    /// article [`Article::validate`] refuses.
    pub fn validate(&self) -> Result<(), LimitError> {
        match self {
            Self::Text { content } => validate_text(content),
            Self::Image { media_id } => validate_media_id("media_id", media_id),
            Self::News { articles } => {
                if articles.is_empty() || articles.len() > MAX_REPLY_ARTICLES {
                    return Err(LimitError::new(
                        "articles",
                        format!("1 to {MAX_REPLY_ARTICLES} articles"),
                    ));
                }
                articles.iter().try_for_each(Article::validate)
            }
        }
    }

    /// The reply's XML; `to_openid` is the user (the push's `FromUserName`) and
    /// `from_account` the account (its `ToUserName`).
    #[must_use]
    pub fn render(&self, to_openid: &str, from_account: &str, timestamp: i64) -> String {
        let body = match self {
            Self::Text { content } => format!("<Content>{}</Content>", cdata(content)),
            Self::Image { media_id } => {
                format!("<Image><MediaId>{}</MediaId></Image>", cdata(media_id))
            }
            Self::News { articles } => {
                let items: String = articles
                    .iter()
                    .map(|a| {
                        format!(
                            "<item><Title>{}</Title><Description>{}</Description>\
                             <PicUrl>{}</PicUrl><Url>{}</Url></item>",
                            cdata(&a.title),
                            cdata(&a.description),
                            cdata(&a.picurl),
                            cdata(&a.url),
                        )
                    })
                    .collect();
                format!(
                    "<ArticleCount>{}</ArticleCount><Articles>{items}</Articles>",
                    articles.len()
                )
            }
        };
        format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
             <CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[{}]]></MsgType>{body}</xml>",
            cdata(to_openid),
            cdata(from_account),
            self.msg_type(),
        )
    }
}

/// A text of a reply or message: not empty, at most [`MAX_TEXT_BYTES`].
pub(crate) fn validate_text(content: &str) -> Result<(), LimitError> {
    if content.trim().is_empty() {
        return Err(LimitError::new("content", "must not be empty"));
    }
    if content.len() > MAX_TEXT_BYTES {
        return Err(LimitError::new(
            "content",
            format!("at most {MAX_TEXT_BYTES} bytes of UTF-8"),
        ));
    }
    Ok(())
}

/// A media id: not blank, no spaces.
pub(crate) fn validate_media_id(field: &'static str, id: &str) -> Result<(), LimitError> {
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(LimitError::new(field, "must be a media id, not empty"));
    }
    Ok(())
}

/// Wraps `value` in CDATA, splitting the section wherever `value` contains `]]>`.
fn cdata(value: &str) -> String {
    format!("<![CDATA[{}]]>", value.replace("]]>", "]]]]><![CDATA[>"))
}

/// Builds a passive text reply; `to` is the user's openid and `from` the account id,
/// i.e. the push's `FromUserName` and `ToUserName` swapped.
#[must_use]
pub fn text_reply(to: &str, from: &str, create_time: i64, content: &str) -> String {
    PassiveReply::Text {
        content: content.to_owned(),
    }
    .render(to, from, create_time)
}

/// Builds the safe-mode envelope around an encrypted reply.
#[must_use]
pub fn encrypted_reply(
    encrypt_b64: &str,
    msg_signature: &str,
    timestamp: i64,
    nonce: &str,
) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
         <TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt_b64),
        cdata(msg_signature),
        cdata(nonce),
    )
}
