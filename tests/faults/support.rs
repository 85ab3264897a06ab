//! What the fault tests start and break: a private Redis, a proxy that goes dark, and an
//! app whose shutdown the test controls.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qrscene::config::Settings;
use qrscene::startup::Application;
use qrscene_fake_wechat::FakeWeChat;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{CALLBACK_TOKEN, KEY, SECRET, TestApp, TestDb, ci, new_appid};
use crate::push::{AES_KEY, Push};

/// A port nobody listens on right now.
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Skips (`None`) locally, fails under CI=true: `what` is needed to run the test.
pub fn required<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        assert!(
            !ci(),
            "CI=true but {what} is missing: the fault tests must run in CI"
        );
        eprintln!("{what} missing: skipping a fault test (CI=true makes this a failure)");
    }
    found
}

/// A `redis-server` of this test only, on a free port, without persistence.
pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one and waits until it accepts connections; `None` without `redis-server`.
    pub async fn start() -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let server = Self {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGSTOP (`true`): connections stay open and nothing answers; SIGCONT (`false`).
    pub fn freeze(&self, frozen: bool) {
        let signal = if frozen { "-STOP" } else { "-CONT" };
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.freeze(false);
        }
        self.kill();
    }
}

/// A TCP proxy to `target` whose connections can be made to stop forwarding without
/// closing (as a dead network path or a wedged middlebox does).
pub struct Proxy {
    pub port: u16,
    /// One flag per connection made so far.
    connections: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
    /// New connections are dark from the start.
    all_dark: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: (String, u16)) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let connections: Arc<Mutex<Vec<Arc<AtomicBool>>>> = Arc::default();
        let all_dark = Arc::new(AtomicBool::new(false));
        let task = tokio::spawn({
            let connections = connections.clone();
            let all_dark = all_dark.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let dark = Arc::new(AtomicBool::new(all_dark.load(Ordering::SeqCst)));
                    connections.lock().unwrap().push(dark.clone());
                    let target = target.clone();
                    tokio::spawn(async move {
                        let Ok(server) = TcpStream::connect((target.0.as_str(), target.1)).await
                        else {
                            return;
                        };
                        let (client_read, client_write) = client.into_split();
                        let (server_read, server_write) = server.into_split();
                        tokio::join!(
                            pump(client_read, server_write, dark.clone()),
                            pump(server_read, client_write, dark),
                        );
                    });
                }
            }
        });
        Self {
            port,
            connections,
            all_dark,
            task,
        }
    }

    /// Every connection made so far stops forwarding (new ones still work).
    pub fn darken_existing(&self) {
        for dark in self.connections.lock().unwrap().iter() {
            dark.store(true, Ordering::SeqCst);
        }
    }

    /// Every connection, existing and new, stops forwarding.
    pub fn darken_all(&self) {
        self.all_dark.store(true, Ordering::SeqCst);
        self.darken_existing();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards until EOF; once `dark`, reads what comes and forwards nothing, keeping both
/// sockets open.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    dark: Arc<AtomicBool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if dark.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// An app of a fault test, and the handles to stop it.
pub struct Running {
    pub app: Arc<TestApp>,
    pub stop: actix_web::dev::ServerHandle,
    pub served: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// Stops the app as SIGTERM would and waits for it (its tasks joined); answers how long
    /// that took. Stopping before the test's runtime ends also keeps the app's workers from
    /// polling timers of a runtime that is gone.
    pub async fn shutdown(self) -> Duration {
        let started = Instant::now();
        self.stop.stop(true).await;
        let served = tokio::time::timeout(Duration::from_secs(15), self.served)
            .await
            .expect("run_until_stopped returns within its bound")
            .expect("the server task");
        assert!(served.is_ok(), "{served:?}");
        started.elapsed()
    }
}

/// Spawns an app on `database` (through `database_url` when given, e.g. a proxy) with
/// Redis at `redis`, talking to a fresh fake WeChat.
pub async fn spawn(
    database: TestDb,
    database_url: Option<String>,
    redis: Option<String>,
) -> Running {
    if std::env::var_os("TEST_LOG").is_some() {
        qrscene::telemetry::init(false);
    }
    let appid = new_appid();
    let fake = Arc::new(
        FakeWeChat::start(&appid, SECRET)
            .await
            .expect("start fake WeChat"),
    );
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: database_url.unwrap_or_else(|| database.url.clone()).into(),
        db_max_connections: 4,
        redis_url: redis.map(Into::into),
        wechat_appid: Some(appid),
        wechat_secret: Some(SECRET.into()),
        wechat_api_base: fake.base_url().to_owned(),
        api_keys: Some(format!("tester:{KEY}").into()),
        wechat_token: Some(CALLBACK_TOKEN.into()),
        // Safe mode too (plaintext pushes are still accepted): a safe push goes straight to
        // the committers, with no replay binding before it.
        wechat_encoding_aes_key: Some(AES_KEY.into()),
        ..Settings::default()
    };
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let stop = app.stop_handle();
    let served = tokio::spawn(app.run_until_stopped());
    let db = database.connect().await;
    let app = TestApp {
        address,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("HTTP client"),
        fake,
        db,
        _database: Arc::new(database),
    };
    Running {
        app: Arc::new(app),
        stop,
        served,
    }
}

/// Sends `push`; answers its status and how long it took.
pub async fn timed(app: &TestApp, push: &Push) -> (u16, Duration) {
    let started = Instant::now();
    let (status, _) = push.send(app).await;
    (status, started.elapsed())
}

/// `/readyz`: status, body and how long it took.
pub async fn readyz(app: &TestApp) -> (u16, serde_json::Value, Duration) {
    let started = Instant::now();
    let response = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("readyz");
    let status = response.status().as_u16();
    let body = response.json().await.expect("readyz JSON");
    (status, body, started.elapsed())
}

/// How many events are stored.
pub async fn stored(app: &TestApp) -> usize {
    app.events().await.len()
}
