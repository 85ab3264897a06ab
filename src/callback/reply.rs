//! The answer to a stored push: `success`, or the passive reply (text, image or news) of
//! the code's actions (encrypted in safe mode). Identical requests get identical answers: the reply's time and
//! nonce are the request's, and its random prefix is derived from the event.

use sha1::{Digest, Sha1};

use super::store::Stored;
use super::verify::{Mode, ReplyTo};
use crate::wechat::message::{self, PassiveReply};
use crate::wechat::signature;

/// WeChat's "no reply".
pub const SUCCESS: &str = "success";

/// The body to answer `push` with, once it is stored as `stored`.
pub fn answer(push: &ReplyTo, stored: &Stored, token: &str) -> String {
    let Some(stored_reply) = stored.reply.as_deref() else {
        return SUCCESS.to_owned();
    };
    // Stored as JSON; a plain text (written by a release before replies became JSON, during
    // a rolling upgrade) is a text reply.
    let reply =
        serde_json::from_str::<PassiveReply>(stored_reply).unwrap_or_else(|_| PassiveReply::Text {
            content: stored_reply.to_owned(),
        });
    let xml = reply.render(&push.openid, &push.account, push.timestamp);
    match &push.mode {
        Mode::Plain => xml,
        Mode::Aes(crypto) => {
            let digest = Sha1::new()
                .chain_update(stored.event_id.to_be_bytes())
                .chain_update(push.nonce.as_bytes())
                .finalize();
            let mut random = [0u8; 16];
            random.copy_from_slice(&digest[..16]);
            let encrypted = crypto.encrypt(&xml, random);
            let timestamp = push.timestamp.to_string();
            let msg_signature = signature::sign(&[token, &timestamp, &push.nonce, &encrypted]);
            message::encrypted_reply(&encrypted, &msg_signature, push.timestamp, &push.nonce)
        }
    }
}
