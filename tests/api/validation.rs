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

/// PostgreSQL cannot store U+0000 in text or JSON: every field that would carry one to the
/// database is refused up front, on both backends, before WeChat is called.
#[tokio::test]
async fn a_nul_in_any_stored_field_is_a_400_naming_it_with_no_call_and_no_row() {
    use base64::Engine;
    let app = spawn_app().await;
    let bodies = [
        (
            json!({"kind":"temporary","payload":{"note":"a\u{0}b"}}),
            "payload",
        ),
        (
            json!({"kind":"temporary","payload":{"k\u{0}":1}}),
            "payload",
        ),
        (
            json!({"kind":"temporary","payload":{"list":[{"x":"\u{0}"}]}}),
            "payload",
        ),
        (json!({"kind":"temporary","reply":"hello\u{0}"}), "reply"),
        (
            json!({"kind":"permanent","scene_str":"shop\u{0}1"}),
            "scene_str",
        ),
    ];
    for (body, field) in &bodies {
        let (status, error) = app.create(body.clone()).await;
        assert_eq!(
            (status, &error["field"]),
            (400, &json!(field)),
            "{body} -> {error}"
        );
        assert_eq!(error["code"], "invalid_field");
    }
    let legacy = "/activity-wechat/api/wxWeChat/createQrCode";
    let encoded = base64::engine::general_purpose::STANDARD.encode(r#"{"activity_id":"A\u0000"}"#);
    for scene in ["plain\u{0}".to_owned(), encoded] {
        let response = app.post(legacy, &json!({"sceneStr": scene})).await;
        assert_eq!(response.status(), 400);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["field"], "sceneStr", "{error}");
    }
    // Query parameters, on this resource and on the others alike (one shared check).
    for (path, parameter) in [
        ("/api/v1/qrcodes?activity_id=MT%00", "activity_id"),
        ("/api/v1/qrcodes?limit=5&status=%00", "status"),
        ("/api/v1/stats?activity_id=%00", "activity_id"),
        ("/api/v1/bindings?external_user_id=u%00", "external_user_id"),
        ("/api/v1/qrcodes/1/image.png?size=1%00", "size"),
    ] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 400, "{path}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            (error["code"].as_str(), error["field"].as_str()),
            (Some("invalid_field"), Some(parameter)),
            "{path} -> {error}"
        );
        assert!(
            error["message"].as_str().unwrap().contains("NUL"),
            "{error}"
        );
    }
    // A path parameter cannot name anything with a NUL in it.
    for path in ["/api/v1/followers/o%00x", "/api/v1/qrcodes/1%00"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["code"], "not_found", "{path} -> {error}");
    }
    assert_eq!(app.fake.qrcode_calls(), 0);
    assert_eq!(app.fake.token_fetches(), 0);
    assert!(app.log().await.is_empty());
}

/// The log row exists before WeChat is asked: while `qrcode/create` is slow the generation
/// is `pending`, then it is settled in place (same id) with the ticket.
#[tokio::test]
async fn the_log_row_is_pending_while_wechat_answers() {
    use entity::qr_generation::GenerationStatus;
    use qrscene_fake_wechat::Endpoint;
    use std::time::Duration;

    let app = spawn_app().await;
    app.fake
        .delay_next(Endpoint::QrCode, Duration::from_millis(1500), 1);
    let create = app.create(json!({"kind":"temporary","payload":{"activity_id":"P"}}));
    let watch = async {
        // Wait for the call to reach the fake, then look at the log.
        for _ in 0..100 {
            if app.fake.qrcode_calls() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        app.log().await
    };
    let ((status, body), during) = tokio::join!(create, watch);
    assert_eq!(app.fake.qrcode_calls(), 1, "the call reached the fake");
    assert_eq!(during.len(), 1, "{during:?}");
    let pending = &during[0];
    assert_eq!(pending.status, GenerationStatus::Pending);
    assert_eq!(pending.activity_id.as_deref(), Some("P"));
    assert!(pending.ticket.is_none() && pending.url.is_none());

    assert_eq!(status, 201, "{body}");
    let after = app.log().await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, pending.id);
    assert_eq!(after[0].status, GenerationStatus::Succeeded);
    assert_eq!(after[0].ticket.as_deref(), body["ticket"].as_str());
    assert_eq!(body["status"], "succeeded");

    // Listing can ask for each state.
    let page: serde_json::Value = app
        .get("/api/v1/qrcodes?status=pending")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));
}
