//! An instance SIGKILLed while it holds claimed outbox jobs (a tagging call in flight):
//! another instance claims them when their lease runs out and finishes them. Nothing is
//! lost, every follower is tagged, and once a job is recorded done no call is made for it
//! again. Real server processes (the binary) over one Postgres database and the fake WeChat.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qrscene_fake_wechat::{Endpoint, FakeWeChat};
use sea_orm::{DatabaseConnection, FromQueryResult, Statement};
use serde_json::{Value, json};

use crate::helpers::{CALLBACK_TOKEN, KEY, SECRET, TestDb, new_appid, postgres_base};
use crate::push::{Push, now, subscribe};
use crate::support::required;

const BIN: &str = env!("CARGO_BIN_EXE_qrscene");
const LEASE_MS: u64 = 10_000;

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(db: &str, fake: &FakeWeChat, appid: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(BIN)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", db)
            .env("QRSCENE_LISTEN", format!("127.0.0.1:{port}"))
            .env("QRSCENE_API_KEYS", format!("tester:{KEY}"))
            .env("WECHAT_APPID", appid)
            .env("WECHAT_SECRET", SECRET)
            .env("WECHAT_API_BASE", fake.base_url())
            .env("WECHAT_TOKEN", CALLBACK_TOKEN)
            .env("QRSCENE_OUTBOX_LEASE_MS", LEASE_MS.to_string())
            .env("QRSCENE_OUTBOX_POLL_MS", "100")
            .env("QRSCENE_OUTBOX_RETRY_BASE_MS", "200")
            .env("QRSCENE_TAG_GATHER_MS", "3000")
            .env("QRSCENE_STATS_REFRESH_MS", "0")
            .env("WECHAT_TIMEOUT_MS", "20000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the server");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..300 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                return Self { child, base };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not start");
    }

    async fn push(&self, xml: &str) -> u16 {
        let push = Push::plain(xml);
        reqwest::Client::new()
            .post(format!("{}/wechat/callback", self.base))
            .query(&push.query)
            .body(push.body.clone())
            .send()
            .await
            .expect("push")
            .status()
            .as_u16()
    }

    fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, FromQueryResult)]
struct JobRow {
    state: String,
    attempts: i32,
    claimed_by: Option<String>,
}

async fn tag_jobs(db: &DatabaseConnection) -> Vec<JobRow> {
    JobRow::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        "SELECT state, attempts, claimed_by FROM outbox_job WHERE kind = 'tag' ORDER BY id",
    ))
    .all(db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_s_claimed_jobs_are_finished_by_another_once() {
    let Some(base) = required(
        postgres_base(),
        "TEST_POSTGRES_URL or TEST_DATABASE_URL (Postgres)",
    ) else {
        return;
    };
    qrscene::wechat::client::install_crypto_provider();
    let database = TestDb::postgres(base).await;
    let appid = new_appid();
    let fake = FakeWeChat::start(&appid, SECRET).await.unwrap();
    let mut a = Server::start(&database.url, &fake, &appid).await;
    let (status, code): (u16, Value) = {
        let response = reqwest::Client::new()
            .post(format!("{}/api/v1/qrcodes", a.base))
            .bearer_auth(KEY)
            .json(&json!({"kind": "temporary", "actions": {"tags": ["kill-test"]}}))
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.json().await.unwrap())
    };
    assert_eq!(status, 201, "{code}");
    // A's tagging call hangs at WeChat until A is gone.
    // (8 s: over when B claims the jobs again, so that the fake has recorded it by then.)
    fake.delay_next(Endpoint::BatchTagging, Duration::from_secs(8), 1);
    let followers: Vec<String> = (0..60).map(|i| format!("oKill{i:02}")).collect();
    let t = now();
    for openid in &followers {
        let xml = subscribe(
            openid,
            t,
            code["scene_str"].as_str(),
            code["ticket"].as_str(),
        );
        assert_eq!(a.push(&xml).await, 200);
    }
    let db = database.connect().await;
    // Wait until A holds the jobs (claimed, its call in flight).
    let start = Instant::now();
    loop {
        let jobs = tag_jobs(&db).await;
        if jobs.len() == 60 && jobs.iter().all(|j| j.state == "running") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "A never claimed the jobs: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(tag_jobs(&db).await[0].claimed_by.is_some());
    a.sigkill();

    let b = Server::start(&database.url, &fake, &appid).await;
    let start = Instant::now();
    loop {
        let jobs = tag_jobs(&db).await;
        if jobs.iter().all(|j| j.state == "done") {
            assert_eq!(jobs.len(), 60, "nothing lost");
            assert!(
                jobs.iter().all(|j| j.attempts == 2),
                "claimed twice each: {jobs:?}"
            );
            break;
        }
        assert!(
            start.elapsed() < Duration::from_millis(LEASE_MS + 15_000),
            "B did not finish A's jobs: {jobs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let tagged = |fake: &FakeWeChat| {
        followers
            .iter()
            .filter(|o| !fake.user_tags(&appid, o).is_empty())
            .count()
    };
    assert_eq!(tagged(&fake), 60, "every follower tagged");
    // Done means done: more leases pass and no call is made again.
    let calls = fake.batchtagging_calls(&appid).len();
    tokio::time::sleep(Duration::from_millis(2 * LEASE_MS)).await;
    assert_eq!(fake.batchtagging_calls(&appid).len(), calls);
    let mirrored: Vec<sea_orm::JsonValue> =
        sea_orm::JsonValue::find_by_statement(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM follower_tag",
        ))
        .all(&db)
        .await
        .unwrap();
    assert_eq!(mirrored[0]["n"], 60);
    drop(b);
}
