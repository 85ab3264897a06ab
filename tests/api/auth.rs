//! API keys, anonymous access, and the start-up refusal.

use serde_json::json;

use crate::helpers::{KEY, Options, SECRET, TestDb, spawn_with};

/// A second key, as long as keys must be.
const OTHER: &str = "other-key-0123456789abcdef";

#[tokio::test]
async fn the_api_needs_a_known_key_and_logs_its_name() {
    let app = spawn_with(Options {
        api_keys: Some(format!("crm:{KEY},login:{OTHER}")),
        ..Options::default()
    })
    .await;
    let url = format!("{}/api/v1/qrcodes", app.address);
    let body = json!({"kind":"temporary"});
    let none = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let error: serde_json::Value = none.json().await.unwrap();
    assert_eq!(error["code"], "unauthorized");
    let wrong = app
        .http
        .post(&url)
        .bearer_auth("nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let list = app.http.get(&url).send().await.unwrap();
    assert_eq!(list.status(), 401);
    let legacy = app
        .http
        .post(format!(
            "{}/activity-wechat/api/wxWeChat/createQrCode",
            app.address
        ))
        .json(&json!({"sceneStr":"abc","second":60}))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 401);
    assert!(app.log().await.is_empty());

    let ok = app
        .http
        .post(&url)
        .bearer_auth(OTHER)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    assert_eq!(app.log().await[0].api_key.as_deref(), Some("login"));
}

#[tokio::test]
async fn legacy_open_opens_only_the_legacy_endpoint() {
    let app = spawn_with(Options {
        legacy_open: true,
        ..Options::default()
    })
    .await;
    let legacy = app
        .http
        .post(format!(
            "{}/activity-wechat/api/wxWeChat/createQrCode",
            app.address
        ))
        .json(&json!({"sceneStr":"abc","second":60}))
        .send()
        .await
        .unwrap();
    assert_eq!(legacy.status(), 200);
    let api = app
        .http
        .post(format!("{}/api/v1/qrcodes", app.address))
        .json(&json!({"kind":"temporary"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401);
}

#[tokio::test]
async fn credentials_without_keys_refuse_to_start_unless_anonymous_is_allowed() {
    let db = TestDb::new().await;
    let mut settings = qrscene::config::Settings {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: db.url.clone().into(),
        wechat_appid: Some("wxabc".into()),
        wechat_secret: Some(SECRET.into()),
        ..Default::default()
    };
    let refused = qrscene::startup::Application::build(settings.clone())
        .await
        .err()
        .expect("refused");
    let message = refused.to_string();
    assert!(
        message.contains("QRSCENE_API_KEYS") && message.contains("QRSCENE_ALLOW_ANONYMOUS"),
        "{message}"
    );
    settings.allow_anonymous = true;
    assert!(qrscene::startup::Application::build(settings).await.is_ok());
}
