//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;

/// What `/readyz` checks.
pub struct Readiness {
    /// The database.
    pub db: DatabaseConnection,
    /// Redis, when configured.
    pub redis: Option<ConnectionManager>,
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database and, when configured, Redis answer.
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
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "unavailable" },
        "database": database,
        "redis": redis.map_or("not configured", |up| if up { "ok" } else { "down" }),
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
