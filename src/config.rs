//! Settings: one struct, layered as defaults < TOML file (`--config`) < environment.
//!
//! The environment variable names are the service's public interface (see the README), so
//! they are mapped explicitly ([`env`]) instead of being derived from field names, and an
//! unknown `QRSCENE_*`/`WECHAT_*` variable or TOML key refuses to start. [`Settings::check`]
//! refuses the combinations that would open the service by accident (half of the WeChat
//! credentials, sandbox mode on a public address).

mod check;
pub mod env;

pub use check::ConfigError;

use std::net::SocketAddr;

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use secrecy::{ExposeSecret, SecretString};
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

/// Every setting of the service. A field that is not given takes its [`Default`].
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address the HTTP server binds (`QRSCENE_LISTEN`).
    pub listen: SocketAddr,
    /// `sqlite://...` or `postgres://...` (`DATABASE_URL`); secret, as it may carry a password.
    pub database_url: SecretString,
    /// Maximum connections of the database pool (`QRSCENE_DB_MAX_CONNECTIONS`).
    pub db_max_connections: u32,
    /// Redis for the shared token cache and lock; unset means in-process (`REDIS_URL`);
    /// secret, as it may carry a password.
    pub redis_url: Option<SecretString>,
    /// The Official Account's appid; unset with the secret means sandbox mode (`WECHAT_APPID`).
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
    /// Refuse plaintext pushes to the account configured by environment: only safe and
    /// compatible mode are accepted (`WECHAT_REQUIRE_ENCRYPTION`).
    pub wechat_require_encryption: bool,
    /// Seals the secrets of accounts stored in the database: 32 random bytes in base64
    /// (`QRSCENE_MASTER_KEY`). Without it, accounts with secrets can only come from the
    /// environment.
    pub master_key: Option<SecretString>,
    /// Earlier master keys, comma-separated, still opening secrets sealed with them until
    /// `qrscene rotate-master-key` has sealed them again (`QRSCENE_MASTER_KEY_PREVIOUS`).
    pub master_key_previous: Option<SecretString>,
    /// How often each instance reloads accounts and API keys changed on another instance, in
    /// milliseconds (`QRSCENE_ACCOUNTS_REFRESH_MS`).
    pub accounts_refresh_ms: u64,
    /// Run outbox workers on this instance (`QRSCENE_OUTBOX_WORKERS`); off, it still writes
    /// the jobs its pushes call for, and other instances carry them out.
    pub outbox_workers: bool,
    /// How long an outbox worker holds a claimed job, in milliseconds; a job whose instance
    /// died is claimed again after it (`QRSCENE_OUTBOX_LEASE_MS`).
    pub outbox_lease_ms: u64,
    /// The first retry's delay of a failed job, in milliseconds; each later retry doubles it
    /// up to the kind's cap (`QRSCENE_OUTBOX_RETRY_BASE_MS`).
    pub outbox_retry_base_ms: u64,
    /// How often idle outbox workers look for due jobs, in milliseconds
    /// (`QRSCENE_OUTBOX_POLL_MS`); a push stored on the same instance wakes them at once.
    pub outbox_poll_ms: u64,
    /// Days finished jobs (the webhooks' delivery log) are kept (`QRSCENE_OUTBOX_RETENTION_DAYS`).
    pub outbox_retention_days: u64,
    /// How long a tagging waits for others of the same tag to share one WeChat call, in
    /// milliseconds (`QRSCENE_TAG_GATHER_MS`).
    pub tag_gather_ms: u64,
    /// Let webhooks reach loopback, link-local and private addresses
    /// (`QRSCENE_WEBHOOK_ALLOW_PRIVATE`); off, a URL resolving to one is refused.
    pub webhook_allow_private: bool,
    /// Timeout of one webhook delivery (connect, send, read the answer), in milliseconds
    /// (`QRSCENE_WEBHOOK_TIMEOUT_MS`).
    pub webhook_timeout_ms: u64,
    /// A webhook whose deliveries have failed for this many hours without a success is
    /// disabled (`QRSCENE_WEBHOOK_DISABLE_AFTER_HOURS`).
    pub webhook_disable_after_hours: u64,
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
    /// Sandbox mode explicitly wanted: allows it on a listen address that is not loopback
    /// (`QRSCENE_SANDBOX`).
    pub sandbox: bool,
    /// Comma-separated IPs or CIDRs of the reverse proxies whose `Forwarded`/`X-Forwarded-For`
    /// is believed for the client address in logs (`QRSCENE_TRUSTED_PROXIES`).
    pub trusted_proxies: String,
    /// Open connections per instance at most; more wait in the listen backlog
    /// (`QRSCENE_MAX_CONNECTIONS`).
    pub max_connections: usize,
    /// Time a client has to send a request's headers, in milliseconds; then 408
    /// (`QRSCENE_HEADER_TIMEOUT_MS`).
    pub header_timeout_ms: u64,
    /// Time a client has to send a request's body once its headers arrived, in
    /// milliseconds; then 408 and the connection is closed (`QRSCENE_BODY_TIMEOUT_MS`).
    pub body_timeout_ms: u64,
    /// How long an idle keep-alive connection stays open, in milliseconds; 0 closes every
    /// connection after its response (`QRSCENE_KEEP_ALIVE_MS`).
    pub keep_alive_ms: u64,
    /// Time a client has to close its side once the server closed, in milliseconds
    /// (`QRSCENE_DISCONNECT_TIMEOUT_MS`).
    pub disconnect_timeout_ms: u64,
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
            wechat_require_encryption: false,
            master_key: None,
            master_key_previous: None,
            accounts_refresh_ms: 5_000,
            outbox_workers: true,
            outbox_lease_ms: 60_000,
            outbox_retry_base_ms: 5_000,
            outbox_poll_ms: 500,
            outbox_retention_days: 7,
            tag_gather_ms: 2_000,
            webhook_allow_private: false,
            webhook_timeout_ms: 10_000,
            webhook_disable_after_hours: 72,
            #[cfg(feature = "bench")]
            bench_routes: false,
            event_committers: 4,
            stats_tz: "Asia/Shanghai".into(),
            stats_refresh_ms: 2_000,
            sandbox: false,
            trusted_proxies: String::new(),
            max_connections: 2_048,
            header_timeout_ms: 5_000,
            body_timeout_ms: 10_000,
            keep_alive_ms: 5_000,
            disconnect_timeout_ms: 1_000,
        }
    }
}

impl Settings {
    /// Loads defaults, then the TOML file if given, then the environment, after checking
    /// that every `QRSCENE_*`/`WECHAT_*` variable set is one of ours.
    ///
    /// # Errors
    /// An unknown variable (named, with the closest known one), a value of the wrong type,
    /// an unknown key in the file, or a file that cannot be read.
    pub fn load(file: Option<&std::path::Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, std::env::vars_os())
    }

    /// [`Settings::load`] with the environment given as `vars`.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn load_from<I, K, V>(file: Option<&std::path::Path>, vars: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<std::ffi::OsStr>,
        V: AsRef<std::ffi::OsStr>,
    {
        let vars: Vec<(String, String)> = vars
            .into_iter()
            .map(|(k, v)| {
                let key = k.as_ref().to_string_lossy().into_owned();
                (key, v.as_ref().to_string_lossy().into_owned())
            })
            .collect();
        env::check_names(vars.iter().map(|(name, _)| name.clone()))?;
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        let mut settings: Settings = figment
            .merge(Serialized::globals(env_values(&vars)))
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        settings.normalize();
        Ok(settings)
    }

    /// Empty strings in the environment mean "unset".
    fn normalize(&mut self) {
        if self
            .wechat_appid
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            self.wechat_appid = None;
        }
        for secret in [
            &mut self.redis_url,
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

    /// Whether the service talks to the in-process simulation instead of WeChat (neither
    /// credential is set; [`Settings::check`] refuses one without the other).
    pub fn sandbox(&self) -> bool {
        !check::is_set(self.wechat_appid.as_deref()) || self.wechat_secret.is_none()
    }
}

/// Settings taken from the environment exactly as written: secrets and names (an all-digit
/// callback token, a key that reads as a number) are never parsed as numbers or booleans,
/// so they never fail to load as the wrong type, and never show in a type error.
const VERBATIM: &[&str] = &[
    "database_url",
    "redis_url",
    "wechat_appid",
    "wechat_secret",
    "api_keys",
    "wechat_token",
    "wechat_encoding_aes_key",
    "wechat_encoding_aes_key_previous",
    "master_key",
    "master_key_previous",
];

/// The settings fields that `vars` set: verbatim strings for [`VERBATIM`], values parsed as
/// figment's environment provider parses them (numbers, booleans) for the others.
fn env_values(vars: &[(String, String)]) -> Dict {
    vars.iter()
        .filter_map(|(name, value)| {
            let field = env::field_of(name)?;
            let value = if VERBATIM.contains(&field) {
                Value::from(value.clone())
            } else {
                value.parse::<Value>().unwrap_or_else(|e| match e {})
            };
            Some((field.to_owned(), value))
        })
        .collect()
}

#[cfg(test)]
mod tests;
