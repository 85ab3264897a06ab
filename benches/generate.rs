//! Generations per second: the app, a fake WeChat and N concurrent HTTP clients in one
//! process, over a real database (a fresh one, dropped afterwards) and optionally Redis.
//! Prints requests/s, latency percentiles and peak memory. Not a test: it asserts nothing.
//!
//! cargo bench --bench generate -- --database postgres://postgres@127.0.0.1:5432/test \
//!     --redis redis://127.0.0.1:6379 --clients 32 --requests 20000

mod common;

use clap::Parser;
use qrscene::config::Settings;
use qrscene::startup::Application;
use qrscene_fake_wechat::FakeWeChat;

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
    let scratch = common::Scratch::new(args.database.as_deref()).await?;
    let fake = FakeWeChat::start("wxbench", "secret").await?;
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: scratch.url.clone().into(),
        db_max_connections: args.pool,
        redis_url: args.redis.clone().map(Into::into),
        wechat_appid: Some("wxbench".into()),
        wechat_secret: Some("secret".into()),
        wechat_api_base: fake.base_url().to_owned(),
        api_keys: Some("bench:bench-key-0123456789abcdef".into()),
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    let url = format!("http://127.0.0.1:{}/api/v1/qrcodes", app.port());
    tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let request = move |i: usize| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let body = serde_json::json!({
                "kind": "temporary",
                "expire_seconds": 3600,
                "payload": {"activity_id": format!("A{}", i % 50), "n": i},
            });
            let sent = http
                .post(&url)
                .bearer_auth("bench-key-0123456789abcdef")
                .json(&body)
                .send()
                .await;
            sent.is_ok_and(|r| r.status() == 201)
        }
    };

    common::load(args.clients, 500, request.clone()).await;
    let figures = common::load(args.clients, args.requests, request).await;
    println!(
        "generate: POST /api/v1/qrcodes (temporary, payload with activity_id), fake WeChat over HTTP"
    );
    println!(
        "  database {}  redis {}  clients {}  pool {}  requests {}",
        if args.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        args.redis.is_some(),
        args.clients,
        args.pool,
        args.requests,
    );
    figures.print("generations");
    println!(
        "  WeChat: {} token fetches, {} qrcode/create calls",
        fake.token_fetches(),
        fake.qrcode_calls()
    );
    println!("  (server, fake WeChat and clients share this process and its 2 cores)");
    scratch.drop_database().await
}
