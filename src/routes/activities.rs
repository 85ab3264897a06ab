//! `/api/v1/activities/{activity_id}/actions`: the actions of every code of an activity that
//! has none of its own.

use actix_web::{HttpResponse, delete, get, put, web};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::accounts::Accounts;
use crate::actions::activity;
use crate::actions::spec::Actions;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::generation::request::MAX_ACTIVITY_ID_CHARS;
use crate::state::Db;
use crate::wechat::qrcode::LimitError;

/// The account of an activity request.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    pub account: Option<String>,
}

fn activity_id(id: &str) -> Result<&str, ApiError> {
    if !(1..=MAX_ACTIVITY_ID_CHARS).contains(&id.chars().count()) || id.contains('\0') {
        return Err(LimitError::new(
            "activity_id",
            format!("must be 1 to {MAX_ACTIVITY_ID_CHARS} characters without NUL"),
        )
        .into());
    }
    Ok(id)
}

/// Sets the actions of every code of the activity that has no actions (and no reply) of its
/// own; they apply from the next scan, to codes made before and after.
#[utoipa::path(
    tag = "actions",
    params(("activity_id" = String, Path, description = "The activity (`payload.activity_id` of its codes)"), ActivityQuery),
    request_body = Actions,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The actions as stored", body = Actions),
        (status = 400, description = "`invalid_field` (which field, which rule) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[put("/api/v1/activities/{activity_id}/actions")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn put_actions(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    path: web::Path<String>,
    query: web::Query<ActivityQuery>,
    body: web::Json<Actions>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts.resolve(&caller, query.account.as_deref()).await?;
    let id = activity_id(&path)?;
    let stored = body.into_inner().validate()?;
    activity::put(&db.0, account.id, id, &stored).await?;
    let actions: Actions =
        serde_json::from_str(&stored.json).map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(actions))
}

/// The actions of the activity.
#[utoipa::path(
    tag = "actions",
    params(("activity_id" = String, Path, description = "The activity"), ActivityQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "Its actions", body = Actions),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[get("/api/v1/activities/{activity_id}/actions")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn get_actions(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    path: web::Path<String>,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts.resolve(&caller, query.account.as_deref()).await?;
    let id = activity_id(&path)?;
    match activity::get(&db.0, account.id, id).await? {
        Some(actions) => Ok(HttpResponse::Ok().json(actions)),
        None => Err(ApiError::NotFound(format!(
            "activity {id:?} has no actions"
        ))),
    }
}

/// Removes the actions of the activity (its codes then do nothing when scanned, unless they
/// have actions of their own).
#[utoipa::path(
    tag = "actions",
    params(("activity_id" = String, Path, description = "The activity"), ActivityQuery),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[delete("/api/v1/activities/{activity_id}/actions")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn delete_actions(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    path: web::Path<String>,
    query: web::Query<ActivityQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts.resolve(&caller, query.account.as_deref()).await?;
    let id = activity_id(&path)?;
    if activity::delete(&db.0, account.id, id).await? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound(format!(
            "activity {id:?} has no actions"
        )))
    }
}
