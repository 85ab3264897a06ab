//! The first scan of a code, and waiting for it.

use std::time::Duration;

use chrono::{DateTime, Utc};
use entity::{qr_generation, wechat_event};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder};
use serde::Serialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::ToSchema;

use super::bus::ScanBus;

/// Longest wait a caller may ask for, in seconds.
pub const MAX_WAIT_SECS: u64 = 60;
/// How often a waiter re-reads the database in case an announcement was lost.
const FALLBACK_POLL: Duration = Duration::from_secs(1);

/// Who scanned a code first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FirstScan {
    /// The code.
    pub qrcode_id: i64,
    /// The scan event.
    pub event_id: i64,
    /// Who scanned.
    pub openid: String,
    /// `subscribe` (a new follower) or `scan` (a follower).
    pub kind: String,
    /// `Event` as WeChat sent it.
    pub event: Option<String>,
    /// When they scanned (WeChat's CreateTime).
    pub occurred_at: DateTime<Utc>,
    /// When qrscene stored it.
    pub received_at: DateTime<Utc>,
    /// The code's payload.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<serde_json::Value>,
}

/// The first stored scan of `generation`, if any.
///
/// # Errors
/// The database failed.
pub async fn first_scan(
    db: &DatabaseConnection,
    generation: &qr_generation::Model,
) -> Result<Option<FirstScan>, DbErr> {
    let event = wechat_event::Entity::find()
        .filter(wechat_event::Column::GenerationId.eq(generation.id))
        .filter(wechat_event::Column::Kind.is_in(["subscribe", "scan"]))
        .order_by_asc(wechat_event::Column::Id)
        .one(db)
        .await?;
    Ok(event.map(|e| FirstScan {
        qrcode_id: generation.id,
        event_id: e.id,
        openid: e.openid,
        kind: e.kind.as_str().to_owned(),
        event: e.event,
        occurred_at: e.occurred_at,
        received_at: e.received_at,
        payload: generation.payload.clone(),
    }))
}

/// Waits up to `timeout` for the first scan of `generation`: answers at once if it is
/// stored already, as soon as the bus announces it otherwise, and re-reads the database
/// every second in case an announcement is lost.
///
/// # Errors
/// The database failed.
pub async fn wait_for_scan(
    db: &DatabaseConnection,
    bus: &ScanBus,
    generation: &qr_generation::Model,
    timeout: Duration,
) -> Result<Option<FirstScan>, DbErr> {
    // Subscribe before reading, so that a scan stored in between is not missed.
    let mut announcements = bus.subscribe();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(scan) = first_scan(db, generation).await? {
            return Ok(Some(scan));
        }
        let poll = tokio::time::sleep(
            FALLBACK_POLL.min(deadline.saturating_duration_since(tokio::time::Instant::now())),
        );
        tokio::pin!(poll);
        loop {
            tokio::select! {
                announced = announcements.recv() => match announced {
                    Ok(id) if id == generation.id => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    Err(RecvError::Closed) => { poll.as_mut().await; break; }
                },
                () = &mut poll => break,
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return first_scan(db, generation).await;
        }
    }
}
