//! Telling database errors apart by the code the database gave (Postgres' SQLSTATE, SQLite's
//! result code), never by message text: a conflict that the committer retries, or data
//! that the database refused, which storing the events one by one isolates.

use sea_orm::sqlx::sqlite::SqliteError;
use sea_orm::{DbErr, RuntimeErr};

/// SQLSTATE `deadlock_detected`.
const DEADLOCK: &str = "40P01";
/// SQLSTATE `serialization_failure`.
const SERIALIZATION: &str = "40001";
/// SQLite's primary result code for a busy database file.
const SQLITE_BUSY: i32 = 5;
/// SQLite's primary result code for a locked table.
const SQLITE_LOCKED: i32 = 6;

/// What the database answered, if it answered: SQLite's result code or Postgres' SQLSTATE.
enum Code {
    Sqlite(i32),
    Sqlstate(String),
}

fn code(e: &DbErr) -> Option<Code> {
    let (DbErr::Query(RuntimeErr::SqlxError(e))
    | DbErr::Exec(RuntimeErr::SqlxError(e))
    | DbErr::Conn(RuntimeErr::SqlxError(e))) = e
    else {
        return None;
    };
    let db = e.as_database_error()?;
    let code = db.code()?;
    if db.try_downcast_ref::<SqliteError>().is_some() {
        // The extended code; its low byte is the primary one.
        code.parse::<i32>().ok().map(|c| Code::Sqlite(c & 0xff))
    } else {
        Some(Code::Sqlstate(code.into_owned()))
    }
}

/// A deadlock (40P01) or serialization failure (40001) on Postgres, a busy or locked file
/// (primary result codes 5 and 6) on SQLite: told by the database's code, never by its
/// message text.
pub(super) fn retryable(e: &DbErr) -> bool {
    match code(e) {
        Some(Code::Sqlite(c)) => matches!(c, SQLITE_BUSY | SQLITE_LOCKED),
        Some(Code::Sqlstate(c)) => c == DEADLOCK || c == SERIALIZATION,
        None => false,
    }
}

/// The database refused the data of some event (Postgres' data exceptions and integrity
/// violations, classes 22 and 23; SQLite's TOOBIG, CONSTRAINT, MISMATCH and RANGE), so that
/// storing the events one by one isolates it. A connection that failed or a statement that
/// timed out would fail every event again, slowly: those are not split.
pub(super) fn refused_data(e: &DbErr) -> bool {
    match code(e) {
        Some(Code::Sqlite(c)) => matches!(c, 18 | 19 | 20 | 25),
        Some(Code::Sqlstate(c)) => c.starts_with("22") || c.starts_with("23"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{
        ConnectOptions, ConnectionTrait, Database, DatabaseConnection, SqliteTransactionMode,
        TransactionOptions, TransactionTrait,
    };

    use super::*;

    async fn connect(url: &str) -> DatabaseConnection {
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(1).sqlx_logging(false);
        let db = Database::connect(options).await.unwrap();
        db.execute_unprepared("PRAGMA busy_timeout = 0")
            .await
            .unwrap();
        db
    }

    #[tokio::test]
    async fn sqlite_errors_are_told_by_their_code() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let (a, b) = (connect(&url).await, connect(&url).await);
        a.execute_unprepared("CREATE TABLE t (k TEXT PRIMARY KEY)")
            .await
            .unwrap();
        let immediate = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let lock = a.begin_with_options(immediate).await.unwrap();
        let busy = b
            .execute_unprepared("INSERT INTO t VALUES ('x')")
            .await
            .unwrap_err();
        assert!(retryable(&busy) && !refused_data(&busy), "{busy:?}");
        lock.commit().await.unwrap();
        b.execute_unprepared("INSERT INTO t VALUES ('x')")
            .await
            .unwrap();
        let duplicate = b
            .execute_unprepared("INSERT INTO t VALUES ('x')")
            .await
            .unwrap_err();
        assert!(
            refused_data(&duplicate) && !retryable(&duplicate),
            "{duplicate:?}"
        );
        let syntax = b.execute_unprepared("INSERT INTO").await.unwrap_err();
        assert!(!refused_data(&syntax) && !retryable(&syntax), "{syntax:?}");
    }

    #[tokio::test]
    async fn postgres_errors_are_told_by_their_sqlstate() {
        // The Postgres server of the tests, whatever the backend under test.
        let Some(url) = ["TEST_POSTGRES_URL", "TEST_DATABASE_URL"]
            .into_iter()
            .filter_map(|var| std::env::var(var).ok())
            .find(|url| url.starts_with("postgres"))
        else {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but neither TEST_POSTGRES_URL nor TEST_DATABASE_URL names Postgres"
            );
            return;
        };
        let (a, b) = (connect_pg(&url).await, connect_pg(&url).await);
        let ta = a.begin().await.unwrap();
        let tb = b.begin().await.unwrap();
        ta.execute_unprepared("SELECT pg_advisory_xact_lock(881)")
            .await
            .unwrap();
        tb.execute_unprepared("SELECT pg_advisory_xact_lock(882)")
            .await
            .unwrap();
        // Each waits for the other's lock: Postgres breaks the cycle by failing one.
        let (ra, rb) = tokio::join!(
            ta.execute_unprepared("SELECT pg_advisory_xact_lock(882)"),
            tb.execute_unprepared("SELECT pg_advisory_xact_lock(881)"),
        );
        let deadlock = ra.err().or(rb.err()).expect("one of them deadlocked");
        assert!(
            retryable(&deadlock) && !refused_data(&deadlock),
            "{deadlock:?}"
        );
        ta.rollback().await.unwrap();
        tb.rollback().await.unwrap();
        let bad_date = a
            .execute_unprepared("SELECT '2026-13-45'::date")
            .await
            .unwrap_err();
        assert!(
            refused_data(&bad_date) && !retryable(&bad_date),
            "{bad_date:?}"
        );
    }

    async fn connect_pg(url: &str) -> DatabaseConnection {
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(1).sqlx_logging(false);
        Database::connect(options).await.unwrap()
    }
}
