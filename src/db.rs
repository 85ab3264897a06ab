//! The database pool, and running the migrations.
//!
//! On Postgres every connection is bounded: the server cancels a statement after
//! [`STATEMENT_TIMEOUT`] and a session idle inside a transaction after
//! [`IDLE_IN_TRANSACTION_TIMEOUT`], and probes the client path with TCP keepalive. On our
//! side a connection is tested with a deadline ([`PING_DEADLINE`]) when it comes back to
//! the pool and, after [`PING_IF_IDLE`] idle, before it is handed out: one that does not
//! answer (a path that went dark without closing) is closed instead of reused, so that it
//! never holds a pool slot for good. (sqlx 0.9 sets no TCP keepalive on its own sockets and
//! neither it nor sea-orm 2 offers the option; the deadlines above cover a dark path.)

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::{self, Connection as _};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

/// How long a request waits for a pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest statement the Postgres server runs (its `statement_timeout`) unless a
/// transaction sets its own (`SET LOCAL statement_timeout`, as the statistics do).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a Postgres session may sit idle inside a transaction before the server ends it,
/// releasing its locks (a client that went away mid-transaction).
pub const IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// The server's TCP keepalive towards us: first probe after this much silence (seconds),
/// then every [`KEEPALIVE_INTERVAL_SECS`], [`KEEPALIVE_COUNT`] probes in all.
const KEEPALIVE_IDLE_SECS: u32 = 10;
/// Seconds between the server's keepalive probes.
const KEEPALIVE_INTERVAL_SECS: u32 = 5;
/// Unanswered keepalive probes before the server drops the connection.
const KEEPALIVE_COUNT: u32 = 3;
/// How long a connection test (a Postgres `Sync` round trip) may take.
pub const PING_DEADLINE: Duration = Duration::from_secs(1);
/// Connections idle at least this long are tested before being handed out; fresher ones
/// were tested when they came back.
const PING_IF_IDLE: Duration = Duration::from_secs(1);

/// Opens a pool on `url` (`sqlite://...` or `postgres://...`).
///
/// # Errors
/// The database cannot be reached or opened.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max_connections.max(1))
        .min_connections(1)
        .connect_timeout(ACQUIRE_TIMEOUT)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .sqlx_logging(false)
        .statement_timeout(STATEMENT_TIMEOUT)
        .map_sqlx_postgres_opts(|pg| {
            pg.options([
                (
                    "idle_in_transaction_session_timeout",
                    IDLE_IN_TRANSACTION_TIMEOUT.as_millis().to_string(),
                ),
                ("tcp_keepalives_idle", KEEPALIVE_IDLE_SECS.to_string()),
                (
                    "tcp_keepalives_interval",
                    KEEPALIVE_INTERVAL_SECS.to_string(),
                ),
                ("tcp_keepalives_count", KEEPALIVE_COUNT.to_string()),
            ])
        })
        .map_sqlx_postgres_pool_opts(|pool| {
            pool.test_before_acquire(false)
                .before_acquire(|conn, meta| {
                    Box::pin(async move {
                        if meta.idle_for < PING_IF_IDLE {
                            return Ok(true);
                        }
                        Ok(answers(conn, "acquire").await)
                    })
                })
                .after_release(|conn, _| {
                    Box::pin(async move { Ok(answers(conn, "release").await) })
                })
        });
    // sea-orm quotes the whole URL (its password included) when it cannot parse it.
    let db = Database::connect(options)
        .await
        .map_err(|e| redact(e, url))?;
    if db.get_database_backend() == DbBackend::Sqlite {
        // Readers do not block the writer; the setting is stored in the file.
        db.execute_unprepared("PRAGMA journal_mode=WAL").await?;
    }
    Ok(db)
}

/// `e` without `url` in its text (URLs carry passwords).
fn redact(e: DbErr, url: &str) -> DbErr {
    let text = e.to_string();
    if url.is_empty() || !text.contains(url) {
        return e;
    }
    DbErr::Custom(text.replace(url, "<DATABASE_URL>"))
}

/// Whether `conn` answers a round trip within [`PING_DEADLINE`]; a `false` closes it.
async fn answers(conn: &mut sqlx::PgConnection, when: &'static str) -> bool {
    match tokio::time::timeout(PING_DEADLINE, conn.ping()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error.message = %e, when, "database connection broken; closing it");
            metrics::counter!("qrscene_db_connections_dropped_total", "reason" => "broken")
                .increment(1);
            false
        }
        Err(_) => {
            tracing::warn!(deadline = ?PING_DEADLINE, when, "database connection does not answer; closing it");
            metrics::counter!("qrscene_db_connections_dropped_total", "reason" => "silent")
                .increment(1);
            false
        }
    }
}

/// Applies every pending migration.
///
/// # Errors
/// A migration failed; the database is left at the last one that succeeded.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unusable_url_is_reported_without_its_password() {
        let url = "postgress://qrscene:hunter2-password@db/qrscene";
        let err = connect(url, 1).await.err().map(|e| e.to_string());
        let text = err.unwrap_or_default();
        assert!(!text.is_empty(), "the URL must be refused");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
