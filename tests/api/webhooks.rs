//! Outbound webhooks through HTTP: the API (secret shown once, another account's webhook a
//! 404), deliveries signed as Standard Webhooks says (checked by a receiver written from the
//! specification, with its own HMAC, not qrscene's code), at least once after a receiver
//! outage, private addresses refused by default, and a webhook failing too long disabled.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qrscene::config::Settings;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::accounts::MASTER_KEY;
use crate::helpers::*;
use crate::push::{Push, now, scan, subscribe, unsubscribe};

// ---------------------------------------------------------------------------------------
// A receiver written from the specification (standardwebhooks.com).

/// HMAC-SHA256 (RFC 2104) over SHA-256, written here so that the signature is checked
/// independently of the service's own code.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        let digest = Sha256::digest(key);
        k[..digest.len()].copy_from_slice(digest.as_slice());
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.as_slice());
    outer.finalize().as_slice().to_vec()
}

/// Whether `signatures` (the `webhook-signature` header: space-separated `v1,<base64>`)
/// holds the signature of `id.timestamp.body` under `secret` (`whsec_<base64>`).
fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], signatures: &str) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .expect("base64 secret");
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let expected = format!("v1,{}", STANDARD.encode(hmac_sha256(&key, &signed)));
    signatures.split(' ').any(|s| s == expected)
}

#[test]
fn the_receivers_hmac_matches_the_specifications_vector() {
    assert!(verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        br#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ));
    assert!(!verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265331",
        br#"{"test": 2432232314}"#,
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ));
    // A long key is hashed first (RFC 4231 test case 6).
    let key = [0xaau8; 131];
    let mac = hmac_sha256(
        &key,
        b"Test Using Larger Than Block-Size Key - Hash Key First",
    );
    assert_eq!(
        hex::encode(mac),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    content_type: String,
    body: Vec<u8>,
    /// What the receiver answered.
    status: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

#[derive(Clone)]
struct Receiver {
    url: String,
    port: u16,
    got: Arc<Mutex<Vec<Got>>>,
    status: Arc<AtomicU16>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let receiver = Self {
            url: format!("http://127.0.0.1:{port}/hook"),
            port,
            got: Arc::new(Mutex::new(Vec::new())),
            status: Arc::new(AtomicU16::new(200)),
        };
        let state = web::Data::new(receiver.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .default_service(web::to(receive))
        })
        .workers(1)
        .listen(listener)
        .expect("listen")
        .run();
        tokio::spawn(server);
        receiver
    }

    fn answer(&self, status: u16) {
        self.status.store(status, Ordering::SeqCst);
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(request: HttpRequest, body: web::Bytes, me: web::Data<Receiver>) -> HttpResponse {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let status = me.status.load(Ordering::SeqCst);
    me.got.lock().unwrap().push(Got {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        content_type: header("content-type"),
        body: body.to_vec(),
        status,
    });
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).expect("status"))
        .body(if status == 200 { "ok" } else { "receiver down" })
}

// ---------------------------------------------------------------------------------------
// Apps.

fn with_key(settings: &mut Settings) {
    settings.master_key = Some(MASTER_KEY.into());
}

/// Private addresses allowed (the receiver is on loopback), retries 100 ms apart at first.
fn with_key_and_loopback(settings: &mut Settings) {
    with_key(settings);
    settings.webhook_allow_private = true;
    settings.outbox_retry_base_ms = 100;
    settings.outbox_poll_ms = 50;
    settings.webhook_timeout_ms = 2_000;
}

async fn app_with(tweak: fn(&mut Settings)) -> TestApp {
    spawn_with(Options {
        tweak,
        ..Options::default()
    })
    .await
}

impl TestApp {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.send(method, path, KEY, body).await
    }

    async fn new_webhook(&self, url: &str, events: Value) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/api/v1/webhooks",
                Some(json!({"url": url, "events": events})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    async fn deliveries(&self, webhook: i64) -> Vec<Value> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/v1/webhooks/{webhook}/deliveries?limit=200"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().expect("items").clone()
    }

    /// Waits until every delivery of `webhook` is finished (at least `count` of them).
    async fn settled(&self, webhook: i64, count: usize) -> Vec<Value> {
        let mut last = Vec::new();
        for _ in 0..300 {
            last = self.deliveries(webhook).await;
            if last.len() >= count
                && last
                    .iter()
                    .all(|d| matches!(d["state"].as_str(), Some("done" | "dead" | "dropped")))
            {
                return last;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("deliveries of webhook {webhook} did not settle: {last:#?}");
    }

    async fn sql(&self, sql: &str) {
        self.db
            .execute_raw(Statement::from_string(self.db.get_database_backend(), sql))
            .await
            .expect(sql);
    }
}

// ---------------------------------------------------------------------------------------
// The API.

#[tokio::test]
async fn webhooks_crud_shows_the_secret_once_and_hides_other_accounts() {
    let app = app_with(with_key).await;
    let a = app.fake.appid();
    let created = app
        .new_webhook(
            "https://crm.example.com/hooks",
            json!(["subscribe", "scan"]),
        )
        .await;
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{created}");
    assert_eq!(STANDARD.decode(&secret[6..]).unwrap().len(), 32);
    assert_eq!(created["account"], json!(a));
    assert_eq!(created["events"], json!(["scan", "subscribe"]));
    assert_eq!(created["enabled"], json!(true));

    // Never shown again, nor stored in clear.
    let (status, got) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{got}");
    assert!(got.get("secret").is_none(), "{got}");
    let (_, list) = app
        .call(reqwest::Method::GET, "/api/v1/webhooks", None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert!(!list.to_string().contains(&secret));
    let stored = app
        .db
        .query_one_raw(Statement::from_string(
            app.db.get_database_backend(),
            format!("SELECT secret, kinds FROM webhook WHERE id = {id}"),
        ))
        .await
        .unwrap()
        .unwrap();
    let sealed: String = stored.try_get("", "secret").unwrap();
    let kinds: String = stored.try_get("", "kinds").unwrap();
    assert!(
        sealed.starts_with("v1:") && !sealed.contains(&secret[6..]),
        "{sealed}"
    );
    assert_eq!(kinds, ",scan,subscribe,");

    // PATCH: url, events, enabled; enabling again clears the reason.
    let patch = |body: Value| {
        let app = &app;
        async move {
            app.call(
                reqwest::Method::PATCH,
                &format!("/api/v1/webhooks/{id}"),
                Some(body),
            )
            .await
        }
    };
    let (status, changed) =
        patch(json!({"url": "https://crm.example.com/v2", "events": ["*"], "enabled": false}))
            .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["url"], json!("https://crm.example.com/v2"));
    assert_eq!(changed["events"], json!(["*"]));
    assert_eq!(changed["enabled"], json!(false));
    assert!(changed["disabled_reason"].is_string(), "{changed}");
    app.sql(&format!(
        "UPDATE webhook SET failing_since_ms = 1 WHERE id = {id}"
    ))
    .await;
    let (_, changed) =
        patch(json!({"enabled": true, "events": ["binding.bound", "message"]})).await;
    assert_eq!(changed["enabled"], json!(true));
    assert_eq!(changed["disabled_reason"], Value::Null);
    assert_eq!(changed["failing_since"], Value::Null);
    assert_eq!(changed["events"], json!(["binding.bound", "message"]));

    // Validation names the bad value.
    for (body, needle) in [
        (
            json!({"url": "https://x.example/", "events": ["scan", "click"]}),
            "click",
        ),
        (json!({"url": "https://x.example/", "events": []}), "events"),
        (json!({"url": "ftp://x.example/", "events": ["*"]}), "ftp"),
        (
            json!({"url": "https://u:p@x.example/", "events": ["*"]}),
            "credentials",
        ),
        (json!({"url": "not a url", "events": ["*"]}), "url"),
        (
            json!({"url": format!("https://x.example/{}", "a".repeat(2048)), "events": ["*"]}),
            "2048",
        ),
    ] {
        let (status, error) = app
            .call(
                reqwest::Method::POST,
                "/api/v1/webhooks",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "{body}: {error}");
        assert!(error.to_string().contains(needle), "{body}: {error}");
    }
    let (status, error) = patch(json!({"events": ["subscribed"]})).await;
    assert_eq!(status, 400, "{error}");

    // Another account's webhook is a 404 to a key of account A, on every route.
    let b = new_appid();
    app.add_account(&b).await;
    let other = app
        .call(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            Some(json!({"account": b, "url": "https://b.example/", "events": ["*"]})),
        )
        .await
        .1;
    let other_id = other["id"].as_i64().unwrap();
    let only_a = app
        .add_key(json!({"name": "crm-a", "role": "client", "accounts": [a]}))
        .await;
    for (method, path, body) in [
        (
            reqwest::Method::GET,
            format!("/api/v1/webhooks/{other_id}"),
            None,
        ),
        (
            reqwest::Method::PATCH,
            format!("/api/v1/webhooks/{other_id}"),
            Some(json!({"enabled": false})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/v1/webhooks/{other_id}"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/webhooks/{other_id}/test"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/api/v1/webhooks/{other_id}/deliveries"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/api/v1/webhooks/{other_id}/deliveries/1/replay"),
            None,
        ),
    ] {
        let (status, body) = app.send(method.clone(), &path, &only_a, body).await;
        assert_eq!(status, 404, "{method} {path}: {body}");
    }
    let (status, mine) = app
        .send(reqwest::Method::GET, "/api/v1/webhooks", &only_a, None)
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        1,
        "only A's: {mine}"
    );
    let (status, _) = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks?account={b}"),
            &only_a,
            None,
        )
        .await;
    assert_eq!(status, 403, "naming an account the key may not use");

    // DELETE: 204, then gone.
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn without_a_master_key_webhooks_cannot_be_made() {
    let app = spawn_app().await;
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "https://crm.example.com/", "events": ["*"]})),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("QRSCENE_MASTER_KEY"),
        "{body}"
    );
}

// ---------------------------------------------------------------------------------------
// Deliveries.

#[tokio::test]
async fn a_test_delivery_arrives_signed_and_replays_with_the_same_id_and_body() {
    let app = app_with(with_key_and_loopback).await;
    let receiver = Receiver::start().await;
    let created = app.new_webhook(&receiver.url, json!(["*"])).await;
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap();

    let (status, delivery) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{delivery}");
    assert_eq!(delivery["webhook_id"], json!(id));
    let did = delivery["id"].as_i64().unwrap();
    let settled = app.settled(id, 1).await;
    assert_eq!(settled[0]["state"], json!("done"), "{settled:#?}");
    assert_eq!(settled[0]["last_response_code"], json!(200));
    assert_eq!(settled[0]["attempts"], json!(1));

    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:?}");
    let first = &got[0];
    assert_eq!(first.id, format!("msg_{did}"));
    assert_eq!(delivery["message_id"], json!(first.id));
    assert!(
        first.content_type.starts_with("application/json"),
        "{first:?}"
    );
    let sent_at: i64 = first.timestamp.parse().expect("unix seconds");
    assert!((now() - sent_at).abs() < 60);
    assert!(
        verify(
            secret,
            &first.id,
            &first.timestamp,
            &first.body,
            &first.signature
        ),
        "{first:?}"
    );
    assert!(!verify(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        &first.id,
        &first.timestamp,
        &first.body,
        &first.signature
    ));
    let body = first.json();
    assert_eq!(body["type"], json!("webhook.test"));
    assert_eq!(body["data"]["account"], json!(app.fake.appid()));
    assert!(
        chrono::DateTime::parse_from_rfc3339(body["timestamp"].as_str().unwrap()).is_ok(),
        "{body}"
    );

    // Replay: the same id and bytes, signed again.
    let (status, replayed) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/deliveries/{did}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{replayed}");
    app.settled(id, 1).await;
    for _ in 0..50 {
        if receiver.got().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = receiver.got();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].id, first.id);
    assert_eq!(got[1].body, first.body);
    assert!(verify(
        secret,
        &got[1].id,
        &got[1].timestamp,
        &got[1].body,
        &got[1].signature
    ));

    // A pending delivery cannot be replayed; a delivery of another webhook is not found.
    app.sql(&format!(
        "UPDATE outbox_job SET state = 'pending', run_after_ms = 9000000000000 WHERE id = {did}"
    ))
    .await;
    let (status, body) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/deliveries/{did}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let other = app.new_webhook(&receiver.url, json!(["scan"])).await;
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{}/deliveries/{did}/replay", other["id"]),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_receiver_down_for_a_while_gets_every_event_once_it_is_back() {
    let app = app_with(with_key_and_loopback).await;
    let receiver = Receiver::start().await;
    receiver.answer(503);
    let created = app.new_webhook(&receiver.url, json!(["*"])).await;
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    // Another webhook wants unsubscribes only.
    let picky = Receiver::start().await;
    let unsubscribes = app.new_webhook(&picky.url, json!(["unsubscribe"])).await;

    let (_, code) = app
        .create(json!({"kind": "temporary", "payload": {"activity_id": "spring"}}))
        .await;
    let (scene, ticket) = (code["scene_str"].as_str(), code["ticket"].as_str());
    let t = now();
    let pushes = [
        subscribe("oHookA", t, scene, ticket),
        scan("oHookA", t + 1, scene.unwrap(), ticket),
        subscribe("oHookB", t, None, None),
        unsubscribe("oHookB", t + 2),
        scan("oHookC", t + 3, scene.unwrap(), ticket),
    ];
    for xml in &pushes {
        let (status, _) = Push::plain(xml).send(&app).await;
        assert_eq!(status, 200);
    }
    let events = app.events().await;
    assert_eq!(events.len(), pushes.len());

    // Down: attempts fail with 503 and are retried.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let failing = receiver.got();
    assert!(
        failing.len() >= pushes.len(),
        "every delivery was tried: {}",
        failing.len()
    );
    let log = app.deliveries(id).await;
    assert!(log.iter().all(|d| d["state"] != json!("done")), "{log:#?}");
    assert!(
        log.iter().any(|d| d["last_response_code"] == json!(503)
            && d["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("receiver down"))),
        "{log:#?}"
    );
    let (_, webhook) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert!(webhook["failing_since"].is_string(), "{webhook}");

    // Back up: every event arrives.
    receiver.answer(200);
    let log = app.settled(id, pushes.len()).await;
    assert!(log.iter().all(|d| d["state"] == json!("done")), "{log:#?}");
    let got = receiver.got();
    let delivered: BTreeSet<&str> = got
        .iter()
        .filter(|g| g.status == 200)
        .map(|g| g.id.as_str())
        .collect();
    assert_eq!(
        delivered.len(),
        events.len(),
        "distinct ids delivered: {delivered:?}"
    );
    // Every attempt of one id carried the same bytes, each validly signed.
    let mut bodies: BTreeMap<&str, &Vec<u8>> = BTreeMap::new();
    for g in &got {
        assert!(
            verify(&secret, &g.id, &g.timestamp, &g.body, &g.signature),
            "{g:?}"
        );
        let first = bodies.entry(g.id.as_str()).or_insert(&g.body);
        assert_eq!(
            *first, &g.body,
            "the body of {} changed between attempts",
            g.id
        );
    }
    // The bodies: one per event, with the event, its code and the follower's first touch.
    let mut kinds = Vec::new();
    for (_, body) in bodies {
        let body: Value = serde_json::from_slice(body).unwrap();
        let data = &body["data"];
        assert_eq!(data["account"], json!(app.fake.appid()));
        assert_eq!(body["type"], data["event"]["kind"], "{body}");
        kinds.push(body["type"].as_str().unwrap().to_owned());
        let openid = data["event"]["openid"].as_str().unwrap();
        if openid != "oHookC" {
            assert_eq!(data["follower"]["openid"], json!(openid), "{body}");
        }
        if openid != "oHookB" {
            assert_eq!(data["code"]["activity_id"], json!("spring"), "{body}");
            assert_eq!(data["code"]["id"], code["id"], "{body}");
        } else {
            assert_eq!(data["code"], Value::Null, "{body}");
        }
        if openid == "oHookA" {
            assert_eq!(
                data["follower"]["first_code"]["activity_id"],
                json!("spring"),
                "{body}"
            );
            assert!(data["follower"]["first_followed_at"].is_string(), "{body}");
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        ["scan", "scan", "subscribe", "subscribe", "unsubscribe"]
    );
    let (_, webhook) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(webhook["failing_since"], Value::Null, "{webhook}");
    assert!(webhook["last_success_at"].is_string(), "{webhook}");

    // The other webhook got the one unsubscribe, and nothing else.
    let log = app.settled(unsubscribes["id"].as_i64().unwrap(), 1).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    let got = picky.got();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].json()["type"], json!("unsubscribe"));
    assert_eq!(got[0].json()["data"]["event"]["openid"], json!("oHookB"));
}

#[tokio::test]
async fn the_first_valid_scan_of_a_binding_code_delivers_binding_bound() {
    let app = app_with(with_key_and_loopback).await;
    let receiver = Receiver::start().await;
    let created = app
        .new_webhook(&receiver.url, json!(["binding.bound"]))
        .await;
    let id = created["id"].as_i64().unwrap();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let (status, binding) = app
        .call(
            reqwest::Method::POST,
            "/api/v1/bindings",
            Some(json!({"external_user_id": "crm-7"})),
        )
        .await;
    assert_eq!(status, 201, "{binding}");
    let code = &binding["qrcode"];
    let (scene, ticket) = (code["scene_str"].as_str(), code["ticket"].as_str());
    let t = now();
    // The first scan binds; a second scanner binds nothing.
    for xml in [
        subscribe("oBinder", t, scene, ticket),
        scan("oLate", t + 1, scene.unwrap(), ticket),
    ] {
        assert_eq!(Push::plain(&xml).send(&app).await.0, 200);
    }
    let log = app.settled(id, 1).await;
    assert_eq!(log.len(), 1, "{log:#?}");
    assert_eq!(log[0]["state"], json!("done"), "{log:#?}");
    let got = receiver.got();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(verify(
        &secret,
        &got[0].id,
        &got[0].timestamp,
        &got[0].body,
        &got[0].signature
    ));
    let body = got[0].json();
    assert_eq!(body["type"], json!("binding.bound"), "{body}");
    let data = &body["data"];
    assert_eq!(data["binding"]["id"], binding["id"], "{body}");
    assert_eq!(
        data["binding"]["external_user_id"],
        json!("crm-7"),
        "{body}"
    );
    assert_eq!(data["binding"]["status"], json!("bound"), "{body}");
    assert_eq!(data["binding"]["openid"], json!("oBinder"), "{body}");
    assert_eq!(data["event"]["openid"], json!("oBinder"), "{body}");
    assert_eq!(data["code"]["id"], code["id"], "{body}");

    // Two early scans stored by concurrent batches each write a binding.bound job (neither
    // sees the other's row): only the first is sent, the other is dropped.
    let late = app
        .events()
        .await
        .into_iter()
        .find(|e| e.openid == "oLate")
        .expect("the second scan")
        .id;
    app.db
        .execute_unprepared(&format!(
            "INSERT INTO outbox_job (account_id, kind, state, event_id, subject_id, openid, payload, \
             attempts, run_after_ms, created_ms, updated_ms) VALUES (1, 'webhook', 'pending', {late}, \
             {id}, 'oLate', '{{\"type\":\"binding.bound\"}}', 0, 0, 0, 0)"
        ))
        .await
        .unwrap();
    let log = app.settled(id, 2).await;
    assert_eq!(log.len(), 2, "{log:#?}");
    let second = log.iter().find(|d| d["event_id"] == json!(late)).unwrap();
    assert_eq!(second["state"], json!("dropped"), "{log:#?}");
    assert_eq!(receiver.got().len(), 1, "sent once");
}

#[tokio::test]
async fn private_addresses_are_refused_by_default() {
    let app = app_with(with_key).await;
    let receiver = Receiver::start().await;
    let literal = app.new_webhook(&receiver.url, json!(["*"])).await;
    let named = app
        .new_webhook(
            &format!("http://localhost:{}/hook", receiver.port),
            json!(["*"]),
        )
        .await;
    for webhook in [&literal, &named] {
        let id = webhook["id"].as_i64().unwrap();
        let (status, _) = app
            .call(
                reqwest::Method::POST,
                &format!("/api/v1/webhooks/{id}/test"),
                None,
            )
            .await;
        assert_eq!(status, 202);
        let log = app.settled(id, 1).await;
        assert_eq!(log[0]["state"], json!("dead"), "{log:#?}");
        assert_eq!(log[0]["attempts"], json!(1), "not retried: {log:#?}");
        let error = log[0]["last_error"].as_str().unwrap();
        assert!(
            error.contains("refused") && error.contains("QRSCENE_WEBHOOK_ALLOW_PRIVATE"),
            "{error}"
        );
    }
    assert!(receiver.got().is_empty(), "{:?}", receiver.got());
}

#[tokio::test]
async fn a_webhook_failing_past_the_threshold_is_disabled_and_shows_it() {
    let app = app_with(with_key_and_loopback).await;
    let receiver = Receiver::start().await;
    receiver.answer(500);
    let created = app.new_webhook(&receiver.url, json!(["*"])).await;
    let id = created["id"].as_i64().unwrap();
    // Failing for 73 hours already (the default threshold is 72).
    let since = chrono::Utc::now().timestamp_millis() - 73 * 3600 * 1000;
    app.sql(&format!(
        "UPDATE webhook SET failing_since_ms = {since} WHERE id = {id}"
    ))
    .await;
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let log = app.settled(id, 1).await;
    assert_eq!(log[0]["state"], json!("dead"), "{log:#?}");
    assert_eq!(log[0]["last_error"], json!("webhook disabled"), "{log:#?}");

    let (_, webhook) = app
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            None,
        )
        .await;
    assert_eq!(webhook["enabled"], json!(false), "{webhook}");
    assert!(
        webhook["disabled_reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("failing since")),
        "{webhook}"
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    let appid = app.fake.appid();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("qrscene_webhooks_disabled_total") && l.contains(&appid)),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("qrscene_webhooks_disabled ")),
        "{metrics}"
    );
    assert!(
        metrics.contains("qrscene_webhook_deliveries_total"),
        "{metrics}"
    );

    // Enabled again: not failing any more; the dead delivery replays and arrives.
    receiver.answer(200);
    let (_, webhook) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(webhook["enabled"], json!(true));
    assert_eq!(webhook["failing_since"], Value::Null, "{webhook}");
    let did = log[0]["id"].as_i64().unwrap();
    let (status, _) = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{id}/deliveries/{did}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 202);
    let log = app.settled(id, 1).await;
    assert_eq!(log[0]["state"], json!("done"), "{log:#?}");
}
