//! Storing a batch on Postgres in one statement and one round trip: the write rules of
//! [`super::link`] and [`super::followers`] chained as CTEs over the batch's rows
//! ([`super::rows`]), atomically.

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult, Statement};

use super::event::IncomingEvent;
use super::followers::FOLD;
use super::jobs::jobs_sql;
use super::link::{INSERT_EVENTS, LINKED};
use super::rows;
use super::store::{Existing, Stored, read_stored};

static STORE_BATCH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {input}, {linked}, ins AS ({insert}), \
        touched AS (SELECT ins.id, i.account_id, i.openid, i.account, i.kind, i.create_time, i.occurred_at, \
            ins.generation_id, i.seq FROM ins JOIN input i ON i.dedup_key = ins.dedup_key), \
        fol AS ({fold}), jobs AS ({jobs}) \
        SELECT id, dedup_key, generation_id, reply FROM ins",
        input = rows::postgres_input(),
        insert = *INSERT_EVENTS,
        jobs = jobs_sql("$3", "$4"),
        linked = *LINKED,
        fold = *FOLD,
    )
});

/// Stores `unique` (distinct keys, sorted, each with its place in the order of arrival),
/// received at `received_at`; answers the outcome of each key.
///
/// # Errors
/// The database failed; nothing was stored.
pub async fn commit(
    db: &DatabaseConnection,
    unique: &[(&IncomingEvent, usize)],
    received_at: DateTime<Utc>,
    tag_gather_ms: i64,
) -> Result<HashMap<String, Stored>, DbErr> {
    let now_ms = received_at.timestamp_millis();
    let params = vec![
        rows::json(unique).into(),
        received_at.into(),
        now_ms.into(),
        (now_ms + tag_gather_ms).into(),
    ];
    let statement =
        Statement::from_sql_and_values(db.get_database_backend(), &*STORE_BATCH, params);
    let mut stored: HashMap<String, Stored> = Existing::find_by_statement(statement)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.into_stored(false))
        .collect();
    let retried: Vec<&str> = unique
        .iter()
        .map(|(e, _)| e.dedup_key.as_str())
        .filter(|k| !stored.contains_key(*k))
        .collect();
    stored.extend(
        read_stored(db, &retried)
            .await?
            .into_iter()
            .map(|row| row.into_stored(true)),
    );
    Ok(stored)
}
