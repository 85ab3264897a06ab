//! The access token: cached, refreshed after 42001, shared through Redis by instances.

use std::sync::Arc;
use std::time::Duration;

use qrscene::config::TokenMode;
use qrscene_fake_wechat::FakeWeChat;
use serde_json::json;

use crate::helpers::{
    Options, SECRET, TestDb, new_appid, redis_url, spawn_app, spawn_instance, spawn_with,
};

#[tokio::test]
async fn one_token_serves_many_codes() {
    let app = spawn_app().await;
    let requests = (0..20).map(|_| app.create(json!({"kind":"temporary"})));
    let answers = futures_util::future::join_all(requests).await;
    assert!(answers.iter().all(|(s, _)| *s == 201));
    assert_eq!(
        app.fake.token_fetches(),
        1,
        "concurrent callers share one fetch"
    );
}

#[tokio::test]
async fn an_expired_token_is_dropped_refetched_and_the_call_retried_once() {
    for mode in [TokenMode::Stable, TokenMode::Classic] {
        let app = spawn_with(Options {
            token_mode: mode,
            ..Options::default()
        })
        .await;
        assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
        app.fake.expire_tokens();
        let (status, g) = app.create(json!({"kind":"temporary"})).await;
        assert_eq!(status, 201, "{mode:?}: {g}");
        assert_eq!(app.fake.token_fetches(), 2, "{mode:?}");
        assert_eq!(app.fake.qrcode_calls(), 3, "{mode:?}: first, 42001, retry");
    }
}

#[tokio::test]
async fn a_token_that_keeps_failing_is_retried_only_once() {
    let app = spawn_app().await;
    app.fake
        .fail_next(qrscene_fake_wechat::Endpoint::QrCode, 40001, 5);
    let (status, error) = app.create(json!({"kind":"temporary"})).await;
    assert_eq!(status, 502);
    assert_eq!(error["errcode"], 40001);
    assert_eq!(app.fake.qrcode_calls(), 2);
    assert_eq!(app.fake.token_fetches(), 2);
}

#[tokio::test]
async fn instances_share_the_token_through_redis_and_fetch_it_once_after_expiry() {
    let Some(redis) = redis_url() else { return };
    let database = Arc::new(TestDb::new().await);
    let appid = new_appid();
    let fake = Arc::new(FakeWeChat::start(&appid, SECRET).await.unwrap());
    fake.set_token_life(Duration::from_secs(2));
    let options = Options {
        redis: Some(redis),
        ..Options::default()
    };
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(spawn_instance(&options, database.clone(), fake.clone(), &appid).await);
    }
    // Warm up: one instance fetches, the others read it from Redis.
    for app in &apps {
        assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
    }
    assert_eq!(fake.token_fetches(), 1);

    // Let the token expire (cached for half its 2 s life), then 200 at once across 3 instances.
    // The token fetched then lives long enough to serve the whole burst, however slowly a
    // loaded machine gets through its 600 log writes.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    fake.set_token_life(Duration::from_secs(600));
    let requests = (0..200).map(|i| apps[i % 3].create(json!({"kind":"temporary"})));
    let answers = futures_util::future::join_all(requests).await;
    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 201).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(fake.token_fetches(), 2, "exactly one fetch after expiry");
    assert_eq!(apps[0].log().await.len(), 203);
}
