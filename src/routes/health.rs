//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use serde::Serialize;
use utoipa::ToSchema;

/// What `/readyz` checks.
pub struct Readiness {
    /// The database.
    pub db: DatabaseConnection,
    /// Redis, when configured.
    pub redis: Option<ConnectionManager>,
}

/// The answer of `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The answer of `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// `ready` or `unavailable`.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// Whether the database answers.
    pub database: bool,
    /// `ok`, `down` or `not configured`.
    #[schema(example = "not configured")]
    pub redis: &'static str,
}

/// The process-wide metrics recorder (`None` when another one was installed first).
pub struct Metrics(pub Option<metrics_exporter_prometheus::PrometheusHandle>);

/// Prometheus metrics of this process (text exposition format); protected like the API.
#[utoipa::path(
    tag = "health",
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain"),
        (status = 401, description = "Missing or unknown API key", body = crate::error::ErrorBody),
        (status = 503, description = "No recorder in this process"),
    )
)]
#[get("/metrics")]
pub async fn metrics(_caller: crate::auth::Caller, handle: web::Data<Metrics>) -> HttpResponse {
    match &handle.0 {
        Some(handle) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(handle.render()),
        None => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// The process answers.
#[utoipa::path(
    tag = "health",
    responses((status = 200, description = "Alive", body = Health))
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database and, when configured, Redis answer.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = ReadyBody),
        (status = 503, description = "The database or Redis does not answer", body = ReadyBody),
    )
)]
#[get("/readyz")]
#[tracing::instrument(skip_all)]
pub async fn readyz(ready: web::Data<Readiness>) -> HttpResponse {
    let database = ready.db.ping().await.is_ok();
    let redis = match &ready.redis {
        None => None,
        Some(conn) => {
            let mut conn = conn.clone();
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
            Some(pong.is_ok())
        }
    };
    let ok = database && redis.unwrap_or(true);
    let body = ReadyBody {
        status: if ok { "ready" } else { "unavailable" },
        database,
        redis: redis.map_or("not configured", |up| if up { "ok" } else { "down" }),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
