//! A Postgres path that goes dark mid-statement (a proxy that stops forwarding without
//! closing): the committers abandon the stuck batch at its deadline and go on over new
//! connections, `/readyz` reports them stuck meanwhile, fast; with no path at all, `/readyz`
//! answers 503 fast.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::json;

use crate::helpers::{TestDb, postgres_base};
use crate::push::{AES_KEY, Push, now, unsubscribe};
use crate::support::{Proxy, Running, readyz, required, spawn, stored, timed};

/// The app over a proxy to a fresh database of the test Postgres server; `None` (skip)
/// without it, a failure under CI=true.
async fn behind_proxy() -> Option<(Running, Proxy)> {
    let base = required(
        postgres_base(),
        "TEST_POSTGRES_URL or TEST_DATABASE_URL (Postgres)",
    )?;
    let database = TestDb::postgres(base).await;
    // postgres://user@host:port/name: the proxy takes the place of host:port.
    let (scheme_user, rest) = database.url.rsplit_once('@').expect("user@ in the URL");
    let (host_port, name) = rest.split_once('/').expect("a database name");
    let (host, port) = host_port.rsplit_once(':').unwrap_or((host_port, "5432"));
    let target = (host.to_owned(), port.parse().expect("port"));
    let proxy = Proxy::start(target).await;
    let proxied = format!("{scheme_user}@127.0.0.1:{}/{name}", proxy.port);
    let running = spawn(database, Some(proxied), None).await;
    Some((running, proxy))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committers_recover_from_a_connection_that_goes_dark() {
    let Some((running, proxy)) = behind_proxy().await else {
        return;
    };
    let app = &running.app;
    let mut pushes = Vec::new();
    let next = |pushes: &mut Vec<Push>| {
        let push = Push::plain(&unsubscribe(&format!("oDark{}", pushes.len()), now()));
        pushes.push(push.clone());
        push
    };
    for _ in 0..5 {
        assert_eq!(timed(app, &next(&mut pushes)).await.0, 200);
    }
    let (status, body, _) = readyz(app).await;
    assert_eq!(status, 200, "{body}");

    // Let every connection come back to the pool, tested: the next push takes one of them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.darken_existing();
    let dark_at = Instant::now();
    // A push in flight on a connection that went dark, in a committer: a safe-mode one (a
    // plaintext one would wait on the dark path in its replay binding, before the committers).
    let stuck = {
        let plain = next(&mut pushes);
        let xml = String::from_utf8(plain.body).expect("UTF-8");
        let push = Push::safe(&xml, AES_KEY, &running.app.fake.appid());
        let app = running.app.clone();
        tokio::spawn(async move { timed(&app, &push).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body, took) = readyz(app).await;
    eprintln!("dark Postgres path: /readyz {status} {body} in {took:?}");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable");
    assert!(body["committers"]["stuck"].as_u64().unwrap() >= 1, "{body}");
    assert!(took < Duration::from_millis(1500), "/readyz took {took:?}");
    let (status, took) = stuck.await.expect("stuck push");
    assert_eq!(
        status, 503,
        "the push on the dark connection is refused, for WeChat to retry"
    );
    assert!(took < Duration::from_millis(4500), "refused after {took:?}");

    // Pushes go through again once the dark connections are dropped.
    let mut refused = 1;
    let recovered = loop {
        let (status, _) = timed(app, &next(&mut pushes)).await;
        if status == 200 {
            break dark_at.elapsed();
        }
        refused += 1;
        assert!(
            dark_at.elapsed() < Duration::from_secs(15),
            "pushes still refused {:?} after the path went dark",
            dark_at.elapsed()
        );
    };
    for _ in 0..20 {
        assert_eq!(
            timed(app, &next(&mut pushes)).await.0,
            200,
            "after recovery"
        );
    }
    let (status, body, _) = readyz(app).await;
    eprintln!(
        "dark Postgres path: {refused} pushes refused, stored again {recovered:?} after; then /readyz {status} {body}"
    );
    assert!(
        recovered < Duration::from_secs(10),
        "recovered after {recovered:?}"
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["committers"]["stuck"], 0);

    // WeChat retries the refused ones: every push is then stored exactly once.
    for push in &pushes {
        assert_eq!(timed(app, push).await.0, 200, "retry");
    }
    assert_eq!(stored(app).await, pushes.len());
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_503_fast_when_the_database_does_not_answer() {
    let Some((running, proxy)) = behind_proxy().await else {
        return;
    };
    let app = &running.app;
    let (status, body, _) = readyz(app).await;
    assert_eq!((status, &body["status"]), (200, &json!("ready")));
    proxy.darken_all();
    for _ in 0..3 {
        let (status, body, took) = readyz(app).await;
        eprintln!("no Postgres path: /readyz {status} {body} in {took:?}");
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["database"], false);
        assert!(took < Duration::from_millis(1500), "/readyz took {took:?}");
    }
    // The committers are idle: stopping is not held up by the dark path.
    running.shutdown().await;
}

#[tokio::test]
async fn pooled_connections_carry_the_server_side_deadlines_and_keepalive() {
    let Some(base) = required(
        postgres_base(),
        "TEST_POSTGRES_URL or TEST_DATABASE_URL (Postgres)",
    ) else {
        return;
    };
    let database = TestDb::postgres(base).await;
    let db = qrscene::db::connect(&database.url, 1)
        .await
        .expect("connect");
    for (setting, expected) in [
        ("statement_timeout", "30s"),
        ("idle_in_transaction_session_timeout", "10s"),
        ("tcp_keepalives_idle", "10"),
        ("tcp_keepalives_interval", "5"),
        ("tcp_keepalives_count", "3"),
    ] {
        let row = db
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SHOW {setting}"),
            ))
            .await
            .expect("SHOW")
            .expect("a row");
        let value: String = row.try_get_by_index(0).expect("a text value");
        assert_eq!(value, expected, "{setting}");
    }
}
