//! `POST /sandbox/scan` (sandbox mode only): simulate a scan of one of our codes.

use actix_web::{HttpResponse, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::Accounts;
use crate::auth::Caller;
use crate::callback::sandbox::{SANDBOX_ACCOUNT, Scanner, SelfCallback, build};
use crate::error::{ApiError, ErrorBody};
use crate::generation::Generations;
use crate::wechat::qrcode::LimitError;

/// The body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    /// The code scanned.
    qrcode_id: i64,
    /// Who scans: 1 to 64 characters without `<`, `]` or control characters.
    #[schema(example = "oUser1")]
    openid: String,
    /// `true`: they already follow (a `SCAN`); `false`: they follow now (a `subscribe`).
    #[serde(default)]
    follower: bool,
}

/// What the simulated scan sent and what the callback answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScanAnswer {
    /// `subscribe` or `SCAN`.
    pub event: &'static str,
    /// The plaintext push.
    pub push_xml: String,
    /// The callback's HTTP status.
    pub callback_status: u16,
    /// The callback's body: `success` or the passive reply XML.
    pub callback_body: String,
}

/// Sandbox mode only (no WeChat credentials): this route is mounted only then, and is a 404
/// otherwise. Builds the push WeChat would send for a scan of one of our codes, signs it
/// (and encrypts it when an EncodingAESKey is set), sends it through the real callback, and
/// answers what the callback answered.
#[utoipa::path(
    operation_id = "sandbox_scan",
    tag = "sandbox",
    request_body = ScanBody,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The push was sent; see `callback_status`", body = ScanAnswer),
        (status = 400, description = "`invalid_field` (openid) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such generation, or a failed one", body = ErrorBody),
        (status = 500, description = "The callback could not be reached", body = ErrorBody),
    )
)]
#[post("/sandbox/scan")]
#[tracing::instrument(skip_all, fields(qrcode_id = body.qrcode_id))]
pub async fn scan(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    callback: web::Data<SelfCallback>,
    body: web::Json<ScanBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let chars = body.openid.chars().count();
    if chars == 0
        || chars > 64
        || body
            .openid
            .chars()
            .any(|c| c.is_control() || c == '<' || c == ']')
    {
        return Err(LimitError::new(
            "openid",
            "must be 1 to 64 characters without <, ] or control characters",
        )
        .into());
    }
    let only = super::qrcodes::AccountQuery { account: None };
    let generation =
        super::qrcodes::visible(&caller, &accounts, &generations, body.qrcode_id, &only).await?;
    let account = accounts
        .by_id(generation.account_id)
        .ok_or_else(|| ApiError::NotFound(format!("no generation {}", generation.id)))?;
    let keys = account.callback.clone().ok_or_else(|| {
        ApiError::Unavailable(format!(
            "account {} has no callback token: its pushes cannot be signed",
            account.appid
        ))
    })?;
    if generation.ticket.is_none() {
        return Err(ApiError::NotFound(format!(
            "generation {} failed and cannot be scanned",
            generation.id
        )));
    }
    let scanner = Scanner {
        openid: body.openid,
        follower: body.follower,
    };
    // Addressed as WeChat would: to the account's original id once it is known.
    let to = account.original_id.as_deref().unwrap_or(SANDBOX_ACCOUNT);
    let push = build(
        &generation,
        &scanner,
        (to, &keys),
        chrono::Utc::now().timestamp(),
    );
    let (status, answer) = callback
        .send(&push, account.appid.as_str())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(ScanAnswer {
        event: if scanner.follower {
            "SCAN"
        } else {
            "subscribe"
        },
        push_xml: push.xml,
        callback_status: status,
        callback_body: answer,
    }))
}
