//! `/wechat/callback` and `/wechat/callback/{appid}`: WeChat's URL check (GET) and pushes
//! (POST) of the account configured by environment, and of each account. The push is
//! verified in an extractor over the raw body (64 KiB at most) with the account's own token
//! and keys before anything is parsed, then admitted (addressed to this account, and a
//! plaintext body the first its signed query came with) before anything is stored.
//!
//! The signed query parameters (`signature`, `msg_signature`, `timestamp`, `nonce`,
//! `echostr`) are never logged: the request span holds the path only, and no error message
//! quotes them.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use futures_util::future::LocalBoxFuture;

use crate::accounts::{Account, Accounts};
use crate::callback::admit::{self, AdmitError};
use crate::callback::replay::{ReplayError, ReplayGuard};
use crate::callback::reply;
use crate::callback::store::{EventStore, StoreError};
use crate::callback::verify::{CallbackKeys, CallbackQuery, VerifiedPush, VerifyError};
use crate::error::ErrorBody;

/// Where WeChat sends the URL check and pushes of the account configured by environment.
pub const PATH: &str = "/wechat/callback";
/// Where WeChat sends the URL check and pushes of account `{appid}`.
pub const ACCOUNT_PATH: &str = "/wechat/callback/{appid}";
/// The benchmark's no-work callback (bench mode only).
#[cfg(feature = "bench")]
pub const CEILING_PATH: &str = "/wechat/ceiling";
/// Largest push accepted.
pub const BODY_LIMIT: usize = 64 * 1024;
/// WeChat gives up after 5 s; answer before that so it retries rather than failing the user:
/// a verified push is admitted and stored within this, or answered 503.
const STORE_DEADLINE: Duration = Duration::from_secs(4);

/// Why the callback refused a request. Nothing is stored in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Verification failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Verified, but not admitted: for another account, or a replayed plaintext query.
    #[error(transparent)]
    Admit(#[from] AdmitError),
    /// The body could not be read (too large, or broken).
    #[error("the body could not be read: {0}")]
    Body(actix_web::Error),
    /// The account configured by environment has no callback token (`WECHAT_TOKEN`): the
    /// callback cannot verify anything.
    #[error("the callback of account {0} is not configured: set WECHAT_TOKEN")]
    NotConfigured(String),
    /// The application was built without what the callback needs.
    #[error("the callback is not wired: {0} missing")]
    Unwired(&'static str),
    /// No enabled account has this appid.
    #[error("no enabled account has appid {0}")]
    UnknownAccount(String),
    /// An account added without a callback token: it does not receive pushes.
    #[error(
        "account {0} does not receive pushes: it has no callback token (PATCH \
         /api/v1/accounts/{0} with one)"
    )]
    NoCallback(String),
    /// The event could not be stored; WeChat will retry.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Admitting and storing took longer than WeChat waits; WeChat will retry.
    #[error("admitting and storing the push took longer than {0:?}")]
    Slow(Duration),
}

impl ResponseError for CallbackError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Verify(
                VerifyError::MissingParam(_) | VerifyError::Xml(_) | VerifyError::Field(_),
            ) => StatusCode::BAD_REQUEST,
            Self::Verify(_)
            | Self::Admit(AdmitError::OtherAccount { .. })
            | Self::Admit(AdmitError::Replay(ReplayError::Replayed)) => StatusCode::UNAUTHORIZED,
            Self::Body(e) => e.as_response_error().status_code(),
            Self::UnknownAccount(_) | Self::NoCallback(_) => StatusCode::NOT_FOUND,
            Self::NotConfigured(_)
            | Self::Unwired(_)
            | Self::Admit(AdmitError::Replay(ReplayError::Db(_)))
            | Self::Store(_)
            | Self::Slow(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error.message = %self, error.cause_chain = ?self, "push not stored");
        } else {
            tracing::warn!(error.message = %self, "push refused");
        }
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_push",
            StatusCode::UNAUTHORIZED => "unverified_push",
            StatusCode::PAYLOAD_TOO_LARGE => "push_too_large",
            StatusCode::NOT_FOUND => "not_found",
            _ => "unavailable",
        };
        HttpResponse::build(status).json(ErrorBody::new(code, self.to_string()))
    }
}

/// A push whose signature held, decrypted, parsed and admitted; the account it was pushed to;
/// and when its answer is due (it must be stored by then).
pub struct Push(pub VerifiedPush, pub Arc<Account>, pub tokio::time::Instant);

/// The account of the request's URL: `/wechat/callback/{appid}`, or the account configured
/// by environment on `/wechat/callback`.
async fn account(req: &HttpRequest) -> Result<Arc<Account>, CallbackError> {
    let accounts = req
        .app_data::<web::Data<Accounts>>()
        .ok_or(CallbackError::Unwired("the accounts"))?;
    let account = match req.match_info().get("appid") {
        Some(appid) => accounts
            .find(appid)
            .await
            .ok_or_else(|| CallbackError::UnknownAccount(appid.to_owned()))?,
        None => accounts
            .default_account()
            .ok_or_else(|| CallbackError::UnknownAccount("configured by environment".to_owned()))?,
    };
    if !account.enabled {
        return Err(CallbackError::UnknownAccount(account.appid.to_string()));
    }
    Ok(account)
}

/// The account's callback keys. Without a callback token, the account configured by
/// environment is misconfigured (503: set `WECHAT_TOKEN`); an account added through the API
/// has no callback (404).
fn keys(account: &Account) -> Result<&CallbackKeys, CallbackError> {
    account
        .callback
        .as_deref()
        .ok_or_else(|| match account.source {
            crate::accounts::Source::Env => CallbackError::NotConfigured(account.appid.to_string()),
            crate::accounts::Source::Db => CallbackError::NoCallback(account.appid.to_string()),
        })
}

fn query(req: &HttpRequest) -> Result<CallbackQuery, CallbackError> {
    web::Query::<CallbackQuery>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|_| VerifyError::MissingParam("query string").into())
}

impl FromRequest for Push {
    type Error = CallbackError;
    type Future = LocalBoxFuture<'static, Result<Self, CallbackError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let account = account(&req).await?;
            let body = body.await.map_err(CallbackError::Body)?;
            let query = query(&req)?;
            let mut push = keys(&account)?.verify_push(
                &query,
                &body,
                chrono::Utc::now().timestamp(),
                admit::plaintext(&account),
            )?;
            let (Some(accounts), Some(guard)) = (
                req.app_data::<web::Data<Accounts>>(),
                req.app_data::<web::Data<ReplayGuard>>(),
            ) else {
                return Err(CallbackError::Unwired("the accounts or the replay guard"));
            };
            let due = tokio::time::Instant::now() + STORE_DEADLINE;
            tokio::time::timeout_at(
                due,
                admit::admit(accounts, guard, &account, (&query, &body), &push),
            )
            .await
            .map_err(|_| CallbackError::Slow(STORE_DEADLINE))??;
            push.event = push.event.for_account(account.id);
            Ok(Push(push, account, due))
        })
    }
}

/// The query parameters every request from WeChat is signed with (documentation only: the
/// handlers read the raw query to verify it).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct SignedQuery {
    /// sha1 of the token, timestamp and nonce.
    signature: String,
    /// Unix seconds.
    timestamp: String,
    /// Random string.
    nonce: String,
}

/// WeChat's URL check: answers `echostr` as text when the signature holds. Takes no API key:
/// the signature is the proof.
#[utoipa::path(
    get,
    path = PATH,
    tag = "callback",
    params(
        SignedQuery,
        ("echostr" = String, Query, description = "The challenge to answer"),
    ),
    responses(
        (status = 200, description = "`echostr`", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 400, description = "`bad_push`: a parameter is missing", body = ErrorBody),
        (status = 401, description = "`unverified_push`: wrong signature or timestamp too far off", body = ErrorBody),
        (status = 503, description = "`unavailable`: `WECHAT_TOKEN` is not set", body = ErrorBody),
    )
)]
pub async fn check_url(req: HttpRequest) -> Result<HttpResponse, CallbackError> {
    let account = account(&req).await?;
    let echostr = keys(&account)?.verify_echo(&query(&req)?, chrono::Utc::now().timestamp())?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(echostr))
}

/// A push from WeChat: verified from the raw body (64 KiB at most) and the query before
/// anything is parsed, stored exactly once, then answered `success` or the code's passive
/// reply. Nothing is answered before the event is committed. Takes no API key: the
/// signature is the proof. Plaintext, compatible and safe mode are told apart by
/// `encrypt_type=aes` and `msg_signature`. A plaintext push's signature does not cover its
/// body: its signed query is bound to the first body it arrives with, on every instance, for
/// twice `WECHAT_MAX_CLOCK_SKEW_SECS` (the same body again is WeChat's retry, another body
/// is refused). Its `ToUserName` must be the account's original id, learnt from its first
/// admitted push when not given.
#[utoipa::path(
    post,
    path = PATH,
    tag = "callback",
    params(
        SignedQuery,
        ("openid" = Option<String>, Query, description = "The sender (informational)"),
        ("encrypt_type" = Option<String>, Query, description = "`aes` in safe and compatible mode"),
        ("msg_signature" = Option<String>, Query, description = "sha1 of the token, timestamp, nonce and ciphertext (safe and compatible mode)"),
    ),
    request_body(
        description = "The push XML, or the safe-mode `<xml><Encrypt>...</Encrypt></xml>` envelope",
        content(
            (String = "text/xml", example = json!("<xml><ToUserName><![CDATA[gh_123]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[42]]></EventKey><Ticket><![CDATA[gQ...]]></Ticket></xml>")),
            (String = "application/xml"),
        )
    ),
    responses(
        (status = 200, description = "Stored: `success`, or the passive reply XML (encrypted in safe mode)", content(
            (String = "text/plain", example = json!("success")),
            (String = "application/xml"),
        )),
        (status = 400, description = "`bad_push`: a parameter is missing, the XML is malformed, a field cannot be stored (`FromUserName` over 64 characters, a NUL byte, `CreateTime` outside 0..=253402300799, ...; the message names the field and the rule), or `CreateTime` is further in the future than `WECHAT_MAX_CLOCK_SKEW_SECS`", body = ErrorBody),
        (status = 401, description = "`unverified_push`: wrong signature, timestamp too far off, undecryptable; addressed to another account (`ToUserName` is not the account's original id, learnt from its first push); a plaintext push to an account that requires encryption (`WECHAT_REQUIRE_ENCRYPTION`, or the account's `require_encryption`); or a signed plaintext query seen before with another body (a replay)", body = ErrorBody),
        (status = 413, description = "`push_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "`unavailable`: not configured, or not stored (WeChat retries)", body = ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(openid = %push.0.event.openid, msg_type = %push.0.event.msg_type))]
pub async fn receive(
    push: Push,
    store: web::Data<EventStore>,
) -> Result<HttpResponse, CallbackError> {
    let Push(VerifiedPush { event, reply_to }, account, due) = push;
    let keys = keys(&account)?;
    let kind = event.kind.as_str();
    let stored = tokio::time::timeout_at(due, store.store(event))
        .await
        .map_err(|_| CallbackError::Slow(STORE_DEADLINE))??;
    tracing::debug!(event = stored.event_id, generation = ?stored.generation_id, duplicate = stored.duplicate, "push stored");
    metrics::counter!("qrscene_callback_pushes_total", "kind" => kind, "duplicate" => if stored.duplicate { "true" } else { "false" })
        .increment(1);
    let body = reply::answer(&reply_to, &stored, keys.token());
    let content_type = if body == reply::SUCCESS {
        "text/plain"
    } else {
        "application/xml"
    };
    Ok(HttpResponse::Ok().content_type(content_type).body(body))
}

/// WeChat's URL check for account `{appid}`: as `GET /wechat/callback`, verified with that
/// account's callback token.
#[utoipa::path(
    get,
    path = ACCOUNT_PATH,
    tag = "callback",
    params(
        ("appid" = String, Path, description = "The account's appid"),
        SignedQuery,
        ("echostr" = String, Query, description = "The challenge to answer"),
    ),
    responses(
        (status = 200, description = "`echostr`", body = String, content_type = "text/plain; charset=utf-8"),
        (status = 400, description = "`bad_push`: a parameter is missing", body = ErrorBody),
        (status = 401, description = "`unverified_push`: wrong signature or timestamp too far off", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account has this appid, or it has no callback token", body = ErrorBody),
        (status = 503, description = "`unavailable`: the account has no callback token", body = ErrorBody),
    )
)]
pub async fn check_account_url(req: HttpRequest) -> Result<HttpResponse, CallbackError> {
    check_url(req).await
}

/// A push from WeChat to account `{appid}`: as `POST /wechat/callback`, verified with that
/// account's callback token and keys, and stored under that account.
#[utoipa::path(
    post,
    path = ACCOUNT_PATH,
    tag = "callback",
    params(
        ("appid" = String, Path, description = "The account's appid"),
        SignedQuery,
        ("openid" = Option<String>, Query, description = "The sender (informational)"),
        ("encrypt_type" = Option<String>, Query, description = "`aes` in safe and compatible mode"),
        ("msg_signature" = Option<String>, Query, description = "sha1 of the token, timestamp, nonce and ciphertext (safe and compatible mode)"),
    ),
    request_body(
        description = "The push XML, or the safe-mode `<xml><Encrypt>...</Encrypt></xml>` envelope",
        content((String = "text/xml"), (String = "application/xml"))
    ),
    responses(
        (status = 200, description = "Stored: `success`, or the passive reply XML (encrypted in safe mode)", content(
            (String = "text/plain", example = json!("success")),
            (String = "application/xml"),
        )),
        (status = 400, description = "`bad_push`: a parameter is missing, the XML is malformed or a field cannot be stored", body = ErrorBody),
        (status = 401, description = "`unverified_push`: wrong signature, timestamp too far off, undecryptable; addressed to another account (`ToUserName` is not the account's original id, learnt from its first push); a plaintext push to an account that requires encryption (`WECHAT_REQUIRE_ENCRYPTION`, or the account's `require_encryption`); or a signed plaintext query seen before with another body (a replay)", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account has this appid, or it has no callback token", body = ErrorBody),
        (status = 413, description = "`push_too_large`: the body is over 64 KiB", body = ErrorBody),
        (status = 503, description = "`unavailable`: not configured, or not stored (WeChat retries)", body = ErrorBody),
    )
)]
pub async fn receive_account(
    push: Push,
    store: web::Data<EventStore>,
) -> Result<HttpResponse, CallbackError> {
    receive(push, store).await
}

/// Bench mode only (`QRSCENE_BENCH_ROUTES=true` in a build with the cargo feature `bench`):
/// this route is mounted only then. The callback route that does no work, for the
/// benchmark's ceiling: answers `success`.
#[cfg(feature = "bench")]
#[utoipa::path(
    post,
    path = CEILING_PATH,
    tag = "bench",
    request_body(description = "Anything up to 64 KiB; ignored", content(("text/xml"))),
    responses(
        (status = 200, description = "`success`", body = String, content_type = "text/plain", example = json!("success")),
        (status = 413, description = "The body is over 64 KiB"),
    )
)]
pub async fn ceiling(_body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(reply::SUCCESS)
}
