//! `/api/v1/qrcodes`: create, read, list, and images.

use actix_web::{HttpResponse, http::header, web};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::generation::request::{CreateQrcodeBody, NewGeneration};
use crate::generation::service::{FAILED, ListFilter, SUCCEEDED};
use crate::generation::view::GenerationView;
use crate::generation::{Created, Generations};
use crate::image;
use crate::wechat::qrcode::{LimitError, QrKind};

/// Base of `showqrcode` links.
pub struct MpBase(pub String);

/// `POST /api/v1/qrcodes`: 201 with a new generation, 200 with a stored permanent one.
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn create(
    caller: Caller,
    generations: web::Data<Generations>,
    mp: web::Data<MpBase>,
    body: web::Json<CreateQrcodeBody>,
) -> Result<HttpResponse, ApiError> {
    let new = NewGeneration::try_from(body.into_inner())?;
    Ok(match generations.create(new, caller.key_name).await? {
        Created::New(m) => HttpResponse::Created().json(GenerationView::new(m, &mp.0)),
        Created::Existing(m) => HttpResponse::Ok().json(GenerationView::new(m, &mp.0)),
    })
}

/// `GET /api/v1/qrcodes/{id}`.
#[tracing::instrument(skip_all)]
pub async fn get(
    _caller: Caller,
    generations: web::Data<Generations>,
    mp: web::Data<MpBase>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let model = generations.get(id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(GenerationView::new(model, &mp.0)))
}

/// Query of the listing.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    activity_id: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    limit: Option<u64>,
}

/// `GET /api/v1/qrcodes?activity_id=&kind=&status=&cursor=&limit=`: newest first.
#[tracing::instrument(skip_all)]
pub async fn list(
    _caller: Caller,
    generations: web::Data<Generations>,
    mp: web::Data<MpBase>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = match q.status.as_deref() {
        None | Some(SUCCEEDED) | Some(FAILED) => q.status,
        Some(other) => {
            return Err(bad(
                "status",
                format!("must be succeeded or failed, got {other:?}"),
            ));
        }
    };
    let before = q
        .cursor
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| bad("cursor", "must be a next_cursor from a previous page"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=crate::generation::service::MAX_PAGE).contains(&limit) {
        return Err(bad("limit", "must be between 1 and 200"));
    }
    let filter = ListFilter {
        activity_id: q.activity_id,
        kind: q.kind.as_deref().map(QrKind::parse).transpose()?,
        status,
        before,
        limit,
    };
    let (rows, next) = generations.list(filter).await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|m| GenerationView::new(m, &mp.0))
        .collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "items": items,
        "next_cursor": next.map(|id| id.to_string()),
    })))
}

/// Query of the image routes.
#[derive(Debug, Deserialize)]
pub struct ImageQuery {
    size: Option<u32>,
}

/// `GET /api/v1/qrcodes/{id}/image.png?size=` and `.../image.svg?size=`: drawn locally
/// from the code's `url`.
pub async fn image(
    _caller: Caller,
    generations: web::Data<Generations>,
    path: web::Path<(i64, String)>,
    query: web::Query<ImageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, format) = path.into_inner();
    if format != "png" && format != "svg" {
        return Err(ApiError::NotFound(format!(
            "no image.{format}: use image.png or image.svg"
        )));
    }
    let (url, size) = image_input(&generations, id, query.size).await?;
    let (content_type, body) = if format == "png" {
        (
            "image/png",
            image::png(&url, size).map_err(|e| ApiError::Internal(e.into()))?,
        )
    } else {
        (
            "image/svg+xml",
            image::svg(&url, size)
                .map_err(|e| ApiError::Internal(e.into()))?
                .into_bytes(),
        )
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(body))
}

async fn image_input(
    generations: &Generations,
    id: i64,
    size: Option<u32>,
) -> Result<(String, u32), ApiError> {
    let size = size.unwrap_or(image::DEFAULT_SIZE);
    if !(image::MIN_SIZE..=image::MAX_SIZE).contains(&size) {
        return Err(bad(
            "size",
            format!(
                "must be between {} and {} pixels",
                image::MIN_SIZE,
                image::MAX_SIZE
            ),
        ));
    }
    let model = generations.get(id).await?;
    let url = model
        .url
        .ok_or_else(|| ApiError::NotFound(format!("generation {id} failed and has no image")))?;
    Ok((url, size))
}

fn bad(field: &'static str, rule: impl Into<String>) -> ApiError {
    ApiError::Invalid(LimitError {
        field,
        rule: rule.into(),
    })
}
