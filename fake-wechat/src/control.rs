//! What a test sees of and sets up in the followers' APIs: tags, taggings and
//! customer-service messages of each app, and what WeChat would know of its users
//! (followers, their last interaction, tags they have from elsewhere).

use std::collections::HashSet;
use std::time::SystemTime;

use serde_json::Value;

use crate::FakeWeChat;
use crate::state::Interaction;

/// One `tags/members/batchtagging` call that passed the token check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchTaggingCall {
    /// The tag it gave.
    pub tagid: i64,
    /// The openids of the call, in its order.
    pub openids: Vec<String>,
    /// When it came.
    pub at: SystemTime,
    /// What the fake answered: 0, or the refusal (40032, 45159, 40003, 45059, 45009 not
    /// included: a call past the quota is refused before it is read).
    pub errcode: i64,
}

/// A customer-service message the fake accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The request body as sent (`touser`, `msgtype` and the type's object).
    pub body: Value,
    /// When it came.
    pub at: SystemTime,
}

impl SentMessage {
    /// The recipient's openid.
    pub fn touser(&self) -> &str {
        self.body["touser"].as_str().unwrap_or_default()
    }

    /// `text`, `image`, `news` or `miniprogrampage`.
    pub fn msgtype(&self) -> &str {
        self.body["msgtype"].as_str().unwrap_or_default()
    }
}

/// A tag of an app, as `tags/get` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeTag {
    /// 0-2 are WeChat's own; an account's tags count from 100.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Users who have it.
    pub count: usize,
}

/// Inspection and set-up of tags and customer-service messages. Every method panics when
/// `appid` is not one of the fake's apps (a test's mistake).
impl FakeWeChat {
    /// Every `batchtagging` call of `appid` that passed the token check, in order,
    /// refused ones included (see [`BatchTaggingCall::errcode`]).
    pub fn batchtagging_calls(&self, appid: &str) -> Vec<BatchTaggingCall> {
        self.with_app(appid, |app| app.batch_calls.clone())
    }

    /// The tag ids `openid` has in `appid`, in the order given (what `tags/getidlist`
    /// answers; tags set with [`FakeWeChat::set_user_tag_count`] are not listed).
    pub fn user_tags(&self, appid: &str, openid: &str) -> Vec<i64> {
        self.with_app(appid, |app| {
            app.user_tags.get(openid).cloned().unwrap_or_default()
        })
    }

    /// The tags of `appid`, WeChat's own (0-2) included, by id.
    pub fn tags(&self, appid: &str) -> Vec<FakeTag> {
        self.with_app(appid, |app| {
            app.tags
                .iter()
                .map(|(&id, name)| FakeTag {
                    id,
                    name: name.clone(),
                    count: app.tag_count(id),
                })
                .collect()
        })
    }

    /// `tags/create` calls of `appid` that passed the token check, refused ones included.
    pub fn tag_create_calls(&self, appid: &str) -> usize {
        self.with_app(appid, |app| app.tag_creates)
    }

    /// The customer-service messages `appid` sent that the fake accepted, in order.
    pub fn kefu_messages(&self, appid: &str) -> Vec<SentMessage> {
        self.with_app(appid, |app| app.kefu_sent.clone())
    }

    /// `message/custom/send` calls of `appid` that passed the token check, refused ones
    /// included.
    pub fn kefu_calls(&self, appid: &str) -> usize {
        self.with_app(appid, |app| app.kefu_calls)
    }

    /// Says that `openid` has `n` tags of `appid` besides those given through the fake
    /// (made in the console, say): they count toward WeChat's 20 a user (45059) but are
    /// not listed. Replaces an earlier count.
    pub fn set_user_tag_count(&self, appid: &str, openid: &str, n: usize) {
        self.with_app(appid, |app| {
            app.other_tags.insert(openid.to_owned(), n);
        });
    }

    /// Says that `openid` followed or scanned a code of `appid` at `at`, which opens
    /// WeChat's customer-service window: from then a message to them more than 60 s after
    /// `at` answers 45015, and the 4th message 45047. Without a declaration every message
    /// is accepted. A new declaration opens a new window.
    pub fn declare_interaction(&self, appid: &str, openid: &str, at: SystemTime) {
        self.with_app(appid, |app| {
            app.interactions
                .insert(openid.to_owned(), Interaction { at, sent: 0 });
        });
    }

    /// Adds `openids` to the followers of `appid`. Once any are declared, tagging or
    /// messaging another openid answers 40003 (before, every openid is a follower).
    pub fn declare_followers<S: AsRef<str>>(&self, appid: &str, openids: &[S]) {
        self.with_app(appid, |app| {
            app.followers
                .get_or_insert_with(HashSet::new)
                .extend(openids.iter().map(|o| o.as_ref().to_owned()));
        });
    }
}
