//! `POST /activity-wechat/api/wxWeChat/createQrCode`, the endpoint existing callers use.

use actix_web::{HttpResponse, web};

use crate::auth::LegacyCaller;
use crate::error::ApiError;
use crate::generation::legacy::{LegacyAnswer, LegacyBody, LegacyRequest};
use crate::generation::{Created, Generations};

/// Creates a temporary string-scene code and answers `{ticket, expire_seconds, url}`.
#[tracing::instrument(skip_all, fields(caller = ?caller.0.key_name))]
pub async fn create_qr_code(
    caller: LegacyCaller,
    generations: web::Data<Generations>,
    body: web::Json<LegacyBody>,
) -> Result<HttpResponse, ApiError> {
    let request = LegacyRequest::try_from(body.into_inner())?;
    let model = match generations
        .create_legacy(request, caller.0.key_name)
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
