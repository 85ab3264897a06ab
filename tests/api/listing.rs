//! Reading generations back: by id, and listed with filters and cursor paging.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

#[tokio::test]
async fn list_filters_and_pages_newest_first() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.create(json!({"kind":"temporary","payload":{"activity_id":"A"},"scene_id":i + 1}))
            .await;
    }
    app.create(json!({"kind":"permanent","scene_id":3,"payload":{"activity_id":"B"}}))
        .await;
    app.fake
        .fail_next(qrscene_fake_wechat::Endpoint::QrCode, 45009, 1);
    app.create(json!({"kind":"temporary","payload":{"activity_id":"A"}}))
        .await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/qrcodes?activity_id=A&status=succeeded&limit=2&cursor={c}"),
            None => "/api/v1/qrcodes?activity_id=A&status=succeeded&limit=2".to_owned(),
        };
        let page: Value = app.get(&path).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            assert_eq!(item["activity_id"], "A");
            seen.push(item["id"].as_i64().unwrap());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seen:?}"
    );

    let failed: Value = app
        .get("/api/v1/qrcodes?status=failed")
        .await
        .json()
        .await
        .unwrap();
    let failed = failed["items"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["errcode"], 45009);
    let permanent: Value = app
        .get("/api/v1/qrcodes?kind=permanent")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(permanent["items"][0]["activity_id"], "B");

    for bad in [
        "status=gone",
        "kind=x",
        "cursor=abc",
        "limit=0",
        "limit=201",
    ] {
        let response = app.get(&format!("/api/v1/qrcodes?{bad}")).await;
        assert_eq!(response.status(), 400, "{bad}");
    }
}

#[tokio::test]
async fn get_by_id_and_unknown_ids() {
    let app = spawn_app().await;
    let (_, g) = app
        .create(json!({"kind":"temporary","scene_str":"one","reply":"欢迎!"}))
        .await;
    let got: Value = app
        .get(&format!("/api/v1/qrcodes/{}", g["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got, g);
    assert_eq!(got["reply"], "欢迎!");
    let missing = app.get("/api/v1/qrcodes/424242").await;
    assert_eq!(missing.status(), 404);
    let error: Value = missing.json().await.unwrap();
    assert_eq!(error["code"], "not_found");
    assert_eq!(app.get("/api/v1/qrcodes/abc").await.status(), 404);
}
