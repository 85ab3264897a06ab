//! Thin actix handlers, one file per resource, and the route table.

pub mod attribution;
pub mod callback;
pub mod health;
pub mod legacy;
pub mod qrcodes;
pub mod sandbox;
pub mod scans;

use actix_web::{
    HttpRequest, HttpResponse, error::JsonPayloadError, error::QueryPayloadError, web,
};

use crate::error::ApiError;

/// Largest JSON body the API accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Mounts every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::JsonConfig::default().limit(JSON_LIMIT).error_handler(
        |e: JsonPayloadError, _: &HttpRequest| ApiError::Malformed(json_error(&e)).into(),
    ))
    .app_data(
        web::QueryConfig::default().error_handler(|e: QueryPayloadError, _: &HttpRequest| {
            ApiError::Malformed(e.to_string()).into()
        }),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::NotFound(format!("no such resource: {e}")).into()),
    )
    .route("/healthz", web::get().to(health::healthz))
    .route("/readyz", web::get().to(health::readyz))
    .service(
        web::scope("/api/v1/qrcodes")
            .route("", web::post().to(qrcodes::create))
            .route("", web::get().to(qrcodes::list))
            .route("/{id}", web::get().to(qrcodes::get))
            .route("/{id}/image.{format}", web::get().to(qrcodes::image))
            .route("/{id}/events", web::get().to(attribution::code_events))
            .route("/{id}/wait", web::get().to(scans::wait)),
    )
    .route(
        "/api/v1/followers/{openid}",
        web::get().to(attribution::follower),
    )
    .route("/api/v1/stats", web::get().to(attribution::stats))
    .route("/api/v1/bindings", web::post().to(scans::create_binding))
    .route("/api/v1/bindings", web::get().to(scans::user_bindings))
    .route("/api/v1/bindings/{id}", web::get().to(scans::get_binding))
    .route(
        "/activity-wechat/api/wxWeChat/createQrCode",
        web::post().to(legacy::create_qr_code),
    )
    .service(
        web::resource("/wechat/callback")
            .app_data(web::PayloadConfig::new(callback::BODY_LIMIT))
            .route(web::get().to(callback::check_url))
            .route(web::post().to(callback::receive)),
    );
}

/// Routes of sandbox mode only.
pub fn configure_sandbox(cfg: &mut web::ServiceConfig) {
    cfg.route("/sandbox/scan", web::post().to(sandbox::scan));
}

/// The benchmark's ceiling: a route that answers `success` without work.
pub fn configure_bench(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/wechat/ceiling")
            .app_data(web::PayloadConfig::new(callback::BODY_LIMIT))
            .route(web::post().to(callback::ceiling)),
    );
}

/// Answer of unknown routes.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    ApiError::NotFound(format!("no route for {} {}", req.method(), req.path())).error_response()
}

fn json_error(e: &JsonPayloadError) -> String {
    match e {
        JsonPayloadError::Deserialize(inner) => format!("invalid JSON body: {inner}"),
        JsonPayloadError::ContentType => {
            "the body must be JSON (Content-Type: application/json)".to_owned()
        }
        JsonPayloadError::Overflow { limit }
        | JsonPayloadError::OverflowKnownLength { limit, .. } => {
            format!("the body is larger than {limit} bytes")
        }
        other => format!("unreadable body: {other}"),
    }
}
