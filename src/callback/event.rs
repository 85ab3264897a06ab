//! A verified push as the row it becomes: classification, scene, and the key that folds
//! WeChat's retries into one row.

use chrono::{DateTime, Utc};
use sha1::{Digest, Sha1};

use crate::wechat::message::{Push, RawMessage};

/// What a push is, as stored in `wechat_event.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A follow, with or without a scene.
    Subscribe,
    /// A follower scanned a parametric code.
    Scan,
    /// An unfollow.
    Unsubscribe,
    /// Menu click.
    Click,
    /// Menu link.
    View,
    /// Location report.
    Location,
    /// Template message delivery report.
    TemplateSendJobFinish,
    /// An ordinary message (text, image, ...).
    Message,
    /// Anything else; still answered `success`.
    Other,
}

impl EventKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscribe => "subscribe",
            Self::Scan => "scan",
            Self::Unsubscribe => "unsubscribe",
            Self::Click => "click",
            Self::View => "view",
            Self::Location => "location",
            Self::TemplateSendJobFinish => "template_send_job_finish",
            Self::Message => "message",
            Self::Other => "other",
        }
    }

    /// Whether it changes the follower record.
    pub fn touches_follower(self) -> bool {
        matches!(self, Self::Subscribe | Self::Scan | Self::Unsubscribe)
    }
}

/// A push ready to be stored.
#[derive(Debug, Clone)]
pub struct IncomingEvent {
    /// `m:{MsgId}` for messages; `e:` + sha1 of openid, CreateTime, Event, EventKey otherwise.
    pub dedup_key: String,
    /// `ToUserName`.
    pub account: String,
    /// `FromUserName`.
    pub openid: String,
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
    pub ticket: Option<String>,
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
    /// The row for `message`, whose plaintext is `xml`.
    pub fn new(message: &RawMessage, xml: String) -> Self {
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
        Self {
            dedup_key,
            account: message.to_user_name.clone(),
            openid: message.from_user_name.clone(),
            msg_type: message.msg_type.clone(),
            event: message.event.clone(),
            kind,
            event_key: message.event_key.clone(),
            scene,
            ticket,
            msg_id: message.msg_id,
            create_time: message.create_time,
            occurred_at: DateTime::from_timestamp(message.create_time, 0).unwrap_or_else(Utc::now),
            xml,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::message;

    #[test]
    fn retries_share_a_key_and_distinct_events_do_not() {
        let xml = include_str!("../../tests/fixtures/subscribe_scene.xml");
        let a = IncomingEvent::new(&message::parse(xml).unwrap(), xml.into());
        let b = IncomingEvent::new(&message::parse(xml).unwrap(), xml.into());
        assert_eq!(a.dedup_key, b.dedup_key);
        assert_eq!(a.kind, EventKind::Subscribe);
        assert!(a.scene.is_some());
        let scan = include_str!("../../tests/fixtures/scan.xml");
        let c = IncomingEvent::new(&message::parse(scan).unwrap(), scan.into());
        assert_ne!(a.dedup_key, c.dedup_key);
        let text = include_str!("../../tests/fixtures/text.xml");
        let t = IncomingEvent::new(&message::parse(text).unwrap(), text.into());
        assert!(t.dedup_key.starts_with("m:"));
        assert_eq!(t.kind, EventKind::Message);
    }
}
