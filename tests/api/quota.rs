//! The quota ledger: permanent codes used and left, calls of WeChat's day, the last 45009.

use qrscene_fake_wechat::Endpoint;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_ledger_counts_permanent_codes_calls_today_and_the_last_quota_refusal() {
    let app = spawn_app().await;
    let appid = app.fake.appid();
    let mut made = Vec::new();
    for body in [
        json!({"kind": "permanent", "scene_id": 1}),
        json!({"kind": "permanent", "scene_str": "counter-7"}),
        json!({"kind": "temporary"}),
    ] {
        let (status, answer) = app.create(body).await;
        assert_eq!(status, 201, "{answer}");
        made.push(answer["id"].as_i64().unwrap());
    }
    // Retiring: once, permanent codes only; a retired scene is not made again.
    for _ in 0..2 {
        let response = app
            .post(&format!("/api/v1/qrcodes/{}/retire", made[0]), &json!({}))
            .await;
        assert_eq!(response.status(), 200);
        let retired: Value = response.json().await.unwrap();
        assert!(retired["retired_at"].is_string(), "{retired}");
    }
    let response = app
        .post(&format!("/api/v1/qrcodes/{}/retire", made[2]), &json!({}))
        .await;
    assert_eq!(response.status(), 409, "a temporary code is not retired");
    let (status, answer) = app
        .create(json!({"kind": "permanent", "scene_id": 1}))
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("retired"),
        "{answer}"
    );
    let (status, _) = app
        .create(json!({"kind": "permanent", "scene_str": "counter-7"}))
        .await;
    assert_eq!(status, 200, "the other permanent code is still handed back");
    app.fake.fail_next(Endpoint::QrCode, 45009, 1);
    let (status, answer) = app.create(json!({"kind": "temporary"})).await;
    assert_eq!(status, 429, "{answer}");

    let path = format!("/api/v1/accounts/{appid}/quota");
    let ledger: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(ledger["account"], appid);
    assert_eq!(
        ledger["permanent"],
        json!({"limit": 100000, "used": 2, "left": 99998, "retired": 1})
    );
    assert_eq!(ledger["calls_today"]["qrcode_create"], 4, "{ledger}");
    assert!(ledger["last_quota_error_at"].is_string(), "{ledger}");
    let warnings = ledger["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{ledger}");
    assert!(warnings[0].as_str().unwrap().contains("45009"));

    // 95,001 more permanent codes: under 5% left.
    app.db
        .execute_unprepared(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 95001) \
             INSERT INTO qr_generation (account_id, kind, action_name, scene, status, created_at) \
             SELECT 1, 'permanent', 'QR_LIMIT_STR_SCENE', 'bulk-' || i, 'succeeded', \
             CURRENT_TIMESTAMP FROM n",
        )
        .await
        .unwrap();
    let ledger: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(ledger["permanent"]["left"], 4997, "{ledger}");
    let warnings = ledger["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("only 4997")),
        "{ledger}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("qrscene_permanent_codes_left")
                && l.contains(&appid)
                && l.ends_with(" 4997")),
        "{metrics}"
    );
    assert_eq!(
        app.get("/api/v1/accounts/wxnobodyhere000000/quota")
            .await
            .status(),
        404
    );
}
