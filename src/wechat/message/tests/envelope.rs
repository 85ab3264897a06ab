use super::*;
use crate::wechat::crypto::{EncodingAesKey, MessageCrypto};
use crate::wechat::signature;

const SAFE: &str = include_str!("../../../../tests/fixtures/safe_mode_envelope.xml");
const COMPATIBLE: &str = include_str!("../../../../tests/fixtures/compatible_mode.xml");
const VECTOR_CIPHER: &str =
    "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==";

fn compatible_crypto() -> MessageCrypto {
    let key = EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    MessageCrypto::new(key, "wxb11529c136998cb6")
}

#[test]
fn safe_mode_envelope() {
    let env = EncryptedEnvelope::parse(SAFE).unwrap();
    assert_eq!(env.to_user_name.as_deref(), Some(ACCOUNT));
    assert_eq!(env.encrypt, VECTOR_CIPHER);
    let parts = ["AAAAA", "1713424427", "415670741", env.encrypt.as_str()];
    assert!(signature::verify(
        "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1",
        &parts
    ));
    let key = EncodingAesKey::parse(&"A".repeat(43)).unwrap();
    let plain = MessageCrypto::new(key, "wxba5fad812f8e6fb9")
        .decrypt(&env.encrypt)
        .unwrap();
    assert_eq!(plain, r#"{"demo_resp":"good luck"}"#);
}

#[test]
fn safe_mode_envelope_is_not_a_plain_message() {
    assert_eq!(
        parse(SAFE).unwrap_err(),
        XmlError::MissingField("FromUserName")
    );
}

#[test]
fn compatible_mode_parses_both_ways_and_agrees() {
    let env = EncryptedEnvelope::parse(COMPATIBLE).unwrap();
    assert_eq!(env.to_user_name.as_deref(), Some(ACCOUNT));
    let plain = load(COMPATIBLE, 1_714_036_507, "event");
    let decrypted = parse(&compatible_crypto().decrypt(&env.encrypt).unwrap()).unwrap();
    assert_eq!(decrypted, plain);
    let push = Push::Scan {
        scene: "123123".to_owned(),
        ticket: Some(TICKET.to_owned()),
    };
    assert_eq!(decrypted.push(), push);
}

#[test]
fn envelope_without_encrypt_names_it() {
    let xml = "<xml><ToUserName><![CDATA[gh_3c884a361561]]></ToUserName></xml>";
    assert_eq!(
        EncryptedEnvelope::parse(xml).unwrap_err(),
        XmlError::MissingField("Encrypt")
    );
}

#[test]
fn envelope_with_doctype_is_refused() {
    let xml = format!(
        "<!DOCTYPE xml [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>{}",
        SAFE.replace("gh_3c884a361561", "&e;")
    );
    assert_eq!(
        EncryptedEnvelope::parse(&xml).unwrap_err(),
        XmlError::Doctype
    );
}
