//! Passive replies: the XML WeChat accepts as the HTTP answer to a push.

/// Wraps `value` in CDATA, splitting the section wherever `value` contains `]]>`.
fn cdata(value: &str) -> String {
    format!("<![CDATA[{}]]>", value.replace("]]>", "]]]]><![CDATA[>"))
}

/// Builds a passive text reply; `to` is the user's openid and `from` the account id,
/// i.e. the push's `FromUserName` and `ToUserName` swapped.
#[must_use]
pub fn text_reply(to: &str, from: &str, create_time: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>\
         <Content>{}</Content></xml>",
        cdata(to),
        cdata(from),
        cdata(content),
    )
}

/// Builds the safe-mode envelope around an encrypted reply.
#[must_use]
pub fn encrypted_reply(
    encrypt_b64: &str,
    msg_signature: &str,
    timestamp: i64,
    nonce: &str,
) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
         <TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt_b64),
        cdata(msg_signature),
        cdata(nonce),
    )
}
