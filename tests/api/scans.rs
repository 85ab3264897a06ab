//! Waiting for a scan (on the same instance, across instances through Redis) and account
//! bindings.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use qrscene::scans::bindings::{self, ExternalUserId};
use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, redis_url, spawn_app, spawn_instance, spawn_with};
use crate::push::{Push, now, scan, subscribe};

async fn scan_code(app: &TestApp, code: &Value, openid: &str, follower: bool) {
    let scene = code["scene_str"].as_str().unwrap();
    let ticket = code["ticket"].as_str();
    let xml = if follower {
        scan(openid, now(), scene, ticket)
    } else {
        subscribe(openid, now(), Some(scene), ticket)
    };
    assert_eq!(Push::plain(&xml).send(app).await, (200, "success".into()));
}

#[tokio::test]
async fn a_stored_scan_answers_at_once_and_an_unscanned_code_times_out() {
    let app = spawn_app().await;
    let (_, code) = app
        .create(json!({"kind":"temporary","payload":{"login":"abc"}}))
        .await;
    let id = code["id"].as_i64().unwrap();
    let started = Instant::now();
    let empty = app
        .get(&format!("/api/v1/qrcodes/{id}/wait?timeout=1"))
        .await;
    assert_eq!(empty.status(), 204);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );

    scan_code(&app, &code, "oFirst", false).await;
    scan_code(&app, &code, "oSecond", true).await;
    let started = Instant::now();
    let answer: Value = app
        .get(&format!("/api/v1/qrcodes/{id}/wait?timeout=30"))
        .await
        .json()
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(answer["openid"], "oFirst", "the first scan");
    assert_eq!(answer["kind"], "subscribe");
    assert_eq!(answer["payload"]["login"], "abc");
    for bad in ["0", "61", "soon"] {
        assert_eq!(
            app.get(&format!("/api/v1/qrcodes/{id}/wait?timeout={bad}"))
                .await
                .status(),
            400,
            "{bad}"
        );
    }
    assert_eq!(
        app.get("/api/v1/qrcodes/424242/wait?timeout=1")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_waiter_is_answered_as_soon_as_the_scan_is_stored() {
    let app = spawn_app().await;
    let (_, code) = app.create(json!({"kind":"temporary"})).await;
    let id = code["id"].as_i64().unwrap();
    let path = format!("/api/v1/qrcodes/{id}/wait?timeout=20");
    let waiter = app.get(&path);
    let scanner = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        scan_code(&app, &code, "oLater", true).await;
        Instant::now()
    };
    let (response, scanned_at) = tokio::join!(waiter, scanner);
    let answered_after = scanned_at.elapsed();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["openid"], "oLater");
    assert_eq!(answer["kind"], "scan");
    assert!(
        answered_after < Duration::from_millis(500),
        "{answered_after:?}"
    );
}

#[tokio::test]
async fn a_waiter_on_another_instance_is_told_through_redis() {
    let Some(redis) = redis_url() else { return };
    let options = Options {
        redis: Some(redis),
        ..Options::default()
    };
    let first = spawn_with(Options {
        redis: options.redis.clone(),
        ..Options::default()
    })
    .await;
    let second = spawn_instance(
        &options,
        first._database.clone(),
        Arc::clone(&first.fake),
        &first.fake.appid(),
    )
    .await;
    let (_, code) = first.create(json!({"kind":"temporary"})).await;
    let id = code["id"].as_i64().unwrap();
    let path = format!("/api/v1/qrcodes/{id}/wait?timeout=20");
    let waiter = second.get(&path);
    let scanner = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        scan_code(&first, &code, "oElsewhere", false).await;
        Instant::now()
    };
    let (response, scanned_at) = tokio::join!(waiter, scanner);
    let answered_after = scanned_at.elapsed();
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["openid"], "oElsewhere");
    // The database fallback polls every second; pub/sub answers well before that.
    assert!(
        answered_after < Duration::from_millis(500),
        "{answered_after:?}"
    );
}

#[tokio::test]
async fn bindings_bind_on_first_scan_expire_and_keep_history() {
    let app = spawn_app().await;
    let created = app
        .post("/api/v1/bindings", &json!({"external_user_id": "crm-42"}))
        .await;
    assert_eq!(created.status(), 201);
    let binding: Value = created.json().await.unwrap();
    assert_eq!(binding["status"], "pending");
    assert_eq!(binding["qrcode"]["expire_seconds"], 600);
    assert_eq!(binding["qrcode"]["payload"]["external_user_id"], "crm-42");
    let id = binding["id"].as_i64().unwrap();

    scan_code(&app, &binding["qrcode"], "oAlice", false).await;
    scan_code(&app, &binding["qrcode"], "oMallory", true).await;
    let bound: Value = app
        .get(&format!("/api/v1/bindings/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bound["status"], "bound");
    assert_eq!(bound["openid"], "oAlice", "the first scan binds");
    assert!(bound["bound_at"].is_string());

    // Binding again replaces it; the history keeps both.
    let again: Value = app
        .post("/api/v1/bindings", &json!({"external_user_id": "crm-42"}))
        .await
        .json()
        .await
        .unwrap();
    scan_code(&app, &again["qrcode"], "oAliceNewPhone", false).await;
    let user: Value = app
        .get("/api/v1/bindings?external_user_id=crm-42")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["current"]["openid"], "oAliceNewPhone");
    assert_eq!(user["history"].as_array().unwrap().len(), 2);

    let short: Value = app
        .post(
            "/api/v1/bindings",
            &json!({"external_user_id": "crm-43", "expire_seconds": 1}),
        )
        .await
        .json()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired: Value = app
        .get(&format!("/api/v1/bindings/{}", short["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(expired["status"], "expired");
    let none: Value = app
        .get("/api/v1/bindings?external_user_id=crm-43")
        .await
        .json()
        .await
        .unwrap();
    assert!(none["current"].is_null());

    for (body, field) in [
        (json!({"external_user_id": ""}), "external_user_id"),
        (
            json!({"external_user_id": "x", "expire_seconds": 0}),
            "expire_seconds",
        ),
    ] {
        let response = app.post("/api/v1/bindings", &body).await;
        assert_eq!(response.status(), 400);
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["field"], field);
    }
    assert_eq!(app.get("/api/v1/bindings/99999").await.status(), 404);
}

#[tokio::test]
async fn the_current_binding_is_found_beyond_the_listed_history() {
    let app = spawn_app().await;
    let first: Value = app
        .post("/api/v1/bindings", &json!({"external_user_id": "crm-many"}))
        .await
        .json()
        .await
        .unwrap();
    scan_code(&app, &first["qrcode"], "oMany", false).await;
    for _ in 0..50 {
        let response = app
            .post("/api/v1/bindings", &json!({"external_user_id": "crm-many"}))
            .await;
        assert_eq!(response.status(), 201);
    }
    let user: Value = app
        .get("/api/v1/bindings?external_user_id=crm-many")
        .await
        .json()
        .await
        .unwrap();
    let history = user["history"].as_array().unwrap();
    assert_eq!(history.len(), 50);
    assert!(history.iter().all(|b| b["status"] == "pending"));
    assert!(history.iter().all(|b| b["id"] != first["id"]));
    assert_eq!(user["current"]["id"], first["id"], "{user}");
    assert_eq!(user["current"]["openid"], "oMany");
    assert_eq!(user["current"]["status"], "bound");

    // However many bindings, the user's bindings are read in two statements.
    let statements = Arc::new(AtomicUsize::new(0));
    let mut db = app._database.connect().await;
    let counter = Arc::clone(&statements);
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    let user = ExternalUserId::parse("external_user_id", "crm-many".into()).unwrap();
    let (current, history) = bindings::of_user(&db, 1, &user).await.unwrap();
    assert_eq!(statements.load(Ordering::SeqCst), 2);
    assert_eq!(current.map(|c| c.openid), Some(Some("oMany".to_owned())));
    assert_eq!(history.len(), 50);

    let control = app.get("/api/v1/bindings?external_user_id=crm%01").await;
    assert_eq!(control.status(), 400);
    let error: Value = control.json().await.unwrap();
    assert_eq!(error["field"], "external_user_id");
}
