//! User tags: `tags/get`, `tags/create`, `tags/members/batchtagging` and `tags/getidlist`,
//! with WeChat's limits as constants and checked before a call WeChat would refuse.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::client::ApiClient;
use super::error::{
    ERR_INVALID_ARGS, ERR_INVALID_OPENID, ERR_INVALID_OPENID_LIST, ERR_TAG_NAME_TOO_LONG,
    WeChatError,
};
use super::qrcode::LimitError;

/// Tags an account may create (WeChat's own 0-2 not counted; 45056 past it).
pub const MAX_TAGS: usize = 100;
/// Tags one user may have (45059 past it).
pub const MAX_TAGS_PER_USER: usize = 20;
/// Longest tag name, in bytes of UTF-8 (10 Chinese characters; 45158 past it).
pub const MAX_TAG_NAME_BYTES: usize = 30;
/// Openids in one `batchtagging` call (40032 past it).
pub const BATCH_TAGGING_MAX: usize = 50;
/// Ids below this are WeChat's own tags (e.g. 2, 星标组); an account's start at 100.
pub const FIRST_OWN_TAG_ID: i64 = 100;

/// A tag of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// WeChat's id.
    pub id: i64,
    /// Its name, unique in the account.
    pub name: String,
    /// Followers who have it (0 in the answer of `tags/create`).
    #[serde(default)]
    pub count: i64,
}

/// Checks a tag name against WeChat's rules before it is stored or sent.
///
/// # Errors
/// A blank name, one over [`MAX_TAG_NAME_BYTES`] bytes of UTF-8, or one with a control
/// character; the message names the rule.
pub fn validate_tag_name(name: &str) -> Result<(), LimitError> {
    if name.trim().is_empty() {
        return Err(LimitError::new("tags", "a tag name must not be empty"));
    }
    if name.len() > MAX_TAG_NAME_BYTES {
        return Err(LimitError::new(
            "tags",
            format!(
                "a tag name is at most {MAX_TAG_NAME_BYTES} bytes of UTF-8 \
                 (10 Chinese characters); `{name}` has {}",
                name.len()
            ),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(LimitError::new(
            "tags",
            "a tag name must not contain control characters",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct TagList {
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Created {
    tag: Tag,
}

#[derive(Deserialize)]
struct IdList {
    #[serde(default)]
    tagid_list: Vec<i64>,
}

impl ApiClient {
    /// Every tag of the account, WeChat's own included, with its follower count.
    ///
    /// # Errors
    /// WeChat's errcode (45009 quota), timeout or transport failure.
    #[tracing::instrument(skip_all)]
    pub async fn get_tags(&self, token: &str) -> Result<Vec<Tag>, WeChatError> {
        let list: TagList = self.get_with_token(token, "/cgi-bin/tags/get").await?;
        Ok(list.tags)
    }

    /// Creates the tag `name`.
    ///
    /// # Errors
    /// A name [`validate_tag_name`] refuses is not sent (errcode 45158 for its length,
    /// 40097 otherwise, see [`WeChatError::refused_locally`]); WeChat's 45157 (the name
    /// exists), 45056 (100 tags), 45009; timeout or transport failure.
    #[tracing::instrument(skip_all)]
    pub async fn create_tag(&self, token: &str, name: &str) -> Result<Tag, WeChatError> {
        if let Err(e) = validate_tag_name(name) {
            let code = if name.len() > MAX_TAG_NAME_BYTES {
                ERR_TAG_NAME_TOO_LONG
            } else {
                ERR_INVALID_ARGS
            };
            return Err(WeChatError::refused_locally(code, &e));
        }
        let body = json!({ "tag": { "name": name } });
        let created: Created = self
            .post_with_token(token, "/cgi-bin/tags/create", &body)
            .await?;
        Ok(created.tag)
    }

    /// Gives tag `tagid` to every one of `openids` (1 to [`BATCH_TAGGING_MAX`]); WeChat
    /// tags all or none. A user who has the tag already is no error.
    ///
    /// # Errors
    /// An empty list, one over [`BATCH_TAGGING_MAX`] (40032) or with an empty openid
    /// (40003) is not sent (see [`WeChatError::refused_locally`]); WeChat's 45059 (a user
    /// would have more than 20 tags), 45159 (unknown tag), 40003 (not a follower), 45009;
    /// timeout or transport failure.
    #[tracing::instrument(skip_all, fields(tagid, openids = openids.len()))]
    pub async fn batch_tag(
        &self,
        token: &str,
        tagid: i64,
        openids: &[String],
    ) -> Result<(), WeChatError> {
        check_batch(openids)?;
        let body = json!({ "openid_list": openids, "tagid": tagid });
        self.post_with_token::<serde::de::IgnoredAny>(
            token,
            "/cgi-bin/tags/members/batchtagging",
            &body,
        )
        .await?;
        Ok(())
    }

    /// The ids of the tags `openid` has.
    ///
    /// # Errors
    /// WeChat's errcode (40003 not a follower, 45009), timeout or transport failure.
    #[tracing::instrument(skip_all)]
    pub async fn user_tag_ids(&self, token: &str, openid: &str) -> Result<Vec<i64>, WeChatError> {
        let body = json!({ "openid": openid });
        let list: IdList = self
            .post_with_token(token, "/cgi-bin/tags/getidlist", &body)
            .await?;
        Ok(list.tagid_list)
    }
}

/// A `batchtagging` list WeChat would refuse, refused here.
fn check_batch(openids: &[String]) -> Result<(), WeChatError> {
    if openids.is_empty() || openids.len() > BATCH_TAGGING_MAX {
        let rule = format!(
            "1 to {BATCH_TAGGING_MAX} openids per batchtagging call, not {}",
            openids.len()
        );
        let limit = LimitError::new("openid_list", rule);
        return Err(WeChatError::refused_locally(
            ERR_INVALID_OPENID_LIST,
            &limit,
        ));
    }
    if openids.iter().any(String::is_empty) {
        let limit = LimitError::new("openid_list", "an openid must not be empty");
        return Err(WeChatError::refused_locally(ERR_INVALID_OPENID, &limit));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
