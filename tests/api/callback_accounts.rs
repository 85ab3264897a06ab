//! The callback per account: each account's URL verified with its own token and keys and its
//! pushes stored under it; the original id learnt from the first verified push and enforced;
//! plaintext, compatible and safe pushes; `require_encryption`; a captured plaintext query
//! bound to its first body on every instance; no signed parameter in the service's log.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qrscene::accounts::Secrets;
use qrscene::accounts::seal::Sealer;
use qrscene::accounts::store::{self, NewAccount};
use qrscene::config::{Settings, TokenMode};
use qrscene::wechat::ids::AppId;
use qrscene::wechat::signature::sign;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::Value;

use crate::helpers::{
    CALLBACK_TOKEN, Options, TestApp, TestDb, new_appid, redis_url, spawn_instance, spawn_with,
};
use crate::push::{AES_KEY, OLD_AES_KEY, Push, event_to, now, subscribe};

/// `QRSCENE_MASTER_KEY` of these tests (32 bytes in base64).
const MASTER_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
/// Account B's callback token and EncodingAESKey.
const TOKEN_B: &str = "callback-token-of-account-b";
const AES_KEY_B: &str = "bcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH";
/// The environment account's id.
const ENV_ID: i64 = 1;

fn ok() -> (u16, String) {
    (200, "success".into())
}

fn with_master_key(settings: &mut Settings) {
    settings.master_key = Some(MASTER_KEY.into());
}

fn options(redis: Option<String>, aes_key: Option<&str>) -> Options {
    Options {
        redis,
        aes_key: aes_key.map(Into::into),
        tweak: with_master_key,
        ..Options::default()
    }
}

/// The code and message of an error body.
fn error(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (
        v["code"].as_str().unwrap_or_default().to_owned(),
        v["message"].as_str().unwrap_or_default().to_owned(),
    )
}

/// A second account, stored as the admin API stores one (its secrets sealed).
struct Other {
    id: i64,
    appid: String,
    /// Its callback URL.
    path: String,
}

async fn add_account(app: &TestApp, original_id: Option<&str>, require_encryption: bool) -> Other {
    let sealer = Sealer::from_settings(Some(&MASTER_KEY.into()), None)
        .expect("master key")
        .expect("a sealer");
    let appid = new_appid();
    let row = store::create(
        &app.db,
        Some(&sealer),
        NewAccount {
            appid: AppId::parse(&appid).unwrap(),
            name: Some("account B".into()),
            token_mode: TokenMode::Stable,
            require_encryption,
            original_id: original_id.map(Into::into),
            secrets: Secrets {
                callback_token: Some(TOKEN_B.into()),
                aes_key: Some(AES_KEY_B.into()),
                ..Secrets::default()
            },
        },
    )
    .await
    .expect("create account B");
    Other {
        id: row.id,
        path: format!("/wechat/callback/{appid}"),
        appid,
    }
}

/// The stored original id of account `id`.
async fn original_id(app: &TestApp, id: i64) -> Option<String> {
    entity::account::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .original_id
}

/// (account id, openid) of every stored event, oldest first.
async fn stored(app: &TestApp) -> Vec<(i64, String)> {
    app.events()
        .await
        .into_iter()
        .map(|e| (e.account_id, e.openid))
        .collect()
}

fn plain_b(to: &str, openid: &str) -> Push {
    Push::plain_signed(
        &event_to(to, openid, now(), "subscribe", None, None),
        TOKEN_B,
        now(),
    )
}

#[tokio::test]
async fn each_account_receives_its_pushes_on_its_own_url_with_its_own_token() {
    let app = spawn_with(options(None, None)).await;
    let b = add_account(&app, None, false).await;
    let env_path = format!("/wechat/callback/{}", app.fake.appid());

    let a1 = Push::plain(&event_to("gh_test", "oA1", now(), "subscribe", None, None));
    assert_eq!(a1.send(&app).await, ok());
    let a2 = Push::plain(&event_to("gh_test", "oA2", now(), "subscribe", None, None));
    assert_eq!(a2.send_to(&app, &env_path).await, ok());
    assert_eq!(plain_b("gh_b", "oB1").send_to(&app, &b.path).await, ok());
    let xml = event_to("gh_b", "oB2", now(), "subscribe", None, None);
    let safe = Push::safe_signed(&xml, AES_KEY_B, &b.appid, TOKEN_B, false);
    assert_eq!(safe.send_to(&app, &b.path).await, ok());

    // Another account's token (or key) does not open an account's URL.
    let a_on_b = Push::plain(&event_to("gh_b", "oX1", now(), "subscribe", None, None));
    let b_on_a = plain_b("gh_test", "oX2");
    let b_key_on_b = Push::safe_signed(&xml, AES_KEY, &b.appid, TOKEN_B, false);
    for (push, path, what) in [
        (&a_on_b, b.path.as_str(), "A's token on B's URL"),
        (&b_on_a, "/wechat/callback", "B's token on A's URL"),
        (&b_on_a, env_path.as_str(), "B's token on A's own URL"),
        (&b_key_on_b, b.path.as_str(), "another key on B's URL"),
    ] {
        let (status, body) = push.send_to(&app, path).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(error(&body).0, "unverified_push", "{what}");
    }
    let (status, body) = plain_b("gh_b", "oX3")
        .send_to(&app, &format!("/wechat/callback/{}", new_appid()))
        .await;
    assert_eq!(status, 404, "{body}");

    assert_eq!(
        stored(&app).await,
        [
            (ENV_ID, "oA1".to_owned()),
            (ENV_ID, "oA2".to_owned()),
            (b.id, "oB1".to_owned()),
            (b.id, "oB2".to_owned()),
        ]
    );
    // The same push to both accounts is one event of each.
    let xml = event_to("gh_test", "oBoth", now() - 5, "subscribe", None, None);
    assert_eq!(Push::plain(&xml).send(&app).await, ok());
    let xml = xml.replace("gh_test", "gh_b");
    assert_eq!(
        Push::plain_signed(&xml, TOKEN_B, now())
            .send_to(&app, &b.path)
            .await,
        ok()
    );
    let both: Vec<_> = stored(&app)
        .await
        .into_iter()
        .filter(|e| e.1 == "oBoth")
        .collect();
    assert_eq!(
        both,
        [(ENV_ID, "oBoth".to_owned()), (b.id, "oBoth".to_owned())]
    );
}

#[tokio::test]
async fn the_original_id_is_learnt_from_the_first_verified_push_and_then_enforced() {
    let app = spawn_with(options(None, None)).await;
    let b = add_account(&app, None, false).await;

    // A push whose signature fails teaches nothing.
    let forged = Push::plain_signed(
        &event_to("gh_forged", "oF", now(), "subscribe", None, None),
        "not-the-token",
        now(),
    );
    assert_eq!(forged.send_to(&app, &b.path).await.0, 401);
    assert_eq!(original_id(&app, b.id).await, None);

    // The first verified push does (a safe one here).
    let xml = event_to("gh_b", "oB1", now(), "subscribe", None, None);
    let first = Push::safe_signed(&xml, AES_KEY_B, &b.appid, TOKEN_B, false);
    assert_eq!(first.send_to(&app, &b.path).await, ok());
    assert_eq!(original_id(&app, b.id).await.as_deref(), Some("gh_b"));

    // From then on a push for another account is refused, in every mode, naming both.
    let xml = event_to("gh_other", "oO", now(), "subscribe", None, None);
    for (push, mode) in [
        (Push::plain_signed(&xml, TOKEN_B, now()), "plaintext"),
        (
            Push::safe_signed(&xml, AES_KEY_B, &b.appid, TOKEN_B, true),
            "compatible",
        ),
        (
            Push::safe_signed(&xml, AES_KEY_B, &b.appid, TOKEN_B, false),
            "safe",
        ),
    ] {
        let (status, body) = push.send_to(&app, &b.path).await;
        assert_eq!(status, 401, "{mode}: {body}");
        let (code, message) = error(&body);
        assert_eq!(code, "unverified_push");
        assert!(
            message.contains("gh_other") && message.contains("gh_b"),
            "{mode}: {message}"
        );
        assert!(!message.contains(TOKEN_B) && !body.contains(push.param("signature")));
    }
    assert_eq!(plain_b("gh_b", "oB2").send_to(&app, &b.path).await, ok());
    assert_eq!(
        stored(&app).await,
        [(b.id, "oB1".to_owned()), (b.id, "oB2".to_owned())]
    );

    // An account whose original id was given enforces it from its first push.
    let c = add_account(&app, Some("gh_c"), false).await;
    assert_eq!(plain_b("gh_b", "oC1").send_to(&app, &c.path).await.0, 401);
    assert_eq!(plain_b("gh_c", "oC2").send_to(&app, &c.path).await, ok());
    assert_eq!(original_id(&app, c.id).await.as_deref(), Some("gh_c"));

    // The environment's account learns its own the same way.
    assert_eq!(original_id(&app, ENV_ID).await, None);
    let push = Push::plain(&event_to("gh_test", "oA", now(), "subscribe", None, None));
    assert_eq!(push.send(&app).await, ok());
    assert_eq!(original_id(&app, ENV_ID).await.as_deref(), Some("gh_test"));
    let push = Push::plain(&event_to("gh_b", "oA2", now(), "subscribe", None, None));
    assert_eq!(push.send(&app).await.0, 401);
    assert_eq!(stored(&app).await.len(), 4);
}

#[tokio::test]
async fn plaintext_compatible_and_safe_pushes_to_an_account_with_a_key_are_all_stored() {
    let app = spawn_with(Options {
        aes_key: Some(AES_KEY.into()),
        aes_key_previous: Some(OLD_AES_KEY.into()),
        tweak: with_master_key,
        ..Options::default()
    })
    .await;
    let appid = app.fake.appid();
    let b = add_account(&app, None, false).await;
    let xml = |to: &str, openid: &str| event_to(to, openid, now(), "subscribe", None, None);
    let pushes = [
        (Push::plain(&xml("gh_test", "oPlain")), "/wechat/callback"),
        (
            Push::safe_signed(
                &xml("gh_test", "oCompatible"),
                AES_KEY,
                &appid,
                CALLBACK_TOKEN,
                true,
            ),
            "/wechat/callback",
        ),
        (
            Push::safe(&xml("gh_test", "oSafe"), AES_KEY, &appid),
            "/wechat/callback",
        ),
        // During a key rotation, the previous key still opens.
        (
            Push::safe(&xml("gh_test", "oPrevious"), OLD_AES_KEY, &appid),
            "/wechat/callback",
        ),
        (plain_b("gh_b", "oPlainB"), &b.path),
        (
            Push::safe_signed(
                &xml("gh_b", "oCompatibleB"),
                AES_KEY_B,
                &b.appid,
                TOKEN_B,
                true,
            ),
            &b.path,
        ),
        (
            Push::safe_signed(&xml("gh_b", "oSafeB"), AES_KEY_B, &b.appid, TOKEN_B, false),
            &b.path,
        ),
    ];
    for (push, path) in &pushes {
        assert_eq!(push.send_to(&app, path).await, ok(), "{push:?}");
    }
    let stored = stored(&app).await;
    let expected: Vec<(i64, String)> = [
        (ENV_ID, "oPlain"),
        (ENV_ID, "oCompatible"),
        (ENV_ID, "oSafe"),
        (ENV_ID, "oPrevious"),
        (b.id, "oPlainB"),
        (b.id, "oCompatibleB"),
        (b.id, "oSafeB"),
    ]
    .into_iter()
    .map(|(id, openid)| (id, openid.to_owned()))
    .collect();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn with_require_encryption_a_plaintext_push_is_refused_naming_the_setting() {
    let app = spawn_with(Options {
        aes_key: Some(AES_KEY.into()),
        tweak: |s| {
            with_master_key(s);
            s.wechat_require_encryption = true;
        },
        ..Options::default()
    })
    .await;
    let appid = app.fake.appid();
    let b = add_account(&app, None, true).await;

    let plain = Push::plain(&subscribe("oPlain", now(), None, None));
    let (status, body) = plain.send(&app).await;
    assert_eq!(status, 401, "{body}");
    let (code, message) = error(&body);
    assert_eq!(code, "unverified_push");
    assert!(message.contains("WECHAT_REQUIRE_ENCRYPTION"), "{message}");
    let (status, body) = plain_b("gh_b", "oPlainB").send_to(&app, &b.path).await;
    assert_eq!(status, 401, "{body}");
    assert!(error(&body).1.contains("require_encryption"), "{body}");
    assert!(app.events().await.is_empty(), "a plaintext push was stored");
    // Nothing was learnt from them either.
    assert_eq!(original_id(&app, ENV_ID).await, None);
    assert_eq!(original_id(&app, b.id).await, None);

    let xml = subscribe("oSafe", now(), None, None);
    assert_eq!(Push::safe(&xml, AES_KEY, &appid).send(&app).await, ok());
    let xml = subscribe("oCompatible", now(), None, None);
    let compatible = Push::safe_signed(&xml, AES_KEY, &appid, CALLBACK_TOKEN, true);
    assert_eq!(compatible.send(&app).await, ok());
    let xml = event_to("gh_b", "oSafeB", now(), "subscribe", None, None);
    let safe_b = Push::safe_signed(&xml, AES_KEY_B, &b.appid, TOKEN_B, false);
    assert_eq!(safe_b.send_to(&app, &b.path).await, ok());
    assert_eq!(stored(&app).await.len(), 3);
}

/// Two instances over one database (and one Redis when given).
async fn two_instances(redis: Option<String>) -> (TestApp, TestApp) {
    let first = spawn_with(options(redis.clone(), None)).await;
    let second = spawn_instance(
        &options(redis, None),
        first._database.clone(),
        Arc::clone(&first.fake),
        &first.fake.appid(),
    )
    .await;
    (first, second)
}

async fn bindings_in_the_database(app: &TestApp) -> i64 {
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM callback_replay",
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

/// A captured query with another body is refused by either instance; WeChat's retry (same
/// query, same body) is answered by either; a race between the two stores exactly one.
async fn a_captured_query_is_bound_to_its_first_body(first: &TestApp, second: &TestApp) {
    let genuine = Push::plain(&subscribe("oGenuine", now(), None, None));
    assert_eq!(genuine.send(first).await, ok());
    let mut forged = genuine.clone();
    forged.body = subscribe("oForged", now(), None, None).into_bytes();
    let env_path = format!("/wechat/callback/{}", first.fake.appid());
    for (app, path) in [
        (first, "/wechat/callback"),
        (second, "/wechat/callback"),
        (second, env_path.as_str()),
    ] {
        let (status, body) = forged.send_to(app, path).await;
        assert_eq!(status, 401, "{body}");
        let (code, message) = error(&body);
        assert_eq!(code, "unverified_push");
        assert!(message.contains("another body"), "{message}");
    }
    // WeChat's retries, to either instance: the same answer, one row.
    assert_eq!(genuine.send(second).await, ok());
    assert_eq!(genuine.send(first).await, ok());
    assert_eq!(stored(first).await, [(ENV_ID, "oGenuine".to_owned())]);

    // The genuine push and a forged one racing, to the two instances or to one (where they
    // may share a batch): one of them is stored.
    for round in 0..12 {
        let genuine = Push::plain(&subscribe(&format!("oRace{round}"), now(), None, None));
        let mut forged = genuine.clone();
        forged.body = subscribe(&format!("oForgedRace{round}"), now(), None, None).into_bytes();
        let other = if round % 2 == 0 { second } else { first };
        let (a, b) = tokio::join!(genuine.send(first), forged.send(other));
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 401], "{a:?} {b:?}");
    }
    // Whichever body came first is the one stored, once.
    let openids: Vec<String> = stored(first).await.into_iter().map(|e| e.1).collect();
    assert_eq!(openids.len(), 13, "{openids:?}");
    for round in 0..12 {
        let of_round = openids
            .iter()
            .filter(|o| o.ends_with(&format!("Race{round}")))
            .count();
        assert_eq!(of_round, 1, "{openids:?}");
    }
}

#[tokio::test]
async fn a_replayed_plaintext_query_is_refused_by_every_instance_through_the_database() {
    let (first, second) = two_instances(None).await;
    a_captured_query_is_bound_to_its_first_body(&first, &second).await;
    assert!(bindings_in_the_database(&first).await >= 13);
}

#[tokio::test]
async fn a_replayed_plaintext_query_is_refused_by_every_instance_through_redis() {
    let Some(redis) = redis_url() else {
        return;
    };
    let (first, second) = two_instances(Some(redis)).await;
    a_captured_query_is_bound_to_its_first_body(&first, &second).await;
    assert_eq!(
        bindings_in_the_database(&first).await,
        0,
        "with Redis, the bindings live there"
    );
}

/// A `redis-server` of one test (killed when dropped); `None` without the binary.
struct OwnRedis(std::process::Child, u16);

impl OwnRedis {
    async fn start() -> Option<Self> {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Self(child, port);
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(redis)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn with_redis_down_the_bindings_go_to_the_database_and_replays_are_still_refused() {
    let Some(redis) = OwnRedis::start().await else {
        assert!(!crate::helpers::ci(), "redis-server is needed in CI");
        return;
    };
    let (first, second) = two_instances(Some(format!("redis://127.0.0.1:{}", redis.1))).await;
    let degraded = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("qrscene_redis_degraded_total{op=\"replay\"}"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>()
    };
    let before = degraded(&first.get("/metrics").await.text().await.unwrap());
    drop(redis);
    let started = Instant::now();
    a_captured_query_is_bound_to_its_first_body(&first, &second).await;
    // One Redis deadline per instance, not one per push.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(bindings_in_the_database(&first).await >= 13);
    let after = degraded(&first.get("/metrics").await.text().await.unwrap());
    assert!(after >= before + 13.0, "{before} -> {after}");
}

#[tokio::test]
async fn safe_mode_pushes_are_not_bound_their_signature_covers_the_body() {
    let app = spawn_with(options(None, Some(AES_KEY))).await;
    let xml = subscribe("oSafe", now(), None, None);
    let push = Push::safe(&xml, AES_KEY, &app.fake.appid());
    assert_eq!(push.send(&app).await, ok());
    assert_eq!(push.send(&app).await, ok());
    assert_eq!(bindings_in_the_database(&app).await, 0);
    // Another body under the same query does not hold its msg_signature.
    let mut other = push.clone();
    let again = Push::safe(
        &subscribe("oOther", now(), None, None),
        AES_KEY,
        &app.fake.appid(),
    );
    other.body = again.body;
    assert_eq!(other.send(&app).await.0, 401);
    assert_eq!(stored(&app).await, [(ENV_ID, "oSafe".to_owned())]);
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[tokio::test]
async fn the_service_log_at_debug_level_holds_no_signed_query_parameter() {
    qrscene::wechat::client::install_crypto_provider();
    let database = Arc::new(TestDb::new().await);
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("qrscene.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_qrscene"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug")
        .env("NO_COLOR", "1")
        .env("QRSCENE_SANDBOX", "true")
        .env("DATABASE_URL", &database.url)
        .env("QRSCENE_LISTEN", format!("127.0.0.1:{port}"))
        .env("WECHAT_TOKEN", CALLBACK_TOKEN)
        .env("WECHAT_ENCODING_AES_KEY", AES_KEY)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("run qrscene");
    let address = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(format!("{address}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the server did not start: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the server exited ({status}): {}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let fake = qrscene_fake_wechat::FakeWeChat::start("wxsandbox", "unused")
        .await
        .expect("fake");
    let app = TestApp {
        address: address.clone(),
        http: http.clone(),
        fake: Arc::new(fake),
        db: database.connect().await,
        _database: database.clone(),
    };

    let mut signed: Vec<String> = Vec::new();
    // The URL check, good and bad.
    let timestamp = (now() - 3).to_string();
    let nonce = "3141592653".to_owned();
    let echostr = "echo-2718281828459".to_owned();
    let signature = sign(&[CALLBACK_TOKEN, &timestamp, &nonce]);
    for signature in [
        signature.as_str(),
        "0123456789abcdef0123456789abcdef01234567",
    ] {
        let response = http
            .get(format!("{address}/wechat/callback"))
            .query(&[
                ("signature", signature),
                ("timestamp", &timestamp),
                ("nonce", &nonce),
                ("echostr", &echostr),
            ])
            .send()
            .await
            .unwrap();
        assert!([200, 401].contains(&response.status().as_u16()));
    }
    signed.extend([timestamp, nonce, echostr, signature]);
    // Pushes: stored, retried, replayed with another body, badly signed, refused.
    let created = now() - 7;
    let plain = Push::plain(&subscribe("oLog1", created, None, None));
    let mut replayed = plain.clone();
    replayed.body = subscribe("oLog2", created, None, None).into_bytes();
    let safe = Push::safe(
        &subscribe("oLog3", created, None, None),
        AES_KEY,
        "wxsandbox",
    );
    let compatible = Push::safe_signed(
        &subscribe("oLog4", created, None, None),
        AES_KEY,
        "wxsandbox",
        CALLBACK_TOKEN,
        true,
    );
    let bad = Push::plain_signed(&subscribe("oLog5", created, None, None), "wrong", now());
    let other = Push::plain(&event_to(
        "gh_other",
        "oLog6",
        created,
        "subscribe",
        None,
        None,
    ));
    let garbled = Push::plain("<xml><ToUserName>");
    let answers = [
        (&plain, 200),
        (&plain, 200),
        (&replayed, 401),
        (&safe, 200),
        (&compatible, 200),
        (&bad, 401),
        (&other, 401),
        (&garbled, 400),
    ];
    for (push, status) in answers {
        for name in ["signature", "msg_signature", "nonce", "timestamp"] {
            let value = push.param(name);
            if !value.is_empty() {
                signed.push(value.to_owned());
            }
        }
        let (got, body) = push.send_to(&app, "/wechat/callback/wxsandbox").await;
        assert_eq!(got, status, "{body}");
    }
    assert_eq!(app.events().await.len(), 3);

    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(15);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let output = std::fs::read_to_string(&log_path).unwrap();
    // The log is at debug level and holds the pushes' lines (their openids, for one).
    assert!(
        output.contains("DEBUG")
            && output.contains("push refused")
            && output.contains("push stored")
            && output.contains("oLog1"),
        "the log is not at debug level, or saw no push: {output}"
    );
    if std::env::var_os("TEST_PRINT_LOG").is_some() {
        eprintln!("{output}");
    }
    for value in &signed {
        assert!(
            !output.contains(value.as_str()),
            "the log holds the signed value {value}:\n{output}"
        );
    }
}
