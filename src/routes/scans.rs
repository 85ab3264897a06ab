//! Waiting for a scan, and account bindings.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::attribution::ReadDb;
use super::qrcodes::MpBase;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::generation::Generations;
use crate::scans::bindings::{self, NewBinding};
use crate::scans::bus::ScanBus;
use crate::scans::wait::{MAX_WAIT_SECS, wait_for_scan};
use crate::wechat::qrcode::LimitError;

/// Query of the wait.
#[derive(Debug, Deserialize)]
pub struct WaitQuery {
    timeout: Option<u64>,
}

/// `GET /api/v1/qrcodes/{id}/wait?timeout=25`: 200 with the first scan as soon as it is
/// stored (at once if it already is), 204 when the time runs out.
#[tracing::instrument(skip_all)]
pub async fn wait(
    _caller: Caller,
    generations: web::Data<Generations>,
    db: web::Data<ReadDb>,
    bus: web::Data<ScanBus>,
    id: web::Path<i64>,
    query: web::Query<WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let timeout = query.timeout.unwrap_or(25);
    if !(1..=MAX_WAIT_SECS).contains(&timeout) {
        return Err(LimitError {
            field: "timeout",
            rule: format!("must be between 1 and {MAX_WAIT_SECS} seconds"),
        }
        .into());
    }
    let generation = generations.get(id.into_inner()).await?;
    match wait_for_scan(&db.0, &bus, &generation, Duration::from_secs(timeout)).await? {
        Some(scan) => Ok(HttpResponse::Ok().json(scan)),
        None => Ok(HttpResponse::NoContent().finish()),
    }
}

/// `POST /api/v1/bindings`: 201 with the binding and its code.
#[tracing::instrument(skip_all)]
pub async fn create_binding(
    caller: Caller,
    generations: web::Data<Generations>,
    db: web::Data<ReadDb>,
    mp: web::Data<MpBase>,
    body: web::Json<NewBinding>,
) -> Result<HttpResponse, ApiError> {
    let view = bindings::create(
        &db.0,
        &generations,
        &mp.0,
        body.into_inner(),
        caller.key_name,
    )
    .await?;
    Ok(HttpResponse::Created().json(view))
}

/// `GET /api/v1/bindings/{id}`: pending, bound (with openid and time) or expired.
#[tracing::instrument(skip_all)]
pub async fn get_binding(
    _caller: Caller,
    generations: web::Data<Generations>,
    db: web::Data<ReadDb>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(bindings::get(&db.0, &generations, id.into_inner()).await?))
}

/// Query of the binding list.
#[derive(Debug, Deserialize)]
pub struct UserQuery {
    external_user_id: Option<String>,
}

/// `GET /api/v1/bindings?external_user_id=`: the user's current binding and history.
#[tracing::instrument(skip_all)]
pub async fn user_bindings(
    _caller: Caller,
    generations: web::Data<Generations>,
    db: web::Data<ReadDb>,
    query: web::Query<UserQuery>,
) -> Result<HttpResponse, ApiError> {
    let Some(user) = query
        .into_inner()
        .external_user_id
        .filter(|u| !u.is_empty())
    else {
        return Err(LimitError {
            field: "external_user_id",
            rule: "is required".into(),
        }
        .into());
    };
    let (current, history) = bindings::of_user(&db.0, &generations, &user).await?;
    let current = current.and_then(|id| history.iter().find(|b| b.id == id));
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "external_user_id": user,
        "current": current,
        "history": history,
    })))
}
