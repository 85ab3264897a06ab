//! The typed view of a push: which event or message it is and the data each kind needs.

use super::RawMessage;

/// Prefix WeChat puts before the scene of a subscribe-by-QR-code event.
const SUBSCRIBE_SCENE_PREFIX: &str = "qrscene_";

/// The kind of an ordinary (non-event) message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// `text`
    Text,
    /// `image`
    Image,
    /// `voice`
    Voice,
    /// `video`
    Video,
    /// `shortvideo`
    ShortVideo,
    /// `location`
    Location,
    /// `link`
    Link,
}

impl MessageKind {
    fn from_msg_type(msg_type: &str) -> Option<Self> {
        const KINDS: [(&str, MessageKind); 7] = [
            ("text", MessageKind::Text),
            ("image", MessageKind::Image),
            ("voice", MessageKind::Voice),
            ("video", MessageKind::Video),
            ("shortvideo", MessageKind::ShortVideo),
            ("location", MessageKind::Location),
            ("link", MessageKind::Link),
        ];
        KINDS
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(msg_type))
            .map(|(_, kind)| kind)
    }
}

/// What a push means. A push that lacks the data its kind needs is [`Push::Other`],
/// so that the caller still answers `success`.
#[derive(Debug, Clone, PartialEq)]
pub enum Push {
    /// A follow; `scene` is set when it came from a parametric QR code.
    Subscribe {
        /// The scene value without the `qrscene_` prefix; `None` for a plain follow.
        scene: Option<String>,
        /// The QR code ticket, when sent.
        ticket: Option<String>,
    },
    /// A follower scanned a parametric QR code.
    Scan {
        /// The scene value, sent without prefix.
        scene: String,
        /// The QR code ticket, when sent.
        ticket: Option<String>,
    },
    /// An unfollow.
    Unsubscribe,
    /// A click on a menu button.
    Click {
        /// The button's key.
        key: String,
    },
    /// A click on a menu link.
    View {
        /// The link's URL.
        url: String,
    },
    /// The periodic location report of a user who allowed it.
    Location {
        /// Degrees north.
        latitude: f64,
        /// Degrees east.
        longitude: f64,
        /// Precision in metres.
        precision: f64,
    },
    /// The outcome of a template message send.
    TemplateSendJobFinish {
        /// The id returned when the template message was sent.
        msg_id: i64,
        /// `success` or the failure reason.
        status: String,
    },
    /// An ordinary message from a user.
    Message {
        /// What was sent.
        kind: MessageKind,
        /// WeChat's 64-bit id, the key for deduplicating retries.
        msg_id: i64,
    },
    /// Anything else: an unknown event or message type, or a known one with data missing.
    Other {
        /// `MsgType` as sent.
        msg_type: String,
        /// `Event` as sent.
        event: Option<String>,
    },
}

impl RawMessage {
    /// Classifies the push, comparing `MsgType` and `Event` case-insensitively.
    #[must_use]
    pub fn push(&self) -> Push {
        let typed = if self.msg_type.eq_ignore_ascii_case("event") {
            self.event
                .as_deref()
                .and_then(|event| self.event_push(event))
        } else {
            let kind = MessageKind::from_msg_type(&self.msg_type);
            kind.zip(self.msg_id)
                .map(|(kind, msg_id)| Push::Message { kind, msg_id })
        };
        typed.unwrap_or_else(|| Push::Other {
            msg_type: self.msg_type.clone(),
            event: self.event.clone(),
        })
    }

    fn event_push(&self, event: &str) -> Option<Push> {
        let is = |name: &str| event.eq_ignore_ascii_case(name);
        let key = non_empty(self.event_key.as_deref());
        let ticket = non_empty(self.ticket.as_deref()).map(str::to_owned);
        if is("subscribe") {
            let scene = key.map(|k| k.strip_prefix(SUBSCRIBE_SCENE_PREFIX).unwrap_or(k));
            let scene = non_empty(scene).map(str::to_owned);
            Some(Push::Subscribe { scene, ticket })
        } else if is("SCAN") {
            let scene = key?.to_owned();
            Some(Push::Scan { scene, ticket })
        } else if is("unsubscribe") {
            Some(Push::Unsubscribe)
        } else if is("CLICK") {
            Some(Push::Click {
                key: key?.to_owned(),
            })
        } else if is("VIEW") {
            Some(Push::View {
                url: key?.to_owned(),
            })
        } else if is("LOCATION") {
            Some(Push::Location {
                latitude: self.latitude?,
                longitude: self.longitude?,
                precision: self.precision?,
            })
        } else if is("TEMPLATESENDJOBFINISH") {
            Some(Push::TemplateSendJobFinish {
                msg_id: self.template_msg_id?,
                status: self.status.clone()?,
            })
        } else {
            None
        }
    }
}

fn non_empty(value: Option<&str>) -> Option<&str> {
    value.filter(|v| !v.is_empty())
}
