//! Liveness and readiness.
//!
//! `/readyz` answers within about a second whatever hangs: each check has
//! [`CHECK_DEADLINE`]. The database down or a committer stuck makes the instance unready
//! (503): it cannot store pushes. Redis down only degrades it (200, `degraded`): codes and
//! pushes keep working without Redis, and a load balancer must not pull every instance at
//! once because their shared Redis failed.

use std::time::Duration;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::{Metrics, Readiness};

/// How long each readiness check may take.
pub const CHECK_DEADLINE: Duration = Duration::from_millis(800);

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
    /// `ready`; `degraded` (200: Redis is down, pushes and codes still work); or
    /// `unavailable` (503: the database does not answer or a committer is stuck).
    #[schema(example = "ready")]
    pub status: ReadyStatus,
    /// Whether the database answered within the check's deadline.
    pub database: bool,
    /// Whether Redis answered within the check's deadline.
    pub redis: RedisState,
    /// The committers storing pushes, and how many of them are stuck on one batch.
    pub committers: CommittersBody,
}

/// The overall state in `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Everything answers.
    Ready,
    /// Redis does not answer; the instance still serves everything.
    Degraded,
    /// The database does not answer or a committer is stuck: pushes cannot be stored.
    Unavailable,
}

/// Redis in `/readyz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum RedisState {
    /// It answered.
    #[serde(rename = "ok")]
    Ok,
    /// No answer within the deadline: the instance works without it (`degraded`).
    #[serde(rename = "down")]
    Down,
    /// No `REDIS_URL`.
    #[serde(rename = "not configured")]
    NotConfigured,
}

/// The committers in `/readyz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CommittersBody {
    /// Committers started.
    #[schema(example = 4)]
    pub total: usize,
    /// Committers on one batch for more than a second (a database connection that does not
    /// answer), or ended; the batch is abandoned at its 3 s deadline.
    #[schema(example = 0)]
    pub stuck: usize,
}

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

/// The database and, when configured, Redis answer, and no committer is stuck. Answers
/// within about a second: every check has a deadline.
#[utoipa::path(
    tag = "health",
    responses(
        (status = 200, description = "`ready`, or `degraded` when Redis does not answer (codes and pushes still work)", body = ReadyBody),
        (status = 503, description = "`unavailable`: the database does not answer or a committer is stuck", body = ReadyBody),
    )
)]
#[get("/readyz")]
#[tracing::instrument(skip_all)]
pub async fn readyz(ready: web::Data<Readiness>) -> HttpResponse {
    let database = async {
        matches!(
            tokio::time::timeout(CHECK_DEADLINE, ready.db.ping()).await,
            Ok(Ok(()))
        )
    };
    let redis = async {
        let conn = ready.redis.clone()?;
        let mut conn = conn;
        let pong = tokio::time::timeout(
            CHECK_DEADLINE,
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await;
        Some(matches!(pong, Ok(Ok(_))))
    };
    let (database, redis) = tokio::join!(database, redis);
    let committers = ready.committers.health();
    let status = if !database || committers.stuck > 0 {
        ReadyStatus::Unavailable
    } else if redis == Some(false) {
        ReadyStatus::Degraded
    } else {
        ReadyStatus::Ready
    };
    if status != ReadyStatus::Ready {
        tracing::warn!(
            ?status,
            database,
            ?redis,
            stuck = committers.stuck,
            "not fully ready"
        );
    }
    let body = ReadyBody {
        status,
        database,
        redis: match redis {
            None => RedisState::NotConfigured,
            Some(true) => RedisState::Ok,
            Some(false) => RedisState::Down,
        },
        committers: CommittersBody {
            total: committers.total,
            stuck: committers.stuck,
        },
    };
    if status == ReadyStatus::Unavailable {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}
