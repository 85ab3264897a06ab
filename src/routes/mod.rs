//! Thin actix handlers, one file per resource, and the route table. Every route is mounted
//! through `utoipa-actix-web`, so the OpenAPI document lists exactly what is mounted.

pub mod accounts;
pub mod activities;
pub mod attribution;
pub mod callback;
pub mod dashboard;
pub mod health;
pub mod jobs;
pub mod legacy;
pub mod qrcodes;
pub mod quota;
pub mod sandbox;
pub mod scans;
pub mod tags;
pub mod tokens;
pub mod webhooks;

use actix_web::dev::{ServiceFactory, ServiceRequest};
use actix_web::{
    HttpRequest, HttpResponse, error::JsonPayloadError, error::QueryPayloadError, web,
};
use utoipa::OpenApi;
use utoipa_actix_web::{AppExt, scope, service_config::ServiceConfig};

use crate::error::ApiError;
use crate::openapi::{self, ApiDoc, Documented};

/// Which optional route sets an instance mounts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Modes {
    /// `/sandbox/scan` (sandbox mode).
    pub sandbox: bool,
    /// `/wechat/ceiling` (`QRSCENE_BENCH_ROUTES`).
    pub bench: bool,
}

/// The whole route table of `app`: every route, the OpenAPI document and its page, and the
/// answer of unknown routes. The server mounts exactly this, and the document's tests read
/// the route table it builds, so a route cannot be mounted without them seeing it.
pub fn mount<T>(app: actix_web::App<T>, modes: Modes) -> actix_web::App<T>
where
    T: ServiceFactory<ServiceRequest, Config = (), Error = actix_web::Error, InitError = ()>,
{
    let (app, mut api) = app
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .configure(|cfg| {
            if modes.sandbox {
                configure_sandbox(cfg);
            }
            #[cfg(feature = "bench")]
            if modes.bench {
                configure_bench(cfg);
            }
        })
        .split_for_parts();
    openapi::document_body_deadline(&mut api);
    openapi::document_account_errors(&mut api);
    app.service(openapi::docs_service(api))
        .default_service(web::to(not_found))
}

/// Largest JSON body the API accepts.
pub const JSON_LIMIT: usize = 64 * 1024;

/// Mounts every route.
pub fn configure(cfg: &mut ServiceConfig) {
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
    .service(health::healthz)
    .service(health::readyz)
    .service(health::metrics)
    .service(
        scope("/api/v1/qrcodes")
            .service(qrcodes::create)
            .service(qrcodes::list)
            .service(qrcodes::get)
            .service(qrcodes::retire)
            .service(qrcodes::image)
            .service(attribution::code_events)
            .service(scans::wait),
    )
    .service(attribution::follower)
    .service(attribution::stats)
    .service(scans::create_binding)
    .service(scans::user_bindings)
    .service(scans::get_binding)
    .service(legacy::create_qr_code)
    .service(accounts::create)
    .service(accounts::list)
    .service(accounts::get)
    .service(accounts::update)
    .service(accounts::disable)
    .service(accounts::create_key)
    .service(accounts::list_keys)
    .service(accounts::revoke_key)
    .service(tokens::access_token)
    .service(tokens::invalidate)
    .service(quota::get)
    .service(activities::put_actions)
    .service(activities::get_actions)
    .service(activities::delete_actions)
    .service(jobs::list)
    .service(jobs::retry)
    .service(tags::list)
    .service(webhooks::create)
    .service(webhooks::list)
    .service(webhooks::get)
    .service(webhooks::update)
    .service(webhooks::remove)
    .service(webhooks::test)
    .service(webhooks::deliveries)
    .service(webhooks::replay)
    .service(
        // One resource for both methods: its own body limit, and 405 to other methods.
        Documented::new(
            web::resource(callback::PATH)
                .app_data(web::PayloadConfig::new(callback::BODY_LIMIT))
                .route(web::get().to(callback::check_url))
                .route(web::post().to(callback::receive)),
        )
        .doc(callback::__path_check_url)
        .doc(callback::__path_receive),
    )
    .service(
        Documented::new(
            web::resource(callback::ACCOUNT_PATH)
                .app_data(web::PayloadConfig::new(callback::BODY_LIMIT))
                .route(web::get().to(callback::check_account_url))
                .route(web::post().to(callback::receive_account)),
        )
        .doc(callback::__path_check_account_url)
        .doc(callback::__path_receive_account),
    )
    .service(dashboard::index)
    .service(dashboard::app_js)
    .service(dashboard::zones_js)
    .service(dashboard::style_css);
}

/// Routes of sandbox mode only.
pub fn configure_sandbox(cfg: &mut ServiceConfig) {
    cfg.service(sandbox::scan);
}

/// The benchmark's ceiling: a route that answers `success` without work.
#[cfg(feature = "bench")]
pub fn configure_bench(cfg: &mut ServiceConfig) {
    cfg.service(
        Documented::new(
            web::resource(callback::CEILING_PATH)
                .app_data(web::PayloadConfig::new(callback::BODY_LIMIT))
                .route(web::post().to(callback::ceiling)),
        )
        .doc(callback::__path_ceiling),
    );
}

/// Answer of unknown routes; `/docs` without its slash goes to the docs page.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    use actix_web::ResponseError;
    if req.path() == crate::openapi::DOCS_PATH.trim_end_matches('/') {
        return HttpResponse::PermanentRedirect()
            .insert_header(("Location", crate::openapi::DOCS_PATH))
            .finish();
    }
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
