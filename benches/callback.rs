//! The callback under load: signed subscribe-with-scene pushes with distinct openids and
//! tickets of existing generations, against (1) a route of the same server that answers
//! `success` without work (the ceiling), (2) the full plaintext path (verify, parse, store
//! durably, link) and (3) the full safe-mode path. Prints requests/s, p50, p99 and peak
//! memory of each, and the ratios. Not a test: it asserts nothing.
//!
//! cargo bench --bench callback -- --database postgres://postgres@127.0.0.1:5432/test

mod common;

use std::sync::Arc;

use clap::Parser;
use qrscene::config::Settings;
use qrscene::startup::Application;
use qrscene::wechat::crypto::{EncodingAesKey, MessageCrypto};
use qrscene::wechat::signature::sign;
use sea_orm::{ConnectionTrait, Database};

const TOKEN: &str = "bench-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
const APPID: &str = "wxsandbox";

#[derive(Parser)]
struct Args {
    /// Postgres server URL (a scratch database is created next to it); SQLite file if unset.
    #[arg(long)]
    database: Option<String>,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Pushes per phase.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Database pool size.
    #[arg(long, default_value_t = 16)]
    pool: u32,
    /// Run only this phase (`ceiling`, `plain`, `safe`), e.g. under a profiler.
    #[arg(long)]
    only: Option<String>,
    /// Committer tasks (QRSCENE_EVENT_COMMITTERS).
    #[arg(long, default_value_t = Settings::default().event_committers)]
    committers: usize,
    /// How often the statistics refresher checks whether a rebuild is due (0: off).
    #[arg(long, default_value_t = Settings::default().stats_refresh_ms)]
    stats_refresh_ms: u64,
    #[arg(long, hide = true)]
    bench: bool,
}

/// One prepared push: the URL with its signed query, and the body.
struct Request {
    url: String,
    body: String,
}

fn push(base: &str, path: &str, i: usize, safe: Option<&MessageCrypto>) -> Request {
    let now = chrono::Utc::now().timestamp();
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o{path}{i}]]></FromUserName>\
         <CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>\
         <EventKey><![CDATA[qrscene_s{g}]]></EventKey><Ticket><![CDATA[T{g}]]></Ticket></xml>",
        g = i % 10_000
    );
    let (timestamp, nonce) = (now.to_string(), (i * 7919 + 13).to_string());
    let signature = sign(&[TOKEN, &timestamp, &nonce]);
    let mut url = format!(
        "{base}{path}?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=o{i}"
    );
    let body = match safe {
        None => xml,
        Some(crypto) => {
            let encrypted = crypto.encrypt_random(&xml);
            let msg_signature = sign(&[TOKEN, &timestamp, &nonce, &encrypted]);
            url.push_str(&format!("&encrypt_type=aes&msg_signature={msg_signature}"));
            format!(
                "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            )
        }
    };
    Request { url, body }
}

async fn phase(http: &reqwest::Client, clients: usize, requests: Vec<Request>) -> common::Figures {
    let total = requests.len();
    let requests = Arc::new(requests);
    let http = http.clone();
    common::load(clients, total, move |i| {
        let (http, requests) = (http.clone(), requests.clone());
        async move {
            let r = &requests[i];
            let sent = http.post(&r.url).body(r.body.clone()).send().await;
            match sent {
                Ok(response) if response.status() == 200 => {
                    response.text().await.is_ok_and(|t| t == "success")
                }
                _ => false,
            }
        }
    })
    .await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = common::Scratch::new(args.database.as_deref()).await?;
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: scratch.url.clone().into(),
        db_max_connections: args.pool,
        wechat_token: Some(TOKEN.into()),
        wechat_encoding_aes_key: Some(AES_KEY.into()),
        bench_routes: true,
        event_committers: args.committers,
        stats_refresh_ms: args.stats_refresh_ms,
        ..Settings::default()
    };
    // Safe mode refuses plaintext pushes, so plaintext goes to an instance without the key
    // (same process, same database).
    let safe_app = Application::build(settings.clone()).await?;
    let safe_base = format!("http://127.0.0.1:{}", safe_app.port());
    tokio::spawn(safe_app.run_until_stopped());
    let app = Application::build(Settings {
        wechat_encoding_aes_key: None,
        ..settings
    })
    .await?;
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());

    let db = Database::connect(&scratch.url).await?;
    db.execute_unprepared(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) \
         INSERT INTO qr_generation (kind, action_name, scene, status, ticket, url, activity_id, created_at) \
         SELECT 'temporary', 'QR_STR_SCENE', 's' || i, 'succeeded', 'T' || i, 'http://weixin.qq.com/q/' || i, \
         'A' || (i % 50), CURRENT_TIMESTAMP FROM n",
    )
    .await?;
    // As autovacuum would on a live database: plans use the indexes.
    db.execute_unprepared("ANALYZE").await?;

    let crypto = MessageCrypto::new(EncodingAesKey::parse(AES_KEY)?, APPID);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.clients)
        .build()?;
    let n = args.requests;
    let build = |path: &str, offset: usize, safe: Option<&MessageCrypto>| -> Vec<Request> {
        let base = if safe.is_some() { &safe_base } else { &base };
        (offset..offset + n)
            .map(|i| push(base, path, i, safe))
            .collect()
    };
    // Warm-up of both routes.
    phase(
        &http,
        args.clients,
        (0..500)
            .map(|i| push(&base, "/wechat/ceiling", i, None))
            .collect(),
    )
    .await;
    phase(
        &http,
        args.clients,
        (0..500)
            .map(|i| push(&base, "/wechat/callback", 10_000_000 + i, None))
            .collect(),
    )
    .await;

    let wanted = |name: &str| args.only.as_deref().is_none_or(|only| only == name);
    let mut ceiling = None;
    if wanted("ceiling") {
        ceiling = Some(phase(&http, args.clients, build("/wechat/ceiling", 0, None)).await);
    }
    let mut plain = None;
    if wanted("plain") {
        plain = Some(phase(&http, args.clients, build("/wechat/callback", 0, None)).await);
    }
    let mut safe = None;
    if wanted("safe") {
        let requests = build("/wechat/callback", 1_000_000, Some(&crypto));
        safe = Some(phase(&http, args.clients, requests).await);
    }

    let stored = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n, COUNT(generation_id) AS linked FROM wechat_event",
        ))
        .await?
        .map(|r| {
            (
                r.try_get::<i64>("", "n").unwrap_or(-1),
                r.try_get::<i64>("", "linked").unwrap_or(-1),
            )
        })
        .unwrap_or((-1, -1));

    println!(
        "callback: signed subscribe-with-scene pushes, distinct openids, tickets of 10000 generations"
    );
    println!(
        "  database {}  connections {}  pool {}  pushes per phase {n}",
        if args.database.is_some() {
            "postgres"
        } else {
            "sqlite"
        },
        args.clients,
        args.pool
    );
    for (label, figures) in [
        ("ceiling (no work)", &ceiling),
        ("full path, plaintext", &plain),
        ("full path, safe mode (AES)", &safe),
    ] {
        if let Some(figures) = figures {
            figures.print(label);
        }
    }
    if let (Some(ceiling), Some(plain)) = (&ceiling, &plain) {
        println!(
            "  full plaintext / ceiling: {:.0}% of requests/s",
            100.0 * plain.rps() / ceiling.rps()
        );
    }
    if let (Some(plain), Some(safe)) = (&plain, &safe) {
        println!(
            "  safe mode / plaintext:    {:.0}% of requests/s",
            100.0 * safe.rps() / plain.rps()
        );
    }
    let expected = 500 + n * (usize::from(plain.is_some()) + usize::from(safe.is_some()));
    println!(
        "  events stored {}, linked to a generation {} (expected {expected} incl. warm-up)",
        stored.0, stored.1
    );
    println!("  (server and clients share this process and its 2 cores)");
    db.close().await?;
    scratch.drop_database().await
}
