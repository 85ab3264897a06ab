//! A verified push as the row it becomes: classification, scene, and the key that folds
//! WeChat's retries into one row.

use chrono::{DateTime, Utc};
use sha1::{Digest, Sha1};

pub use entity::wechat_event::EventKind;

use crate::wechat::ids::{FieldError, OpenId, Ticket};
use crate::wechat::message::{Push, RawMessage};

/// Latest `CreateTime` that is a storable timestamp on every backend: 9999-12-31T23:59:59Z.
pub const MAX_CREATE_TIME: i64 = 253_402_300_799;
const CREATE_TIME_RULE: &str = "must be Unix seconds from 0 to 253402300799";

/// Whether an event of `kind` changes the follower record.
pub fn touches_follower(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::Subscribe | EventKind::Scan | EventKind::Unsubscribe
    )
}

/// Whether an event of `kind` can be tied to the code that was scanned.
pub fn is_scan(kind: EventKind) -> bool {
    matches!(kind, EventKind::Subscribe | EventKind::Scan)
}

/// `value` if it has at most `max` characters (when bounded) and no NUL, which no text
/// column of Postgres can hold.
fn text<'a>(
    field: &'static str,
    value: &'a str,
    max: Option<usize>,
    rule: &'static str,
) -> Result<&'a str, FieldError> {
    let fits = max.is_none_or(|max| value.chars().count() <= max);
    if fits && !value.contains('\0') {
        Ok(value)
    } else {
        Err(FieldError::new(field, rule))
    }
}

fn optional(
    field: &'static str,
    value: Option<&str>,
    max: Option<usize>,
    rule: &'static str,
) -> Result<Option<String>, FieldError> {
    value
        .map(|v| text(field, v, max, rule).map(str::to_owned))
        .transpose()
}

/// A push ready to be stored.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    /// The account (`account.id`) it was pushed to; set by [`Self::for_account`].
    pub account_id: i64,
    /// `{account id}:` then `m:{MsgId}` for messages; `e:` + sha1 of openid, CreateTime,
    /// Event, EventKey otherwise.
    pub dedup_key: String,
    /// `ToUserName`.
    pub account: String,
    /// `FromUserName`.
    pub openid: OpenId,
    /// `MsgType`.
    pub msg_type: String,
    /// `Event`.
    pub event: Option<String>,
    /// Classification.
    pub kind: EventKind,
    /// `EventKey` as sent.
    pub event_key: Option<String>,
    /// Scene of a subscribe or SCAN from a code.
    pub scene: Option<String>,
    /// `Ticket` of a scan.
    pub ticket: Option<Ticket>,
    /// `MsgId` of a message.
    pub msg_id: Option<i64>,
    /// `CreateTime`.
    pub create_time: i64,
    /// `CreateTime` as a timestamp.
    pub occurred_at: DateTime<Utc>,
    /// The plaintext XML.
    pub xml: String,
}

impl IncomingEvent {
    /// The event as pushed to account `account_id`: its dedup key is the account's own (the
    /// same push to two accounts is two events).
    #[must_use]
    pub fn for_account(mut self, account_id: i64) -> Self {
        self.account_id = account_id;
        self.dedup_key = format!("{account_id}:{}", self.dedup_key);
        self
    }

    /// The row for `message`, whose plaintext is `xml`, once every field fits its column.
    ///
    /// # Errors
    /// A field that no column can hold: `ToUserName` (1 to 64 characters), `FromUserName`
    /// ([`OpenId`]), `MsgType` (32), `Event` (64), `Ticket` ([`Ticket`]), a NUL byte in any
    /// text, or a `CreateTime` outside 0..=[`MAX_CREATE_TIME`].
    pub fn new(message: &RawMessage, xml: String) -> Result<Self, FieldError> {
        let account = text(
            "ToUserName",
            &message.to_user_name,
            Some(64),
            "must be 1 to 64 characters without NUL",
        )?;
        if account.is_empty() {
            return Err(FieldError::new(
                "ToUserName",
                "must be 1 to 64 characters without NUL",
            ));
        }
        let openid = OpenId::parse(message.from_user_name.as_str())?;
        let msg_type = text(
            "MsgType",
            &message.msg_type,
            Some(32),
            "must be at most 32 characters without NUL",
        )?;
        let event = optional(
            "Event",
            message.event.as_deref(),
            Some(64),
            "must be at most 64 characters without NUL",
        )?;
        let event_key = optional(
            "EventKey",
            message.event_key.as_deref(),
            None,
            "must not contain NUL",
        )?;
        text("body", &xml, None, "must not contain NUL")?;
        if !(0..=MAX_CREATE_TIME).contains(&message.create_time) {
            return Err(FieldError::new("CreateTime", CREATE_TIME_RULE));
        }
        let occurred_at = DateTime::from_timestamp(message.create_time, 0)
            .ok_or(FieldError::new("CreateTime", CREATE_TIME_RULE))?;
        let (kind, scene, ticket) = match message.push() {
            Push::Subscribe { scene, ticket } => (EventKind::Subscribe, scene, ticket),
            Push::Scan { scene, ticket } => (EventKind::Scan, Some(scene), ticket),
            Push::Unsubscribe => (EventKind::Unsubscribe, None, None),
            Push::Click { .. } => (EventKind::Click, None, None),
            Push::View { .. } => (EventKind::View, None, None),
            Push::Location { .. } => (EventKind::Location, None, None),
            Push::TemplateSendJobFinish { .. } => (EventKind::TemplateSendJobFinish, None, None),
            Push::Message { .. } => (EventKind::Message, None, None),
            Push::Other { .. } => (EventKind::Other, None, None),
        };
        let ticket = ticket.map(Ticket::parse).transpose()?;
        // A scene longer than a scene can be is not one of ours; keep it in event_key only.
        let scene = scene.filter(|s| !s.is_empty() && s.chars().count() <= 64);
        let dedup_key = match (message.msg_id, message.template_msg_id) {
            (Some(id), _) if message.event.is_none() => format!("m:{id}"),
            // Two template reports for one user can share a second: their MsgID tells them apart.
            (_, Some(id)) => format!("t:{id}"),
            _ => {
                let mut h = Sha1::new();
                for part in [
                    message.from_user_name.as_str(),
                    &message.create_time.to_string(),
                    message.event.as_deref().unwrap_or(""),
                    message.event_key.as_deref().unwrap_or(""),
                ] {
                    h.update(part.as_bytes());
                    h.update([0u8]);
                }
                format!("e:{}", hex::encode(h.finalize()))
            }
        };
        Ok(Self {
            account_id: 0,
            dedup_key,
            account: account.to_owned(),
            openid,
            msg_type: msg_type.to_owned(),
            event,
            kind,
            event_key,
            scene,
            ticket,
            msg_id: message.msg_id,
            create_time: message.create_time,
            occurred_at,
            xml,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::message;

    #[test]
    fn retries_share_a_key_and_distinct_events_do_not() {
        let xml = include_str!("../../tests/fixtures/subscribe_scene.xml");
        let a = IncomingEvent::new(&message::parse(xml).unwrap(), xml.into()).unwrap();
        let b = IncomingEvent::new(&message::parse(xml).unwrap(), xml.into()).unwrap();
        assert_eq!(a.dedup_key, b.dedup_key);
        assert_eq!(a.kind, EventKind::Subscribe);
        assert!(a.scene.is_some());
        let scan = include_str!("../../tests/fixtures/scan.xml");
        let c = IncomingEvent::new(&message::parse(scan).unwrap(), scan.into()).unwrap();
        assert_ne!(a.dedup_key, c.dedup_key);
        let text = include_str!("../../tests/fixtures/text.xml");
        let t = IncomingEvent::new(&message::parse(text).unwrap(), text.into()).unwrap();
        assert!(t.dedup_key.starts_with("m:"));
        assert_eq!(t.kind, EventKind::Message);
    }

    #[test]
    fn fields_that_no_column_holds_are_named() {
        let xml = include_str!("../../tests/fixtures/click.xml");
        let good = message::parse(xml).unwrap();
        type Spoil = fn(&mut RawMessage);
        let cases: [(&str, Spoil); 6] = [
            ("ToUserName", |m| m.to_user_name = "g".repeat(65)),
            ("FromUserName", |m| m.from_user_name = "o".repeat(65)),
            ("MsgType", |m| m.msg_type = "t".repeat(33)),
            ("Event", |m| m.event = Some("e\0".into())),
            ("EventKey", |m| m.event_key = Some("k\0".into())),
            ("CreateTime", |m| m.create_time = -1),
        ];
        for (field, spoil) in cases {
            let mut m = good.clone();
            spoil(&mut m);
            assert_eq!(IncomingEvent::new(&m, xml.into()).unwrap_err().field, field);
        }
        let e = IncomingEvent::new(&good, "a\0".into()).unwrap_err();
        assert_eq!(e.field, "body");
        let mut m = good.clone();
        m.create_time = MAX_CREATE_TIME + 1;
        assert_eq!(
            IncomingEvent::new(&m, xml.into()).unwrap_err().field,
            "CreateTime"
        );
        m.create_time = MAX_CREATE_TIME;
        assert!(IncomingEvent::new(&m, xml.into()).is_ok());
    }
}
