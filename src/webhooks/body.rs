//! The body of a delivery, built once from the stored rows on its first attempt:
//!
//! ```json
//! {"type": "scan", "timestamp": "<RFC 3339 time of the event>",
//!  "data": {"account": "<appid>",
//!           "event": {"id", "kind", "msg_type", "openid", "create_time", "occurred_at",
//!                     "event_key", "scene", "ticket"},
//!           "code": {"id", "activity_id", "payload"} | null,
//!           "follower": {"openid", "subscribed", "first_followed_at",
//!                        "first_code": {"id", "activity_id"} | null} | null,
//!           "binding": {...}  (binding.bound only)}}
//! ```

use chrono::{DateTime, SecondsFormat, Utc};
use entity::{account_binding, qr_generation, wechat_event, wechat_follower};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use serde_json::{Value, json};

use crate::scans::bindings;

/// The type of a binding delivery, as its seed payload names it.
pub const BINDING_BOUND: &str = "binding.bound";

/// Why a body cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The rows it needs are gone (or never were): permanent.
    #[error("{0}")]
    Gone(String),
    /// The database failed: try again.
    #[error("the event could not be read: {0}")]
    Db(#[from] DbErr),
}

/// Whether a stored payload is a built body (the first attempt stored it, or `/test` wrote it).
pub fn is_built(payload: &str) -> bool {
    serde_json::from_str::<Value>(payload).is_ok_and(|v| v.get("data").is_some())
}

/// The type a seed payload asks for (`{"type": "binding.bound"}`), if any.
pub fn seed_type(payload: Option<&str>) -> Option<String> {
    let value: Value = serde_json::from_str(payload?).ok()?;
    value.get("type")?.as_str().map(str::to_owned)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The body of the delivery of event `event_id` of account `account_id` (appid `appid`):
/// of the event's kind, or of `seed` (`binding.bound`).
///
/// # Errors
/// [`BodyError::Gone`] when the event is not there (or is another account's), or is not of a
/// deliverable kind; the database failing.
pub async fn build(
    db: &DatabaseConnection,
    account_id: i64,
    appid: &str,
    event_id: i64,
    seed: Option<&str>,
) -> Result<String, BodyError> {
    let event = wechat_event::Entity::find_by_id(event_id)
        .one(db)
        .await?
        .filter(|e| e.account_id == account_id)
        .ok_or_else(|| BodyError::Gone(format!("event {event_id} no longer exists")))?;
    let kind = event.kind.as_str();
    let ty = match seed {
        Some(BINDING_BOUND) => BINDING_BOUND,
        Some(other) => {
            return Err(BodyError::Gone(format!(
                "unknown delivery type {other:?} in the job's payload"
            )));
        }
        None if matches!(kind, "scan" | "subscribe" | "unsubscribe" | "message") => kind,
        None => {
            return Err(BodyError::Gone(format!(
                "event {event_id} is a {kind}, which webhooks do not deliver"
            )));
        }
    };
    let code = match event.generation_id {
        Some(id) => qr_generation::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let follower = wechat_follower::Entity::find_by_id((account_id, event.openid.clone()))
        .one(db)
        .await?;
    let first_code = match follower.as_ref().and_then(|f| f.first_generation_id) {
        Some(id) if code.as_ref().is_some_and(|c| c.id == id) => code.clone(),
        Some(id) => qr_generation::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let mut data = json!({
        "account": appid,
        "event": {
            "id": event.id,
            "kind": kind,
            "msg_type": event.msg_type,
            "openid": event.openid,
            "create_time": event.create_time,
            "occurred_at": rfc3339(event.occurred_at),
            "event_key": event.event_key,
            "scene": event.scene,
            "ticket": event.ticket,
        },
        "code": code.as_ref().map(|c| json!({
            "id": c.id,
            "activity_id": c.activity_id,
            "payload": c.payload,
        })),
        "follower": follower.as_ref().map(|f| json!({
            "openid": f.openid,
            "subscribed": f.subscribed,
            "first_followed_at": f.first_followed_at.map(rfc3339),
            "first_code": f.first_generation_id.map(|id| json!({
                "id": id,
                "activity_id": first_code.as_ref().and_then(|c| c.activity_id.clone()),
            })),
        })),
    });
    if ty == BINDING_BOUND {
        data["binding"] = binding(db, &event).await?;
    }
    let body = json!({
        "type": ty,
        "timestamp": rfc3339(event.occurred_at),
        "data": data,
    });
    Ok(body.to_string())
}

/// The binding the event's code was made for, as `GET /api/v1/bindings/{id}` shows it.
async fn binding(db: &DatabaseConnection, event: &wechat_event::Model) -> Result<Value, BodyError> {
    let gone = || BodyError::Gone(format!("event {} bound no binding", event.id));
    let generation = event.generation_id.ok_or_else(gone)?;
    let row = account_binding::Entity::find()
        .filter(account_binding::Column::GenerationId.eq(generation))
        .filter(account_binding::Column::AccountId.eq(event.account_id))
        .one(db)
        .await?
        .ok_or_else(gone)?;
    let view = match bindings::get(db, row.id).await {
        Ok(view) => view,
        Err(bindings::BindingError::Database(e)) => return Err(e.into()),
        Err(_) => return Err(gone()),
    };
    serde_json::to_value(&view).map_err(|e| BodyError::Gone(format!("binding unreadable: {e}")))
}

/// The body of a test delivery to webhook `webhook_id` of `appid`, made at `now`.
pub fn test_body(appid: &str, webhook_id: i64, now: DateTime<Utc>) -> String {
    json!({
        "type": super::TEST_TYPE,
        "timestamp": rfc3339(now),
        "data": {
            "account": appid,
            "webhook_id": webhook_id,
            "message": "a test delivery from qrscene",
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_bodies_and_seeds_are_told_apart() {
        let test = test_body("wx1", 3, Utc::now());
        assert!(is_built(&test));
        assert_eq!(seed_type(Some(&test)).as_deref(), Some("webhook.test"));
        assert!(!is_built(r#"{"type":"binding.bound"}"#));
        assert_eq!(
            seed_type(Some(r#"{"type":"binding.bound"}"#)).as_deref(),
            Some(BINDING_BOUND)
        );
        assert_eq!(seed_type(None), None);
        assert!(!is_built("not json"));
    }
}
