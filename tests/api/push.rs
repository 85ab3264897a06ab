//! Building pushes the way WeChat does: XML, query signatures, safe-mode encryption.

use qrscene::wechat::crypto::{EncodingAesKey, MessageCrypto};
use qrscene::wechat::signature::sign;

use crate::helpers::{CALLBACK_TOKEN, TestApp};

/// The EncodingAESKey of the safe-mode tests.
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// A previous key, for rotation.
pub const OLD_AES_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A subscribe (scene = Some) or plain follow.
pub fn subscribe(
    openid: &str,
    create_time: i64,
    scene: Option<&str>,
    ticket: Option<&str>,
) -> String {
    event(
        openid,
        create_time,
        "subscribe",
        scene.map(|s| format!("qrscene_{s}")).as_deref(),
        ticket,
    )
}

pub fn scan(openid: &str, create_time: i64, scene: &str, ticket: Option<&str>) -> String {
    event(openid, create_time, "SCAN", Some(scene), ticket)
}

pub fn unsubscribe(openid: &str, create_time: i64) -> String {
    event(openid, create_time, "unsubscribe", None, None)
}

pub fn event(
    openid: &str,
    create_time: i64,
    event: &str,
    key: Option<&str>,
    ticket: Option<&str>,
) -> String {
    event_to("gh_test", openid, create_time, event, key, ticket)
}

/// An event pushed to the account whose original id is `to`.
pub fn event_to(
    to: &str,
    openid: &str,
    create_time: i64,
    event: &str,
    key: Option<&str>,
    ticket: Option<&str>,
) -> String {
    let key = key
        .map(|k| format!("<EventKey><![CDATA[{k}]]></EventKey>"))
        .unwrap_or_default();
    let ticket = ticket
        .map(|t| format!("<Ticket><![CDATA[{t}]]></Ticket>"))
        .unwrap_or_default();
    format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[{event}]]></Event>{key}{ticket}</xml>"
    )
}

/// A request to the callback: query parameters and body.
#[derive(Clone, Debug)]
pub struct Push {
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Push {
    /// Plaintext mode, signed now.
    pub fn plain(xml: &str) -> Self {
        Self::plain_at(xml, now())
    }

    pub fn plain_at(xml: &str, timestamp: i64) -> Self {
        Self::plain_signed(xml, CALLBACK_TOKEN, timestamp)
    }

    /// Plaintext mode, signed with `token` at `timestamp`.
    pub fn plain_signed(xml: &str, token: &str, timestamp: i64) -> Self {
        let (timestamp, nonce) = (timestamp.to_string(), format!("{}", rand_nonce()));
        let signature = sign(&[token, &timestamp, &nonce]);
        let query = vec![
            ("signature".into(), signature),
            ("timestamp".into(), timestamp),
            ("nonce".into(), nonce),
            ("openid".into(), "o".into()),
        ];
        Self {
            query,
            body: xml.as_bytes().to_vec(),
        }
    }

    /// Safe mode: `xml` encrypted with `key` for `appid`.
    pub fn safe(xml: &str, key: &str, appid: &str) -> Self {
        Self::safe_signed(xml, key, appid, CALLBACK_TOKEN, false)
    }

    /// Safe mode (compatible mode when `compatible`): `xml` encrypted with `key` for
    /// `appid`, signed with `token`.
    pub fn safe_signed(xml: &str, key: &str, appid: &str, token: &str, compatible: bool) -> Self {
        let crypto = MessageCrypto::new(EncodingAesKey::parse(key).unwrap(), appid);
        Self::ciphertext_signed(&crypto.encrypt_random(xml), compatible, token)
    }

    /// Safe mode with a given ciphertext; `compatible` adds the plaintext fields.
    pub fn safe_ciphertext(encrypted: &str, compatible: bool) -> Self {
        Self::ciphertext_signed(encrypted, compatible, CALLBACK_TOKEN)
    }

    fn ciphertext_signed(encrypted: &str, compatible: bool, token: &str) -> Self {
        let mut push = Self::plain_signed("", token, now());
        let timestamp = push.param("timestamp").to_owned();
        let nonce = push.param("nonce").to_owned();
        let msg_signature = sign(&[token, &timestamp, &nonce, encrypted]);
        push.query.push(("encrypt_type".into(), "aes".into()));
        push.query.push(("msg_signature".into(), msg_signature));
        let plain = if compatible {
            "<FromUserName><![CDATA[o]]></FromUserName>"
        } else {
            ""
        };
        push.body = format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName>{plain}<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )
        .into_bytes();
        push
    }

    pub fn param(&self, name: &str) -> &str {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    pub fn set(mut self, name: &str, value: &str) -> Self {
        self.query.retain(|(k, _)| k != name);
        self.query.push((name.into(), value.into()));
        self
    }

    pub fn without(mut self, name: &str) -> Self {
        self.query.retain(|(k, _)| k != name);
        self
    }

    /// Sends it to `/wechat/callback`; answers status and body.
    pub async fn send(&self, app: &TestApp) -> (u16, String) {
        self.send_to(app, "/wechat/callback").await
    }

    /// Sends it to `path` (an account's callback URL); answers status and body.
    pub async fn send_to(&self, app: &TestApp, path: &str) -> (u16, String) {
        let response = app
            .http
            .post(format!("{}{path}", app.address))
            .query(&self.query)
            .body(self.body.clone())
            .send()
            .await
            .expect("callback request");
        (response.status().as_u16(), response.text().await.unwrap())
    }
}

fn rand_nonce() -> u64 {
    u64::from(uuid::Uuid::new_v4().as_u128() as u32)
}
