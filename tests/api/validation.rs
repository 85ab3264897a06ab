//! Every WeChat limit is checked before any upstream call, and named in the error.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn every_rule_is_a_400_naming_the_field_with_no_call_and_no_row() {
    let app = spawn_app().await;
    let long = "x".repeat(65);
    let cases = [
        (json!({"kind":"forever"}), "kind"),
        (json!({"kind":"temporary","scene_id":0}), "scene_id"),
        (json!({"kind":"temporary","scene_id":-3}), "scene_id"),
        (
            json!({"kind":"temporary","scene_id":4294967296u64}),
            "scene_id",
        ),
        (json!({"kind":"temporary","scene_id":"12"}), "scene_id"),
        (json!({"kind":"temporary","scene_id":1.5}), "scene_id"),
        (json!({"kind":"permanent","scene_id":0}), "scene_id"),
        (json!({"kind":"permanent","scene_id":100001}), "scene_id"),
        (
            json!({"kind":"temporary","scene_id":1,"scene_str":"a"}),
            "scene_id",
        ),
        (json!({"kind":"temporary","scene_str":""}), "scene_str"),
        (json!({"kind":"temporary","scene_str":long}), "scene_str"),
        (
            json!({"kind":"permanent","scene_str":"tab\there"}),
            "scene_str",
        ),
        (
            json!({"kind":"temporary","expire_seconds":0}),
            "expire_seconds",
        ),
        (
            json!({"kind":"temporary","expire_seconds":2592001}),
            "expire_seconds",
        ),
        (
            json!({"kind":"permanent","scene_id":5,"expire_seconds":60}),
            "expire_seconds",
        ),
        (json!({"kind":"temporary","payload":"MT1950"}), "payload"),
        (
            json!({"kind":"temporary","payload":{"activity_id":{"nested":true}}}),
            "payload",
        ),
        (
            json!({"kind":"temporary","payload":{"blob":"y".repeat(9000)}}),
            "payload",
        ),
        (json!({"kind":"temporary","reply":""}), "reply"),
    ];
    for (body, field) in &cases {
        let (status, error) = app.create(body.clone()).await;
        assert_eq!(status, 400, "{body} -> {error}");
        assert_eq!(error["code"], "invalid_field", "{error}");
        assert_eq!(error["field"], *field, "{body} -> {error}");
        assert!(
            error["message"].as_str().unwrap().starts_with(field),
            "{error}"
        );
    }
    for (body, needle) in [
        (json!({"scene_id":1}), "kind"),
        (json!({"kind":"temporary","scene":"x"}), "scene"),
    ] {
        let (status, error) = app.create(body).await;
        assert_eq!(status, 400);
        assert_eq!(error["code"], "malformed_request");
        assert!(
            error["message"].as_str().unwrap().contains(needle),
            "{error}"
        );
    }
    let not_json = app
        .http
        .post(format!("{}/api/v1/qrcodes", app.address))
        .bearer_auth(crate::helpers::KEY)
        .header("content-type", "application/json")
        .body("{kind")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
    assert_eq!(app.fake.qrcode_calls(), 0);
    assert_eq!(app.fake.token_fetches(), 0);
    assert!(app.log().await.is_empty());
}
