//! Generations per second: the app, a fake WeChat and N concurrent HTTP clients in one
//! process, over a real database (a fresh one, dropped afterwards) and optionally Redis.
//! Prints requests/s, latency percentiles and peak memory. Not a test: it asserts nothing.
//!
//! cargo bench --bench generate -- --database postgres://postgres@127.0.0.1:5432/test \
//!     --redis redis://127.0.0.1:6379 --clients 32 --requests 20000

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use qrscene::config::Settings;
use qrscene::startup::Application;
use qrscene::wechat::fake::FakeWeChat;
use sea_orm::{ConnectionTrait, Database};

#[derive(Parser)]
struct Args {
    /// Postgres server URL (a scratch database is created next to it); SQLite file if unset.
    #[arg(long)]
    database: Option<String>,
    /// Redis URL for the shared token cache.
    #[arg(long)]
    redis: Option<String>,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Measured requests (after 500 of warm-up).
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Database pool size.
    #[arg(long, default_value_t = 16)]
    pool: u32,
    #[arg(long, hide = true)]
    bench: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (database_url, scratch) = match &args.database {
        Some(base) => {
            let name = format!("qrscene_bench_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(base).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                .await?;
            let (prefix, _) = base
                .rsplit_once('/')
                .ok_or_else(|| anyhow::anyhow!("no database in URL"))?;
            (format!("{prefix}/{name}"), Some((admin, name)))
        }
        None => {
            let path = std::env::temp_dir().join(format!(
                "qrscene-bench-{}.db",
                uuid::Uuid::new_v4().simple()
            ));
            (format!("sqlite://{}?mode=rwc", path.display()), None)
        }
    };
    let fake = FakeWeChat::start("wxbench", "secret").await?;
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: database_url.clone(),
        db_max_connections: args.pool,
        redis_url: args.redis.clone(),
        wechat_appid: Some("wxbench".into()),
        wechat_secret: Some("secret".into()),
        wechat_api_base: fake.base_url().to_owned(),
        api_keys: Some("bench:bench-key".into()),
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    let url = format!("http://127.0.0.1:{}/api/v1/qrcodes", app.port());
    tokio::spawn(app.run_until_stopped());

    run(&url, args.clients, 500).await;
    let started = Instant::now();
    let (mut latencies, errors) = run(&url, args.clients, args.requests).await;
    let elapsed = started.elapsed();
    latencies.sort_unstable();

    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!("generate: POST /api/v1/qrcodes (temporary, payload with activity_id)");
    println!(
        "  database {}  redis {}  clients {}  pool {}",
        if args.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        args.redis.is_some(),
        args.clients,
        args.pool
    );
    println!(
        "  requests {}  errors {errors}  time {:.2} s",
        latencies.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "  throughput {:.0} generations/s",
        latencies.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(pct(1.0))
    );
    println!(
        "  WeChat: {} token fetches, {} qrcode/create calls",
        fake.token_fetches(),
        fake.qrcode_calls()
    );
    println!(
        "  peak RSS of the process (server + fake + clients): {} MiB",
        peak_rss_kib() / 1024
    );

    if let Some((admin, name)) = scratch {
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
    }
    Ok(())
}

/// `total` requests spread over `clients` concurrent tasks; their latencies and error count.
async fn run(url: &str, clients: usize, total: usize) -> (Vec<Duration>, usize) {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, next) = (http.clone(), url.to_owned(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < total {
                    let i = latencies.len() + errors;
                    let body = serde_json::json!({
                        "kind": "temporary",
                        "expire_seconds": 3600,
                        "payload": {"activity_id": format!("A{}", i % 50), "n": i},
                    });
                    let t = Instant::now();
                    let ok = http
                        .post(&url)
                        .bearer_auth("bench-key")
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status() == 201);
                    if ok {
                        latencies.push(t.elapsed())
                    } else {
                        errors += 1
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(total);
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            all.extend(l);
            errors += e;
        }
    }
    (all, errors)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// VmHWM from /proc/self/status, in KiB (0 where unavailable).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}
