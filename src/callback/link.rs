//! Tying scans back to generations: by Ticket when the push has one (a Ticket that is not
//! ours links to nothing), otherwise the latest generation with the scene (assigned and
//! legacy keys included). Resolved for a whole batch in two queries.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement, Value};

use super::event::{EventKind, IncomingEvent};

/// The generation a scan came from.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Link {
    /// Generation id.
    pub id: i64,
    /// Its ticket.
    pub ticket: Option<String>,
    /// Its scene.
    pub scene: String,
    /// Its passive reply text.
    pub reply: Option<String>,
}

/// For each event, the generation it came from (subscribe/SCAN with a scene or ticket only).
///
/// # Errors
/// The database failed.
pub async fn resolve<C: ConnectionTrait>(
    db: &C,
    events: &[&IncomingEvent],
) -> Result<Vec<Option<Link>>, DbErr> {
    let scans: Vec<&IncomingEvent> = events
        .iter()
        .copied()
        .filter(|e| matches!(e.kind, EventKind::Subscribe | EventKind::Scan))
        .filter(|e| e.scene.is_some() || e.ticket.is_some())
        .collect();
    if scans.is_empty() {
        return Ok(vec![None; events.len()]);
    }
    let tickets: Vec<&str> = dedup(scans.iter().filter_map(|e| e.ticket.as_deref()));
    let by_ticket: HashMap<String, Link> = query(
        db,
        "SELECT id, ticket, scene, reply FROM qr_generation WHERE status = 'succeeded' AND ticket IN",
        &tickets,
        "",
    )
    .await?
    .into_iter()
    .filter_map(|l| Some((l.ticket.clone()?, l)))
    .collect();
    let scenes: Vec<&str> = dedup(
        scans
            .iter()
            .filter(|e| e.ticket.is_none())
            .filter_map(|e| e.scene.as_deref()),
    );
    let by_scene: HashMap<String, Link> = query(
        db,
        "SELECT id, ticket, scene, reply FROM qr_generation WHERE id IN \
         (SELECT MAX(id) FROM qr_generation WHERE status = 'succeeded' AND scene IN",
        &scenes,
        " GROUP BY scene)",
    )
    .await?
    .into_iter()
    .map(|l| (l.scene.clone(), l))
    .collect();
    Ok(events
        .iter()
        .map(|e| {
            if !matches!(e.kind, EventKind::Subscribe | EventKind::Scan) {
                return None;
            }
            // A Ticket that is none of ours is a code made elsewhere (maybe with the same
            // scene): it links to nothing. Without a Ticket, the scene decides.
            match &e.ticket {
                Some(t) => by_ticket.get(t).cloned(),
                None => e.scene.as_ref().and_then(|s| by_scene.get(s)).cloned(),
            }
        })
        .collect())
}

fn dedup<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = values.collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// `{head} ($1, $2, ...){tail}` over `values`; nothing is queried for an empty list.
async fn query<C: ConnectionTrait>(
    db: &C,
    head: &str,
    values: &[&str],
    tail: &str,
) -> Result<Vec<Link>, DbErr> {
    if values.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=values.len()).map(|i| format!("${i}")).collect();
    let sql = format!("{head} ({}){tail}", placeholders.join(", "));
    let params: Vec<Value> = values.iter().map(|v| (*v).into()).collect();
    let statement = Statement::from_sql_and_values(db.get_database_backend(), sql, params);
    Link::find_by_statement(statement).all(db).await
}
