//! The legacy `createQrCode` endpoint with the real `sceneStr` of the protocol notes.

use serde_json::json;

use crate::helpers::spawn_app;

const PATH: &str = "/activity-wechat/api/wxWeChat/createQrCode";
const REAL_SCENE_STR: &str = "eyJhY3Rpdml0eV90eXBlX25hbWUiOiJQS+i1my3mtojotLnogIXln7norq0iLCJhY3Rpdml0eV90eXBlIjoiMyIsImFjdGl2aXR5X2lkIjoiTVQxOTUwIiwiaWQiOjQ5MjgyLCJhY3Rpdml0eV90aGVtZSI6IjIyIiwiYWN0aXZpdHlfdGhlbWVfbmFtZSI6IuWmiOWmiOeahOeIsSIsImNvZGVfdHlwZSI6InNpZ24ifQ==";

#[tokio::test]
async fn the_real_scene_str_gets_a_short_key_and_its_payload_is_logged() {
    let app = spawn_app().await;
    assert!(REAL_SCENE_STR.len() > 200);
    let response = app
        .post(PATH, &json!({"sceneStr": REAL_SCENE_STR, "second": 86400}))
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    let keys: Vec<_> = body.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["expire_seconds", "ticket", "url"]);
    assert_eq!(body["expire_seconds"], 86400);
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .starts_with("http://weixin.qq.com/q/")
    );

    let row = &app.log().await[0];
    assert_eq!(row.ticket.as_deref(), body["ticket"].as_str());
    assert_eq!(row.action_name, "QR_STR_SCENE");
    assert!(
        row.scene.len() <= 64 && row.scene.starts_with("qs"),
        "{}",
        row.scene
    );
    assert_eq!(row.scene_source.as_deref(), Some(REAL_SCENE_STR));
    assert_eq!(row.activity_id.as_deref(), Some("MT1950"));
    let payload = row.payload.as_ref().unwrap();
    assert_eq!(payload["activity_type_name"], "PK赛-消费者培训");
    assert_eq!(payload["activity_theme_name"], "妈妈的爱");
    assert_eq!(payload["id"], 49282);

    // Listing by activity finds it.
    let listed: serde_json::Value = app
        .get("/api/v1/qrcodes?activity_id=MT1950")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn legacy_errors_are_clear_json_4xx() {
    let app = spawn_app().await;
    for (body, field) in [
        (json!({"second": 60}), "sceneStr"),
        (json!({"sceneStr": "", "second": 60}), "sceneStr"),
        (json!({"sceneStr": 5, "second": 60}), "sceneStr"),
        (json!({"sceneStr": "abc", "second": 0}), "second"),
        (json!({"sceneStr": "abc", "second": 2592001}), "second"),
        (json!({"sceneStr": "abc", "second": "soon"}), "second"),
    ] {
        let response = app.post(PATH, &body).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["field"], field, "{error}");
    }
    assert_eq!(app.fake.qrcode_calls(), 0);
    // A plain (non-base64) sceneStr still works; it is kept as the source, without payload.
    let response = app
        .post(PATH, &json!({"sceneStr": "spring-sale", "second": "120"}))
        .await;
    assert_eq!(response.status(), 200);
    let row = &app.log().await[0];
    assert_eq!(row.scene_source.as_deref(), Some("spring-sale"));
    assert!(row.payload.is_none());
    assert_eq!(row.expire_seconds, Some(120));
}
