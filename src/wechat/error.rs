//! What can go wrong talking to WeChat, classified the way the callers must react.

use std::time::Duration;

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
