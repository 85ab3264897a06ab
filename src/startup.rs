//! Building the application from settings: database, Redis, WeChat, routes, listener.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use redis::aio::ConnectionManager;
use tracing_actix_web::TracingLogger;

use crate::auth::ApiKeys;
use crate::config::Settings;
use crate::db;
use crate::generation::Generations;
use crate::routes::{self, health::Readiness, qrcodes::MpBase};
use crate::wechat::client::ApiClient;
use crate::wechat::qrcode::ExpireSeconds;
use crate::wechat::sandbox::Sandbox;
use crate::wechat::token::TokenProvider;
use crate::wechat::{Live, WeChat};

/// A built, listening server.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Connects and migrates the database, connects Redis, picks live or sandbox WeChat,
    /// and binds the listener.
    ///
    /// # Errors
    /// A setting is invalid, a service cannot be reached, or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let sandbox = settings.sandbox();
        let keys = ApiKeys::parse(
            settings.api_keys.as_ref(),
            sandbox || settings.allow_anonymous,
            settings.legacy_open,
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

        let db = db::connect(&settings.database_url, settings.db_max_connections)
            .await
            .context("cannot open the database (DATABASE_URL)")?;
        db::migrate(&db)
            .await
            .context("database migrations failed")?;

        let redis = match &settings.redis_url {
            Some(url) => Some(connect_redis(url).await?),
            None => None,
        };
        let wechat = Arc::new(wechat(&settings, redis.clone())?);
        if sandbox {
            tracing::warn!(
                "sandbox mode: no WECHAT_APPID/WECHAT_SECRET, QR codes are simulated locally"
            );
        }
        if keys.is_empty() {
            tracing::warn!("no QRSCENE_API_KEYS: the JSON API is open to anyone who can reach it");
        }
        tracing::info!(
            database = db_kind(&settings.database_url),
            redis = redis.is_some(),
            sandbox,
            "qrscene starting"
        );

        let listener = TcpListener::bind(settings.listen)
            .with_context(|| format!("cannot listen on {} (QRSCENE_LISTEN)", settings.listen))?;
        let port = listener.local_addr()?.port();

        let generations = web::Data::new(Generations::new(db.clone(), wechat, default_expire));
        let keys = web::Data::new(keys);
        let mp = web::Data::new(MpBase(settings.wechat_mp_base.clone()));
        let ready = web::Data::new(Readiness { db, redis });
        let server = HttpServer::new(move || {
            App::new()
                .wrap(TracingLogger::default())
                .app_data(generations.clone())
                .app_data(keys.clone())
                .app_data(mp.clone())
                .app_data(ready.clone())
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)?
        .run();
        Ok(Self { port, server })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM).
    ///
    /// # Errors
    /// The server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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

fn db_kind(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}
