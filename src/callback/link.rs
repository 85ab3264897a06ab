//! Tying scans back to generations, the one definition both backends run: a subscribe or
//! SCAN with a Ticket comes from the latest succeeded generation with that ticket (a Ticket
//! that is none of ours links to nothing, even if the scene matches a code of ours: the code
//! was made elsewhere); without a Ticket, from the latest succeeded generation with the scene
//! (assigned and legacy keys included). Other events link to nothing.
//!
//! Written as SQL over a relation `input` of the batch's rows (see [`super::rows`]), so that
//! the link is made in the statement that inserts the events.

use std::sync::LazyLock;

use super::event::{EventKind, is_scan};
use sea_orm::Iterable;

/// A generation that WeChat accepted (the only ones with a ticket and a code to scan).
const SUCCEEDED: &str = "'succeeded'";

/// `kind` as an SQL literal (its stored value is a plain identifier: nothing to escape).
pub(super) fn literal(kind: EventKind) -> String {
    format!("'{}'", kind.as_str())
}

/// `{column} IN (...)` over the kinds that `keep`: a rule's kinds, taken from the enum.
pub(super) fn kinds_sql(column: &str, keep: fn(EventKind) -> bool) -> String {
    let kinds: Vec<String> = EventKind::iter()
        .filter(|k| keep(*k))
        .map(literal)
        .collect();
    format!("{column} IN ({})", kinds.join(", "))
}

/// The CTE `linked`: each `input` row with `generation_id`, the generation it came from.
pub(super) static LINKED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "linked AS (SELECT i.account_id, i.dedup_key, i.account, i.openid, i.msg_type, i.event, i.kind, \
            i.event_key, i.scene, i.ticket, i.msg_id, i.create_time, i.occurred_at, i.xml, \
            CASE WHEN NOT ({scan}) THEN NULL \
            WHEN i.ticket IS NOT NULL THEN (SELECT g.id FROM qr_generation g \
                WHERE g.ticket = i.ticket AND g.account_id = i.account_id \
                AND g.status = {SUCCEEDED} ORDER BY g.id DESC LIMIT 1) \
            ELSE (SELECT g.id FROM qr_generation g \
                WHERE g.scene = i.scene AND g.account_id = i.account_id \
                AND g.status = {SUCCEEDED} ORDER BY g.id DESC LIMIT 1) \
            END AS generation_id \
        FROM input i)",
        scan = kinds_sql("i.kind", is_scan),
    )
});

/// Inserts `linked` (received at `$2`) in key order, skipping keys already stored; each
/// event keeps its generation's reply so that a retry gets the same answer.
/// The reply is the one of the code's effective actions ([`super::jobs::reply_sql`]).
pub(super) static INSERT_EVENTS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO wechat_event (account_id, dedup_key, account, openid, \
            msg_type, event, kind, event_key, scene, ticket, msg_id, create_time, occurred_at, \
            received_at, generation_id, reply, xml) \
        SELECT l.account_id, l.dedup_key, l.account, l.openid, l.msg_type, l.event, l.kind, l.event_key, l.scene, \
            l.ticket, l.msg_id, l.create_time, l.occurred_at, $2, l.generation_id, \
            (SELECT {reply} FROM qr_generation g LEFT JOIN activity_action aa \
                ON aa.account_id = g.account_id AND aa.activity_id = g.activity_id \
                WHERE g.id = l.generation_id), l.xml \
        FROM linked l WHERE true ORDER BY l.dedup_key \
        ON CONFLICT (dedup_key) DO NOTHING \
        RETURNING id, dedup_key, generation_id, reply",
        reply = super::jobs::reply_sql(),
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_enum() {
        assert_eq!(
            kinds_sql("k", is_scan),
            "k IN ('subscribe', 'scan')".to_owned()
        );
        // Stored values are plain identifiers: nothing to escape in a literal.
        for kind in EventKind::iter() {
            assert!(
                kind.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }
}
