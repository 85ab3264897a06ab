//! The security findings of issue 8, black-box: start-up refusals (through `Application::build`
//! and the binary itself) and the small ones (503 without a callback token, the `Bearer`
//! scheme in any case, short keys refused, late scans of binding codes). The HTTP-level ones
//! are in `security_http`.

use std::process::Command;
use std::time::Duration;

use qrscene::config::Settings;
use qrscene::startup::Application;
use serde_json::{Value, json};

use crate::helpers::{KEY, Options, SECRET, TestDb, spawn_app, spawn_with};
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
