//! WeChat failing: busy, quota, permanent cap, bad credentials, timeouts. Every failed
//! attempt is logged.

use std::time::Duration;

use entity::qr_generation::GenerationStatus;
use qrscene_fake_wechat::Endpoint;
use serde_json::json;

use crate::helpers::{Options, spawn_app, spawn_with};

#[tokio::test]
async fn busy_is_retried_with_backoff() {
    let app = spawn_app().await;
    app.fake.fail_next(Endpoint::QrCode, -1, 2);
    let (status, g) = app.create(json!({"kind":"temporary"})).await;
    assert_eq!(status, 201, "{g}");
    assert_eq!(app.fake.qrcode_calls(), 3);
    // Busy forever is bounded: three attempts, then the caller hears it.
    app.fake.fail_next(Endpoint::QrCode, -1, 10);
    let (status, error) = app.create(json!({"kind":"temporary"})).await;
    assert_eq!(status, 502);
    assert_eq!(error["errcode"], -1);
    assert_eq!(app.fake.qrcode_calls(), 6);
}

#[tokio::test]
async fn quota_reached_is_a_429_and_logged() {
    let app = spawn_app().await;
    app.fake.set_daily_quota(1);
    assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
    let (status, error) = app
        .create(json!({"kind":"temporary","payload":{"activity_id":"Q"}}))
        .await;
    assert_eq!(status, 429, "{error}");
    assert_eq!(error["code"], "wechat_quota_exceeded");
    assert_eq!(error["errcode"], 45009);
    let log = app.log().await;
    assert_eq!(log.len(), 2);
    let failed = &log[1];
    assert_eq!(error["generation_id"], failed.id);
    assert_eq!(
        (failed.status, failed.errcode),
        (GenerationStatus::Failed, Some(45009))
    );
    assert_eq!(failed.activity_id.as_deref(), Some("Q"));
    assert!(failed.ticket.is_none() && failed.url.is_none());
    assert_eq!(app.fake.qrcode_calls(), 2, "45009 is not retried");
}

#[tokio::test]
async fn wechat_permanent_limit_is_a_409() {
    let app = spawn_app().await;
    app.fake.set_permanent_limit(1);
    assert_eq!(
        app.create(json!({"kind":"permanent","scene_id":1})).await.0,
        201
    );
    let (status, error) = app.create(json!({"kind":"permanent","scene_id":2})).await;
    assert_eq!(status, 409);
    assert_eq!(error["code"], "permanent_limit_reached");
    assert_eq!(app.log().await[1].errcode, Some(45029));
}

#[tokio::test]
async fn bad_credentials_are_a_configuration_error_and_not_retried() {
    let app = spawn_app().await;
    app.fake.fail_next(Endpoint::Token, 40125, 1);
    let (status, error) = app.create(json!({"kind":"temporary"})).await;
    assert_eq!(status, 502);
    assert_eq!(error["code"], "wechat_configuration");
    assert!(error["message"].as_str().unwrap().contains("WECHAT_SECRET"));
    assert_eq!(app.fake.qrcode_calls(), 0);
    assert_eq!(app.log().await[0].errcode, Some(40125));
    // The next request fetches again and succeeds.
    assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
}

#[tokio::test]
async fn an_upstream_timeout_is_a_504_and_logged() {
    let app = spawn_with(Options {
        timeout_ms: 300,
        ..Options::default()
    })
    .await;
    assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
    app.fake
        .delay_next(Endpoint::QrCode, Duration::from_secs(2), 1);
    let started = std::time::Instant::now();
    let (status, error) = app.create(json!({"kind":"temporary"})).await;
    assert_eq!(status, 504, "{error}");
    assert_eq!(error["code"], "wechat_timeout");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the timeout bounds the request"
    );
    let failed = &app.log().await[1];
    assert_eq!(failed.status, GenerationStatus::Failed);
    assert!(failed.errcode.is_none());
    assert!(failed.errmsg.as_deref().unwrap().contains("did not answer"));
}
