//! Waiting for a scan, and account bindings.

use std::time::Duration;

use actix_web::{HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::Accounts;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::generation::Generations;
use crate::scans::bindings::{self, BindingError, BindingView, ExternalUserId, NewBinding};
use crate::scans::bus::ScanBus;
use crate::scans::wait::{FirstScan, MAX_WAIT_SECS, wait_for_scan};
use crate::state::{Db, MpBase};
use crate::wechat::qrcode::LimitError;

impl From<BindingError> for ApiError {
    fn from(e: BindingError) -> Self {
        match e {
            BindingError::Invalid(e) => Self::Invalid(e),
            BindingError::Generation(e) => e.into(),
            BindingError::NotFound(id) => Self::NotFound(format!("no binding with id {id}")),
            BindingError::Database(e) => e.into(),
        }
    }
}

/// Query of the wait.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// When given, the code must be of this account (appid).
    account: Option<String>,
    /// Seconds to wait, 1 to 60.
    #[param(minimum = 1, maximum = 60, default = 25)]
    timeout: Option<u64>,
}

/// Waits for the first scan of a code: 200 as soon as it is stored (at once if it already
/// is), 204 when the time runs out.
#[utoipa::path(
    operation_id = "wait_for_scan",
    tag = "scans",
    params(("id" = i64, Path, description = "Generation id"), WaitQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The first scan", body = FirstScan),
        (status = 204, description = "Nobody scanned the code within `timeout`"),
        (status = 400, description = "`invalid_field` (timeout) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such generation", body = ErrorBody),
    )
)]
#[get("/{id}/wait")]
#[tracing::instrument(skip_all)]
pub async fn wait(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    db: web::Data<Db>,
    bus: web::Data<ScanBus>,
    id: web::Path<i64>,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let timeout = query.timeout.unwrap_or(25);
    if !(1..=MAX_WAIT_SECS).contains(&timeout) {
        return Err(LimitError::new(
            "timeout",
            format!("must be between 1 and {MAX_WAIT_SECS} seconds"),
        )
        .into());
    }
    let only = super::qrcodes::AccountQuery {
        account: query.account.clone(),
    };
    let generation =
        super::qrcodes::visible(&caller, &accounts, &generations, id.into_inner(), &only).await?;
    let scan = wait_for_scan(&db.0, &bus, &generation, Duration::from_secs(timeout)).await?;
    let outcome = if scan.is_some() { "scanned" } else { "timeout" };
    metrics::counter!("qrscene_scan_waits_total", "outcome" => outcome).increment(1);
    match scan {
        Some(scan) => Ok(HttpResponse::Ok().json(scan)),
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

/// Account binding and scan-to-login: makes a temporary code for one user of the caller's
/// system; the first scan of it binds that user to the scanner's openid. 201 with the
/// binding and its code.
#[utoipa::path(
    tag = "bindings",
    request_body = NewBinding,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "The binding, pending, with its code in `qrcode`", body = BindingView),
        (status = 400, description = "`invalid_field` (external_user_id, expire_seconds) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 409, description = "`conflict`: the account has no AppSecret", body = ErrorBody),
        (status = 429, description = "`wechat_quota_exceeded`", body = ErrorBody),
        (status = 502, description = "`wechat_configuration`, `wechat_error` or `wechat_unreachable`", body = ErrorBody),
        (status = 503, description = "`wechat_token_unavailable`", body = ErrorBody),
        (status = 504, description = "`wechat_timeout`", body = ErrorBody),
    )
)]
#[post("/api/v1/bindings")]
#[tracing::instrument(skip_all)]
pub async fn create_binding(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    db: web::Data<Db>,
    mp: web::Data<MpBase>,
    body: web::Json<NewBinding>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let account = accounts.resolve(&caller, body.account.as_deref()).await?;
    let view =
        bindings::create(&db.0, &account, &generations, &mp.0, body, caller.key_name).await?;
    Ok(HttpResponse::Created().json(view))
}

/// One binding: pending, bound (with openid and time) or expired.
#[utoipa::path(
    tag = "bindings",
    params(("id" = i64, Path, description = "Binding id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The binding", body = BindingView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such binding", body = ErrorBody),
    )
)]
#[get("/api/v1/bindings/{id}")]
#[tracing::instrument(skip_all)]
pub async fn get_binding(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let view = bindings::get(&db.0, id).await?;
    if !accounts.visible(&caller, view.account_id) {
        return Err(BindingError::NotFound(id).into());
    }
    Ok(HttpResponse::Ok().json(view))
}

/// Query of the binding list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserQuery {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    account: Option<String>,
    /// Required: the user in the caller's system, 1 to 128 characters.
    #[param(example = "user-42", min_length = 1, max_length = 128)]
    external_user_id: Option<String>,
}

/// The bindings of one user of the caller's system.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserBindings<'a> {
    /// The user.
    pub external_user_id: String,
    /// Their latest bound binding; `null` when none is bound.
    #[schema(value_type = Option<BindingView>)]
    pub current: Option<&'a BindingView>,
    /// Their latest 50 bindings, newest first.
    #[schema(value_type = Vec<BindingView>)]
    pub history: &'a [BindingView],
}

/// A user's current binding and history.
#[utoipa::path(
    tag = "bindings",
    params(UserQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The bindings", body = UserBindings),
        (status = 400, description = "`invalid_field`: external_user_id is missing", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[get("/api/v1/bindings")]
#[tracing::instrument(skip_all)]
pub async fn user_bindings(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let account = accounts.resolve(&caller, query.account.as_deref()).await?;
    let Some(user) = query.external_user_id.filter(|u| !u.is_empty()) else {
        return Err(LimitError::new("external_user_id", "is required").into());
    };
    let user = ExternalUserId::parse("external_user_id", user)?;
    let (current, history) = bindings::of_user(&db.0, account.id, &user).await?;
    Ok(HttpResponse::Ok().json(UserBindings {
        external_user_id: user.into_inner(),
        current: current.as_ref(),
        history: &history,
    }))
}
