//! Spawning the app, its database and its fake WeChat.

use std::sync::Arc;

use qrscene::config::{Settings, TokenMode};
use qrscene::startup::Application;
use qrscene_fake_wechat::FakeWeChat;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;

/// The secret the fake accepts.
pub const SECRET: &str = "test-secret";
/// The callback token of every test app.
pub const CALLBACK_TOKEN: &str = "test-callback-token";
/// The API key every test app accepts.
pub const KEY: &str = "test-key-0123456789abcdef";

/// A database of one test: a temporary SQLite file, or a fresh Postgres database.
pub struct TestDb {
    pub url: String,
    admin: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

/// The Postgres server of the tests that need Postgres whatever the backend under test
/// (`TEST_POSTGRES_URL`, else `TEST_DATABASE_URL` when it is a Postgres URL).
pub fn postgres_base() -> Option<String> {
    ["TEST_POSTGRES_URL", "TEST_DATABASE_URL"]
        .into_iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|url| url.starts_with("postgres"))
}

impl TestDb {
    pub async fn new() -> Self {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => Self::postgres(base).await,
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Self {
                    url,
                    admin: None,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A fresh database on the Postgres server of `base`.
    pub async fn postgres(base: String) -> Self {
        let name = format!("qrscene_test_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(&base)
            .await
            .expect("the test Postgres server is unreachable");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let (prefix, _) = base
            .rsplit_once('/')
            .expect("the Postgres URL has a database name");
        Self {
            url: format!("{prefix}/{name}"),
            admin: Some((base, name)),
            _dir: None,
        }
    }

    pub async fn connect(&self) -> DatabaseConnection {
        qrscene::db::connect(&self.url, 2)
            .await
            .expect("connect test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, name)) = self.admin.take() else {
            return;
        };
        // Drop the database from a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let admin = Database::connect(&base).await.ok()?;
                admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// TEST_REDIS_URL, or `None` outside CI (the caller then skips); in CI a missing Redis fails.
pub fn redis_url() -> Option<String> {
    match std::env::var("TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                !ci(),
                "CI=true but TEST_REDIS_URL is unset: the Redis tests must run in CI"
            );
            eprintln!("TEST_REDIS_URL unset: skipping a Redis test (CI=true makes this a failure)");
            None
        }
    }
}

/// How to spawn an app.
pub struct Options {
    /// Talk to a fake WeChat (else sandbox mode).
    pub live: bool,
    pub redis: Option<String>,
    pub api_keys: Option<String>,
    pub legacy_open: bool,
    pub allow_anonymous: bool,
    pub timeout_ms: u64,
    pub token_mode: TokenMode,
    /// EncodingAESKey (safe mode) and the previous one.
    pub aes_key: Option<String>,
    pub aes_key_previous: Option<String>,
    /// Changes the settings last (timeouts, limits, proxies, ...).
    pub tweak: fn(&mut Settings),
}

impl Default for Options {
    fn default() -> Self {
        Self {
            live: true,
            redis: None,
            api_keys: Some(format!("tester:{KEY}")),
            legacy_open: false,
            allow_anonymous: false,
            timeout_ms: 2_000,
            token_mode: TokenMode::Stable,
            aes_key: None,
            aes_key_previous: None,
            tweak: |_| {},
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub fake: Arc<FakeWeChat>,
    pub db: DatabaseConnection,
    /// Keeps the database alive as long as the app.
    pub _database: Arc<TestDb>,
}

pub fn new_appid() -> String {
    format!("wx{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(options: Options) -> TestApp {
    let database = Arc::new(TestDb::new().await);
    let appid = new_appid();
    let fake = Arc::new(
        FakeWeChat::start(&appid, SECRET)
            .await
            .expect("start fake WeChat"),
    );
    spawn_instance(&options, database, fake, &appid).await
}

/// One more instance over an existing database and fake (multi-instance tests).
pub async fn spawn_instance(
    options: &Options,
    database: Arc<TestDb>,
    fake: Arc<FakeWeChat>,
    appid: &str,
) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        qrscene::telemetry::init(false);
    }
    let live = options.live;
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: database.url.clone().into(),
        db_max_connections: 4,
        redis_url: options.redis.clone().map(Into::into),
        wechat_appid: live.then(|| appid.to_owned()),
        wechat_secret: live.then(|| SECRET.into()),
        wechat_api_base: fake.base_url().to_owned(),
        wechat_token_mode: options.token_mode,
        wechat_timeout_ms: options.timeout_ms,
        api_keys: options.api_keys.as_deref().map(Into::into),
        legacy_open: options.legacy_open,
        allow_anonymous: options.allow_anonymous,
        wechat_token: Some(CALLBACK_TOKEN.into()),
        wechat_encoding_aes_key: options.aes_key.as_deref().map(Into::into),
        wechat_encoding_aes_key_previous: options.aes_key_previous.as_deref().map(Into::into),
        ..Settings::default()
    };
    (options.tweak)(&mut settings);
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let db = database.connect().await;
    TestApp {
        address,
        http: reqwest::Client::new(),
        fake,
        db,
        _database: database,
    }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.address))
            .bearer_auth(KEY)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .bearer_auth(KEY)
            .send()
            .await
            .expect("request")
    }

    pub async fn create(&self, body: Value) -> (u16, Value) {
        let response = self.post("/api/v1/qrcodes", &body).await;
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON body"))
    }

    /// Rows of the events table, oldest first.
    pub async fn events(&self) -> Vec<entity::wechat_event::Model> {
        use sea_orm::{EntityTrait, QueryOrder};
        entity::wechat_event::Entity::find()
            .order_by_asc(entity::wechat_event::Column::Id)
            .all(&self.db)
            .await
            .expect("read events")
    }

    /// A follower row of the account configured by environment (id 1).
    pub async fn follower(&self, openid: &str) -> Option<entity::wechat_follower::Model> {
        use sea_orm::EntityTrait;
        entity::wechat_follower::Entity::find_by_id((1, openid.to_owned()))
            .one(&self.db)
            .await
            .expect("read follower")
    }

    /// Rows of the generation log, oldest first.
    pub async fn log(&self) -> Vec<entity::qr_generation::Model> {
        use sea_orm::{EntityTrait, QueryOrder};
        entity::qr_generation::Entity::find()
            .order_by_asc(entity::qr_generation::Column::Id)
            .all(&self.db)
            .await
            .expect("read log")
    }
}
