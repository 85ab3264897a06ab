//! What a code (or an activity) does to whoever scans it: the `actions` of a request,
//! validated against WeChat's limits, and the columns they are stored as.
//!
//! ```json
//! {"on": "both", "tags": ["spring-fair"],
//!  "welcome": {"via": "kefu", "type": "text", "content": "Welcome!"}}
//! ```

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::wechat::kefu::KefuMessage;
use crate::wechat::message::{Article as WeChatArticle, PassiveReply};
use crate::wechat::qrcode::LimitError;
use crate::wechat::tags::validate_tag_name;

/// Most tags one code gives (WeChat allows 20 per user).
pub const MAX_TAGS: usize = 20;

/// Which events trigger the actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum On {
    /// New followers only (`subscribe` through the code).
    Subscribe,
    /// Returning followers only (`SCAN`).
    Scan,
    /// Both.
    #[default]
    Both,
}

impl On {
    /// As stored in `actions_on` (and compared with the event's kind).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Scan => "scan",
            Self::Both => "both",
        }
    }
}

/// How the welcome goes out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// As the passive reply to the push (text, image or news).
    #[default]
    Reply,
    /// As a customer-service message sent by the outbox within the minute after the event
    /// (text, image, news with one article, or miniprogrampage).
    Kefu,
}

/// The welcome's message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WelcomeType {
    /// `content`.
    Text,
    /// `media_id` (a permanent or temporary image of the account).
    Image,
    /// `articles`.
    News,
    /// `miniprogram` (kefu only).
    Miniprogrampage,
}

/// One article of a news message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Article {
    /// Title.
    pub title: String,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Link opened on tap.
    pub url: String,
    /// Picture url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picurl: Option<String>,
}

/// A mini program card.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MiniProgram {
    /// Card title.
    pub title: String,
    /// The mini program's appid (linked to the account).
    pub appid: String,
    /// Page path, e.g. `pages/index/index?from=qr`.
    pub pagepath: String,
    /// Media id of the card's thumbnail.
    pub thumb_media_id: String,
}

/// The message a follower gets. Give the fields its `type` needs and no others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    /// `reply` (default) or `kefu`.
    #[serde(default)]
    pub via: Via,
    /// The message type.
    #[serde(rename = "type")]
    pub kind: WelcomeType,
    /// Text (`text`): at most 2048 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Media id (`image`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_id: Option<String>,
    /// Articles (`news`): 1 to 8 as a reply, exactly 1 as a kefu message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub articles: Option<Vec<Article>>,
    /// The card (`miniprogrampage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miniprogram: Option<MiniProgram>,
}

/// What a code does when scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"on": "subscribe", "tags": ["spring-fair"], "welcome": {"via": "kefu", "type": "text", "content": "Welcome!"}}))]
pub struct Actions {
    /// Which events trigger them (default `both`).
    #[serde(default)]
    pub on: On,
    /// WeChat user tags given to the follower (created when missing): at most 20 names of
    /// 1 to 30 bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The welcome message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub welcome: Option<Welcome>,
}

/// Actions as stored beside a code or an activity: the JSON the outbox reads, and the
/// columns the callback's statement decides with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredActions {
    /// The normalized actions (JSON).
    pub json: String,
    /// `subscribe`, `scan` or `both`.
    pub on: &'static str,
    /// The passive reply (JSON, `{"type": ...}`), if the welcome is one.
    pub reply: Option<String>,
    /// Whether they tag.
    pub tags: bool,
    /// Whether they send a kefu message.
    pub kefu: bool,
}

/// A tag name WeChat accepts: 1 to 30 bytes, no control characters.
///
/// # Errors
/// The rule it breaks, named for `field`.
pub fn tag_name(field: &'static str, name: &str) -> Result<(), LimitError> {
    validate_tag_name(name).map_err(|e| LimitError::new(field, e.rule))
}

/// The request field of a rule that WeChat's message types name by their own field.
fn welcome_field(field: &str) -> &'static str {
    match field {
        "content" => "actions.welcome.content",
        "media_id" => "actions.welcome.media_id",
        f if f.starts_with("articles") || f.starts_with("article") => "actions.welcome.articles",
        f if f.starts_with("miniprogram") => "actions.welcome.miniprogram",
        _ => "actions.welcome",
    }
}

impl Article {
    fn to_wechat(&self) -> WeChatArticle {
        WeChatArticle {
            title: self.title.clone(),
            description: self.description.clone().unwrap_or_default(),
            url: self.url.clone(),
            picurl: self.picurl.clone().unwrap_or_default(),
        }
    }
}

impl Welcome {
    /// Checks that the fields match the type, and WeChat's limits for the channel.
    fn validate(&self) -> Result<(), LimitError> {
        use WelcomeType::*;
        const F: &str = "actions.welcome";
        let given = [
            ("content", self.content.is_some(), Text),
            ("media_id", self.media_id.is_some(), Image),
            ("articles", self.articles.is_some(), News),
            ("miniprogram", self.miniprogram.is_some(), Miniprogrampage),
        ];
        for (field, present, owner) in given {
            if present && owner != self.kind {
                return Err(LimitError::new(
                    F,
                    format!(
                        "{field} does not belong to a welcome of this type; give only the fields its type needs"
                    ),
                ));
            }
            if !present && owner == self.kind {
                return Err(LimitError::new(
                    F,
                    format!("a welcome of this type needs {field}"),
                ));
            }
        }
        let articles = self.articles.as_ref().map_or(0, Vec::len);
        match (self.via, self.kind) {
            (Via::Reply, Miniprogrampage) => {
                return Err(LimitError::new(
                    "actions.welcome.type",
                    "miniprogrampage can only be sent via kefu, not as a passive reply",
                ));
            }
            (Via::Kefu, News) if articles != 1 => {
                return Err(LimitError::new(
                    "actions.welcome.articles",
                    "a kefu news message holds exactly 1 article",
                ));
            }
            _ => {}
        }
        let checked = match self.via {
            Via::Reply => self.passive().map(|r| r.validate()),
            Via::Kefu => self.kefu().map(|m| m.validate()),
        };
        match checked {
            Some(result) => result.map_err(|e| LimitError::new(welcome_field(e.field), e.rule)),
            None => Err(LimitError::new(F, "this welcome cannot be sent")),
        }
    }

    /// The passive reply, for `via: reply`.
    pub fn passive(&self) -> Option<PassiveReply> {
        if self.via != Via::Reply {
            return None;
        }
        Some(match self.kind {
            WelcomeType::Text => PassiveReply::Text {
                content: self.content.clone()?,
            },
            WelcomeType::Image => PassiveReply::Image {
                media_id: self.media_id.clone()?,
            },
            WelcomeType::News => PassiveReply::News {
                articles: self
                    .articles
                    .as_ref()?
                    .iter()
                    .map(Article::to_wechat)
                    .collect(),
            },
            WelcomeType::Miniprogrampage => return None,
        })
    }

    /// The customer-service message, for `via: kefu`.
    pub fn kefu(&self) -> Option<KefuMessage> {
        if self.via != Via::Kefu {
            return None;
        }
        Some(match self.kind {
            WelcomeType::Text => KefuMessage::Text {
                content: self.content.clone()?,
            },
            WelcomeType::Image => KefuMessage::Image {
                media_id: self.media_id.clone()?,
            },
            WelcomeType::News => KefuMessage::News {
                article: self.articles.as_ref()?.first()?.to_wechat(),
            },
            WelcomeType::Miniprogrampage => {
                let m = self.miniprogram.as_ref()?;
                KefuMessage::MiniProgramPage {
                    title: m.title.clone(),
                    appid: m.appid.clone(),
                    pagepath: m.pagepath.clone(),
                    thumb_media_id: m.thumb_media_id.clone(),
                }
            }
        })
    }

    /// The passive reply as stored (`{"type": "text", "content": ...}`), for `via: reply`.
    pub fn reply_json(&self) -> Option<String> {
        self.passive()
            .and_then(|reply| serde_json::to_string(&reply).ok())
    }
}

/// The stored form of a legacy plain-text `reply`.
pub fn text_reply_json(content: &str) -> String {
    serde_json::to_string(&PassiveReply::Text {
        content: content.to_owned(),
    })
    .unwrap_or_default()
}

impl Actions {
    /// Validates the actions and turns them into their stored form.
    ///
    /// # Errors
    /// The first rule broken, naming the field.
    pub fn validate(mut self) -> Result<StoredActions, LimitError> {
        if self.tags.len() > MAX_TAGS {
            return Err(LimitError::new(
                "actions.tags",
                format!("at most {MAX_TAGS} tags (WeChat allows {MAX_TAGS} per user)"),
            ));
        }
        for tag in &self.tags {
            tag_name("actions.tags", tag)?;
        }
        let mut seen = std::collections::HashSet::new();
        self.tags.retain(|t| seen.insert(t.clone()));
        if let Some(welcome) = &self.welcome {
            welcome.validate()?;
        }
        if self.tags.is_empty() && self.welcome.is_none() {
            return Err(LimitError::new("actions", "give tags, a welcome, or both"));
        }
        let reply = self.welcome.as_ref().and_then(Welcome::reply_json);
        let kefu = self.welcome.as_ref().is_some_and(|w| w.via == Via::Kefu);
        Ok(StoredActions {
            json: serde_json::to_string(&self).unwrap_or_default(),
            on: self.on.as_str(),
            reply,
            tags: !self.tags.is_empty(),
            kefu,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: serde_json::Value) -> Result<StoredActions, String> {
        let actions: Actions = serde_json::from_value(v).map_err(|e| e.to_string())?;
        actions.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn valid_actions_are_stored_with_their_columns() {
        let s = parse(
            serde_json::json!({"on": "subscribe", "tags": ["a", "a", "春季"],
            "welcome": {"via": "kefu", "type": "text", "content": "hi"}}),
        )
        .unwrap();
        assert_eq!(
            (s.on, s.tags, s.kefu, s.reply.as_deref()),
            ("subscribe", true, true, None)
        );
        let back: Actions = serde_json::from_str(&s.json).unwrap();
        assert_eq!(back.tags, vec!["a".to_owned(), "春季".to_owned()]);
        let s = parse(serde_json::json!({"welcome": {"type": "image", "media_id": "M"}})).unwrap();
        assert_eq!(s.on, "both");
        let reply: PassiveReply = serde_json::from_str(s.reply.as_deref().unwrap()).unwrap();
        assert_eq!(
            reply,
            PassiveReply::Image {
                media_id: "M".into()
            }
        );
        assert!(!s.kefu && !s.tags);
    }

    #[test]
    fn each_rule_names_what_is_wrong() {
        let cases = [
            (serde_json::json!({}), "give tags"),
            (
                serde_json::json!({"tags": ["x".repeat(31)]}),
                "at most 30 bytes",
            ),
            (
                serde_json::json!({"tags": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}),
                "at most 20 tags",
            ),
            (
                serde_json::json!({"welcome": {"type": "text"}}),
                "needs content",
            ),
            (
                serde_json::json!({"welcome": {"type": "text", "content": "a", "media_id": "m"}}),
                "media_id does not belong",
            ),
            (
                serde_json::json!({"welcome": {"type": "miniprogrampage", "miniprogram": {"title": "t", "appid": "a", "pagepath": "p", "thumb_media_id": "m"}}}),
                "only be sent via kefu",
            ),
            (
                serde_json::json!({"welcome": {"via": "kefu", "type": "news", "articles": [
                {"title": "a", "url": "https://a"}, {"title": "b", "url": "https://b"}]}}),
                "exactly 1 article",
            ),
            (
                serde_json::json!({"welcome": {"type": "news", "articles": [{"title": "a", "url": "ftp://a"}]}}),
                "http:// or https://",
            ),
            (
                serde_json::json!({"on": "never", "tags": ["a"]}),
                "unknown variant",
            ),
            (
                serde_json::json!({"welcome": {"type": "text", "content": "x".repeat(2049)}}),
                "2048 bytes",
            ),
        ];
        for (body, expected) in cases {
            let err = parse(body.clone()).unwrap_err();
            assert!(err.contains(expected), "{body}: {err}");
        }
    }
}
