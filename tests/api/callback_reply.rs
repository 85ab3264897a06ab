//! Passive replies: plaintext, safe mode, compatible mode, key rotation, retries.

use qrscene::wechat::crypto::{EncodingAesKey, MessageCrypto};
use qrscene::wechat::message::EncryptedEnvelope;
use qrscene::wechat::signature::sign;
use serde_json::json;

use crate::helpers::{CALLBACK_TOKEN, Options, spawn_app, spawn_with};
use crate::push::{AES_KEY, OLD_AES_KEY, Push, now, scan, subscribe};

fn decrypt_reply(body: &str, key: &str, appid: &str) -> String {
    let envelope = EncryptedEnvelope::parse(body).expect("encrypted reply envelope");
    let field = |name: &str| {
        let start = body.find(&format!("<{name}>")).unwrap() + name.len() + 2;
        let end = body.find(&format!("</{name}>")).unwrap();
        body[start..end]
            .trim_start_matches("<![CDATA[")
            .trim_end_matches("]]>")
            .to_owned()
    };
    let (signature, timestamp, nonce) = (field("MsgSignature"), field("TimeStamp"), field("Nonce"));
    assert_eq!(
        signature,
        sign(&[CALLBACK_TOKEN, &timestamp, &nonce, &envelope.encrypt]),
        "reply signature"
    );
    MessageCrypto::new(EncodingAesKey::parse(key).unwrap(), appid)
        .decrypt(&envelope.encrypt)
        .unwrap()
}

#[tokio::test]
async fn a_code_with_a_reply_answers_subscribe_and_scan_in_plaintext() {
    let app = spawn_app().await;
    let (_, g) = app
        .create(json!({"kind":"temporary","reply":"欢迎关注 <3 ]]> & more"}))
        .await;
    let xml = subscribe("oR", now(), g["scene_str"].as_str(), g["ticket"].as_str());
    let (status, body) = Push::plain(&xml).send(&app).await;
    assert_eq!(status, 200);
    let reply = qrscene::wechat::message::parse(&body).expect("reply is XML");
    assert_eq!(reply.to_user_name, "oR");
    assert_eq!(reply.from_user_name, "gh_test");
    assert_eq!(reply.msg_type, "text");
    assert_eq!(reply.content.as_deref(), Some("欢迎关注 <3 ]]> & more"));
    let (_, scan_body) = Push::plain(&scan(
        "oR",
        now() + 1,
        g["scene_str"].as_str().unwrap(),
        None,
    ))
    .send(&app)
    .await;
    assert!(scan_body.contains("欢迎关注"));
    // A code without a reply answers success.
    let (_, plain) = app.create(json!({"kind":"temporary"})).await;
    let (_, body) = Push::plain(&scan(
        "oR",
        now() + 2,
        plain["scene_str"].as_str().unwrap(),
        None,
    ))
    .send(&app)
    .await;
    assert_eq!(body, "success");
}

#[tokio::test]
async fn safe_mode_replies_decrypt_to_the_text_and_retries_get_the_same_reply() {
    let app = spawn_with(Options {
        aes_key: Some(AES_KEY.into()),
        ..Options::default()
    })
    .await;
    let appid = app.fake.appid();
    let (_, g) = app
        .create(json!({"kind":"temporary","reply":"扫码成功"}))
        .await;
    let xml = subscribe(
        "oSafe",
        now(),
        g["scene_str"].as_str(),
        g["ticket"].as_str(),
    );
    let push = Push::safe(&xml, AES_KEY, &appid);
    let answers = futures_util::future::join_all((0..3).map(|_| push.send(&app))).await;
    assert!(
        answers.iter().all(|a| a == &answers[0] && a.0 == 200),
        "{answers:?}"
    );
    let reply =
        qrscene::wechat::message::parse(&decrypt_reply(&answers[0].1, AES_KEY, &appid)).unwrap();
    assert_eq!(reply.content.as_deref(), Some("扫码成功"));
    assert_eq!(reply.to_user_name, "oSafe");
    assert_eq!(app.events().await.len(), 1);
    assert_eq!(
        push.send(&app).await,
        answers[0],
        "a retry after the commit"
    );
}

#[tokio::test]
async fn compatible_mode_and_the_previous_key_are_accepted() {
    let options = Options {
        aes_key: Some(AES_KEY.into()),
        aes_key_previous: Some(OLD_AES_KEY.into()),
        ..Options::default()
    };
    let app = spawn_with(options).await;
    let appid = app.fake.appid();
    let (_, g) = app.create(json!({"kind":"temporary","reply":"ok"})).await;
    let crypto = MessageCrypto::new(EncodingAesKey::parse(AES_KEY).unwrap(), &appid);
    let xml = scan("oCompat", now(), g["scene_str"].as_str().unwrap(), None);
    let (status, body) = Push::safe_ciphertext(&crypto.encrypt_random(&xml), true)
        .send(&app)
        .await;
    assert_eq!(status, 200);
    assert!(decrypt_reply(&body, AES_KEY, &appid).contains("<![CDATA[ok]]>"));
    // During rotation, pushes under the previous key still decrypt; the reply uses that key.
    let xml = scan("oOld", now(), g["scene_str"].as_str().unwrap(), None);
    let (status, body) = Push::safe(&xml, OLD_AES_KEY, &appid).send(&app).await;
    assert_eq!(status, 200);
    assert!(decrypt_reply(&body, OLD_AES_KEY, &appid).contains("oOld"));
    assert_eq!(app.events().await.len(), 2);
}

#[tokio::test]
async fn sandbox_scans_go_through_the_callback_and_are_404_outside_sandbox() {
    let live = spawn_app().await;
    let (_, g) = live.create(json!({"kind":"temporary"})).await;
    let response = live
        .post(
            "/sandbox/scan",
            &json!({"qrcode_id": g["id"], "openid": "oX"}),
        )
        .await;
    assert_eq!(response.status(), 404);

    let sandbox = spawn_with(Options {
        live: false,
        ..Options::default()
    })
    .await;
    let (_, g) = sandbox
        .create(json!({"kind":"temporary","reply":"hello","payload":{"activity_id":"S1"}}))
        .await;
    for follower in [false, true] {
        let answer: serde_json::Value = sandbox
            .post(
                "/sandbox/scan",
                &json!({"qrcode_id": g["id"], "openid": "oSand", "follower": follower}),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(answer["callback_status"], 200, "{answer}");
        assert!(answer["callback_body"].as_str().unwrap().contains("hello"));
    }
    let events = sandbox.events().await;
    assert_eq!(
        events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["subscribe", "scan"]
    );
    assert!(events.iter().all(|e| e.generation_id == g["id"].as_i64()));
    let bad = sandbox
        .post(
            "/sandbox/scan",
            &json!({"qrcode_id": g["id"], "openid": ""}),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let missing = sandbox
        .post("/sandbox/scan", &json!({"qrcode_id": 999, "openid": "o"}))
        .await;
    assert_eq!(missing.status(), 404);
}
