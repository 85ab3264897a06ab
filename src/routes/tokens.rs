//! The token service: `GET /api/v1/accounts/{appid}/access_token` and
//! `POST /api/v1/accounts/{appid}/access_token/invalidate`, so that every system of the
//! brand takes the account's access token from here instead of fetching its own (two
//! fetchers knock each other's token out: 40001).

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::accounts::{Account, Accounts};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::wechat::token::{TokenInfo, TokenProvider};

/// An access token as the token service hands it out.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessTokenView {
    /// The token, for WeChat's `access_token` parameter.
    pub access_token: String,
    /// When WeChat stops accepting it.
    pub expires_at: DateTime<Utc>,
    /// When it was fetched from WeChat.
    pub fetched_at: DateTime<Utc>,
    /// What a report led to (invalidate only): `refreshed` (a new token was fetched),
    /// `already_replaced` (a newer token had replaced the reported one) or `throttled`
    /// (stable mode allows no forced refresh yet: the current token is handed back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<&'static str>,
}

impl AccessTokenView {
    fn of(token: &TokenInfo, outcome: Option<&'static str>) -> Self {
        Self {
            access_token: token.access_token.to_string(),
            expires_at: token.expires_at,
            fetched_at: token.fetched_at,
            outcome,
        }
    }
}

/// `POST .../access_token/invalidate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvalidateBody {
    /// The token WeChat refused (40001 or 42001).
    pub access_token: String,
}

/// The account `appid` for a token request of `caller`, and its token provider.
async fn provider(
    caller: &Caller,
    accounts: &Accounts,
    appid: &str,
) -> Result<std::sync::Arc<Account>, ApiError> {
    let account = accounts
        .find(appid)
        .await
        .filter(|a| a.enabled && caller.may_use(a.appid.as_str()))
        .ok_or_else(|| ApiError::NotFound(format!("no account has appid {appid}")))?;
    if !caller.may_read_token(appid) {
        return Err(ApiError::Forbidden(format!(
            "this API key may not read the access tokens of {appid}: it needs an admin role or \
             the `token` permission"
        )));
    }
    if account.tokens().is_none() {
        return Err(match &account.problem {
            Some(problem) => ApiError::Unavailable(problem.clone()),
            None => ApiError::Conflict(format!(
                "account {appid} has no access token: it runs in sandbox mode or has no secret"
            )),
        });
    }
    Ok(account)
}

fn tokens(account: &Account) -> &TokenProvider {
    account.tokens().expect("checked by provider()")
}

fn answer(view: AccessTokenView) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view)
}

/// The account's access token, from the shared cache: fetched from WeChat only when it is
/// due, once for every instance. Needs an admin key or a key with the `token` permission
/// for this account.
#[utoipa::path(
    tag = "accounts",
    params(("appid" = String, Path, description = "The account's appid")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The token", body = AccessTokenView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: the key may use the account but not read its tokens", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account the key may use has this appid", body = ErrorBody),
        (status = 409, description = "`conflict`: the account has no access token (sandbox, or no secret)", body = ErrorBody),
        (status = 502, description = "`wechat_configuration`, `wechat_error` or `wechat_unreachable`", body = ErrorBody),
        (status = 503, description = "`wechat_token_unavailable`, or `unavailable` (the account's secrets cannot be opened)", body = ErrorBody),
        (status = 504, description = "`wechat_timeout`", body = ErrorBody),
    )
)]
#[get("/api/v1/accounts/{appid}/access_token")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name, appid = %appid))]
pub async fn access_token(
    caller: Caller,
    accounts: web::Data<Accounts>,
    appid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = provider(&caller, &accounts, &appid).await?;
    let token = tokens(&account)
        .current()
        .await
        .map_err(|source| ApiError::WeChat {
            source,
            generation: None,
        })?;
    Ok(answer(AccessTokenView::of(&token, None)))
}

/// Reports a token WeChat refused (40001 `access_token is not the latest`, 42001 expired):
/// a new one is fetched only if the reported token is still the current one, so that a
/// hundred callers reporting the same token cause one fetch. In stable mode a forced
/// refresh comes at most once per 30 s (WeChat's limit); a report within that time gets
/// the current token back (`throttled`).
#[utoipa::path(
    tag = "accounts",
    params(("appid" = String, Path, description = "The account's appid")),
    request_body = InvalidateBody,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The token to use now", body = AccessTokenView),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: the key may use the account but not read its tokens", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account the key may use has this appid", body = ErrorBody),
        (status = 409, description = "`conflict`: the account has no access token (sandbox, or no secret)", body = ErrorBody),
        (status = 502, description = "`wechat_configuration`, `wechat_error` or `wechat_unreachable`", body = ErrorBody),
        (status = 503, description = "`wechat_token_unavailable`, or `unavailable`", body = ErrorBody),
        (status = 504, description = "`wechat_timeout`", body = ErrorBody),
    )
)]
#[post("/api/v1/accounts/{appid}/access_token/invalidate")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name, appid = %appid))]
pub async fn invalidate(
    caller: Caller,
    accounts: web::Data<Accounts>,
    appid: web::Path<String>,
    body: web::Json<InvalidateBody>,
) -> Result<HttpResponse, ApiError> {
    let account = provider(&caller, &accounts, &appid).await?;
    let stale = body.into_inner().access_token;
    if stale.is_empty() || stale.len() > 2048 {
        return Err(ApiError::Malformed(
            "access_token: must be the 1 to 2048-character token WeChat refused".to_owned(),
        ));
    }
    let invalidated = tokens(&account)
        .invalidate_if_current(&stale)
        .await
        .map_err(|source| ApiError::WeChat {
            source,
            generation: None,
        })?;
    tracing::info!(
        outcome = invalidated.outcome.as_str(),
        "stale access token reported"
    );
    Ok(answer(AccessTokenView::of(
        &invalidated.token,
        Some(invalidated.outcome.as_str()),
    )))
}
