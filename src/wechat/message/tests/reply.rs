use super::*;
use crate::wechat::crypto::{EncodingAesKey, MessageCrypto};
use crate::wechat::signature;

#[test]
fn text_reply_has_wechat_layout() {
    let xml = text_reply(OPENID, ACCOUNT, 1_714_036_600, "欢迎关注");
    let expected = "<xml><ToUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></ToUserName>\
        <FromUserName><![CDATA[gh_3c884a361561]]></FromUserName><CreateTime>1714036600</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[欢迎关注]]></Content></xml>";
    assert_eq!(xml, expected);
}

#[test]
fn text_reply_survives_cdata_terminator_in_content() {
    let content = "a]]>b <c> & ]]>]]>";
    let xml = text_reply(OPENID, ACCOUNT, 1, content);
    assert!(xml.contains("<![CDATA[a]]]]><![CDATA[>b"));
    let raw = parse(&xml).unwrap();
    assert_eq!(
        (raw.content.as_deref(), raw.to_user_name.as_str()),
        (Some(content), OPENID)
    );
    assert_eq!(
        raw.push(),
        Push::Other {
            msg_type: "text".to_owned(),
            event: None
        }
    );
}

#[test]
fn encrypted_reply_has_wechat_layout() {
    let xml = encrypted_reply("QUJD", "1b93", 1_713_424_427, "415670741");
    let expected = "<xml><Encrypt><![CDATA[QUJD]]></Encrypt><MsgSignature><![CDATA[1b93]]></MsgSignature>\
        <TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></Nonce></xml>";
    assert_eq!(xml, expected);
}

#[test]
fn encrypted_reply_round_trips() {
    let key = EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let crypto = MessageCrypto::new(key, "wxb11529c136998cb6");
    let reply = text_reply(OPENID, ACCOUNT, 1_714_036_600, "扫码成功");
    let encrypt = crypto.encrypt_random(&reply);
    let sig = signature::sign(&["AAAAA", "1714036600", "nonce42", &encrypt]);
    let xml = encrypted_reply(&encrypt, &sig, 1_714_036_600, "nonce42");
    let env = EncryptedEnvelope::parse(&xml).unwrap();
    assert!(signature::verify(
        &sig,
        &["AAAAA", "1714036600", "nonce42", &env.encrypt]
    ));
    let raw = parse(&crypto.decrypt(&env.encrypt).unwrap()).unwrap();
    assert_eq!(raw.content.as_deref(), Some("扫码成功"));
}
