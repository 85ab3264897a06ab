//! Settings: one struct, layered as defaults < TOML file (`--config`) < environment.
//!
//! The environment variable names are the service's public interface (see the README), so
//! they are mapped explicitly instead of being derived from field names.

use std::net::SocketAddr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// Which WeChat API hands out access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TokenMode {
    /// `POST /cgi-bin/stable_token`: the same token for every caller while it is valid.
    #[default]
    Stable,
    /// `GET /cgi-bin/token`: every fetch replaces the previous token.
    Classic,
}

/// Every setting of the service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Address the HTTP server binds (`QRSCENE_LISTEN`).
    pub listen: SocketAddr,
    /// `sqlite://...` or `postgres://...` (`DATABASE_URL`).
    pub database_url: String,
    /// Maximum connections of the database pool (`QRSCENE_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// Redis for the shared token cache and lock; unset means in-process (`REDIS_URL`).
    pub redis_url: Option<String>,
    /// The Official Account's appid; unset means sandbox mode (`WECHAT_APPID`).
    pub wechat_appid: Option<String>,
    /// The Official Account's secret (`WECHAT_SECRET`).
    pub wechat_secret: Option<SecretString>,
    /// Base URL of WeChat's API (`WECHAT_API_BASE`).
    pub wechat_api_base: String,
    /// Base of the `showqrcode` links handed to callers (`WECHAT_MP_BASE`).
    pub wechat_mp_base: String,
    /// `stable` or `classic` token API (`WECHAT_TOKEN_MODE`).
    pub wechat_token_mode: TokenMode,
    /// Timeout of one call to WeChat, in milliseconds (`WECHAT_TIMEOUT_MS`).
    pub wechat_timeout_ms: u64,
    /// Comma-separated `name:key` pairs accepted as bearer keys (`QRSCENE_API_KEYS`).
    pub api_keys: Option<SecretString>,
    /// Serve the JSON API without keys although WeChat credentials are set
    /// (`QRSCENE_ALLOW_ANONYMOUS`).
    pub allow_anonymous: bool,
    /// Open the legacy endpoint to callers without a key (`QRSCENE_LEGACY_OPEN`).
    pub legacy_open: bool,
    /// Expiry of temporary codes when the caller gives none, in seconds
    /// (`QRSCENE_DEFAULT_EXPIRE_SECONDS`).
    pub default_expire_seconds: u32,
    /// Log as JSON lines instead of human-readable text (`QRSCENE_LOG_JSON`).
    pub log_json: bool,
    /// The callback token configured in WeChat's admin console (`WECHAT_TOKEN`).
    pub wechat_token: Option<SecretString>,
    /// EncodingAESKey: enables safe and compatible mode (`WECHAT_ENCODING_AES_KEY`).
    pub wechat_encoding_aes_key: Option<SecretString>,
    /// The previous EncodingAESKey, still accepted for decryption while the key is being
    /// rotated (`WECHAT_ENCODING_AES_KEY_PREVIOUS`).
    pub wechat_encoding_aes_key_previous: Option<SecretString>,
    /// How far a push's timestamp may be from our clock, in seconds
    /// (`WECHAT_MAX_CLOCK_SKEW_SECS`).
    pub wechat_max_clock_skew_secs: u64,
    /// Mount `POST /wechat/ceiling`, a route that answers `success` without work, for the
    /// callback benchmark (`QRSCENE_BENCH_ROUTES`). Only in builds with the cargo feature `bench`.
    #[cfg(feature = "bench")]
    pub bench_routes: bool,
    /// Committer tasks storing pushes on Postgres (`QRSCENE_EVENT_COMMITTERS`).
    pub event_committers: usize,
    /// Time zone of the daily statistics rollups on Postgres (`QRSCENE_STATS_TZ`); `stats`
    /// by day in another zone is read from the events.
    pub stats_tz: String,
    /// How often the rollups take in new events, in milliseconds
    /// (`QRSCENE_STATS_REFRESH_MS`; 0 turns the refresher off).
    pub stats_refresh_ms: u64,
}

/// Defaults, as documented in the README.
impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://qrscene.db?mode=rwc".into(),
            db_max_connections: 16,
            redis_url: None,
            wechat_appid: None,
            wechat_secret: None,
            wechat_api_base: "https://api.weixin.qq.com".into(),
            wechat_mp_base: "https://mp.weixin.qq.com".into(),
            wechat_token_mode: TokenMode::Stable,
            wechat_timeout_ms: 5_000,
            api_keys: None,
            allow_anonymous: false,
            legacy_open: false,
            default_expire_seconds: 604_800,
            log_json: false,
            wechat_token: None,
            wechat_encoding_aes_key: None,
            wechat_encoding_aes_key_previous: None,
            wechat_max_clock_skew_secs: 300,
            #[cfg(feature = "bench")]
            bench_routes: false,
            event_committers: 4,
            stats_tz: "Asia/Shanghai".into(),
            stats_refresh_ms: 2_000,
        }
    }
}

/// Environment variable -> settings field.
const ENV_KEYS: &[(&str, &str)] = &[
    ("QRSCENE_LISTEN", "listen"),
    ("DATABASE_URL", "database_url"),
    ("QRSCENE_DB_MAX_CONNECTIONS", "db_max_connections"),
    ("REDIS_URL", "redis_url"),
    ("WECHAT_APPID", "wechat_appid"),
    ("WECHAT_SECRET", "wechat_secret"),
    ("WECHAT_API_BASE", "wechat_api_base"),
    ("WECHAT_MP_BASE", "wechat_mp_base"),
    ("WECHAT_TOKEN_MODE", "wechat_token_mode"),
    ("WECHAT_TIMEOUT_MS", "wechat_timeout_ms"),
    ("QRSCENE_API_KEYS", "api_keys"),
    ("QRSCENE_ALLOW_ANONYMOUS", "allow_anonymous"),
    ("QRSCENE_LEGACY_OPEN", "legacy_open"),
    ("QRSCENE_DEFAULT_EXPIRE_SECONDS", "default_expire_seconds"),
    ("QRSCENE_LOG_JSON", "log_json"),
    ("WECHAT_TOKEN", "wechat_token"),
    ("WECHAT_ENCODING_AES_KEY", "wechat_encoding_aes_key"),
    (
        "WECHAT_ENCODING_AES_KEY_PREVIOUS",
        "wechat_encoding_aes_key_previous",
    ),
    ("WECHAT_MAX_CLOCK_SKEW_SECS", "wechat_max_clock_skew_secs"),
    #[cfg(feature = "bench")]
    ("QRSCENE_BENCH_ROUTES", "bench_routes"),
    ("QRSCENE_EVENT_COMMITTERS", "event_committers"),
    ("QRSCENE_STATS_TZ", "stats_tz"),
    ("QRSCENE_STATS_REFRESH_MS", "stats_refresh_ms"),
];

impl Settings {
    /// Loads defaults, then the TOML file if given, then the environment.
    ///
    /// # Errors
    /// A value of the wrong type, or a file that cannot be read, names the offending key.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(DefaultsView::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        let env = Env::raw().filter_map(|key| {
            ENV_KEYS
                .iter()
                .find(|(var, _)| key.as_str().eq_ignore_ascii_case(var))
                .map(|(_, field)| (*field).into())
        });
        let mut settings: Settings = figment.merge(env).extract().map_err(Box::new)?;
        settings.normalize();
        Ok(settings)
    }

    /// Empty strings in the environment mean "unset".
    fn normalize(&mut self) {
        use secrecy::ExposeSecret;
        if self.redis_url.as_deref().is_some_and(str::is_empty) {
            self.redis_url = None;
        }
        if self.wechat_appid.as_deref().is_some_and(str::is_empty) {
            self.wechat_appid = None;
        }
        for secret in [
            &mut self.wechat_secret,
            &mut self.api_keys,
            &mut self.wechat_token,
            &mut self.wechat_encoding_aes_key,
            &mut self.wechat_encoding_aes_key_previous,
        ] {
            if secret
                .as_ref()
                .is_some_and(|s| s.expose_secret().trim().is_empty())
            {
                *secret = None;
            }
        }
    }

    /// Whether the service talks to the in-process simulation instead of WeChat.
    pub fn sandbox(&self) -> bool {
        self.wechat_appid.is_none() || self.wechat_secret.is_none()
    }
}

/// The serializable part of the defaults (secrets are never serialized).
#[derive(Serialize)]
struct DefaultsView {
    listen: SocketAddr,
    database_url: String,
    db_max_connections: u32,
    wechat_api_base: String,
    wechat_mp_base: String,
    wechat_token_mode: TokenMode,
    wechat_timeout_ms: u64,
    allow_anonymous: bool,
    legacy_open: bool,
    default_expire_seconds: u32,
    log_json: bool,
    wechat_max_clock_skew_secs: u64,
    #[cfg(feature = "bench")]
    bench_routes: bool,
    event_committers: usize,
    stats_tz: String,
    stats_refresh_ms: u64,
}

impl Default for DefaultsView {
    fn default() -> Self {
        let d = Settings::default();
        Self {
            listen: d.listen,
            database_url: d.database_url,
            db_max_connections: d.db_max_connections,
            wechat_api_base: d.wechat_api_base,
            wechat_mp_base: d.wechat_mp_base,
            wechat_token_mode: d.wechat_token_mode,
            wechat_timeout_ms: d.wechat_timeout_ms,
            allow_anonymous: d.allow_anonymous,
            legacy_open: d.legacy_open,
            default_expire_seconds: d.default_expire_seconds,
            log_json: d.log_json,
            wechat_max_clock_skew_secs: d.wechat_max_clock_skew_secs,
            #[cfg(feature = "bench")]
            bench_routes: d.bench_routes,
            event_committers: d.event_committers,
            stats_tz: d.stats_tz,
            stats_refresh_ms: d.stats_refresh_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_has_a_default_and_a_file_overrides_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let empty = dir.path().join("empty.toml");
        std::fs::write(&empty, "").expect("write");
        let loaded = Settings::load(Some(&empty));
        assert!(loaded.is_ok(), "{loaded:?}");

        let file = dir.path().join("qrscene.toml");
        std::fs::write(
            &file,
            "stats_tz = \"Europe/Berlin\"\nstats_refresh_ms = 500\n",
        )
        .expect("write");
        let settings = Settings::load(Some(&file));
        if std::env::var_os("QRSCENE_STATS_TZ").is_none() {
            assert_eq!(
                settings.as_ref().map(|s| s.stats_tz.as_str()).ok(),
                Some("Europe/Berlin")
            );
        }
        if std::env::var_os("QRSCENE_STATS_REFRESH_MS").is_none() {
            assert_eq!(settings.map(|s| s.stats_refresh_ms).ok(), Some(500));
        }
    }
}
