//! Building the application from settings: database, Redis, WeChat, routes, listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use redis::aio::ConnectionManager;
use tracing_actix_web::TracingLogger;

use actix_web::http::KeepAlive;
use actix_web::middleware::from_fn;
use secrecy::{ExposeSecret, SecretString};

use crate::accounts::keys::Role;
use crate::accounts::seal::Sealer;
use crate::accounts::{Accounts, EnvAccount, SecretsSet, Wiring};
use crate::actions::kefu::Kefu;
use crate::actions::tagging::Tagging;
use crate::auth::ApiKeys;
use crate::callback::replay::ReplayGuard;
use crate::callback::sandbox::SelfCallback;
use crate::callback::store::EventStore;
use crate::callback::verify::CallbackKeys;
use crate::config::Settings;
use crate::db;
use crate::generation::Generations;
use crate::middleware::body_deadline::{self, BodyDeadline};
use crate::middleware::client_ip::TrustedProxies;
use crate::middleware::{headers, nul};
use crate::outbox::{Outbox, OutboxSettings};
use crate::routes::{self};
use crate::scans::bus::ScanBus;
use crate::state::{Db, Metrics, MpBase, Readiness};
use crate::tasks::Tasks;
use crate::telemetry::RootSpan;
use crate::wechat::client::ApiClient;
use crate::wechat::qrcode::ExpireSeconds;
use crate::wechat::sandbox::Sandbox;
use crate::wechat::token::TokenProvider;
use crate::wechat::{Live, WeChat};

/// Callback token of sandbox mode when `WECHAT_TOKEN` is not set.
pub const SANDBOX_TOKEN: &str = "sandbox";
/// Appid of sandbox mode (safe-mode pushes carry it).
pub const SANDBOX_APPID: &str = "wxsandbox";

/// How long shutdown waits for the background tasks (committers storing what was queued,
/// the scan bus) after the HTTP server has stopped, before aborting them.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(10);

/// A built, listening server.
pub struct Application {
    port: u16,
    server: Server,
    tasks: Tasks,
}

impl Application {
    /// Connects and migrates the database, connects Redis, picks live or sandbox WeChat,
    /// and binds the listener.
    ///
    /// # Errors
    /// A setting is invalid, a service cannot be reached, or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.check()?;
        let sandbox = settings.sandbox();
        let anonymous = if sandbox {
            Some(Role::Admin)
        } else if settings.allow_anonymous {
            Some(Role::Client)
        } else {
            None
        };
        let keys = ApiKeys::parse(settings.api_keys.as_ref(), anonymous, settings.legacy_open)?;
        let sealer = Sealer::from_settings(
            settings.master_key.as_ref(),
            settings.master_key_previous.as_ref(),
        )?;
        if !sandbox && keys.is_empty() && !settings.allow_anonymous {
            anyhow::bail!(
                "refusing to start: WeChat credentials are set but QRSCENE_API_KEYS is empty; \
                 set API keys, or QRSCENE_ALLOW_ANONYMOUS=true to serve the API without them"
            );
        }
        let default_expire = ExpireSeconds::parse(
            "QRSCENE_DEFAULT_EXPIRE_SECONDS",
            settings.default_expire_seconds.into(),
        )?;

        let trusted_proxies = TrustedProxies::parse(&settings.trusted_proxies)?;
        let db = db::connect(
            settings.database_url.expose_secret(),
            settings.db_max_connections,
        )
        .await
        .context("cannot open the database (DATABASE_URL)")?;
        db::migrate(&db)
            .await
            .context("database migrations failed")?;

        let stats_tz: chrono_tz::Tz = settings.stats_tz.parse().map_err(|_| {
            anyhow::anyhow!(
                "QRSCENE_STATS_TZ must be an IANA time zone such as Asia/Shanghai, not {:?}",
                settings.stats_tz
            )
        })?;
        crate::stats::rollup::state::configure(&db, stats_tz)
            .await
            .context("cannot record the statistics time zone (QRSCENE_STATS_TZ)")?;
        // Every background task is owned here and joined at shutdown (`run_until_stopped`).
        let mut tasks = Tasks::new();
        if settings.stats_refresh_ms > 0 {
            let refresher = crate::stats::rollup::refresh::spawn(
                db.clone(),
                stats_tz,
                Duration::from_millis(settings.stats_refresh_ms),
                tasks.token(),
            );
            tasks.adopt("stats refresher", refresher);
        }

        let redis = match &settings.redis_url {
            Some(url) => Some(connect_redis(url.expose_secret()).await?),
            None => None,
        };
        let wechat = Arc::new(wechat(&settings, redis.clone())?);
        let env_account = env_account(&settings, wechat)?;
        let accounts = Accounts::load(
            db.clone(),
            env_account,
            sealer,
            Wiring {
                api_base: settings.wechat_api_base.clone(),
                timeout: Duration::from_millis(settings.wechat_timeout_ms),
                max_skew_secs: settings.wechat_max_clock_skew_secs,
                redis: redis.clone(),
            },
        )
        .await
        .context("cannot load the accounts")?;
        keys.attach(db.clone());
        keys.set_db_keys(
            crate::accounts::keys::in_force(&db)
                .await
                .context("cannot load the API keys")?,
        );
        let accounts = Arc::new(accounts);
        let keys = Arc::new(keys);
        if settings.accounts_refresh_ms > 0 {
            let reloader = crate::accounts::refresh::spawn(
                accounts.clone(),
                keys.clone(),
                Duration::from_millis(settings.accounts_refresh_ms),
                tasks.token(),
            );
            tasks.adopt("accounts reloader", reloader);
        }
        if sandbox {
            tracing::warn!(
                "sandbox mode: no WECHAT_APPID/WECHAT_SECRET, QR codes are simulated locally"
            );
        }
        if keys.is_empty() {
            tracing::warn!("no QRSCENE_API_KEYS: the JSON API is open to anyone who can reach it");
        }
        tracing::info!(
            database = db_kind(settings.database_url.expose_secret()),
            redis = redis.is_some(),
            sandbox,
            "qrscene starting"
        );

        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("cannot listen on {} (QRSCENE_LISTEN)", settings.listen))?;
        let local = listener.local_addr()?;
        let port = local.port();

        let bus = match (&settings.redis_url, &redis) {
            (Some(url), Some(conn)) => {
                ScanBus::redis(url.expose_secret(), conn.clone(), &mut tasks)
                    .context("invalid REDIS_URL")?
            }
            _ => ScanBus::local(),
        };
        let outbox = Outbox::new(db.clone(), outbox_settings(&settings));
        if settings.outbox_workers {
            outbox.start(
                vec![
                    Arc::new(Tagging::new(
                        db.clone(),
                        accounts.clone(),
                        outbox.settings().tag_gather,
                    )),
                    Arc::new(Kefu::new(accounts.clone())),
                    crate::webhooks::runner(
                        accounts.clone(),
                        &crate::webhooks::WebhookSettings::of(&settings),
                    )?,
                ],
                &mut tasks,
            );
        } else {
            tracing::info!(
                "outbox workers off on this instance (QRSCENE_OUTBOX_WORKERS=false): its jobs are carried out by the others"
            );
        }
        let events = EventStore::start(
            db.clone(),
            settings.event_committers,
            bus.clone(),
            outbox.clone(),
            &mut tasks,
        );
        let committers = events.committers();
        let events = web::Data::new(events);
        let bus = web::Data::new(bus);
        let self_callback = web::Data::new(SelfCallback::new(self_callback_url(local))?);
        let replay = web::Data::new(ReplayGuard::new(
            db.clone(),
            redis.clone(),
            settings.wechat_max_clock_skew_secs,
        ));
        #[cfg(feature = "bench")]
        let bench_routes = settings.bench_routes;
        #[cfg(not(feature = "bench"))]
        let bench_routes = false;

        let generations = web::Data::new(Generations::new(db.clone(), default_expire));
        let outbox = web::Data::new(outbox);
        let keys = web::Data::from(keys);
        let accounts = web::Data::from(accounts);
        let mp = web::Data::new(MpBase(settings.wechat_mp_base.clone()));
        let read_db = web::Data::new(Db(db.clone()));
        let stats_zone = web::Data::new(crate::stats::period::StatsZone(stats_tz));
        let ready = web::Data::new(Readiness {
            db,
            redis,
            committers,
        });
        let metrics = web::Data::new(Metrics(crate::metrics::install()));
        let trusted_proxies = web::Data::new(trusted_proxies);
        let limits = ConnectionLimits::of(&settings);
        let body_deadline = web::Data::new(BodyDeadline(Duration::from_millis(
            settings.body_timeout_ms,
        )));
        let server = HttpServer::new(move || {
            // The last wrapped runs first: the span covers everything, the metrics see the
            // final status, every answer gets the headers.
            let app = App::new()
                .wrap(from_fn(nul::refuse_nul))
                .wrap(from_fn(body_deadline::limit_body_time))
                .wrap(from_fn(headers::security_headers))
                .wrap(from_fn(crate::metrics::track))
                .wrap(TracingLogger::<RootSpan>::new())
                .app_data(trusted_proxies.clone())
                .app_data(body_deadline.clone())
                .app_data(metrics.clone())
                .app_data(generations.clone())
                .app_data(keys.clone())
                .app_data(accounts.clone())
                .app_data(mp.clone())
                .app_data(ready.clone())
                .app_data(events.clone())
                .app_data(read_db.clone())
                .app_data(stats_zone.clone())
                .app_data(bus.clone())
                .app_data(self_callback.clone())
                .app_data(replay.clone())
                .app_data(outbox.clone());
            routes::mount(
                app,
                routes::Modes {
                    sandbox,
                    bench: bench_routes,
                },
            )
        })
        .workers(limits.workers)
        .max_connections(limits.per_worker)
        .keep_alive(limits.keep_alive)
        .client_request_timeout(Duration::from_millis(settings.header_timeout_ms))
        .client_disconnect_timeout(Duration::from_millis(settings.disconnect_timeout_ms))
        .listen(listener)?
        .run();
        Ok(Self {
            port,
            server,
            tasks,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle that stops the server as SIGTERM would (for tests and embedders).
    pub fn stop_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM, or [`Self::stop_handle`]). Then:
    /// the listener closes, requests already received are answered (pushes after their
    /// commit), and the background tasks finish what they hold (the committers store what
    /// is queued) and are joined, within [`SHUTDOWN_BOUND`].
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        let aborted = self.tasks.shutdown(SHUTDOWN_BOUND).await;
        tracing::info!(aborted, "stopped");
        served
    }
}

/// Per-connection limits of the server: the connection cap of the instance, shared out
/// among the workers (actix counts per worker), and the idle keep-alive.
struct ConnectionLimits {
    workers: usize,
    per_worker: usize,
    keep_alive: KeepAlive,
}

impl ConnectionLimits {
    fn of(settings: &Settings) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        // No more workers than connections, so that a small cap is exact.
        let workers = cores.min(settings.max_connections).max(1);
        Self {
            workers,
            per_worker: settings.max_connections.div_ceil(workers).max(1),
            keep_alive: match settings.keep_alive_ms {
                0 => KeepAlive::Disabled,
                ms => KeepAlive::Timeout(Duration::from_millis(ms)),
            },
        }
    }
}

/// The live WeChat client with its token provider, or the sandbox.
fn wechat(settings: &Settings, redis: Option<ConnectionManager>) -> anyhow::Result<WeChat> {
    let (Some(appid), Some(secret)) = (&settings.wechat_appid, &settings.wechat_secret) else {
        return Ok(WeChat::Sandbox(Sandbox));
    };
    let client = ApiClient::new(
        &settings.wechat_api_base,
        appid,
        secret.clone(),
        settings.wechat_token_mode,
        Duration::from_millis(settings.wechat_timeout_ms),
    )?;
    let tokens = TokenProvider::new(client.clone(), redis);
    Ok(WeChat::Live(Box::new(Live { client, tokens })))
}

/// The account configured by environment: its WeChat, callback keys and settings.
fn env_account(settings: &Settings, wechat: Arc<WeChat>) -> anyhow::Result<EnvAccount> {
    let appid = crate::wechat::ids::AppId::parse(
        settings.wechat_appid.as_deref().unwrap_or(SANDBOX_APPID),
    )?;
    Ok(EnvAccount {
        appid,
        wechat,
        callback: callback_keys(settings)?.map(Arc::new),
        token_mode: settings.wechat_token_mode,
        require_encryption: settings.wechat_require_encryption,
        secrets: SecretsSet {
            secret: settings.wechat_secret.is_some(),
            callback_token: settings.wechat_token.is_some(),
            aes_key: settings.wechat_encoding_aes_key.is_some(),
            aes_key_previous: settings.wechat_encoding_aes_key_previous.is_some(),
        },
    })
}

/// The callback's token and AES keys; the sandbox signs with `WECHAT_TOKEN` or `sandbox`.
fn callback_keys(settings: &Settings) -> anyhow::Result<Option<CallbackKeys>> {
    use secrecy::ExposeSecret;
    let configured = settings
        .wechat_token
        .as_ref()
        .filter(|t| !t.expose_secret().trim().is_empty());
    let token = match (configured, settings.sandbox()) {
        (Some(token), _) => token.clone(),
        (None, true) => SecretString::from(SANDBOX_TOKEN),
        (None, false) => {
            tracing::warn!("WECHAT_TOKEN is not set: /wechat/callback answers 503 until it is");
            return Ok(None);
        }
    };
    let appid = crate::wechat::ids::AppId::parse(
        settings.wechat_appid.as_deref().unwrap_or(SANDBOX_APPID),
    )?;
    let keys = CallbackKeys::new(
        token,
        &appid,
        [
            settings.wechat_encoding_aes_key.as_ref(),
            settings.wechat_encoding_aes_key_previous.as_ref(),
        ],
        settings.wechat_max_clock_skew_secs,
    )
    .context("invalid WECHAT_ENCODING_AES_KEY or WECHAT_ENCODING_AES_KEY_PREVIOUS")?;
    Ok(Some(keys))
}

/// This instance's own callback URL, for sandbox scans.
fn self_callback_url(local: std::net::SocketAddr) -> String {
    let ip = match local.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_owned(),
        ip if ip.is_unspecified() => "[::1]".to_owned(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    format!("http://{ip}:{}/wechat/callback", local.port())
}

/// One shared, self-reconnecting Redis connection.
///
/// # Errors
/// The URL is invalid or Redis does not answer.
pub async fn connect_redis(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url).context("invalid REDIS_URL")?;
    let manager = tokio::time::timeout(Duration::from_secs(5), client.get_connection_manager())
        .await
        .context("Redis did not answer within 5 s (REDIS_URL)")?
        .context("cannot connect to Redis (REDIS_URL)")?;
    Ok(manager)
}

/// A fatal error of the binary, printed on one line (`Error: outer: inner: ...`) rather
/// than anyhow's multi-line report, so that a refusal to start reads as one log line.
pub struct Fatal(anyhow::Error);

impl<E: Into<anyhow::Error>> From<E> for Fatal {
    fn from(error: E) -> Self {
        Self(error.into())
    }
}

impl std::fmt::Debug for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

fn db_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

/// The outbox's settings from the service's.
fn outbox_settings(settings: &Settings) -> OutboxSettings {
    OutboxSettings {
        lease: Duration::from_millis(settings.outbox_lease_ms),
        retry_base: Duration::from_millis(settings.outbox_retry_base_ms),
        poll: Duration::from_millis(settings.outbox_poll_ms),
        retention: Duration::from_secs(settings.outbox_retention_days.saturating_mul(86_400)),
        tag_gather: Duration::from_millis(settings.tag_gather_ms),
        ..OutboxSettings::default()
    }
}
