//! Storing a batch on Postgres in one statement: the events arrive as one JSON parameter,
//! are linked to their generations (by Ticket when they have one, else the latest
//! generation with the scene), inserted skipping stored keys, and folded into their followers, atomically.
//! One round trip and one prepared statement whatever the batch size.

use std::collections::HashMap;

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult, Statement};
use serde_json::json;

use super::event::IncomingEvent;
use super::followers::UPSERT_TAIL;
use super::store::{Existing, Stored, read_stored};

const STORE_BATCH: &str = "WITH input AS ( \
    SELECT * FROM jsonb_to_recordset($1::jsonb) AS t(dedup_key text, account text, openid text, \
        msg_type text, event text, kind text, event_key text, scene text, ticket text, msg_id bigint, \
        create_time bigint, occurred_at timestamptz, xml text) \
), ins AS ( \
    INSERT INTO wechat_event (dedup_key, account, openid, msg_type, event, kind, event_key, scene, \
        ticket, msg_id, create_time, occurred_at, received_at, generation_id, reply, xml) \
    SELECT i.dedup_key, i.account, i.openid, i.msg_type, i.event, i.kind, i.event_key, i.scene, \
        i.ticket, i.msg_id, i.create_time, i.occurred_at, $2, COALESCE(bt.id, bs.id), \
        COALESCE(bt.reply, bs.reply), i.xml \
    FROM input i \
    LEFT JOIN LATERAL (SELECT g.id, g.reply FROM qr_generation g \
        WHERE i.kind IN ('subscribe', 'scan') AND g.ticket = i.ticket AND g.status = 'succeeded' \
        ORDER BY g.id DESC LIMIT 1) bt ON true \
    LEFT JOIN LATERAL (SELECT g.id, g.reply FROM qr_generation g \
        WHERE i.ticket IS NULL AND i.kind IN ('subscribe', 'scan') AND g.scene = i.scene \
        AND g.status = 'succeeded' ORDER BY g.id DESC LIMIT 1) bs ON true \
    ORDER BY i.dedup_key \
    ON CONFLICT (dedup_key) DO NOTHING \
    RETURNING id, dedup_key, account, openid, kind, create_time, occurred_at, generation_id, reply \
), fol AS ( \
    INSERT INTO wechat_follower (openid, account, subscribed, first_followed_at, \
        first_generation_id, subscribed_at, unsubscribed_at, last_event_id, last_event_kind, last_event_at) \
    SELECT openid, min(account), \
        (array_agg(kind <> 'unsubscribe' ORDER BY create_time DESC, id DESC))[1], \
        min(occurred_at) FILTER (WHERE kind = 'subscribe'), \
        (array_agg(generation_id ORDER BY create_time, id) FILTER (WHERE kind = 'subscribe'))[1], \
        max(occurred_at) FILTER (WHERE kind = 'subscribe'), \
        max(occurred_at) FILTER (WHERE kind = 'unsubscribe'), \
        (array_agg(id ORDER BY create_time DESC, id DESC))[1], \
        (array_agg(kind ORDER BY create_time DESC, id DESC))[1], \
        max(occurred_at) \
    FROM ins WHERE kind IN ('subscribe', 'scan', 'unsubscribe') \
    GROUP BY openid ORDER BY openid";

/// Stores `unique` (distinct keys, sorted); answers the outcome of each key.
///
/// # Errors
/// The database failed; nothing was stored.
pub async fn commit(
    db: &DatabaseConnection,
    unique: &[&IncomingEvent],
) -> Result<HashMap<String, Stored>, DbErr> {
    let rows: Vec<serde_json::Value> = unique
        .iter()
        .map(|e| {
            json!({
                "dedup_key": e.dedup_key, "account": e.account, "openid": e.openid,
                "msg_type": e.msg_type, "event": e.event, "kind": e.kind.as_str(),
                "event_key": e.event_key, "scene": e.scene, "ticket": e.ticket, "msg_id": e.msg_id,
                "create_time": e.create_time, "occurred_at": e.occurred_at, "xml": e.xml,
            })
        })
        .collect();
    let sql =
        format!("{STORE_BATCH}{UPSERT_TAIL}) SELECT id, dedup_key, generation_id, reply FROM ins");
    let params = vec![serde_json::Value::Array(rows).into(), Utc::now().into()];
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, params);
    let mut stored: HashMap<String, Stored> = Existing::find_by_statement(statement)
        .all(db)
        .await?
        .into_iter()
        .map(|row| row.into_stored(false))
        .collect();
    let retried: Vec<&str> = unique
        .iter()
        .map(|e| e.dedup_key.as_str())
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
