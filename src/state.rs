//! The application state handed to handlers, one `web::Data` per dependency: the newtypes
//! that wrap bare values live here, not in the route files that read them.

use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;

use crate::callback::store::Committers;

/// The database pool (read-write), for handlers that query it directly.
pub struct Db(pub DatabaseConnection);

/// Base of the `showqrcode` links handed to callers (`WECHAT_MP_BASE`).
pub struct MpBase(pub String);

/// The process-wide metrics recorder (`None` when another one was installed first).
pub struct Metrics(pub Option<metrics_exporter_prometheus::PrometheusHandle>);

/// What `/readyz` checks.
pub struct Readiness {
    /// The database.
    pub db: DatabaseConnection,
    /// Redis, when configured.
    pub redis: Option<ConnectionManager>,
    /// The committers storing pushes.
    pub committers: Committers,
}
