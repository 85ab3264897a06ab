//! Storing a batch in one transaction with portable SQL (SQLite, and any backend without
//! the Postgres path): link, multi-row insert skipping stored keys, read back the skipped,
//! one follower upsert.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, SqliteTransactionMode, Statement,
    TransactionOptions, TransactionTrait, Value,
};

use super::event::IncomingEvent;
use super::followers::{self, FollowEvent};
use super::link;
use super::store::{Existing, Stored, read_stored};

const COLUMNS: usize = 16;
const INSERT_HEAD: &str = "INSERT INTO wechat_event (dedup_key, account, openid, msg_type, event, kind, \
    event_key, scene, ticket, msg_id, create_time, occurred_at, received_at, generation_id, reply, xml) VALUES ";

/// Stores `unique` (distinct keys, sorted); answers the outcome of each key.
///
/// # Errors
/// The database failed; nothing was committed.
pub async fn commit(
    db: &DatabaseConnection,
    unique: &[&IncomingEvent],
) -> Result<HashMap<String, Stored>, DbErr> {
    let links = link::resolve(db, unique).await?;
    let options = TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..Default::default()
    };
    let txn = db.begin_with_options(options).await?;
    let received_at = Utc::now();
    let mut sql = String::from(INSERT_HEAD);
    let mut params: Vec<Value> = Vec::with_capacity(unique.len() * COLUMNS);
    for (i, (e, l)) in unique.iter().zip(&links).enumerate() {
        if i > 0 {
            sql.push_str(", ");
        }
        let row: Vec<String> = (1..=COLUMNS)
            .map(|n| format!("${}", i * COLUMNS + n))
            .collect();
        sql.push('(');
        sql.push_str(&row.join(", "));
        sql.push(')');
        params.extend([
            e.dedup_key.clone().into(),
            e.account.clone().into(),
            e.openid.clone().into(),
            e.msg_type.clone().into(),
            e.event.clone().into(),
            e.kind.as_str().into(),
            e.event_key.clone().into(),
            e.scene.clone().into(),
            e.ticket.clone().into(),
            e.msg_id.into(),
            e.create_time.into(),
            e.occurred_at.into(),
            received_at.into(),
            l.as_ref().map(|l| l.id).into(),
            l.as_ref().and_then(|l| l.reply.clone()).into(),
            e.xml.clone().into(),
        ]);
    }
    sql.push_str(
        " ON CONFLICT (dedup_key) DO NOTHING RETURNING id, dedup_key, generation_id, reply",
    );
    let backend = txn.get_database_backend();
    let inserted =
        Existing::find_by_statement(Statement::from_sql_and_values(backend, sql, params))
            .all(&txn)
            .await?;
    let mut stored = HashMap::with_capacity(unique.len());
    let mut follow = Vec::new();
    for row in inserted {
        // `unique` is sorted by key.
        if let Ok(i) = unique.binary_search_by(|e| e.dedup_key.as_str().cmp(&row.dedup_key)) {
            let e = unique[i];
            follow.push(FollowEvent {
                event: e,
                id: row.id,
                generation_id: row.generation_id,
            });
        }
        let (key, outcome) = row.into_stored(false);
        stored.insert(key, outcome);
    }
    let retried: Vec<&str> = unique
        .iter()
        .map(|e| e.dedup_key.as_str())
        .filter(|k| !stored.contains_key(*k))
        .collect();
    for row in read_stored(&txn, &retried).await? {
        let (key, outcome) = row.into_stored(true);
        stored.insert(key, outcome);
    }
    followers::apply(&txn, follow).await?;
    txn.commit().await?;
    Ok(stored)
}
