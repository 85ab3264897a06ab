//! What can go wrong talking to WeChat, classified the way the callers must react.

use std::time::Duration;

use super::qrcode::LimitError;

/// `-1`: system busy, retry with backoff.
pub const ERR_BUSY: i64 = -1;
/// Invalid credential / not the latest token.
pub const ERR_INVALID_CREDENTIAL: i64 = 40001;
/// Invalid appid.
pub const ERR_INVALID_APPID: i64 = 40013;
/// Invalid access_token.
pub const ERR_INVALID_TOKEN: i64 = 40014;
/// Invalid appsecret.
pub const ERR_INVALID_SECRET: i64 = 40125;
/// Caller IP not on the account's whitelist.
pub const ERR_IP_NOT_WHITELISTED: i64 = 40164;
/// access_token expired.
pub const ERR_TOKEN_EXPIRED: i64 = 42001;
/// Daily API quota reached.
pub const ERR_QUOTA: i64 = 45009;
/// Too many permanent QR codes.
pub const ERR_PERMANENT_LIMIT: i64 = 45029;
/// Invalid openid: empty, of another account, or not (any longer) a follower.
pub const ERR_INVALID_OPENID: i64 = 40003;
/// Invalid media id (an image or thumbnail that is not, or no longer, uploaded).
pub const ERR_INVALID_MEDIA_ID: i64 = 40007;
/// Invalid arguments (also what qrscene reports for a tag name refused before sending).
pub const ERR_INVALID_ARGS: i64 = 40097;
/// Invalid message type.
pub const ERR_INVALID_MSGTYPE: i64 = 40008;
/// Invalid openid list: empty, or more than 50 openids in one tagging call.
pub const ERR_INVALID_OPENID_LIST: i64 = 40032;
/// A request without a body.
pub const ERR_EMPTY_POST_DATA: i64 = 44002;
/// Message content too long.
pub const ERR_CONTENT_TOO_LONG: i64 = 45002;
/// More news articles than allowed (one, since October 2018).
pub const ERR_ARTICLE_COUNT: i64 = 45008;
/// The customer-service window after the user's interaction has passed.
pub const ERR_REPLY_TIME_LIMIT: i64 = 45015;
/// The customer-service messages the user's interaction allows are spent.
pub const ERR_REPLY_COUNT_LIMIT: i64 = 45047;
/// The account has its 100 tags.
pub const ERR_TOO_MANY_TAGS: i64 = 45056;
/// A user would have more than 20 tags.
pub const ERR_USER_TAG_LIMIT: i64 = 45059;
/// A tag of that name exists.
pub const ERR_TAG_NAME_EXISTS: i64 = 45157;
/// A tag name longer than 30 bytes.
pub const ERR_TAG_NAME_TOO_LONG: i64 = 45158;
/// An unknown tag id.
pub const ERR_INVALID_TAG_ID: i64 = 45159;
/// A body that is not the JSON the API documents.
pub const ERR_DATA_FORMAT: i64 = 47001;

/// A failed call to WeChat.
#[derive(Debug, thiserror::Error)]
pub enum WeChatError {
    /// WeChat answered with a non-zero `errcode`.
    #[error("WeChat answered errcode {errcode}: {errmsg}")]
    Api {
        /// WeChat's code.
        errcode: i64,
        /// WeChat's message.
        errmsg: String,
    },
    /// No answer within the configured timeout.
    #[error("WeChat did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed or the status was not 200.
    #[error("WeChat could not be reached")]
    Transport(#[source] reqwest::Error),
    /// The answer was not the JSON WeChat documents.
    #[error("WeChat's answer could not be read: {0}")]
    Decode(String),
    /// Another instance held the token lock for longer than we wait.
    #[error("gave up waiting for another instance to fetch the access token")]
    TokenWait,
}

impl WeChatError {
    /// A request not sent because WeChat would refuse it: the error WeChat would answer,
    /// `errcode` and the broken rule, so that callers classify it like WeChat's own (the
    /// message says it never left).
    pub fn refused_locally(errcode: i64, limit: &LimitError) -> Self {
        Self::Api {
            errcode,
            errmsg: format!("not sent to WeChat, which would refuse it: {limit}"),
        }
    }

    /// WeChat's errcode, if it answered one.
    pub fn errcode(&self) -> Option<i64> {
        match self {
            Self::Api { errcode, .. } => Some(*errcode),
            _ => None,
        }
    }

    /// WeChat's errmsg, or our description of a failure without one.
    pub fn errmsg(&self) -> String {
        match self {
            Self::Api { errmsg, .. } => errmsg.clone(),
            other => other.to_string(),
        }
    }

    /// The token was rejected: drop it, fetch a fresh one, retry once.
    pub fn is_stale_token(&self) -> bool {
        matches!(
            self.errcode(),
            Some(ERR_INVALID_CREDENTIAL | ERR_INVALID_TOKEN | ERR_TOKEN_EXPIRED)
        )
    }

    /// System busy: worth a bounded retry.
    pub fn is_busy(&self) -> bool {
        self.errcode() == Some(ERR_BUSY)
    }

    /// The day's quota of the API is spent (45009): retry after it resets, not sooner.
    pub fn is_quota(&self) -> bool {
        self.errcode() == Some(ERR_QUOTA)
    }

    /// A tagging or tag creation WeChat will refuse however often it is retried: the
    /// account's 100 tags (45056), a name that exists (45157) or is too long (45158), a user
    /// with 20 tags (45059), an unknown tag (45159), a bad openid or list (40003, 40032),
    /// a body WeChat cannot read (44002, 47001, 40097).
    pub fn is_permanent_tagging(&self) -> bool {
        matches!(
            self.errcode(),
            Some(
                ERR_TOO_MANY_TAGS
                    | ERR_TAG_NAME_EXISTS
                    | ERR_TAG_NAME_TOO_LONG
                    | ERR_USER_TAG_LIMIT
                    | ERR_INVALID_TAG_ID
                    | ERR_INVALID_OPENID
                    | ERR_INVALID_OPENID_LIST
                    | ERR_INVALID_ARGS
                    | ERR_EMPTY_POST_DATA
                    | ERR_DATA_FORMAT
            )
        )
    }

    /// A customer-service message WeChat will never take: its window after the user's
    /// follow or scan passed (45015) or is spent (45047), the user is no follower (40003),
    /// or the message is one WeChat refuses (40008, 45002, 45008, 44002, 47001, 40007
    /// invalid media id).
    pub fn is_permanent_kefu(&self) -> bool {
        matches!(
            self.errcode(),
            Some(
                ERR_REPLY_TIME_LIMIT
                    | ERR_REPLY_COUNT_LIMIT
                    | ERR_INVALID_OPENID
                    | ERR_INVALID_MSGTYPE
                    | ERR_CONTENT_TOO_LONG
                    | ERR_ARTICLE_COUNT
                    | ERR_EMPTY_POST_DATA
                    | ERR_DATA_FORMAT
                    | ERR_INVALID_MEDIA_ID
            )
        )
    }

    /// The customer-service window is closed for this user (45015 time, 45047 count):
    /// the message is not to be sent at all rather than a failure to repair.
    pub fn is_reply_window_closed(&self) -> bool {
        matches!(
            self.errcode(),
            Some(ERR_REPLY_TIME_LIMIT | ERR_REPLY_COUNT_LIMIT)
        )
    }

    /// The appid, secret or server IP is wrong: an operator must act; never retried.
    pub fn is_configuration(&self) -> bool {
        matches!(
            self.errcode(),
            Some(ERR_INVALID_APPID | ERR_INVALID_SECRET | ERR_IP_NOT_WHITELISTED)
        )
    }
}

impl From<reqwest::Error> for WeChatError {
    /// The URL is dropped: it carries the access token (and, for the classic token API,
    /// the secret), and this error is logged.
    fn from(e: reqwest::Error) -> Self {
        Self::Transport(e.without_url())
    }
}
