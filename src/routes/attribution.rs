//! Attribution: events of a code, a follower, and statistics.

use actix_web::{HttpResponse, web};
use sea_orm::DatabaseConnection;
use serde::Deserialize;

use crate::attribution::stats::{self, StatsQuery};
use crate::attribution::{events, followers};
use crate::auth::Caller;
use crate::error::ApiError;
use crate::generation::Generations;
use crate::wechat::qrcode::LimitError;

/// The database, for read-only queries.
pub struct ReadDb(pub DatabaseConnection);

/// Paging of event lists.
#[derive(Debug, Deserialize)]
pub struct Page {
    cursor: Option<String>,
    limit: Option<u64>,
}

/// `GET /api/v1/qrcodes/{id}/events?cursor=&limit=`: newest first.
#[tracing::instrument(skip_all)]
pub async fn code_events(
    _caller: Caller,
    generations: web::Data<Generations>,
    db: web::Data<ReadDb>,
    id: web::Path<i64>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    generations.get(id).await?;
    let before = page
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| bad("cursor", "must be a next_cursor from a previous page"))
        })
        .transpose()?;
    let limit = page.limit.unwrap_or(50);
    if !(1..=events::MAX_PAGE).contains(&limit) {
        return Err(bad("limit", "must be between 1 and 200"));
    }
    let (items, next) = events::of_code(&db.0, id, before, limit).await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({ "items": items, "next_cursor": next.map(|n| n.to_string()) })))
}

/// `GET /api/v1/followers/{openid}`.
#[tracing::instrument(skip_all)]
pub async fn follower(
    _caller: Caller,
    db: web::Data<ReadDb>,
    openid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let openid = openid.into_inner();
    match followers::find(&db.0, &openid).await? {
        Some(view) => Ok(HttpResponse::Ok().json(view)),
        None => Err(ApiError::NotFound(format!(
            "no follower {openid:?} has been seen"
        ))),
    }
}

/// Query of `GET /api/v1/stats`.
#[derive(Debug, Deserialize)]
pub struct StatsParams {
    group_by: Option<String>,
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    activity_id: Option<String>,
}

/// `GET /api/v1/stats?group_by=&from=&to=&tz=&activity_id=`.
#[tracing::instrument(skip_all)]
pub async fn stats(
    _caller: Caller,
    db: web::Data<ReadDb>,
    params: web::Query<StatsParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let q = StatsQuery::parse(
        p.group_by.as_deref(),
        p.from.as_deref(),
        p.to.as_deref(),
        p.tz.as_deref(),
        p.activity_id,
    )?;
    let (groups, totals) = stats::compute(&db.0, &q).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "group_by": q.group_by,
        "from": q.from.with_timezone(&q.tz).to_rfc3339(),
        "to": q.to.with_timezone(&q.tz).to_rfc3339(),
        "tz": q.tz.name(),
        "activity_id": q.activity_id,
        "groups": groups,
        "totals": totals,
    })))
}

fn bad(field: &'static str, rule: &str) -> ApiError {
    ApiError::Invalid(LimitError {
        field,
        rule: rule.to_owned(),
    })
}
