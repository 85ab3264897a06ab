//! The JSON API's error: a stable `{"code", "message"}` body with the right status.
//! Internals are logged with their cause chain, never sent to the caller.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::wechat::error::{ERR_PERMANENT_LIMIT, ERR_QUOTA, WeChatError};
use crate::wechat::qrcode::LimitError;

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field broke a rule (WeChat's or ours).
    #[error(transparent)]
    Invalid(#[from] LimitError),
    /// A query parameter (named as sent) broke a rule every route shares.
    #[error("{parameter}: {rule}")]
    InvalidParameter {
        /// The parameter's name, as sent.
        parameter: String,
        /// The rule it broke, in words.
        rule: &'static str,
    },
    /// The body, query or path could not be read.
    #[error("{0}")]
    Malformed(String),
    /// No key, or a key we do not know.
    #[error("missing or unknown API key: send `Authorization: Bearer <key>`")]
    Unauthorized,
    /// The key may not do this, or not for this account.
    #[error("{0}")]
    Forbidden(String),
    /// The request must name its account (`account`): the key may use several.
    #[error("{0}")]
    AccountRequired(String),
    /// The request conflicts with what is stored (an account that exists already).
    #[error("{0}")]
    Conflict(String),
    /// The service cannot do this now, or not with this configuration.
    #[error("{0}")]
    Unavailable(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// WeChat refused an account's credentials when they were checked.
    #[error("WeChat refused the credentials of {appid}: errcode {errcode}: {errmsg}")]
    WeChatCredentials {
        /// The account.
        appid: String,
        /// WeChat's errcode (40013 invalid appid, 40125 invalid secret, 40164 IP not
        /// whitelisted, ...).
        errcode: i64,
        /// WeChat's errmsg.
        errmsg: String,
    },
    /// WeChat could not be asked (checking credentials).
    #[error("{0}")]
    WeChatUnreachable(String),
    /// The 100,000 permanent codes of the account are used up.
    #[error("the account has used all {0} permanent QR codes; use temporary codes")]
    PermanentCapReached(u64),
    /// WeChat refused or failed; the attempt was logged as generation `generation`.
    #[error("{source}")]
    WeChat {
        /// Why.
        #[source]
        source: WeChatError,
        /// The id of the logged failed generation, if it was logged.
        generation: Option<i64>,
    },
    /// A bug or an outage on our side.
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(anyhow::Error::new(e).context("database"))
    }
}

/// How a WeChat failure reaches the caller: one code and one status per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upstream {
    /// 45009: the daily quota is used up.
    Quota,
    /// 45029: WeChat has no permanent codes left for the account.
    PermanentLimit,
    /// Wrong appid, secret or server IP.
    Configuration,
    /// No answer in time.
    Timeout,
    /// Another instance held the token lock too long.
    TokenWait,
    /// Any other errcode.
    Refused,
    /// No connection, a bad status, or an unreadable answer.
    Unreachable,
}

impl Upstream {
    fn of(e: &WeChatError) -> Self {
        match e {
            e if e.errcode() == Some(ERR_QUOTA) => Self::Quota,
            e if e.errcode() == Some(ERR_PERMANENT_LIMIT) => Self::PermanentLimit,
            e if e.is_configuration() => Self::Configuration,
            WeChatError::Timeout(_) => Self::Timeout,
            WeChatError::TokenWait => Self::TokenWait,
            WeChatError::Api { .. } => Self::Refused,
            WeChatError::Transport(_) | WeChatError::Decode(_) => Self::Unreachable,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::Quota => "wechat_quota_exceeded",
            Self::PermanentLimit => "permanent_limit_reached",
            Self::Configuration => "wechat_configuration",
            Self::Timeout => "wechat_timeout",
            Self::TokenWait => "wechat_token_unavailable",
            Self::Refused => "wechat_error",
            Self::Unreachable => "wechat_unreachable",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::Quota => StatusCode::TOO_MANY_REQUESTS,
            Self::PermanentLimit => StatusCode::CONFLICT,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::TokenWait => StatusCode::SERVICE_UNAVAILABLE,
            Self::Configuration | Self::Refused | Self::Unreachable => StatusCode::BAD_GATEWAY,
        }
    }
}

impl ApiError {
    /// The stable machine-readable code of the body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) | Self::InvalidParameter { .. } => "invalid_field",
            Self::Malformed(_) => "malformed_request",
            Self::Unauthorized => "unauthorized",
            Self::NotFound(_) => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::AccountRequired(_) => "account_required",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::WeChatCredentials { .. } => "wechat_credentials",
            Self::WeChatUnreachable(_) => "wechat_unreachable",
            Self::PermanentCapReached(_) => "permanent_limit_reached",
            Self::WeChat { source, .. } => Upstream::of(source).code(),
            Self::Internal(_) => "internal",
        }
    }

    fn message(&self) -> String {
        let Self::WeChat { source, generation } = self else {
            return self.to_string();
        };
        let what = match Upstream::of(source) {
            Upstream::Quota => "WeChat's daily quota for this API is used up; try again tomorrow or raise it in the admin console".to_owned(),
            Upstream::PermanentLimit => "WeChat says the account has no permanent QR codes left; use temporary codes".to_owned(),
            Upstream::Configuration => format!("WeChat rejected the account's configuration ({source}); check WECHAT_APPID, WECHAT_SECRET and the IP whitelist"),
            _ => source.to_string(),
        };
        match generation {
            Some(id) => format!("{what} (logged as failed generation {id})"),
            None => what,
        }
    }

    /// The field the body names, for a broken rule.
    fn field(&self) -> Option<String> {
        match self {
            Self::Invalid(e) => Some(e.field.to_owned()),
            Self::InvalidParameter { parameter, .. } => Some(parameter.clone()),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Invalid(_) | Self::InvalidParameter { .. } | Self::Malformed(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::AccountRequired(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::WeChatCredentials { .. } => StatusCode::BAD_REQUEST,
            Self::WeChatUnreachable(_) => StatusCode::BAD_GATEWAY,
            Self::PermanentCapReached(_) => StatusCode::CONFLICT,
            Self::WeChat { source, .. } => Upstream::of(source).status(),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error.message = %self, error.cause_chain = ?self, "request failed");
        }
        let mut body = ErrorBody::new(self.code(), self.message());
        body.field = self.field();
        if let Self::WeChat { source, generation } = self {
            body.errcode = Some(source.errcode());
            body.generation_id = Some(*generation);
        }
        if let Self::WeChatCredentials { errcode, .. } = self {
            body.errcode = Some(Some(*errcode));
        }
        HttpResponse::build(status).json(body)
    }
}

/// The body of every error answer, of the JSON API and of the callback alike.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"code": "invalid_field", "message": "scene_id: must be between 1 and 100000", "field": "scene_id"}))]
pub struct ErrorBody {
    /// Stable machine-readable code: `invalid_field`, `malformed_request`, `unauthorized`,
    /// `forbidden`, `account_required`, `conflict`, `unavailable`, `not_found`,
    /// `wechat_credentials`,
    /// `permanent_limit_reached`, `wechat_quota_exceeded`,
    /// `wechat_configuration`, `wechat_error`, `wechat_unreachable`, `wechat_timeout`,
    /// `wechat_token_unavailable`, `internal`; the callback's `bad_push`, `unverified_push`,
    /// `push_too_large`, `unavailable`.
    pub code: &'static str,
    /// What went wrong, in words.
    pub message: String,
    /// The request field that broke a rule (`invalid_field` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, nullable = false)]
    pub field: Option<String>,
    /// WeChat's errcode, present (possibly `null`) on WeChat failures only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub errcode: Option<Option<i64>>,
    /// The logged failed generation, present (possibly `null`) on WeChat failures only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub generation_id: Option<Option<i64>>,
}

impl ErrorBody {
    /// A body with `code` and `message` only.
    pub fn new(code: &'static str, message: String) -> Self {
        Self {
            code,
            message,
            field: None,
            errcode: None,
            generation_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(errcode: i64) -> WeChatError {
        WeChatError::Api {
            errcode,
            errmsg: "x".into(),
        }
    }

    #[test]
    fn each_wechat_failure_has_its_code_and_status() {
        let cases = [
            (api(45009), "wechat_quota_exceeded", 429),
            (api(45029), "permanent_limit_reached", 409),
            (api(40125), "wechat_configuration", 502),
            (api(40164), "wechat_configuration", 502),
            (api(-1), "wechat_error", 502),
            (
                WeChatError::Timeout(std::time::Duration::from_secs(1)),
                "wechat_timeout",
                504,
            ),
            (WeChatError::TokenWait, "wechat_token_unavailable", 503),
            (WeChatError::Decode("x".into()), "wechat_unreachable", 502),
        ];
        for (source, code, status) in cases {
            let e = ApiError::WeChat {
                source,
                generation: Some(1),
            };
            assert_eq!(
                (e.code(), e.status_code().as_u16()),
                (code, status),
                "{e:?}"
            );
        }
    }

    #[test]
    fn a_query_parameter_is_named_like_a_field() {
        let e = ApiError::InvalidParameter {
            parameter: "activity_id".into(),
            rule: "must not contain the NUL character (U+0000)",
        };
        assert_eq!((e.code(), e.status_code().as_u16()), ("invalid_field", 400));
        assert_eq!(e.field().as_deref(), Some("activity_id"));
        assert!(e.message().starts_with("activity_id: "), "{}", e.message());
    }
}
