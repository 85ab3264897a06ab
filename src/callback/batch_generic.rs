//! Storing a batch in one transaction on SQLite (and any backend without the one-statement
//! path), running the same write rules as Postgres: the events with their links
//! ([`super::link`]) in one statement, then the follower fold ([`super::followers`]) over
//! the rows it inserted (SQLite cannot chain an insert into another).

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait,
};
use serde_json::json;

use super::event::IncomingEvent;
use super::followers::FOLD;
use super::jobs::jobs_sql;
use super::link::{INSERT_EVENTS, LINKED};
use super::rows;
use super::store::{Existing, Stored, read_stored};

static STORE_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {input}, {linked} {insert}",
        input = rows::sqlite_input(),
        insert = *INSERT_EVENTS,
        linked = *LINKED,
    )
});

/// The inserted events, from `$1` (`[{"id", "seq"}]`).
const TOUCHED: &str = "touched AS (SELECT e.id, e.account_id, e.openid, e.account, e.kind, e.create_time, \
    e.occurred_at, e.generation_id, json_extract(x.value, '$.seq') AS seq \
    FROM json_each($1) x JOIN wechat_event e ON e.id = json_extract(x.value, '$.id'))";

/// `$1`: the inserted events; `$2`: the batch's receipt.
static STORE_FOLLOWERS: LazyLock<String> =
    LazyLock::new(|| format!("WITH {TOUCHED} {fold}", fold = *FOLD));

/// `$1`: the inserted events; `$2`, `$3`: the epoch milliseconds of the commit and of the
/// end of the tag gathering window.
static STORE_JOBS: LazyLock<String> =
    LazyLock::new(|| format!("WITH {TOUCHED} {jobs}", jobs = jobs_sql("$2", "$3")));

/// Stores `unique` (distinct keys, sorted, each with its place in the order of arrival),
/// received at `received_at`; answers the outcome of each key.
///
/// # Errors
/// The database failed; nothing was committed.
pub async fn commit(
    db: &DatabaseConnection,
    unique: &[(&IncomingEvent, usize)],
    received_at: DateTime<Utc>,
    tag_gather_ms: i64,
) -> Result<HashMap<String, Stored>, DbErr> {
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let txn = db.begin_with_options(options).await?;
    let backend = txn.get_database_backend();
    let params = vec![rows::json(unique).to_string().into(), received_at.into()];
    let inserted = Existing::find_by_statement(Statement::from_sql_and_values(
        backend,
        &*STORE_EVENTS,
        params,
    ))
    .all(&txn)
    .await?;
    let seq: HashMap<&str, usize> = unique
        .iter()
        .map(|(e, seq)| (e.dedup_key.as_str(), *seq))
        .collect();
    let touched: Vec<serde_json::Value> = inserted
        .iter()
        .filter_map(|row| Some(json!({"id": row.id, "seq": seq.get(row.dedup_key.as_str())?})))
        .collect();
    let mut stored: HashMap<String, Stored> = inserted
        .into_iter()
        .map(|row| row.into_stored(false))
        .collect();
    let retried: Vec<&str> = unique
        .iter()
        .map(|(e, _)| e.dedup_key.as_str())
        .filter(|k| !stored.contains_key(*k))
        .collect();
    for row in read_stored(&txn, &retried).await? {
        let (key, outcome) = row.into_stored(true);
        stored.insert(key, outcome);
    }
    if !touched.is_empty() {
        let touched = serde_json::Value::Array(touched).to_string();
        let params = vec![touched.clone().into(), received_at.into()];
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            &*STORE_FOLLOWERS,
            params,
        ))
        .await?;
        let now_ms = received_at.timestamp_millis();
        let params = vec![
            touched.into(),
            now_ms.into(),
            (now_ms + tag_gather_ms).into(),
        ];
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            &*STORE_JOBS,
            params,
        ))
        .await?;
    }
    txn.commit().await?;
    Ok(stored)
}
