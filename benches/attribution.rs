//! Attribution at scale: 1,000 codes across 50 activities and 1,000,000 events (seeded in
//! SQL, spread over the last 30 days; about 200,000 users, each with a mix of kinds and
//! codes), the same again for each further account (`--accounts`, same openids and scenes),
//! then the time of each `stats` grouping over those 30 days through the HTTP API
//! (quiet, and while SCANs arrive), checked against the events-only answer; and the time
//! from a callback's answer on one instance to the answer of a `wait` held on another
//! instance (Redis pub/sub). Prints figures; asserts nothing.
//!
//! cargo bench --bench attribution -- --database postgres://postgres@127.0.0.1:5432/test \
//!     --redis redis://127.0.0.1:6379

mod common;

use std::time::{Duration, Instant};

use clap::Parser;
use qrscene::config::Settings;
use qrscene::startup::Application;
use qrscene::stats::period::StatsZone;
use qrscene::stats::{StatsQuery, compute_from_events};
use qrscene::wechat::signature::sign;
use sea_orm::{ConnectionTrait, Database};

const TOKEN: &str = "bench-token";

#[derive(Parser)]
struct Args {
    /// Postgres server URL (a scratch database is created next to it).
    #[arg(long)]
    database: String,
    /// Redis URL (pub/sub between the two instances).
    #[arg(long)]
    redis: String,
    /// Events to seed, per account.
    #[arg(long, default_value_t = 1_000_000)]
    events: u64,
    /// Accounts, each with the same codes and events (the queries are account 1's).
    #[arg(long, default_value_t = 1)]
    accounts: u32,
    /// Runs of each stats query.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Waits measured.
    #[arg(long, default_value_t = 200)]
    waits: usize,
    /// SCAN pushes per second during the load phase.
    #[arg(long, default_value_t = 300)]
    load_rate: u32,
    /// Keep the scratch database (its URL is printed) to inspect plans afterwards.
    #[arg(long)]
    keep: bool,
    #[arg(long, hide = true)]
    bench: bool,
}

/// Accounts 2..=N next to account 1 (the environment's), then for every account the same
/// 1,000 codes (same scenes and activities) and the same events under the same openids:
/// every account's figures are account 1's.
const SEED: &str = "\
INSERT INTO account (appid, name, source, token_mode, require_encryption, enabled, created_at, updated_at) \
SELECT 'wxbench' || lpad(a::text, 11, '0'), 'bench ' || a, 'db', 'stable', false, true, now(), now() \
FROM generate_series(2, $ACCOUNTS) AS a; \
INSERT INTO qr_generation (account_id, kind, action_name, scene, status, ticket, url, activity_id, payload, created_at) \
SELECT acc.id, 'temporary', 'QR_STR_SCENE', 's' || i, 'succeeded', acc.id || 'T' || i, 'http://weixin.qq.com/q/' || i, \
       'A' || (i % 50), jsonb_build_object('activity_id', 'A' || (i % 50)), now() - interval '40 days' \
FROM account acc CROSS JOIN generate_series(1, 1000) AS i; \
INSERT INTO wechat_event (account_id, dedup_key, account, openid, msg_type, event, kind, event_key, scene, ticket, msg_id, \
       create_time, occurred_at, received_at, generation_id, reply, xml) \
SELECT acc.id, acc.id || ':seed:' || i, 'gh_bench', 'o' || (i % 199999), \
       CASE WHEN k = 9 THEN 'text' ELSE 'event' END, \
       CASE WHEN k < 5 THEN 'subscribe' WHEN k < 8 THEN 'SCAN' WHEN k = 8 THEN 'unsubscribe' END, \
       CASE WHEN k < 5 THEN 'subscribe' WHEN k < 8 THEN 'scan' WHEN k = 8 THEN 'unsubscribe' ELSE 'message' END, \
       CASE WHEN k < 5 THEN 'qrscene_s' || g WHEN k < 8 THEN 's' || g END, \
       CASE WHEN k < 8 THEN 's' || g END, CASE WHEN k < 8 THEN acc.id || 'T' || g END, \
       CASE WHEN k = 9 THEN i END, extract(epoch FROM t)::bigint, t, t, \
       CASE WHEN k < 8 THEN q.id END, NULL, '<xml/>' \
FROM account acc CROSS JOIN (SELECT i, i % 10 AS k, (i / 10) % 1000 + 1 AS g, \
             now() - make_interval(secs => (i * 2.592) % 2592000) AS t \
      FROM generate_series(1::bigint, $EVENTS) AS i) AS s \
JOIN qr_generation q ON q.account_id = acc.id AND q.scene = 's' || s.g; \
INSERT INTO wechat_follower (account_id, openid, account, subscribed, first_followed_at, first_generation_id, \
       subscribed_at, unsubscribed_at, last_event_id, last_event_kind, last_event_at) \
SELECT DISTINCT ON (account_id, openid) account_id, openid, account, true, occurred_at, generation_id, occurred_at, \
       NULL, id, kind, occurred_at \
FROM wechat_event WHERE kind = 'subscribe' ORDER BY account_id, openid, occurred_at;";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let scratch = common::Scratch::new(Some(&args.database)).await?;
    let settings = Settings {
        listen: "127.0.0.1:0".parse()?,
        database_url: scratch.url.clone().into(),
        redis_url: Some(args.redis.clone().into()),
        wechat_token: Some(TOKEN.into()),
        ..Settings::default()
    };
    // The rollups' zone, which is also that of requests naming none.
    let zone: chrono_tz::Tz = settings
        .stats_tz
        .parse()
        .map_err(|_| anyhow::anyhow!("QRSCENE_STATS_TZ"))?;
    let first = Application::build(settings.clone()).await?;
    let second = Application::build(settings).await?;
    let (a, b) = (
        format!("http://127.0.0.1:{}", first.port()),
        format!("http://127.0.0.1:{}", second.port()),
    );
    tokio::spawn(first.run_until_stopped());
    tokio::spawn(second.run_until_stopped());

    let db = Database::connect(&scratch.url).await?;
    let started = Instant::now();
    let seed = SEED
        .replace("$EVENTS", &args.events.to_string())
        .replace("$ACCOUNTS", &args.accounts.to_string());
    db.execute_unprepared(&seed).await?;
    // What autovacuum does to a live table: planner statistics, and the visibility map that
    // lets index-only scans skip the heap.
    db.execute_unprepared("VACUUM ANALYZE").await?;
    println!(
        "attribution: seeded {} account(s), each with 1000 codes, 50 activities, {} events in {:.1} s",
        args.accounts,
        args.events,
        started.elapsed().as_secs_f64()
    );
    // The statistics asked are account 1's.
    let appid: String = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT appid FROM account WHERE id = 1",
        ))
        .await?
        .and_then(|r| r.try_get::<String>("", "appid").ok())
        .ok_or_else(|| anyhow::anyhow!("no account 1"))?;

    // The refreshers of the two instances build the daily rollups in the background.
    let started = Instant::now();
    loop {
        let ready = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT (built AND NOT EXISTS (SELECT 1 FROM stats_dirty)) AS ready FROM stats_rollup_state",
            ))
            .await?
            .and_then(|r| r.try_get::<bool>("", "ready").ok())
            .unwrap_or(false);
        if ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.execute_unprepared("ANALYZE stats_day; ANALYZE stats_visit")
        .await?;
    println!(
        "attribution: daily rollups built by the refresher in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::new();
    let now = chrono::Utc::now();
    let today = now.with_timezone(&zone).date_naive();
    let midnight = |day: chrono::NaiveDate| {
        day.and_hms_opt(0, 0, 0)
            .and_then(|t| t.and_local_timezone(zone).single())
            .map(|t| t.to_rfc3339())
            .unwrap_or_default()
    };
    let rfc =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let whole_days = (
        midnight(today - chrono::Days::new(29)),
        midnight(today + chrono::Days::new(1)),
    );
    let rolling = (rfc(now - chrono::Duration::days(30)), rfc(now));
    let queries: [(&str, Option<&str>); 4] = [
        ("activity", None),
        ("qrcode", None),
        ("day", None),
        ("qrcode", Some("A7")),
    ];
    let stats = Stats {
        http: http.clone(),
        base: a.clone(),
        runs: args.runs,
        account: appid,
    };
    for (label, (from, to)) in [
        ("30 whole days (dashboard)", &whole_days),
        ("now-30d .. now", &rolling),
    ] {
        println!("  period: {label}");
        for (group_by, activity) in queries {
            let timed = stats.time(group_by, activity, from, to).await?;
            // The same question answered from the events alone, as the reference.
            let q = StatsQuery::parse(
                Some(group_by),
                Some(from),
                Some(to),
                None,
                activity.map(str::to_owned),
                StatsZone(zone),
                1,
            )?;
            let t = Instant::now();
            let reference = compute_from_events(&db, &q).await?;
            let reference_ms = common::ms(t.elapsed());
            let same = serde_json::to_value(&reference.groups)? == timed.body["groups"]
                && serde_json::to_value(&reference.totals)? == timed.body["totals"];
            println!(
                "{}  events-only {reference_ms:>7.1} ms, same figures: {}",
                timed.line,
                if same { "yes" } else { "NO" }
            );
        }
    }

    // Under load: SCANs keep arriving at instance A (so today is never fully rolled up)
    // while the dashboard asks.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut senders = Vec::new();
    for worker in 0..4u64 {
        let (http, a, stop, sent) = (http.clone(), a.clone(), stop.clone(), sent.clone());
        let every = Duration::from_secs_f64(4.0 / f64::from(args.load_rate.max(1)));
        senders.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                ticks.tick().await;
                n += 1;
                let g = (worker * 7919 + n) % 1000 + 1;
                let now = chrono::Utc::now().timestamp();
                let xml = format!(
                    "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[load{worker}_{n}]]></FromUserName>\
                     <CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
                     <EventKey><![CDATA[s{g}]]></EventKey><Ticket><![CDATA[T{g}]]></Ticket></xml>"
                );
                let (timestamp, nonce) = (now.to_string(), format!("load{worker}_{n}"));
                let signature = sign(&[TOKEN, &timestamp, &nonce]);
                let url = format!(
                    "{a}/wechat/callback?signature={signature}&timestamp={timestamp}&nonce={nonce}"
                );
                if http.post(&url).body(xml).send().await.is_ok() {
                    sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    let load_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "  under load: SCAN pushes arriving at about {} per second",
        args.load_rate
    );
    let load_periods = [
        "30 whole days (dashboard)",
        "now-30d .. now, now taken at each query",
        "now-30d .. now, now taken before the load: scans arrive after its end",
    ];
    for (i, label) in load_periods.iter().enumerate() {
        println!("  period: {label}");
        for (group_by, activity) in queries {
            let now = chrono::Utc::now();
            let asked = (rfc(now - chrono::Duration::days(30)), rfc(now));
            let (from, to) = match i {
                0 => &whole_days,
                1 => &asked,
                _ => &rolling,
            };
            println!("{}", stats.time(group_by, activity, from, to).await?.line);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for sender in senders {
        sender.await?;
    }
    println!(
        "  pushes stored during the load phase: {} ({:.0}/s)",
        sent.load(std::sync::atomic::Ordering::Relaxed),
        sent.load(std::sync::atomic::Ordering::Relaxed) as f64
            / load_started.elapsed().as_secs_f64()
    );

    let mut latencies = Vec::with_capacity(args.waits);
    for n in 0..args.waits {
        let g = n % 1000 + 1;
        // A fresh code each round: seeded codes already have scans.
        db.execute_unprepared(&format!(
            "INSERT INTO qr_generation (account_id, kind, action_name, scene, status, ticket, url, created_at) \
             VALUES (1, 'temporary', 'QR_STR_SCENE', 'w{n}', 'succeeded', 'W{n}', 'http://weixin.qq.com/q/w{n}', now())"
        ))
        .await?;
        let id: i64 = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                format!("SELECT id FROM qr_generation WHERE ticket = 'W{n}'"),
            ))
            .await?
            .and_then(|r| r.try_get::<i64>("", "id").ok())
            .ok_or_else(|| anyhow::anyhow!("no code"))?;
        let waiter = {
            let (http, url) = (
                http.clone(),
                format!("{b}/api/v1/qrcodes/{id}/wait?timeout=10"),
            );
            tokio::spawn(async move {
                let response = http.get(&url).send().await;
                (Instant::now(), response.map(|r| r.status().as_u16()))
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = chrono::Utc::now().timestamp();
        let xml = format!(
            "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[ow{n}]]></FromUserName>\
             <CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[SCAN]]></Event>\
             <EventKey><![CDATA[w{n}]]></EventKey><Ticket><![CDATA[W{n}]]></Ticket></xml>"
        );
        let (timestamp, nonce) = (now.to_string(), format!("{g}{n}"));
        let signature = sign(&[TOKEN, &timestamp, &nonce]);
        let callback = format!(
            "{a}/wechat/callback?signature={signature}&timestamp={timestamp}&nonce={nonce}"
        );
        let answered = http
            .post(&callback)
            .body(xml)
            .send()
            .await?
            .error_for_status()?;
        let callback_done = Instant::now();
        drop(answered);
        let (waiter_done, status) = waiter.await?;
        if status.ok() == Some(200) {
            latencies.push(waiter_done.saturating_duration_since(callback_done));
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1))]
    };
    if latencies.is_empty() {
        println!("  wait: no waiter was answered");
    } else {
        println!(
            "  wait on instance B, scan stored by instance A: {} of {} answered; callback answer -> waiter answer p50 {:.2} ms  p99 {:.2} ms  max {:.2} ms",
            latencies.len(),
            args.waits,
            common::ms(pct(0.5)),
            common::ms(pct(0.99)),
            common::ms(pct(1.0))
        );
    }
    db.close().await?;
    if args.keep {
        println!("  kept the scratch database: {}", scratch.url);
        return Ok(());
    }
    scratch.drop_database().await
}

/// Times `stats` queries through the HTTP API.
struct Stats {
    http: reqwest::Client,
    base: String,
    runs: usize,
    /// The appid of the account asked.
    account: String,
}

struct Timed {
    line: String,
    body: serde_json::Value,
}

impl Stats {
    async fn time(
        &self,
        group_by: &str,
        activity: Option<&str>,
        from: &str,
        to: &str,
    ) -> anyhow::Result<Timed> {
        let mut query = vec![
            ("account", self.account.as_str()),
            ("group_by", group_by),
            ("from", from),
            ("to", to),
        ];
        if let Some(activity) = activity {
            query.push(("activity_id", activity));
        }
        let mut times = Vec::new();
        let mut body = serde_json::Value::Null;
        for _ in 0..self.runs {
            let t = Instant::now();
            body = self
                .http
                .get(format!("{}/api/v1/stats", self.base))
                .query(&query)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            times.push(t.elapsed());
        }
        times.sort_unstable();
        let label = match activity {
            Some(a) => format!("group_by={group_by}&activity_id={a}"),
            None => format!("group_by={group_by}"),
        };
        let line = format!(
            "    stats {label:<32} {:>5} groups  {:>2} rollup days  median {:>6.1} ms  min {:>6.1} ms  max {:>6.1} ms",
            body["groups"].as_array().map_or(0, Vec::len),
            body["rollup_days"].as_u64().unwrap_or(0),
            common::ms(times[times.len() / 2]),
            common::ms(times[0]),
            common::ms(times[times.len() - 1])
        );
        Ok(Timed { line, body })
    }
}
