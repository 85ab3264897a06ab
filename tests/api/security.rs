//! The security findings of issue 8, black-box: start-up refusals (through `Application::build`
//! and the binary itself), metric labels from fixed sets, deadlines on slow requests and the
//! connection cap, security headers, and the small ones (503 without a callback token, the
//! `Bearer` scheme in any case, short keys refused).

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use qrscene::config::Settings;
use qrscene::startup::Application;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{KEY, Options, SECRET, TestApp, TestDb, ci, spawn_app, spawn_with};
use crate::push::{Push, now, scan};

/// `Application::build`'s refusal of `settings`, as one line.
async fn refusal(settings: Settings) -> String {
    let message = match Application::build(settings).await {
        Ok(_) => panic!("the settings were accepted"),
        Err(e) => format!("{e:#}"),
    };
    assert!(!message.contains('\n'), "one line: {message}");
    message
}

fn on(db: &TestDb) -> Settings {
    Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: db.url.clone().into(),
        api_keys: Some(format!("tester:{KEY}").into()),
        ..Settings::default()
    }
}

#[tokio::test]
async fn half_of_the_credentials_refuses_to_start_naming_the_missing_one() {
    let db = TestDb::new().await;
    let appid_only = refusal(Settings {
        wechat_appid: Some("wxabc".into()),
        ..on(&db)
    })
    .await;
    assert!(
        appid_only.contains("WECHAT_APPID is set but WECHAT_SECRET is not"),
        "{appid_only}"
    );
    let secret_only = refusal(Settings {
        wechat_secret: Some(SECRET.into()),
        ..on(&db)
    })
    .await;
    assert!(
        secret_only.contains("WECHAT_SECRET is set but WECHAT_APPID is not"),
        "{secret_only}"
    );
}

#[tokio::test]
async fn sandbox_mode_refuses_a_public_address_unless_asked_for() {
    let db = TestDb::new().await;
    let public = Settings {
        listen: "0.0.0.0:0".parse().expect("address"),
        ..on(&db)
    };
    let refused = refusal(public.clone()).await;
    assert!(
        refused.contains("QRSCENE_LISTEN=0.0.0.0:0") && refused.contains("QRSCENE_SANDBOX=true"),
        "{refused}"
    );
    let asked = Application::build(Settings {
        sandbox: true,
        ..public
    })
    .await;
    assert!(asked.is_ok(), "QRSCENE_SANDBOX=true allows it");
}

#[tokio::test]
async fn api_keys_shorter_than_24_characters_refuse_to_start() {
    let db = TestDb::new().await;
    let refused = refusal(Settings {
        api_keys: Some(format!("crm:{KEY},login:short-key").into()),
        ..on(&db)
    })
    .await;
    assert!(
        refused.contains("entry 2 (login) has 9 characters; at least 24"),
        "{refused}"
    );
    assert!(
        !refused.contains("short-key"),
        "the key is not shown: {refused}"
    );
}

/// Runs the binary with only `vars` (and PATH) set; answers its exit code and stderr.
fn run_binary(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_qrscene"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "off")
        .envs(vars.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run qrscene");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), stderr)
}

#[test]
fn the_binary_refuses_a_misspelt_or_partial_configuration_in_one_line() {
    let (code, stderr) = run_binary(&[("WECHAT_APPID", "wxabc"), ("WECHAT_APPSECRET", "s")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr
            .contains("unknown environment variable WECHAT_APPSECRET; did you mean WECHAT_SECRET?"),
        "{stderr}"
    );

    let (code, stderr) = run_binary(&[("WECHAT_APPID", "wxabc")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("WECHAT_APPID is set but WECHAT_SECRET is not"),
        "{stderr}"
    );

    let (code, stderr) = run_binary(&[("QRSCENE_LISTEN", "0.0.0.0:0")]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("QRSCENE_SANDBOX=true"), "{stderr}");
}

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

fn quick_timeouts(settings: &mut Settings) {
    settings.body_timeout_ms = 500;
    settings.header_timeout_ms = 500;
}

#[tokio::test]
async fn a_stalled_body_gets_408_and_its_connection_closed() {
    let app = spawn_with(Options {
        tweak: quick_timeouts,
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
        assert!(took < Duration::from_secs(3), "{target}: {took:?}");
    }
    assert!(app.events().await.is_empty());
    assert!(app.log().await.is_empty());
}

#[tokio::test]
async fn stalled_headers_get_408_within_the_header_timeout() {
    let app = spawn_with(Options {
        tweak: quick_timeouts,
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

#[tokio::test]
async fn without_a_callback_token_a_push_gets_the_documented_503() {
    let app = spawn_with(Options {
        tweak: |s| s.wechat_token = None,
        ..Options::default()
    })
    .await;
    let (status, body) = Push::plain("<xml></xml>").send(&app).await;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(body["code"], "unavailable");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or("")
            .contains("WECHAT_TOKEN"),
        "{body}"
    );
    assert!(app.events().await.is_empty());
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let response = app
            .http
            .post(format!("{}/api/v1/qrcodes", app.address))
            .header("authorization", format!("{scheme} {KEY}"))
            .json(&json!({"kind": "temporary"}))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 201, "{scheme}");
    }
    let other = app
        .http
        .get(format!("{}/api/v1/qrcodes", app.address))
        .header("authorization", format!("Basic {KEY}"))
        .send()
        .await
        .expect("request");
    assert_eq!(other.status(), 401);
}

#[tokio::test]
async fn a_scan_after_a_binding_code_expired_binds_nothing() {
    let app = spawn_app().await;
    let binding: Value = app
        .post(
            "/api/v1/bindings",
            &json!({"external_user_id": "crm-late", "expire_seconds": 1}),
        )
        .await
        .json()
        .await
        .expect("JSON");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let code = &binding["qrcode"];
    let xml = scan(
        "oLate",
        now(),
        code["scene_str"].as_str().expect("scene"),
        code["ticket"].as_str(),
    );
    assert_eq!(Push::plain(&xml).send(&app).await, (200, "success".into()));
    assert_eq!(app.events().await.len(), 1, "the scan itself is stored");
    let late: Value = app
        .get(&format!("/api/v1/bindings/{}", binding["id"]))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(late["status"], "expired", "{late}");
    assert!(late["openid"].is_null(), "{late}");
    let user: Value = app
        .get("/api/v1/bindings?external_user_id=crm-late")
        .await
        .json()
        .await
        .expect("JSON");
    assert!(user["current"].is_null(), "{user}");
    assert_eq!(user["history"][0]["status"], "expired");
}

/// Debian's Chromium, which `.ci/run` installs.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The DOM Chromium renders at `url`, and its console (stderr).
async fn render(url: String) -> (String, String) {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("temp dir");
        let output = Command::new(CHROMIUM)
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
