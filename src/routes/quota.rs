//! `GET /api/v1/accounts/{appid}/quota`: the account's quota ledger.

use actix_web::{HttpResponse, get, web};

use crate::accounts::Accounts;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::generation::quota::{self, Quota};
use crate::state::Db;

/// Permanent codes used and left (of WeChat's 100,000 per account, never freed),
/// `qrcode/create` calls of WeChat's day (Asia/Shanghai), when WeChat last answered 45009,
/// and warnings (fewer than 5% of permanent codes left; the daily quota hit today).
#[utoipa::path(
    tag = "accounts",
    operation_id = "account_quota",
    params(("appid" = String, Path, description = "The account's appid")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The ledger", body = Quota),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account the key may use has this appid", body = ErrorBody),
    )
)]
#[get("/api/v1/accounts/{appid}/quota")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name, appid = %appid))]
pub async fn get(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    appid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts
        .find(&appid)
        .await
        .filter(|a| a.enabled && caller.may_use(a.appid.as_str()))
        .ok_or_else(|| ApiError::NotFound(format!("no account has appid {appid}")))?;
    let ledger = quota::read(&db.0, account.id, account.appid.as_str()).await?;
    Ok(HttpResponse::Ok().json(ledger))
}
