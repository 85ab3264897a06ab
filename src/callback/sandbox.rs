//! Sandbox scans: the push WeChat would send when someone scans a code, built, signed (and
//! encrypted when an EncodingAESKey is set) and sent through the real callback path.

use std::time::Duration;

use entity::qr_generation;
use rand::RngExt;

use super::verify::CallbackKeys;
use crate::wechat::signature;

/// `ToUserName` of sandbox pushes to an account whose original id is not known yet.
pub const SANDBOX_ACCOUNT: &str = "gh_sandbox";

/// Who scans, and whether they already follow the account.
#[derive(Debug, Clone)]
pub struct Scanner {
    /// Their openid.
    pub openid: String,
    /// `true`: SCAN; `false`: subscribe with the scene.
    pub follower: bool,
}

/// A signed push, ready to send.
#[derive(Debug, Clone)]
pub struct SignedPush {
    /// The query string parameters.
    pub query: Vec<(&'static str, String)>,
    /// The body (plaintext XML or the safe-mode envelope).
    pub body: String,
    /// The plaintext XML.
    pub xml: String,
}

/// The push to account `to` (its original id, or [`SANDBOX_ACCOUNT`]) for `generation`
/// scanned by `scanner` at `now`.
pub fn build(
    generation: &qr_generation::Model,
    scanner: &Scanner,
    (to, keys): (&str, &CallbackKeys),
    now: i64,
) -> SignedPush {
    let (event, key) = if scanner.follower {
        ("SCAN", generation.scene.clone())
    } else {
        ("subscribe", format!("qrscene_{}", generation.scene))
    };
    let ticket = generation.ticket.as_deref().unwrap_or_default();
    let xml = format!(
        "<xml><ToUserName><![CDATA[{to}]]></ToUserName>\
         <FromUserName><![CDATA[{}]]></FromUserName><CreateTime>{now}</CreateTime>\
         <MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>\
         <EventKey><![CDATA[{}]]></EventKey><Ticket><![CDATA[{ticket}]]></Ticket></xml>",
        scanner.openid,
        key.replace("]]>", "]]]]><![CDATA[>"),
    );
    let timestamp = now.to_string();
    let nonce = rand::rng()
        .random_range(100_000_000u32..4_000_000_000)
        .to_string();
    let mut query = vec![
        (
            "signature",
            signature::sign(&[keys.token(), &timestamp, &nonce]),
        ),
        ("timestamp", timestamp.clone()),
        ("nonce", nonce.clone()),
        ("openid", scanner.openid.clone()),
    ];
    let body = match keys.current_crypto() {
        None => xml.clone(),
        Some(crypto) => {
            let encrypted = crypto.encrypt_random(&xml);
            query.push(("encrypt_type", "aes".into()));
            query.push((
                "msg_signature",
                signature::sign(&[keys.token(), &timestamp, &nonce, &encrypted]),
            ));
            format!(
                "<xml><ToUserName><![CDATA[{to}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            )
        }
    };
    SignedPush { query, body, xml }
}

/// Sends pushes to this instance's own callback URL.
pub struct SelfCallback {
    http: reqwest::Client,
    url: String,
}

impl SelfCallback {
    /// Posts to `url` (this server's `/wechat/callback`).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(url: String) -> Result<Self, reqwest::Error> {
        crate::wechat::client::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self { http, url })
    }

    /// Sends `push` to the callback of account `appid` and answers its status and body.
    ///
    /// # Errors
    /// The callback could not be reached.
    pub async fn send(
        &self,
        push: &SignedPush,
        appid: &str,
    ) -> Result<(u16, String), reqwest::Error> {
        let response = self
            .http
            .post(format!("{}/{appid}", self.url))
            .query(&push.query)
            .body(push.body.clone())
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }
}
