//! The verification table: every refused push gets its status and stores nothing.

use aes::Aes256;
use base64::Engine;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeEncrypt, KeyIvInit};
use qrscene::wechat::signature::sign;

use crate::helpers::{CALLBACK_TOKEN, Options, TestApp, spawn_app, spawn_with};
use crate::push::{AES_KEY, OLD_AES_KEY, Push, now, subscribe};

async fn assert_refused(app: &TestApp, push: &Push, status: u16, what: &str) {
    let (got, body) = push.send(app).await;
    assert_eq!(got, status, "{what}: {body}");
    assert!(app.events().await.is_empty(), "{what} stored something");
}

#[tokio::test]
async fn plaintext_pushes_are_refused_before_anything_is_stored() {
    let app = spawn_app().await;
    let xml = subscribe("oA", now(), Some("1"), None);
    let ok = Push::plain(&xml);

    let mut big = ok.clone();
    big.body = format!("<xml><Content>{}</Content></xml>", "x".repeat(70 * 1024)).into_bytes();
    assert_refused(&app, &big, 413, "64 KiB").await;
    for param in ["signature", "timestamp", "nonce"] {
        assert_refused(&app, &ok.clone().without(param), 400, param).await;
    }
    assert_refused(
        &app,
        &ok.clone().set("timestamp", "soon"),
        400,
        "timestamp not a number",
    )
    .await;
    assert_refused(
        &app,
        &ok.clone().set("signature", &"0".repeat(40)),
        401,
        "wrong signature",
    )
    .await;
    assert_refused(
        &app,
        &ok.clone().set("nonce", "other"),
        401,
        "nonce not signed",
    )
    .await;
    assert_refused(
        &app,
        &Push::plain_at(&xml, now() - 301),
        401,
        "timestamp too old",
    )
    .await;
    assert_refused(
        &app,
        &Push::plain_at(&xml, now() + 301),
        401,
        "timestamp in the future",
    )
    .await;

    assert_refused(&app, &Push::plain("<xml><ToUserName>"), 400, "malformed").await;
    let mut latin1 = Push::plain("");
    latin1.body = b"<xml><ToUserName>\xe9</ToUserName></xml>".to_vec();
    assert_refused(&app, &latin1, 400, "not UTF-8").await;
    assert_refused(
        &app,
        &Push::plain(include_str!("../fixtures/doctype_entity.xml")),
        400,
        "DOCTYPE",
    )
    .await;
    assert_refused(
        &app,
        &Push::plain("<xml><MsgType>event</MsgType></xml>"),
        400,
        "missing fields",
    )
    .await;

    // Within the skew, the same push is accepted.
    assert_eq!(
        Push::plain_at(&xml, now() - 250).send(&app).await,
        (200, "success".into())
    );
    assert_eq!(app.events().await.len(), 1);
}

fn raw_encrypt(key: &str, plain: &[u8]) -> String {
    let config = base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true);
    let engine = base64::engine::GeneralPurpose::new(&base64::alphabet::STANDARD, config);
    let key_bytes: [u8; 32] = engine
        .decode(format!("{key}="))
        .unwrap()
        .try_into()
        .unwrap();
    let iv: [u8; 16] = key_bytes[..16].try_into().unwrap();
    let cipher = cbc::Encryptor::<Aes256>::new(&key_bytes.into(), &iv.into())
        .encrypt_padded_vec::<NoPadding>(plain);
    base64::engine::general_purpose::STANDARD.encode(cipher)
}

/// 16 random bytes, a length field, the message, the appid, and padding to 32 bytes whose
/// bytes are the pad length when `valid_padding`, zero otherwise.
fn framed(message: &str, claimed_len: u32, appid: &str, valid_padding: bool) -> Vec<u8> {
    let mut plain = vec![7u8; 16];
    plain.extend_from_slice(&claimed_len.to_be_bytes());
    plain.extend_from_slice(message.as_bytes());
    plain.extend_from_slice(appid.as_bytes());
    let pad = 32 - plain.len() % 32;
    plain.resize(plain.len() + pad, if valid_padding { pad as u8 } else { 0 });
    plain
}

#[tokio::test]
async fn safe_mode_pushes_are_refused_before_anything_is_stored() {
    let app = spawn_with(Options {
        aes_key: Some(AES_KEY.into()),
        ..Options::default()
    })
    .await;
    let appid = app_appid(&app).await;
    let xml = subscribe("oB", now(), Some("1"), None);
    let ok = Push::safe(&xml, AES_KEY, &appid);

    assert_refused(
        &app,
        &ok.clone().without("msg_signature"),
        400,
        "msg_signature missing",
    )
    .await;
    assert_refused(
        &app,
        &ok.clone().set("msg_signature", &"1".repeat(40)),
        401,
        "wrong msg_signature",
    )
    .await;
    assert_refused(
        &app,
        &ok.clone().set("signature", &"1".repeat(40)),
        401,
        "wrong signature",
    )
    .await;
    assert_refused(
        &app,
        &Push::safe(&xml, OLD_AES_KEY, &appid),
        401,
        "another key",
    )
    .await;
    assert_refused(
        &app,
        &Push::safe(&xml, AES_KEY, "wx0000000000000000"),
        401,
        "another appid",
    )
    .await;
    assert_refused(
        &app,
        &Push::safe_ciphertext("bm90IGFlcw==", false),
        401,
        "not a whole block",
    )
    .await;
    assert_refused(
        &app,
        &Push::safe_ciphertext("@@@", false),
        401,
        "not base64",
    )
    .await;
    let bad_padding = raw_encrypt(AES_KEY, &framed(&xml, xml.len() as u32, &appid, false));
    assert_refused(
        &app,
        &Push::safe_ciphertext(&bad_padding, false),
        401,
        "pad byte 0",
    )
    .await;
    let long_length = raw_encrypt(AES_KEY, &framed(&xml, 60_000, &appid, true));
    assert_refused(
        &app,
        &Push::safe_ciphertext(&long_length, false),
        401,
        "length field",
    )
    .await;
    let mut malformed = Push::safe("<xml><ToUserName>", AES_KEY, &appid);
    assert_refused(&app, &malformed, 400, "malformed inside").await;
    malformed.body = b"<xml><Encrypt>".to_vec();
    assert_refused(&app, &malformed, 400, "malformed envelope").await;

    // The well-formed frame of the same bytes is accepted: the cases above differ only in
    // what they break.
    let good = raw_encrypt(AES_KEY, &framed(&xml, xml.len() as u32, &appid, true));
    assert_eq!(
        Push::safe_ciphertext(&good, false).send(&app).await,
        (200, "success".into())
    );
    assert_eq!(app.events().await.len(), 1);
}

/// The appid the app was spawned with (the fake's account).
async fn app_appid(app: &TestApp) -> String {
    app.fake.appid()
}

#[tokio::test]
async fn unknown_types_are_answered_success_and_stored_as_other() {
    let app = spawn_app().await;
    for (xml, _) in [
        (include_str!("../fixtures/unknown_event.xml"), "event"),
        (include_str!("../fixtures/unknown_msgtype.xml"), "msg"),
    ] {
        assert_eq!(Push::plain(xml).send(&app).await, (200, "success".into()));
    }
    let events = app.events().await;
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["other", "other"]
    );
}

#[tokio::test]
async fn the_url_check_answers_echostr_only_when_signed() {
    let app = spawn_app().await;
    let timestamp = now().to_string();
    let signature = sign(&[CALLBACK_TOKEN, &timestamp, "42"]);
    let url = format!("{}/wechat/callback", app.address);
    let ok = app
        .http
        .get(&url)
        .query(&[
            ("signature", signature.as_str()),
            ("timestamp", &timestamp),
            ("nonce", "42"),
            ("echostr", "hello 123"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(
        ok.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(ok.text().await.unwrap(), "hello 123");
    let bad = app
        .http
        .get(&url)
        .query(&[
            ("signature", "00"),
            ("timestamp", &timestamp),
            ("nonce", "42"),
            ("echostr", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let missing = app
        .http
        .get(&url)
        .query(&[("echostr", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
}
