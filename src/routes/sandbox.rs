//! `POST /sandbox/scan` (sandbox mode only): simulate a scan of one of our codes.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::auth::Caller;
use crate::callback::sandbox::{Scanner, SelfCallback, build};
use crate::callback::verify::CallbackKeys;
use crate::error::ApiError;
use crate::generation::Generations;
use crate::wechat::qrcode::LimitError;

/// The body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanBody {
    qrcode_id: i64,
    openid: String,
    #[serde(default)]
    follower: bool,
}

/// Builds the push WeChat would send for this scan, signs it, and sends it through the
/// real callback; answers what the callback answered.
#[tracing::instrument(skip_all, fields(qrcode_id = body.qrcode_id))]
pub async fn scan(
    _caller: Caller,
    generations: web::Data<Generations>,
    keys: web::Data<CallbackKeys>,
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
        return Err(LimitError {
            field: "openid",
            rule: "must be 1 to 64 characters without <, ] or control characters".into(),
        }
        .into());
    }
    let generation = generations.get(body.qrcode_id).await?;
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
    let push = build(&generation, &scanner, &keys, chrono::Utc::now().timestamp());
    let (status, answer) = callback
        .send(&push)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "event": if scanner.follower { "SCAN" } else { "subscribe" },
        "push_xml": push.xml,
        "callback_status": status,
        "callback_body": answer,
    })))
}
