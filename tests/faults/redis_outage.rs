//! Redis killed or hung under load: no push is refused, all are stored, the first code after
//! the outage does not wait for Redis, and `/readyz` reports `degraded` fast.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::TestDb;
use crate::push::{Push, now, subscribe, unsubscribe};
use crate::support::{RedisServer, readyz, required, spawn, stored, timed};

/// How long pushes are sent during the outage.
const LOAD: Duration = Duration::from_secs(4);
/// Concurrent senders.
const SENDERS: usize = 8;

#[derive(Debug, Clone, Copy)]
enum Outage {
    Killed,
    Hung,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_and_codes_keep_working_while_redis_is_killed() {
    outage(Outage::Killed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_and_codes_keep_working_while_redis_is_hung() {
    outage(Outage::Hung).await;
}

async fn outage(outage: Outage) {
    let Some(mut redis) = required(RedisServer::start().await, "redis-server") else {
        return;
    };
    let running = spawn(TestDb::new().await, None, Some(redis.url())).await;
    let app = running.app.clone();
    // Before: Redis answers, and the app is ready.
    let (status, body, _) = readyz(&app).await;
    assert_eq!(
        (status, &body["status"], &body["redis"]),
        (200, &json!("ready"), &json!("ok"))
    );
    let warm = Push::plain(&unsubscribe("oWarm", now()));
    assert_eq!(timed(&app, &warm).await.0, 200);

    match outage {
        Outage::Killed => redis.kill(),
        Outage::Hung => redis.freeze(true),
    }

    // Readiness notices (and its PING sets the Redis client reconnecting, which makes every
    // command wait for its retries, 6-12 s, unless bounded).
    let (status, body, noticed) = readyz(&app).await;
    assert_eq!(
        (status, &body["status"], &body["redis"]),
        (200, &json!("degraded"), &json!("down")),
        "{body}"
    );
    assert!(
        noticed < Duration::from_millis(1500),
        "/readyz took {noticed:?}"
    );

    // The first code after the outage: no token cached anywhere yet.
    let started = Instant::now();
    let (status, code) = app.create(json!({"kind":"temporary"})).await;
    let first_code = started.elapsed();
    assert_eq!(status, 201, "{code}");
    assert!(
        first_code < Duration::from_secs(1),
        "the first code after Redis went {outage:?} took {first_code:?}"
    );

    // Pushes from several senders: scans of the code (each announced) and unsubscribes.
    let sent = Arc::new(AtomicUsize::new(0));
    let refused = Arc::new(AtomicUsize::new(0));
    let slowest = Arc::new(std::sync::Mutex::new(Duration::ZERO));
    let until = Instant::now() + LOAD;
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (app, code) = (app.clone(), code.clone());
            let (sent, refused, slowest) = (sent.clone(), refused.clone(), slowest.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < until {
                    n += 1;
                    let openid = format!("o{sender}x{n}");
                    let xml = if n % 2 == 0 {
                        subscribe(&openid, now(), code_scene(&code), code["ticket"].as_str())
                    } else {
                        unsubscribe(&openid, now())
                    };
                    let (status, took) = timed(&app, &Push::plain(&xml)).await;
                    sent.fetch_add(1, Ordering::SeqCst);
                    if status != 200 {
                        refused.fetch_add(1, Ordering::SeqCst);
                    }
                    let mut slowest = slowest.lock().unwrap();
                    *slowest = (*slowest).max(took);
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.expect("sender");
    }
    let (sent, refused) = (sent.load(Ordering::SeqCst), refused.load(Ordering::SeqCst));
    let slowest = *slowest.lock().unwrap();

    let (status, body, took) = readyz(&app).await;
    eprintln!(
        "redis {outage:?}: {sent} pushes in {LOAD:?}, {refused} refused, slowest {slowest:?}; \
         first code {first_code:?}; /readyz in {noticed:?}, then {status} {body} in {took:?}"
    );
    assert_eq!(refused, 0, "pushes refused while Redis was {outage:?}");
    assert!(sent > 50, "only {sent} pushes were sent");
    assert_eq!(stored(&app).await, sent + 1, "every push is stored");
    // Well under the 4 s after which a push waiting on Redis used to be refused.
    assert!(slowest < Duration::from_secs(2), "slowest push {slowest:?}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["redis"], "down");
    assert_eq!(body["database"], true);
    assert!(took < Duration::from_millis(1500), "/readyz took {took:?}");

    // A wait still answers: from the database, the announcements being lost.
    let id = code["id"].as_i64().unwrap();
    let started = Instant::now();
    let waited = app
        .get(&format!("/api/v1/qrcodes/{id}/wait?timeout=5"))
        .await;
    assert_eq!(waited.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(2));

    // Shutdown does not wait on Redis either.
    drop(app);
    let stopped = running.shutdown().await;
    eprintln!("redis {outage:?}: stopped in {stopped:?}");
    assert!(
        stopped < Duration::from_secs(3),
        "stopping took {stopped:?}"
    );
}

fn code_scene(code: &Value) -> Option<&str> {
    code["scene_str"].as_str()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_an_instance_serves_its_own_token_until_it_expires() {
    let Some(mut redis) = required(RedisServer::start().await, "redis-server") else {
        return;
    };
    let running = spawn(TestDb::new().await, None, Some(redis.url())).await;
    let app = running.app.clone();
    // A 4 s token is refreshed after 2 s: at 2.5 s it is due for refresh, and still valid.
    app.fake.set_token_life(Duration::from_secs(4));
    assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
    assert_eq!(app.fake.token_fetches(), 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    redis.kill();
    let started = Instant::now();
    assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        app.fake.token_fetches(),
        1,
        "the cached token stands in while Redis is down"
    );
    // Past its expiry, the instance fetches one itself.
    tokio::time::sleep(Duration::from_millis(1700)).await;
    assert_eq!(app.create(json!({"kind":"temporary"})).await.0, 201);
    assert_eq!(app.fake.token_fetches(), 2);
    drop(app);
    running.shutdown().await;
}
