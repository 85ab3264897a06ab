//! A batch as the relation `input` that the write rules ([`super::link`],
//! [`super::followers`]) read: one JSON parameter (`$1`), so that each backend prepares one
//! statement whatever the batch size, unpacked by Postgres' `jsonb_to_recordset` or SQLite's
//! `json_each`.

use chrono::SecondsFormat;
use serde_json::{Value, json};

use super::event::IncomingEvent;

/// The columns of `input`, with their Postgres types.
const COLUMNS: [(&str, &str); 15] = [
    ("account_id", "bigint"),
    ("dedup_key", "text"),
    ("account", "text"),
    ("openid", "text"),
    ("msg_type", "text"),
    ("event", "text"),
    ("kind", "text"),
    ("event_key", "text"),
    ("scene", "text"),
    ("ticket", "text"),
    ("msg_id", "bigint"),
    ("create_time", "bigint"),
    ("occurred_at", "timestamptz"),
    ("xml", "text"),
    // The push's place in the order of arrival: breaks ties within one second.
    ("seq", "bigint"),
];

/// The CTE `input` on Postgres.
pub(super) fn postgres_input() -> String {
    let columns: Vec<String> = COLUMNS.iter().map(|(c, t)| format!("{c} {t}")).collect();
    format!(
        "input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS t({}))",
        columns.join(", ")
    )
}

/// The CTE `input` on SQLite.
pub(super) fn sqlite_input() -> String {
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(c, _)| format!("json_extract(value, '$.{c}') AS {c}"))
        .collect();
    format!(
        "input AS (SELECT {} FROM json_each($1))",
        columns.join(", ")
    )
}

/// `$1` for `events` (distinct keys), each with its place in the order of arrival.
pub(super) fn json(events: &[(&IncomingEvent, usize)]) -> Value {
    Value::Array(
        events
            .iter()
            .map(|(e, seq)| {
                json!({
                    "account_id": e.account_id, "dedup_key": e.dedup_key, "account": e.account, "openid": e.openid.as_str(),
                    "msg_type": e.msg_type, "event": e.event, "kind": e.kind.as_str(),
                    "event_key": e.event_key, "scene": e.scene,
                    "ticket": e.ticket.as_ref().map(|t| t.as_str()), "msg_id": e.msg_id,
                    "create_time": e.create_time,
                    // As sqlx writes a timestamp to SQLite, so that SQLite's text compares
                    // keep time order; Postgres parses it.
                    "occurred_at": e.occurred_at.to_rfc3339_opts(SecondsFormat::AutoSi, false),
                    "xml": e.xml, "seq": seq,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_is_in_the_json() {
        let xml = include_str!("../../tests/fixtures/scan.xml");
        let message = crate::wechat::message::parse(xml).unwrap();
        let event = IncomingEvent::new(&message, xml.into()).unwrap();
        let Value::Array(rows) = json(&[(&event, 3)]) else {
            panic!("not an array")
        };
        let row = rows[0].as_object().unwrap();
        assert_eq!(row.len(), COLUMNS.len());
        for (column, _) in COLUMNS {
            assert!(row.contains_key(column), "{column}");
        }
        assert_eq!(row["seq"], 3);
    }
}
