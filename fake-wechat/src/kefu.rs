//! Customer-service (kefu) messages: `message/custom/send` with the types qrscene sends
//! (text, image, news, miniprogrampage), checked as WeChat documents them.
//!
//! WeChat lets an account send 3 messages within 1 minute of a user's follow or scan. The
//! fake knows of an interaction only when a test declares one
//! ([`crate::FakeWeChat::declare_interaction`]); then a message more than 60 s after it
//! answers 45015 and the 4th message 45047. Without one every message is accepted.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::SentMessage;
use crate::access::{TokenQuery, json_body, with_app};
use crate::errcode::*;
use crate::handlers::error;
use crate::state::{App, Endpoint, State};

/// How long after a follow or a scan WeChat accepts customer-service messages.
pub(crate) const REPLY_WINDOW: Duration = Duration::from_secs(60);
/// Messages WeChat accepts in that window.
pub(crate) const REPLIES_PER_WINDOW: usize = 3;
/// Longest text message, in bytes (WeChat answers 45002 past it).
pub(crate) const MAX_TEXT_BYTES: usize = 2048;

/// `POST /cgi-bin/message/custom/send`.
pub(crate) async fn custom_send(
    state: web::Data<Mutex<State>>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> HttpResponse {
    with_app(&state, &q, Endpoint::CustomSend, |app| {
        app.kefu_calls += 1;
        let body = match json_body(&body) {
            Ok(body) => body,
            Err(r) => return *r,
        };
        match check(app, &body) {
            Ok(()) => {
                app.kefu_sent.push(SentMessage {
                    body,
                    at: SystemTime::now(),
                });
                HttpResponse::Ok().json(json!({ "errcode": 0, "errmsg": "ok" }))
            }
            Err((errcode, errmsg)) => error(errcode, errmsg),
        }
    })
    .await
}

/// WeChat's checks of a message, then of the user's window (counting the message in it).
fn check(app: &mut App, body: &Value) -> Result<(), (i64, &'static str)> {
    const FORMAT: (i64, &str) = (ERR_DATA_FORMAT, "data format error");
    let touser = body.get("touser").and_then(Value::as_str).ok_or(FORMAT)?;
    let msgtype = body.get("msgtype").and_then(Value::as_str).ok_or(FORMAT)?;
    if touser.is_empty() || !app.follows(touser) {
        return Err((ERR_INVALID_OPENID, "invalid openid"));
    }
    let content = body.get(msgtype);
    let field = |name: &str| {
        content
            .and_then(|c| c.get(name))
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    match msgtype {
        "text" => {
            let text = field("content").ok_or(FORMAT)?;
            if text.len() > MAX_TEXT_BYTES {
                return Err((ERR_CONTENT_TOO_LONG, "content size out of limit"));
            }
        }
        "image" => {
            field("media_id").ok_or(FORMAT)?;
        }
        "miniprogrampage" => {
            for name in ["title", "appid", "pagepath", "thumb_media_id"] {
                field(name).ok_or(FORMAT)?;
            }
        }
        "news" => {
            let articles = content
                .and_then(|c| c.get("articles"))
                .and_then(Value::as_array)
                .ok_or(FORMAT)?;
            if articles.len() != 1 {
                return Err((ERR_ARTICLE_COUNT, "article size out of limit"));
            }
            if articles[0].get("title").and_then(Value::as_str).is_none() {
                return Err(FORMAT);
            }
        }
        _ => return Err((ERR_INVALID_MSGTYPE, "invalid message type")),
    }
    if let Some(interaction) = app.interactions.get_mut(touser) {
        let elapsed = SystemTime::now()
            .duration_since(interaction.at)
            .unwrap_or_default();
        if elapsed > REPLY_WINDOW {
            return Err((ERR_REPLY_TIME_LIMIT, "response out of time limit"));
        }
        if interaction.sent >= REPLIES_PER_WINDOW {
            return Err((ERR_REPLY_COUNT_LIMIT, "out of response count limit"));
        }
        interaction.sent += 1;
    }
    Ok(())
}
