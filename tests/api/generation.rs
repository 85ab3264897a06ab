//! Creating codes of every kind, and what the log keeps of them.

use entity::qr_generation::GenerationStatus;
use serde_json::json;

use crate::helpers::{Options, spawn_app, spawn_with};

#[tokio::test]
async fn all_four_action_names_are_created_and_logged() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"kind":"temporary","scene_id":4294967295u64,"expire_seconds":60}),
            "QR_SCENE",
        ),
        (
            json!({"kind":"temporary","scene_str":"login-7f3a","expire_seconds":2592000}),
            "QR_STR_SCENE",
        ),
        (
            json!({"kind":"permanent","scene_id":100000}),
            "QR_LIMIT_SCENE",
        ),
        (
            json!({"kind":"permanent","scene_str":"门店-上海-001"}),
            "QR_LIMIT_STR_SCENE",
        ),
    ];
    for (body, action) in &cases {
        let (status, g) = app.create(body.clone()).await;
        assert_eq!(status, 201, "{g}");
        assert_eq!(g["action_name"], *action);
        assert_eq!(g["status"], "succeeded");
        assert!(
            g["url"]
                .as_str()
                .unwrap()
                .starts_with("http://weixin.qq.com/q/")
        );
        let ticket = g["ticket"].as_str().unwrap();
        let image_url = g["image_url"].as_str().unwrap();
        assert!(image_url.starts_with("https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket="));
        let encoded = image_url.split_once("ticket=").unwrap().1;
        assert!(!encoded.contains(['+', '/', '=']), "{encoded}");
        assert_eq!(
            percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .unwrap(),
            ticket
        );
        if let Some(id) = body.get("scene_id") {
            assert_eq!(g["scene_id"], *id);
        } else {
            assert_eq!(g["scene_str"], body["scene_str"]);
        }
        if body["kind"] == "temporary" {
            assert_eq!(g["expire_seconds"], body["expire_seconds"]);
            assert!(g["expires_at"].is_string());
        } else {
            assert!(g["expire_seconds"].is_null() && g["expires_at"].is_null());
        }
    }
    assert_eq!(app.fake.qrcode_calls(), 4);
    let log = app.log().await;
    assert_eq!(log.len(), 4);
    assert_eq!(
        log.iter()
            .map(|r| r.action_name.as_str())
            .collect::<Vec<_>>(),
        [
            "QR_SCENE",
            "QR_STR_SCENE",
            "QR_LIMIT_SCENE",
            "QR_LIMIT_STR_SCENE"
        ]
    );
    assert_eq!(log[3].scene, "门店-上海-001");
    assert!(
        log.iter()
            .all(|r| r.api_key.as_deref() == Some("tester") && r.ticket.is_some())
    );
}

#[tokio::test]
async fn a_code_without_scene_gets_a_short_unique_one_and_the_default_expiry() {
    let app = spawn_app().await;
    let (status, a) = app
        .create(json!({"kind":"temporary","payload":{"activity_id":"MT1950","x":1}}))
        .await;
    assert_eq!(status, 201);
    let (_, b) = app.create(json!({"kind":"temporary"})).await;
    let scene = a["scene_str"].as_str().unwrap();
    assert!(scene.starts_with("qs") && scene.len() <= 64, "{scene}");
    assert_ne!(a["scene_str"], b["scene_str"]);
    assert_eq!(a["expire_seconds"], 604800);
    assert_eq!(a["activity_id"], "MT1950");
    assert_eq!(a["payload"], json!({"activity_id":"MT1950","x":1}));
    let row = &app.log().await[0];
    assert_eq!(row.activity_id.as_deref(), Some("MT1950"));
    assert_eq!(row.scene, scene);
}

#[tokio::test]
async fn the_same_permanent_scene_returns_the_stored_code_without_calling_wechat() {
    let app = spawn_app().await;
    let (first, a) = app
        .create(json!({"kind":"permanent","scene_str":"shop-1"}))
        .await;
    let (again, b) = app
        .create(json!({"kind":"permanent","scene_str":"shop-1"}))
        .await;
    assert_eq!((first, again), (201, 200));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["ticket"], b["ticket"]);
    assert_eq!(app.fake.qrcode_calls(), 1);
    // Same number as an integer scene is another code.
    let (other, _) = app.create(json!({"kind":"permanent","scene_id":1})).await;
    assert_eq!(other, 201);
    assert_eq!(app.log().await.len(), 2);
}

#[tokio::test]
async fn concurrent_requests_for_one_permanent_scene_store_it_once() {
    let app = spawn_app().await;
    let requests = (0..8).map(|_| app.create(json!({"kind":"permanent","scene_id":77})));
    let answers = futures_util::future::join_all(requests).await;
    let ids: std::collections::HashSet<_> = answers.iter().map(|(_, g)| g["id"].clone()).collect();
    assert_eq!(ids.len(), 1, "{answers:?}");
    let stored = app.log().await;
    assert_eq!(
        stored
            .iter()
            .filter(|r| r.status == GenerationStatus::Succeeded)
            .count(),
        1
    );
    // The losers' pending rows were duplicates of the stored code (WeChat answers one
    // permanent scene with one code): none is left pending.
    assert_eq!(stored.len(), 1, "{stored:?}");
}

#[tokio::test]
async fn the_permanent_cap_is_enforced_locally() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    app.db
        .execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000) \
             INSERT INTO qr_generation (account_id, kind, action_name, scene, status, created_at) \
             SELECT 1, 'permanent', 'QR_LIMIT_STR_SCENE', 'seed' || i, 'succeeded', CURRENT_TIMESTAMP FROM n",
        )
        .await
        .expect("seed 100000 permanent codes");
    let (status, body) = app
        .create(json!({"kind":"permanent","scene_str":"one-too-many"}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "permanent_limit_reached");
    assert!(body["message"].as_str().unwrap().contains("100000"));
    assert_eq!(app.fake.qrcode_calls(), 0);
    // An existing permanent scene is still answered; temporary codes still work.
    let (status, _) = app
        .create(json!({"kind":"permanent","scene_str":"seed42"}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.create(json!({"kind":"temporary"})).await;
    assert_eq!(status, 201);
}

#[tokio::test]
async fn the_png_decodes_to_the_url_and_the_svg_is_served() {
    let app = spawn_app().await;
    let (_, g) = app
        .create(json!({"kind":"temporary","scene_str":"img"}))
        .await;
    let id = g["id"].as_i64().unwrap();
    let response = app
        .get(&format!("/api/v1/qrcodes/{id}/image.png?size=300"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).unwrap().to_luma8();
    assert!(img.width() >= 300);
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert_eq!(content, g["url"].as_str().unwrap());

    let svg = app.get(&format!("/api/v1/qrcodes/{id}/image.svg")).await;
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().starts_with("<?xml"));
    let too_big = app
        .get(&format!("/api/v1/qrcodes/{id}/image.png?size=5000"))
        .await;
    assert_eq!(too_big.status(), 400);
    let missing = app.get("/api/v1/qrcodes/999999/image.png").await;
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn sandbox_mode_issues_codes_without_wechat() {
    let app = spawn_with(Options {
        live: false,
        api_keys: None,
        ..Options::default()
    })
    .await;
    let response = app
        .http
        .post(format!("{}/api/v1/qrcodes", app.address))
        .json(&json!({"kind":"temporary","scene_id":9}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "sandbox without keys is open");
    let g: serde_json::Value = response.json().await.unwrap();
    assert!(
        g["url"]
            .as_str()
            .unwrap()
            .starts_with("http://weixin.qq.com/q/")
    );
    assert!(g["ticket"].as_str().unwrap().len() > 20);
    assert_eq!(app.fake.qrcode_calls(), 0);
    assert_eq!(app.fake.token_fetches(), 0);
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], true);
    assert_eq!(ready["redis"], "not configured");
}
