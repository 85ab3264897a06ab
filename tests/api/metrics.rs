//! `GET /metrics`: Prometheus text, protected like the API, with the service's own figures.
//! The recorder is process-wide, so other tests' figures are there too: the checks compare
//! each series before and after what this test does, and want it to have grown by at least
//! that much.

use serde_json::json;

use crate::helpers::spawn_app;
use crate::push::{Push, now, scan};

/// The sum of the series whose lines start with `prefix` (a name and its first labels).
fn value(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(prefix))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn metrics_count_generations_pushes_requests_and_stats() {
    let app = spawn_app().await;
    let before = app.get("/metrics").await.text().await.expect("body");
    let unauthorized = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .expect("request");
    assert_eq!(unauthorized.status(), 401);

    let (status, code) = app.create(json!({"kind": "temporary"})).await;
    assert_eq!(status, 201);
    let scene = code["scene_str"].as_str().expect("scene").to_owned();
    let ticket = code["ticket"].as_str().expect("ticket").to_owned();
    let push = Push::plain(&scan("oMetrics", now(), &scene, Some(&ticket)));
    assert_eq!(push.send(&app).await.0, 200);
    assert_eq!(push.send(&app).await.0, 200);
    let stats = app
        .get("/api/v1/stats?group_by=activity&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z")
        .await;
    assert_eq!(stats.status(), 200);

    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.expect("body");
    for (series, at_least) in [
        (
            r#"qrscene_qr_generations_total{kind="temporary",status="succeeded"}"#,
            1.0,
        ),
        (
            r#"qrscene_callback_pushes_total{kind="scan",duplicate="false"}"#,
            1.0,
        ),
        (
            r#"qrscene_callback_pushes_total{kind="scan",duplicate="true"}"#,
            1.0,
        ),
        (
            r#"qrscene_http_requests_total{method="POST",route="/api/v1/qrcodes",status="201"}"#,
            1.0,
        ),
        (
            r#"qrscene_http_requests_total{method="GET",route="/metrics",status="401"}"#,
            1.0,
        ),
        (
            r#"qrscene_stats_query_duration_seconds_count{group_by="activity","#,
            1.0,
        ),
        ("qrscene_wechat_token_fetches_total ", 1.0),
    ] {
        assert!(
            value(&text, series) - value(&before, series) >= at_least,
            "{series} grew by less than {at_least}:\n{text}"
        );
    }
}
