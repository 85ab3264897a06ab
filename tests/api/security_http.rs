//! Security findings at the HTTP level, black-box: metric labels from fixed sets, deadlines
//! on stalled headers and bodies, the connection cap, security headers and the pages' policy
//! (rendered in Chromium).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use qrscene::config::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{KEY, Options, TestApp, ci, spawn_app, spawn_with};
use crate::push::Push;

/// The series of the HTTP metrics (names and labels, without values).
fn http_series(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.starts_with("qrscene_http_request"))
        .filter_map(|l| l.rsplit_once(' ').map(|(series, _)| series.to_owned()))
        .collect()
}

async fn invent_requests(app: &TestApp, round: &str) {
    for i in 0..20 {
        let method =
            reqwest::Method::from_bytes(format!("INVENTED{round}X{i}").as_bytes()).expect("method");
        let path = format!("/made-up-{round}-{i}/{}", uuid::Uuid::new_v4().simple());
        let made_up = app
            .http
            .request(method.clone(), format!("{}{path}", app.address))
            .send()
            .await
            .expect("request");
        assert_eq!(made_up.status(), 404);
        let known_route = app
            .http
            .request(method, format!("{}/healthz", app.address))
            .send()
            .await
            .expect("request");
        assert!(known_route.status().is_client_error());
        let random_get = app.get(&path).await;
        assert_eq!(random_get.status(), 404);
    }
}

#[tokio::test]
async fn made_up_methods_and_paths_add_no_metric_series() {
    let app = spawn_app().await;
    invent_requests(&app, "a").await;
    let first = app.get("/metrics").await.text().await.expect("metrics");
    for label in [
        r#"method="other",route="unmatched",status="404""#,
        r#"method="GET",route="unmatched",status="404""#,
    ] {
        assert!(first.contains(label), "{label} counted:\n{first}");
    }
    invent_requests(&app, "b").await;
    let second = app.get("/metrics").await.text().await.expect("metrics");
    for text in [&first, &second] {
        assert!(!text.contains("INVENTED"), "a method became a label");
        assert!(!text.contains("made-up"), "a path became a label");
    }
    // Other tests share the recorder, so compare only what this test's requests could add.
    let ours = |set: BTreeSet<String>| -> BTreeSet<String> {
        set.into_iter()
            .filter(|s| s.contains(r#"method="other""#) || s.contains(r#"route="unmatched""#))
            .filter(|s| {
                s.contains(r#"status="404""#)
                    || s.contains(r#"status="405""#)
                    || !s.contains("status=")
            })
            .collect()
    };
    let grown: Vec<_> = ours(http_series(&second))
        .difference(&ours(http_series(&first)))
        .cloned()
        .collect();
    assert!(grown.is_empty(), "new series: {grown:?}");
}

/// Reads what the server answers on `stream` until it closes or `limit` passes.
async fn answer_within(stream: &mut TcpStream, limit: Duration) -> (String, Duration, bool) {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout_at(
            tokio::time::Instant::from_std(started + limit),
            stream.read(&mut buf),
        )
        .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => break false,
        }
    };
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
        closed,
    )
}

/// A short body deadline; the headers keep their default (5 s), so that a 408 within it is
/// the body's, even on a loaded machine.
fn quick_body_timeout(settings: &mut Settings) {
    settings.body_timeout_ms = 500;
}

fn quick_header_timeout(settings: &mut Settings) {
    settings.header_timeout_ms = 500;
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_its_connection_closed() {
    let app = spawn_with(Options {
        tweak: quick_body_timeout,
        ..Options::default()
    })
    .await;
    let push = Push::plain("<xml></xml>");
    let query: Vec<String> = push.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for (target, extra) in [
        (
            format!("/wechat/callback?{}", query.join("&")),
            "Content-Type: text/xml\r\n".to_owned(),
        ),
        (
            "/api/v1/qrcodes".to_owned(),
            format!("Content-Type: application/json\r\nAuthorization: Bearer {KEY}\r\n"),
        ),
    ] {
        let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
            .await
            .expect("connect");
        let head = format!(
            "POST {target} HTTP/1.1\r\nHost: test\r\n{extra}Content-Length: 1000\r\n\r\n<xml>"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        let (answer, took, closed) = answer_within(&mut stream, Duration::from_secs(5)).await;
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "{target}: {answer:?} after {took:?}"
        );
        assert!(answer.contains("request_timeout"), "{answer}");
        assert!(closed, "{target}: the connection is closed");
        assert!(took < Duration::from_secs(4), "{target}: {took:?}");
    }
    assert!(app.events().await.is_empty());
    assert!(app.log().await.is_empty());
}

#[tokio::test]
async fn a_trickling_body_gets_408_when_its_whole_time_is_up() {
    let app = spawn_with(Options {
        tweak: quick_body_timeout,
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/qrcodes HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {KEY}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    // A byte every 100 ms never leaves the connection idle for long, but the body's
    // deadline counts from its headers.
    let mut answer = String::new();
    for _ in 0..40 {
        if stream.write_all(b" ").await.is_err() {
            break;
        }
        let (part, _, closed) = answer_within(&mut stream, Duration::from_millis(100)).await;
        answer.push_str(&part);
        if closed {
            break;
        }
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        answer.contains("request_timeout"),
        "the body's deadline: {answer}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn stalled_headers_get_408_within_the_header_timeout() {
    let app = spawn_with(Options {
        tweak: quick_header_timeout,
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n")
        .await
        .expect("write");
    let (answer, took, closed) = answer_within(&mut stream, Duration::from_secs(5)).await;
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?} after {took:?}"
    );
    assert!(closed && took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_one() {
    let app = spawn_with(Options {
        tweak: |s| {
            s.max_connections = 1;
            s.header_timeout_ms = 1_500;
        },
        ..Options::default()
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // One idle connection takes the only place until the header timeout drops it.
    let mut idle = TcpStream::connect(&address).await.expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut second = TcpStream::connect(&address).await.expect("connect");
    second
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (answer, took, _) = answer_within(&mut second, Duration::from_secs(6)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(
        took >= Duration::from_millis(1_000),
        "answered after {took:?}, while the cap was taken"
    );
    let (_, _, closed) = answer_within(&mut idle, Duration::from_secs(1)).await;
    assert!(closed, "the idle connection was dropped");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn every_answer_carries_the_security_headers_and_pages_a_strict_policy() {
    let app = spawn_app().await;
    for (path, page) in [
        ("/healthz", false),
        ("/api/v1/qrcodes", false),
        ("/no-such-route", false),
        ("/dashboard", true),
        ("/dashboard/app.js", true),
        ("/docs/", true),
        ("/docs/swagger-initializer.js", true),
        ("/openapi.json", false),
    ] {
        let response = app
            .http
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .expect("request");
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
        let expected = if page {
            "default-src 'self'"
        } else {
            "default-src 'none'"
        };
        assert!(policy.starts_with(expected), "{path}: {policy}");
        assert!(
            !policy.contains("unsafe") && !policy.contains('*'),
            "{path}: {policy}"
        );
    }
    // An error answer from an extractor gets them too.
    let unreadable = app
        .http
        .post(format!("{}/api/v1/qrcodes", app.address))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("request");
    assert_eq!(unreadable.status(), 400);
    assert_eq!(unreadable.headers()["x-content-type-options"], "nosniff");
}

/// Debian's Chromium, which `.ci/run` installs.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The DOM Chromium renders at `url`, and its console (stderr).
async fn render(url: String) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("temp dir");
        // At the lowest priority: the timing-sensitive tests running beside it (token
        // expiry across instances) must not starve while it renders.
        let output = Command::new("nice")
            .args(["-n", "19", CHROMIUM])
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=10000",
                "--dump-dom",
            ])
            .arg(format!("--user-data-dir={}", dir.path().display()))
            .arg(&url)
            .output()
            .expect("run chromium");
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    })
    .await
    .expect("chromium task")
}

#[tokio::test]
async fn the_pages_work_under_their_policy() {
    if !std::path::Path::new(CHROMIUM).exists() {
        assert!(!ci(), "CI=true but {CHROMIUM} is missing");
        eprintln!("{CHROMIUM} missing: skipping the policy test (CI=true makes this a failure)");
        return;
    }
    let app = spawn_app().await;
    let (docs, console) = render(format!("{}/docs/", app.address)).await;
    assert!(
        docs.contains(r#"class="title">qrscene"#),
        "the Swagger UI rendered the document:\n{console}"
    );
    let (dashboard, dashboard_console) =
        render(format!("{}/dashboard#key={KEY}", app.address)).await;
    assert!(
        dashboard.contains(r#"data-ready="true""#),
        "{dashboard_console}"
    );
    for console in [console, dashboard_console] {
        assert!(
            !console.contains("Content Security Policy"),
            "a policy violation:\n{console}"
        );
    }
}
