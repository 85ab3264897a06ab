//! `POST /activity-wechat/api/wxWeChat/createQrCode`, the endpoint existing callers use.

use actix_web::{HttpResponse, post, web};

use crate::accounts::Accounts;
use crate::auth::LegacyCaller;
use crate::error::{ApiError, ErrorBody};
use crate::generation::legacy::{LegacyAnswer, LegacyBody, LegacyRequest};
use crate::generation::{Created, Generations};

/// Creates a temporary string-scene code and answers `{ticket, expire_seconds, url}`.
///
/// The endpoint existing callers use. `sceneStr` is kept in the log as it came, its decoded
/// JSON becomes the payload, and WeChat gets a short assigned key. It takes the API keys;
/// `QRSCENE_LEGACY_OPEN=true` opens it to callers without one.
#[utoipa::path(
    tag = "legacy",
    request_body = LegacyBody,
    params(LegacyQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The code", body = LegacyAnswer),
        (status = 400, description = "`invalid_field` (sceneStr, second) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key (unless `QRSCENE_LEGACY_OPEN`)", body = ErrorBody),
        (status = 403, description = "`forbidden`: the key may not use this account", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account has this appid", body = ErrorBody),
        (status = 409, description = "`conflict`: the account has no AppSecret", body = ErrorBody),
        (status = 429, description = "`wechat_quota_exceeded`", body = ErrorBody),
        (status = 502, description = "`wechat_configuration`, `wechat_error` or `wechat_unreachable`", body = ErrorBody),
        (status = 503, description = "`wechat_token_unavailable`", body = ErrorBody),
        (status = 504, description = "`wechat_timeout`", body = ErrorBody),
    )
)]
#[post("/activity-wechat/api/wxWeChat/createQrCode")]
#[tracing::instrument(skip_all, fields(caller = ?caller.0.key_name))]
pub async fn create_qr_code(
    caller: LegacyCaller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    query: web::Query<LegacyQuery>,
    body: web::Json<LegacyBody>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts
        .resolve_legacy(&caller.0, query.account.as_deref())
        .await?;
    let request = LegacyRequest::try_from(body.into_inner())?;
    let model = match generations
        .create_legacy(&account, request, caller.0.key_name)
        .await?
    {
        Created::New(m) | Created::Existing(m) => m,
    };
    Ok(HttpResponse::Ok().json(LegacyAnswer {
        ticket: model.ticket.unwrap_or_default(),
        expire_seconds: model.expire_seconds.unwrap_or_default().max(0) as u32,
        url: model.url.unwrap_or_default(),
    }))
}

/// The legacy endpoint's query string.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LegacyQuery {
    /// The account (appid); the deployment's account configured by environment when left out.
    pub account: Option<String>,
}
