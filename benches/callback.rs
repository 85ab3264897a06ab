//! The callback under load from another process, as WeChat's would come: wrk (Debian's
//! package) posts signed pushes to a `qrscene` server running as a child process on a
//! scratch Postgres database. Three phases, each after a warm-up:
//! (1) the ceiling, `POST /wechat/ceiling`, a route of the same server that answers
//! `success` without work; (2) the full durable path in plaintext (verify, parse, commit,
//! link); (3) the same in safe mode (AES), on a second server with the key; (4) the plaintext
//! path with the pushes spread over 10 accounts at once (each its own callback URL
//! `/wechat/callback/{appid}`, token and codes; the accounts are added with
//! `qrscene accounts add`, their secrets sealed with a master key); (5) `actions`: on a
//! scratch database of its own, a server in live mode against the fake WeChat (in this
//! process), measured first without actions, then with tags, a kefu welcome and a webhook
//! (to a receiver in this process) on every code; then the outbox's drain: the jobs the
//! second measurement wrote, and how fast the workers finished them.
//! Every push is distinct (its own FromUserName, CreateTime and nonce), so none is a retry;
//! half are subscribes with the scene of a generated code, a quarter SCANs of one, a quarter
//! plain subscribes. Prints requests/s, latency p50/p90/p99/max, errors, the server's RSS
//! and the ratios to the targets. Not a test: it asserts nothing.
//!
//! cargo bench --features bench --bench callback -- --database postgres://postgres@127.0.0.1:5432/test
//!
//! `--baseline PATH` first measures the plaintext path of another build (e.g. the release
//! before accounts) in the same run, on its own scratch database.
//!
//! `--server PATH` measures another build of the binary (e.g. an older commit's, which
//! mounts the ceiling with QRSCENE_BENCH_ROUTES=true; that variable is always set here).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use qrscene::wechat::crypto::{EncodingAesKey, MessageCrypto};
use qrscene::wechat::signature::sign;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

use common::server::{self, Server};
use common::wrk::{self, Load};

const TOKEN: &str = "bench-token";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// The appid of sandbox mode, which safe-mode messages carry.
const APPID: &str = "wxsandbox";
/// The ceiling's label (its pushes may repeat: it stores nothing).
const CEILING: &str = "ceiling (no work)";
/// Generated codes whose tickets the pushes carry.
const CODES: usize = 10_000;
/// Accounts of the many-accounts phase.
const ACCOUNTS: usize = 10;
/// The master key of the bench's server (sealing the accounts' callback tokens).
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// The appid of account `k` of the many-accounts phase.
fn bench_appid(k: usize) -> String {
    format!("wxbench{k:02}")
}

/// The callback token of account `k` of the many-accounts phase.
fn bench_token(k: usize) -> String {
    format!("bench-token-{k:02}")
}

#[derive(Parser)]
struct Args {
    /// Postgres server URL (a scratch database is created next to it and dropped after).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    database: String,
    /// The `qrscene` binary to measure (default: the one cargo built with this bench).
    #[arg(long, default_value = env!("CARGO_BIN_EXE_qrscene"))]
    server: PathBuf,
    /// Redis URL for the server (none: the in-process scan bus).
    #[arg(long)]
    redis: Option<String>,
    /// wrk threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of load per phase (after 3 s of warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Distinct pushes prepared per phase; more are sent again as retries (and counted).
    #[arg(long, default_value_t = 100_000)]
    pushes: usize,
    /// Server: database pool size (QRSCENE_DB_MAX_CONNECTIONS; unset: its default).
    #[arg(long)]
    pool: Option<u32>,
    /// Server: committer tasks (QRSCENE_EVENT_COMMITTERS; unset: its default).
    #[arg(long)]
    committers: Option<usize>,
    /// Server: RUST_LOG (default `info`, as in production).
    #[arg(long, default_value = "info")]
    log: String,
    /// Profile the server during the measured part of each phase with `perf record -g`
    /// (software clock; Debian's linux-perf), into `<DIR>/<phase>.perf.data`.
    #[arg(long)]
    perf: Option<PathBuf>,
    /// Diagnostic: `synchronous_commit` of the scratch database (e.g. `off`, to see what the
    /// WAL flush of each commit costs). Default: the server's setting.
    #[arg(long)]
    synchronous_commit: Option<String>,
    /// Run only these phases (`ceiling`, `plain`, `safe`, `accounts`, `actions`; comma-separated).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// An older build of `qrscene` whose plaintext path is measured first, in this same run,
    /// on its own scratch database (e.g. the release before accounts), as the baseline.
    #[arg(long)]
    baseline: Option<PathBuf>,
    #[arg(long, hide = true)]
    bench: bool,
}

/// One signed push: the path with its query, and the body. `path` ending in `/` is the
/// many-accounts phase: push `i` goes to account `i % ACCOUNTS`, signed with its token.
fn push(path: &str, i: usize, now: i64, safe: Option<&MessageCrypto>) -> String {
    let (path, token) = if path.ends_with('/') {
        let k = i % ACCOUNTS;
        (format!("{path}{}", bench_appid(k)), bench_token(k))
    } else {
        (path.to_owned(), TOKEN.to_owned())
    };
    let token = token.as_str();
    let code = i % CODES;
    let event = match i % 4 {
        0 | 2 => format!(
            "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[qrscene_s{code}]]></EventKey><Ticket><![CDATA[T{code}]]></Ticket>"
        ),
        1 => format!(
            "<Event><![CDATA[SCAN]]></Event><EventKey><![CDATA[s{code}]]></EventKey><Ticket><![CDATA[T{code}]]></Ticket>"
        ),
        _ => "<Event><![CDATA[subscribe]]></Event><EventKey><![CDATA[]]></EventKey>".to_owned(),
    };
    // Distinct per push: the sender, the message time (within the last minute) and the nonce.
    let created = now - (i % 60) as i64;
    let xml = format!(
        "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><FromUserName><![CDATA[o{i}]]></FromUserName>\
         <CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]></MsgType>{event}</xml>"
    );
    let (timestamp, nonce) = (now.to_string(), format!("{}", 1_000_000_007 + i));
    let signature = sign(&[token, &timestamp, &nonce]);
    let mut url =
        format!("{path}?signature={signature}&timestamp={timestamp}&nonce={nonce}&openid=o{i}");
    let body = match safe {
        None => xml,
        Some(crypto) => {
            let encrypted = crypto.encrypt_random(&xml);
            let msg_signature = sign(&[token, &timestamp, &nonce, &encrypted]);
            url.push_str(&format!("&encrypt_type=aes&msg_signature={msg_signature}"));
            format!(
                "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
            )
        }
    };
    format!("{url}\t{body}\n")
}

/// Writes pushes `range` to `file` (signed now, so that they are within the clock skew).
fn prepare(
    file: &Path,
    path: &str,
    range: std::ops::Range<usize>,
    safe: Option<&MessageCrypto>,
) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    for i in range {
        out.write_all(push(path, i, now, safe).as_bytes())?;
    }
    out.flush()?;
    Ok(())
}

/// A measured phase: wrk's figures, the server's memory after it, the CPU time it used and
/// the transactions the database committed meanwhile.
struct Phase {
    run: wrk::Run,
    rss_kib: (u64, u64),
    cpu: Duration,
    commits: i64,
    /// CPU time of the Postgres backends serving the scratch database (local server only).
    db_cpu: Duration,
}

/// CPU time so far of the Postgres backends connected to the current database, other than
/// this connection (readable when Postgres runs on this machine; zero otherwise).
async fn backends_cpu(db: &DatabaseConnection) -> anyhow::Result<Duration> {
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await?;
    let mut total = Duration::ZERO;
    for row in rows {
        total += server::cpu_of(u32::try_from(row.try_get::<i32>("", "pid")?)?);
    }
    Ok(total)
}

/// Transactions committed in the current database so far (the statistics lag by up to a
/// second, so the figure is approximate).
async fn commits(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT xact_commit::bigint AS n FROM pg_stat_database WHERE datname = current_database()",
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no pg_stat_database row"))?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// Warms the server up, then measures pushes `first..first + pushes` to `path`.
async fn phase(
    name: &str,
    db: &DatabaseConnection,
    server: &Server,
    dir: &Path,
    (path, first): (&str, usize),
    args: &Args,
    safe: Option<&MessageCrypto>,
) -> anyhow::Result<Phase> {
    let load = Load {
        threads: args.threads,
        connections: args.connections,
        duration: Duration::from_secs(args.seconds),
    };
    let file = dir.join("pushes");
    prepare(
        &file,
        path,
        first + args.pushes..first + args.pushes + 20_000,
        safe,
    )?;
    let warm = Load {
        duration: Duration::from_secs(3),
        ..load
    };
    wrk::run(&server.base, &file, warm)?;
    prepare(&file, path, first..first + args.pushes, safe)?;
    let perf = match &args.perf {
        None => None,
        Some(out) => Some(
            std::process::Command::new("perf")
                .args(["record", "-q", "-e", "cpu-clock", "-F", "499", "-g", "-p"])
                .arg(server.pid().to_string())
                .arg("-o")
                .arg(out.join(format!("{name}.perf.data")))
                .stdout(std::process::Stdio::null())
                .spawn()?,
        ),
    };
    let (cpu_before, commits_before) = (server.cpu(), commits(db).await?);
    let db_cpu_before = backends_cpu(db).await?;
    let run = wrk::run(&server.base, &file, load)?;
    let cpu = server.cpu().saturating_sub(cpu_before);
    let db_cpu = backends_cpu(db).await?.saturating_sub(db_cpu_before);
    // Let the statistics collector catch up.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let commits = commits(db).await? - commits_before;
    if let Some(mut perf) = perf {
        // perf stops and writes its file on SIGINT.
        let pid = perf.id().to_string();
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()?;
        perf.wait()?;
    }
    Ok(Phase {
        run,
        rss_kib: server.rss_kib(),
        cpu,
        commits,
        db_cpu,
    })
}

fn print(label: &str, p: &Phase) {
    let r = &p.run;
    let per_request = p.cpu.as_secs_f64() * 1e6 / r.requests.max(1) as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  {label:<26} {:>7.0} req/s  p50 {:>6.2} ms  p90 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  \
         errors {} (status {}, timeouts {})  server RSS {} MiB (peak {} MiB)  requests {}{}",
        r.rps(),
        ms(r.p50),
        ms(r.p90),
        ms(r.p99),
        ms(r.max),
        r.errors,
        r.status_errors,
        r.timeouts,
        p.rss_kib.0 / 1024,
        p.rss_kib.1 / 1024,
        r.requests,
        if r.repeated > 0 && label != CEILING {
            format!(" ({} repeated)", r.repeated)
        } else {
            String::new()
        },
    );
    println!(
        "  {:<26} server CPU {:.1} s ({per_request:.0} us per request, {:.0}% of one core); \
         Postgres backends CPU {:.1} s ({:.0}% of one core); database commits {} ({:.1} requests per commit)",
        "",
        p.cpu.as_secs_f64(),
        100.0 * p.cpu.as_secs_f64() / r.elapsed.as_secs_f64(),
        p.db_cpu.as_secs_f64(),
        100.0 * p.db_cpu.as_secs_f64() / r.elapsed.as_secs_f64(),
        p.commits,
        r.requests as f64 / p.commits.max(1) as f64,
    );
}

/// Stores [`CODES`] succeeded codes (scenes `s{i}`, tickets `T{i}`, 50 activities) of the
/// account that `account` selects from `account a`, or, on a schema before accounts (`None`),
/// without one.
async fn seed_codes(db: &DatabaseConnection, account: Option<&str>) -> anyhow::Result<()> {
    let (column, value, from) = match account {
        Some(filter) => (
            "account_id, ",
            "a.id, ",
            format!(", account a WHERE {filter}"),
        ),
        None => ("", "", String::new()),
    };
    db.execute_unprepared(&format!(
        "INSERT INTO qr_generation ({column}kind, action_name, scene, status, ticket, url, activity_id, created_at) \
         SELECT {value}'temporary', 'QR_STR_SCENE', 's' || i, 'succeeded', 'T' || i, 'http://weixin.qq.com/q/' || i, \
         'A' || (i % 50), CURRENT_TIMESTAMP FROM generate_series(0, {}) AS i{from}",
        CODES - 1
    ))
    .await?;
    Ok(())
}

/// Whether the migrated schema has accounts (`qr_generation.account_id`).
async fn has_accounts(db: &DatabaseConnection) -> anyhow::Result<bool> {
    Ok(db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) AS n FROM information_schema.columns \
             WHERE table_name = 'qr_generation' AND column_name = 'account_id'",
        ))
        .await?
        .map(|r| r.try_get::<i64>("", "n").unwrap_or(0) > 0)
        .unwrap_or(false))
}

/// The plaintext phase on an older build (`--baseline`), on a scratch database of its own
/// migrated by that build.
async fn baseline_phase(old: &Path, args: &Args, dir: &Path) -> anyhow::Result<Phase> {
    let scratch = common::Scratch::new(Some(&args.database)).await?;
    let log = dir.join("baseline.log");
    let env = vec![
        ("DATABASE_URL", scratch.url.clone()),
        ("WECHAT_TOKEN", TOKEN.to_owned()),
        ("QRSCENE_BENCH_ROUTES", "true".to_owned()),
        (
            "QRSCENE_API_KEYS",
            "bench:bench-key-0123456789abcdefghijklmn".to_owned(),
        ),
        ("RUST_LOG", args.log.clone()),
    ];
    server::run(old, &["migrate"], &env, &log)?;
    let db = Database::connect(&scratch.url).await?;
    // A build before accounts has no `account_id`; one with them gives account 1 to the
    // sandbox's account.
    let has_accounts = has_accounts(&db).await?;
    seed_codes(&db, has_accounts.then_some("a.id = 1")).await?;
    db.execute_unprepared("ANALYZE").await?;
    let server = Server::start(old, &env, &log).await?;
    let target = ("/wechat/callback", 5_000_000);
    let figures = phase("baseline", &db, &server, dir, target, args, None).await?;
    server.stop().await;
    db.close().await?;
    scratch.drop_database().await?;
    Ok(figures)
}

/// What the outbox did with the jobs of the actions phase.
struct Drain {
    /// Jobs written by the measured load with the workers off, per kind.
    written: Vec<(String, i64)>,
    /// Jobs finished in the drain window, per kind and state.
    finished: Vec<(String, String, i64)>,
    window: Duration,
    deliveries: u64,
    taggings: usize,
    kefu: usize,
}

/// Deliveries the bench's webhook receiver got.
static DELIVERIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

async fn receive(_body: actix_web::web::Bytes) -> actix_web::HttpResponse {
    DELIVERIES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    actix_web::HttpResponse::Ok().finish()
}

/// Rows of `sql` as (kind, state, n) triples (`state` may be absent).
async fn by_kind(db: &DatabaseConnection, sql: &str) -> anyhow::Result<Vec<(String, String, i64)>> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    Ok(rows
        .iter()
        .map(|r| {
            (
                r.try_get::<String>("", "kind").unwrap_or_default(),
                r.try_get::<String>("", "state").unwrap_or_default(),
                r.try_get::<i64>("", "n").unwrap_or_default(),
            )
        })
        .collect())
}

/// The measurements of the actions phase.
struct Actions {
    without: Phase,
    written: Phase,
    draining: Phase,
    drain: Drain,
}

/// The actions phase, on a scratch database with a live account against the fake WeChat:
/// (1) plaintext, codes without actions; (2) the same with tags, a kefu welcome and a
/// webhook on every code, the server's outbox workers off (`QRSCENE_OUTBOX_WORKERS=false`:
/// the callback writes the jobs, as a push-only instance would); (3) a server with workers
/// and no load drains them for 30 s: jobs finished per second; (4) the callback with actions
/// again while that server's workers drain what is left.
async fn actions_phase(args: &Args, dir: &Path) -> anyhow::Result<Actions> {
    const APP: &str = "wxbenchactions01";
    const SECRET: &str = "bench-secret";
    const KEY: &str = "bench-key-0123456789abcdefghijklmn";
    let fake = qrscene_fake_wechat::FakeWeChat::start(APP, SECRET).await?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let receiver_url = format!("http://{}/hook", listener.local_addr()?);
    let receiver = actix_web::HttpServer::new(|| {
        actix_web::App::new().route("/hook", actix_web::web::post().to(receive))
    })
    .workers(1)
    .listen(listener)?
    .run();
    let receiver_handle = receiver.handle();
    tokio::spawn(receiver);

    let scratch = common::Scratch::new(Some(&args.database)).await?;
    let log = dir.join("actions.log");
    let mut env = vec![
        ("DATABASE_URL", scratch.url.clone()),
        ("WECHAT_TOKEN", TOKEN.to_owned()),
        ("WECHAT_APPID", APP.to_owned()),
        ("WECHAT_SECRET", SECRET.to_owned()),
        ("WECHAT_API_BASE", fake.base_url().to_owned()),
        ("QRSCENE_BENCH_ROUTES", "true".to_owned()),
        ("QRSCENE_API_KEYS", format!("bench:{KEY}")),
        ("QRSCENE_MASTER_KEY", MASTER_KEY.to_owned()),
        ("QRSCENE_WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("RUST_LOG", args.log.clone()),
    ];
    if let Some(pool) = args.pool {
        env.push(("QRSCENE_DB_MAX_CONNECTIONS", pool.to_string()));
    }
    if let Some(redis) = &args.redis {
        env.push(("REDIS_URL", redis.clone()));
    }
    server::run(&args.server, &["migrate"], &env, &log)?;
    let db = Database::connect(&scratch.url).await?;
    seed_codes(&db, Some("a.id = 1")).await?;
    db.execute_unprepared("ANALYZE").await?;
    let server = Server::start(&args.server, &env, &log).await?;
    let without = phase(
        "actions-off",
        &db,
        &server,
        dir,
        ("/wechat/callback", 4_000_000),
        args,
        None,
    )
    .await?;
    // Every code tags and welcomes by kefu, and the account has a webhook for every event.
    db.execute_unprepared(
        "UPDATE qr_generation SET actions = '{\"on\":\"both\",\"tags\":[\"bench\"],\
         \"welcome\":{\"via\":\"kefu\",\"type\":\"text\",\"content\":\"hi\"}}', \
         actions_on = 'both', action_tags = TRUE, action_kefu = TRUE",
    )
    .await?;
    let created = reqwest::Client::new()
        .post(format!("{}/api/v1/webhooks", server.base))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"url": receiver_url, "events": ["*"]}))
        .send()
        .await?;
    anyhow::ensure!(
        created.status().is_success(),
        "webhook not created: {}",
        created.text().await?
    );
    server.stop().await;

    let mut push_only = env.clone();
    push_only.push(("QRSCENE_OUTBOX_WORKERS", "false".to_owned()));
    let server = Server::start(&args.server, &push_only, &log).await?;
    let written = phase(
        "actions-on",
        &db,
        &server,
        dir,
        ("/wechat/callback", 5_000_000),
        args,
        None,
    )
    .await?;
    server.stop().await;
    let written_jobs: Vec<(String, i64)> = by_kind(
        &db,
        "SELECT kind, '' AS state, COUNT(*) AS n FROM outbox_job GROUP BY kind ORDER BY kind",
    )
    .await?
    .into_iter()
    .map(|(k, _, n)| (k, n))
    .collect();

    let server = Server::start(&args.server, &env, &log).await?;
    let window = Duration::from_secs(30);
    tokio::time::sleep(window).await;
    let finished = by_kind(
        &db,
        "SELECT kind, state, COUNT(*) AS n FROM outbox_job WHERE state IN ('done', 'dead', 'dropped') \
         GROUP BY kind, state ORDER BY kind, state",
    )
    .await?;
    let drain = Drain {
        written: written_jobs,
        finished,
        window,
        deliveries: DELIVERIES.load(std::sync::atomic::Ordering::Relaxed),
        taggings: fake
            .batchtagging_calls(APP)
            .iter()
            .map(|c| c.openids.len())
            .sum(),
        kefu: fake.kefu_messages(APP).len(),
    };
    let draining = phase(
        "actions-draining",
        &db,
        &server,
        dir,
        ("/wechat/callback", 6_000_000),
        args,
        None,
    )
    .await?;
    server.stop().await;
    receiver_handle.stop(true).await;
    db.close().await?;
    scratch.drop_database().await?;
    Ok(Actions {
        without,
        written,
        draining,
        drain,
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    qrscene::wechat::client::install_crypto_provider();
    let args = Args::parse();
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let scratch = common::Scratch::new(Some(&args.database)).await?;
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("server.log");

    let mut env = vec![
        ("DATABASE_URL", scratch.url.clone()),
        ("WECHAT_TOKEN", TOKEN.to_owned()),
        ("QRSCENE_BENCH_ROUTES", "true".to_owned()),
        (
            "QRSCENE_API_KEYS",
            "bench:bench-key-0123456789abcdefghijklmn".to_owned(),
        ),
        ("RUST_LOG", args.log.clone()),
        ("QRSCENE_MASTER_KEY", MASTER_KEY.to_owned()),
    ];
    if let Some(pool) = args.pool {
        env.push(("QRSCENE_DB_MAX_CONNECTIONS", pool.to_string()));
    }
    if let Some(committers) = args.committers {
        env.push(("QRSCENE_EVENT_COMMITTERS", committers.to_string()));
    }
    if let Some(redis) = &args.redis {
        env.push(("REDIS_URL", redis.clone()));
    }
    // An older build (`--server`) knows neither accounts nor the master key.
    let accounts = wanted("accounts");
    if !accounts {
        env.retain(|(k, _)| *k != "QRSCENE_MASTER_KEY");
    }
    server::run(&args.server, &["migrate"], &env, &log)?;
    let db = Database::connect(&scratch.url).await?;
    let has_accounts = has_accounts(&db).await?;
    anyhow::ensure!(
        has_accounts || !accounts,
        "the accounts phase needs a build with accounts"
    );
    // The account configured by environment (sandbox) is account 1: the migration made it,
    // without its appid, for the server to claim.
    seed_codes(&db, has_accounts.then_some("a.id = 1")).await?;
    if accounts {
        for k in 0..ACCOUNTS {
            let appid = bench_appid(k);
            server::run_with_stdin(
                &args.server,
                &[
                    "accounts",
                    "add",
                    "--appid",
                    &appid,
                    "--secrets-stdin",
                    "--no-verify",
                ],
                &env,
                &log,
                &format!("callback_token={}\n", bench_token(k)),
            )?;
            // The same scenes and tickets under every account: each its own codes.
            seed_codes(&db, Some(&format!("a.appid = '{appid}'"))).await?;
        }
    }
    // As autovacuum would on a live database: plans use the indexes.
    db.execute_unprepared("ANALYZE").await?;
    if let Some(mode) = &args.synchronous_commit {
        anyhow::ensure!(
            ["on", "off", "local", "remote_write", "remote_apply"].contains(&mode.as_str()),
            "--synchronous-commit: one of on, off, local, remote_write, remote_apply"
        );
        let name = scratch.url.rsplit('/').next().unwrap_or_default();
        db.execute_unprepared(&format!(
            "ALTER DATABASE \"{name}\" SET synchronous_commit = {mode}"
        ))
        .await?;
    }

    let load_before = loadavg();
    let baseline = match &args.baseline {
        Some(old) => Some(baseline_phase(old, &args, dir.path()).await?),
        None => None,
    };
    let (mut ceiling, mut plain, mut safe, mut many) = (None, None, None, None);
    if wanted("ceiling") || wanted("plain") || accounts {
        let server = Server::start(&args.server, &env, &log).await?;
        if wanted("ceiling") {
            let target = ("/wechat/ceiling", 0);
            ceiling = Some(phase("ceiling", &db, &server, dir.path(), target, &args, None).await?);
        }
        if wanted("plain") {
            let target = ("/wechat/callback", 1_000_000);
            plain = Some(phase("plain", &db, &server, dir.path(), target, &args, None).await?);
        }
        if accounts {
            let target = ("/wechat/callback/", 3_000_000);
            many = Some(phase("accounts", &db, &server, dir.path(), target, &args, None).await?);
        }
        server.stop().await;
    }
    if wanted("safe") {
        let mut env = env.clone();
        env.push(("WECHAT_ENCODING_AES_KEY", AES_KEY.to_owned()));
        let server = Server::start(&args.server, &env, &log).await?;
        let crypto = MessageCrypto::new(EncodingAesKey::parse(AES_KEY)?, APPID);
        let target = ("/wechat/callback", 2_000_000);
        safe = Some(
            phase(
                "safe",
                &db,
                &server,
                dir.path(),
                target,
                &args,
                Some(&crypto),
            )
            .await?,
        );
        server.stop().await;
    }

    let actions = match wanted("actions") {
        true => Some(actions_phase(&args, dir.path()).await?),
        false => None,
    };

    let stored = db
        .query_one_raw(Statement::from_string(
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
        "callback: signed pushes from wrk (another process) to the qrscene binary, on Postgres"
    );
    println!(
        "  server {}  wrk -t{} -c{}  {} s per phase after 3 s of warm-up  pool {}  committers {}  RUST_LOG={}{}",
        args.server.display(),
        args.threads,
        args.connections,
        args.seconds,
        args.pool.map_or("default".into(), |p| p.to_string()),
        args.committers.map_or("default".into(), |c| c.to_string()),
        args.log,
        args.synchronous_commit
            .as_ref()
            .map_or(String::new(), |m| format!("  synchronous_commit={m}")),
    );
    for (label, figures) in [
        ("baseline build, plaintext", &baseline),
        (CEILING, &ceiling),
        ("full path, plaintext", &plain),
        ("full path, safe mode (AES)", &safe),
        ("plaintext, 10 accounts", &many),
    ] {
        if let Some(figures) = figures {
            print(label, figures);
        }
    }
    if let (Some(ceiling), Some(plain)) = (&ceiling, &plain) {
        println!(
            "  plaintext / ceiling: {:.0}% of requests/s (target >= 60%)",
            100.0 * plain.run.rps() / ceiling.run.rps()
        );
    }
    if let (Some(plain), Some(safe)) = (&plain, &safe) {
        println!(
            "  safe mode / plaintext: {:.0}% of requests/s (target >= 85%)",
            100.0 * safe.run.rps() / plain.run.rps()
        );
    }
    if let (Some(baseline), Some(plain)) = (&baseline, &plain) {
        println!(
            "  plaintext, this build / baseline build: {:.0}% of requests/s",
            100.0 * plain.run.rps() / baseline.run.rps()
        );
    }
    if let (Some(baseline), Some(many)) = (&baseline, &many) {
        println!(
            "  10 accounts, this build / one account, baseline build: {:.0}% of requests/s",
            100.0 * many.run.rps() / baseline.run.rps()
        );
    }
    if let (Some(plain), Some(many)) = (&plain, &many) {
        println!(
            "  10 accounts / one account (plaintext): {:.0}% of requests/s (target >= 90%)",
            100.0 * many.run.rps() / plain.run.rps()
        );
    }
    if let Some(a) = &actions {
        print("live account, no actions", &a.without);
        print("actions, jobs written", &a.written);
        print("actions, outbox draining", &a.draining);
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  tags + kefu + webhook on every code, jobs written by the callback (workers on another instance): \
             {:.0}% of requests/s without actions (target >= 85%), p99 {:.2} ms vs {:.2} ms",
            100.0 * a.written.run.rps() / a.without.run.rps(),
            ms(a.written.run.p99),
            ms(a.without.run.p99),
        );
        println!(
            "  the same with this instance's outbox draining the backlog meanwhile (2 cores for wrk, server, Postgres): \
             {:.0}% of requests/s, p99 {:.2} ms",
            100.0 * a.draining.run.rps() / a.without.run.rps(),
            ms(a.draining.run.p99),
        );
        let total: i64 = a.drain.finished.iter().map(|(_, _, n)| n).sum();
        println!(
            "  outbox drain, no load, {} s: {total} jobs finished ({:.0} jobs/s); written in the phase before (warm-up included): {}",
            a.drain.window.as_secs(),
            total as f64 / a.drain.window.as_secs_f64(),
            a.drain
                .written
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
        );
        for (kind, state, n) in &a.drain.finished {
            println!(
                "    {kind:<8} {state:<8} {n:>7}  ({:.0}/s)",
                *n as f64 / a.drain.window.as_secs_f64()
            );
        }
        println!(
            "  at the fake WeChat and the receiver: {} followers tagged (in batches of up to 50), {} kefu messages, {} webhook deliveries \
             (kefu welcomes past their minute are dropped, never sent late)",
            a.drain.taggings, a.drain.kefu, a.drain.deliveries
        );
    }
    let answered: u64 = [&plain, &safe, &many]
        .into_iter()
        .flatten()
        .map(|p| p.run.requests - p.run.errors - p.run.repeated)
        .sum();
    println!(
        "  events stored {} (linked to a code {}); distinct pushes answered 200 while measured {answered}, plus warm-ups",
        stored.0, stored.1
    );
    println!(
        "  load average before {load_before}, after {} (the machine's 2 cores run wrk, the server and Postgres)",
        loadavg()
    );
    db.close().await?;
    scratch.drop_database().await
}
