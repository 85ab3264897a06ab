//! Accounts as data: every official account this deployment serves, with what serving it
//! takes (its WeChat client and token, its callback keys), and who may use which.
//!
//! - The `account` table holds them; secrets are sealed with the master key ([`seal`]). The
//!   account configured by environment (`WECHAT_APPID`..., or the sandbox's) is created or
//!   updated at start-up and keeps its secrets in the environment, never in the database.
//! - Every instance holds the accounts in memory ([`Accounts`]) and reloads them every
//!   `QRSCENE_ACCOUNTS_REFRESH_MS`, at once after a change it made itself, and when asked
//!   for an appid it does not know. A token provider survives a reload unless the account's
//!   credentials changed, so one fetch per expiry holds.
//! - API keys ([`keys`]) are hashed; each names its role and the accounts it may use.

pub mod access;
pub mod admin;
pub mod keys;
pub mod refresh;
pub mod seal;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;
use sea_orm::DatabaseConnection;
use secrecy::SecretString;

use crate::callback::verify::CallbackKeys;
use crate::config::TokenMode;
use crate::wechat::client::ApiClient;
use crate::wechat::ids::AppId;
use crate::wechat::token::TokenProvider;
use crate::wechat::{Live, WeChat};
use seal::{Field, Sealer};

/// Where an account's configuration lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The environment (`WECHAT_*`): secrets never stored.
    Env,
    /// The database (admin API or CLI): secrets sealed.
    Db,
}

impl Source {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Env => "env",
            Self::Db => "db",
        }
    }
}

/// An account as this instance serves it.
pub struct Account {
    /// Internal id (`account_id` of every row).
    pub id: i64,
    /// WeChat's appid.
    pub appid: AppId,
    /// A display name.
    pub name: String,
    /// Where it is configured.
    pub source: Source,
    /// Which token API it uses.
    pub token_mode: TokenMode,
    /// Plaintext pushes are refused.
    pub require_encryption: bool,
    /// The original id (`gh_...`): pushes must be addressed to it once it is known.
    pub original_id: Option<String>,
    /// Disabled accounts serve nothing.
    pub enabled: bool,
    /// Which secrets are set (never their values).
    pub secrets: SecretsSet,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its WeChat: the live API with its token, or the sandbox; `None` when its secrets
    /// cannot be opened (see `problem`).
    pub wechat: Option<Arc<WeChat>>,
    /// Its callback keys; `None` without a callback token (the callback answers 503).
    pub callback: Option<Arc<CallbackKeys>>,
    /// Why it cannot be served, when it cannot (e.g. no master key to open its secrets).
    pub problem: Option<String>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("appid", &self.appid.as_str())
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Account {
    /// Its WeChat, or why there is none.
    ///
    /// # Errors
    /// [`NoWeChat::Problem`]: its secrets cannot be opened here; [`NoWeChat::NoSecret`]: it
    /// was added without an AppSecret.
    pub fn wechat(&self) -> Result<&Arc<WeChat>, NoWeChat> {
        self.wechat.as_ref().ok_or_else(|| match &self.problem {
            Some(problem) => NoWeChat::Problem(problem.clone()),
            None => NoWeChat::NoSecret(self.appid.to_string()),
        })
    }

    /// Its token provider, when it uses the live API.
    pub fn tokens(&self) -> Option<&TokenProvider> {
        match self.wechat.as_deref() {
            Some(WeChat::Live(live)) => Some(&live.tokens),
            _ => None,
        }
    }
}

/// Why an account cannot call WeChat.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NoWeChat {
    /// Its secrets cannot be opened here (e.g. no master key): the service's configuration.
    #[error("{0}")]
    Problem(String),
    /// It was added without an AppSecret.
    #[error(
        "account {0} has no AppSecret: it cannot call WeChat (PATCH /api/v1/accounts/{0} with \
         its secret)"
    )]
    NoSecret(String),
}

/// Which secrets an account has (for listings: never the values).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SecretsSet {
    /// The AppSecret.
    pub secret: bool,
    /// The callback token.
    pub callback_token: bool,
    /// The EncodingAESKey.
    pub aes_key: bool,
    /// The previous EncodingAESKey.
    pub aes_key_previous: bool,
}

/// What building an account's WeChat and callback keys needs besides the account.
#[derive(Clone)]
pub struct Wiring {
    /// Base URL of WeChat's API.
    pub api_base: String,
    /// Timeout of one WeChat call.
    pub timeout: Duration,
    /// The allowed clock skew of pushes, in seconds.
    pub max_skew_secs: u64,
    /// Redis, for tokens shared across instances.
    pub redis: Option<ConnectionManager>,
}

/// The account configured by environment, with its secrets.
pub struct EnvAccount {
    /// Its appid (the sandbox's in sandbox mode).
    pub appid: AppId,
    /// Its WeChat (live or sandbox), built once.
    pub wechat: Arc<WeChat>,
    /// Its callback keys, when a callback token is configured (always in sandbox mode).
    pub callback: Option<Arc<CallbackKeys>>,
    /// Token API.
    pub token_mode: TokenMode,
    /// `WECHAT_REQUIRE_ENCRYPTION`.
    pub require_encryption: bool,
    /// Which secrets the environment sets.
    pub secrets: SecretsSet,
}

/// The secret values of an account in clear, as given to the admin API or CLI.
#[derive(Default)]
pub struct Secrets {
    /// The AppSecret.
    pub secret: Option<SecretString>,
    /// The callback token.
    pub callback_token: Option<SecretString>,
    /// The EncodingAESKey.
    pub aes_key: Option<SecretString>,
    /// The previous EncodingAESKey.
    pub aes_key_previous: Option<SecretString>,
}

/// Everything an instance knows of the accounts.
#[derive(Default)]
struct Registry {
    by_appid: HashMap<String, Arc<Account>>,
    by_id: HashMap<i64, Arc<Account>>,
    /// Per db account, the sealed columns its WeChat was built from, and what was built.
    built: HashMap<i64, Built>,
}

#[derive(Clone)]
struct Built {
    fingerprint: String,
    wechat: Option<Arc<WeChat>>,
    callback: Option<Arc<CallbackKeys>>,
    problem: Option<String>,
}

/// The accounts of the deployment, as this instance serves them.
pub struct Accounts {
    db: DatabaseConnection,
    env: EnvAccount,
    /// The environment account's id.
    default_id: i64,
    sealer: Option<Sealer>,
    wiring: Wiring,
    registry: RwLock<Registry>,
    /// Held while an appid this instance did not know makes it reload.
    reloading: tokio::sync::Mutex<()>,
}

/// Why an account could not be created, changed or loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The database failed.
    #[error("database error: {0}")]
    Db(#[from] sea_orm::DbErr),
    /// Sealing or opening a secret failed (no master key, unknown key, damaged value).
    #[error(transparent)]
    Seal(#[from] seal::SealError),
    /// No account has this appid.
    #[error("no account has appid {0}")]
    NotFound(String),
    /// An account with this appid exists.
    #[error("an account with appid {0} exists already")]
    Exists(String),
    /// The account is configured by environment: change it there.
    #[error(
        "account {0} is configured by environment (WECHAT_*): change it there, not through the API"
    )]
    EnvManaged(String),
    /// A value given is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// WeChat refused the credentials.
    #[error("WeChat refused the credentials of {appid}: errcode {errcode}: {errmsg}")]
    Credentials {
        /// The appid.
        appid: String,
        /// WeChat's errcode.
        errcode: i64,
        /// WeChat's errmsg.
        errmsg: String,
    },
    /// WeChat could not be asked.
    #[error("cannot check the credentials with WeChat: {0}")]
    Unreachable(String),
}

impl Accounts {
    /// Creates or updates the environment's account (claiming the migrated account 1 when
    /// it has no appid yet), loads every account, and returns the registry.
    ///
    /// # Errors
    /// The database failed.
    pub async fn load(
        db: DatabaseConnection,
        env: EnvAccount,
        sealer: Option<Sealer>,
        wiring: Wiring,
    ) -> Result<Self, AccountError> {
        let default_id = store::upsert_env(&db, &env).await?;
        let accounts = Self {
            db,
            env,
            default_id,
            sealer,
            wiring,
            registry: RwLock::new(Registry::default()),
            reloading: tokio::sync::Mutex::new(()),
        };
        accounts.reload().await?;
        Ok(accounts)
    }

    /// Reads every account again; a token provider is kept unless its account's
    /// credentials changed.
    ///
    /// # Errors
    /// The database failed.
    pub async fn reload(&self) -> Result<(), AccountError> {
        let rows = store::all(&self.db).await?;
        let previous = self.registry.read().expect("poisoned").built.clone();
        let mut next = Registry::default();
        for row in rows {
            let account = if row.id == self.default_id {
                self.env_account(&row)
            } else {
                let fingerprint = store::fingerprint(&row);
                let built = match previous.get(&row.id) {
                    Some(b) if b.fingerprint == fingerprint => b.clone(),
                    _ => self.build(&row, fingerprint),
                };
                let account = self.db_account(&row, &built);
                next.built.insert(row.id, built);
                account
            };
            let Some(account) = account else { continue };
            let account = Arc::new(account);
            next.by_appid
                .insert(account.appid.as_str().to_owned(), account.clone());
            next.by_id.insert(account.id, account);
        }
        *self.registry.write().expect("poisoned") = next;
        Ok(())
    }

    fn env_account(&self, row: &entity::account::Model) -> Option<Account> {
        Some(Account {
            id: row.id,
            appid: self.env.appid.clone(),
            name: row.name.clone(),
            source: Source::Env,
            token_mode: self.env.token_mode,
            require_encryption: self.env.require_encryption,
            original_id: row.original_id.clone(),
            enabled: row.enabled,
            secrets: self.env.secrets,
            created_at: row.created_at,
            updated_at: row.updated_at,
            wechat: Some(self.env.wechat.clone()),
            callback: self.env.callback.clone(),
            problem: None,
        })
    }

    fn db_account(&self, row: &entity::account::Model, built: &Built) -> Option<Account> {
        let appid = AppId::parse(&row.appid).ok()?;
        Some(Account {
            id: row.id,
            appid,
            name: row.name.clone(),
            source: if row.source == "env" {
                Source::Env
            } else {
                Source::Db
            },
            token_mode: store::token_mode(&row.token_mode),
            require_encryption: row.require_encryption,
            original_id: row.original_id.clone(),
            enabled: row.enabled,
            secrets: SecretsSet {
                secret: row.secret.is_some(),
                callback_token: row.callback_token.is_some(),
                aes_key: row.aes_key.is_some(),
                aes_key_previous: row.aes_key_previous.is_some(),
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
            wechat: built.wechat.clone(),
            callback: built.callback.clone(),
            problem: built.problem.clone(),
        })
    }

    /// Opens a db account's secrets and builds its WeChat and callback keys.
    fn build(&self, row: &entity::account::Model, fingerprint: String) -> Built {
        match self.try_build(row) {
            Ok((wechat, callback)) => Built {
                fingerprint,
                wechat,
                callback,
                problem: None,
            },
            Err(problem) => {
                tracing::error!(appid = %row.appid, %problem, "account cannot be served");
                Built {
                    fingerprint,
                    wechat: None,
                    callback: None,
                    problem: Some(problem),
                }
            }
        }
    }

    #[allow(clippy::type_complexity)]
    fn try_build(
        &self,
        row: &entity::account::Model,
    ) -> Result<(Option<Arc<WeChat>>, Option<Arc<CallbackKeys>>), String> {
        if row.source == "env" {
            // An account the environment configured once, and no longer does.
            return Err(format!(
                "account {} was configured by environment, which no longer configures it",
                row.appid
            ));
        }
        let appid = AppId::parse(&row.appid).map_err(|e| e.to_string())?;
        let open = |field: Field, value: &Option<String>| -> Result<Option<SecretString>, String> {
            match value {
                None => Ok(None),
                Some(sealed) => {
                    let sealer = self.sealer.as_ref().ok_or_else(|| {
                        format!(
                            "account {} has sealed secrets but QRSCENE_MASTER_KEY is not set",
                            row.appid
                        )
                    })?;
                    sealer
                        .open(&row.appid, field, sealed)
                        .map(Some)
                        .map_err(|e| e.to_string())
                }
            }
        };
        let secret = open(Field::Secret, &row.secret)?;
        let token = open(Field::CallbackToken, &row.callback_token)?;
        let aes = open(Field::AesKey, &row.aes_key)?;
        let aes_previous = open(Field::AesKeyPrevious, &row.aes_key_previous)?;
        let wechat = match secret {
            Some(secret) => {
                let client = ApiClient::new(
                    &self.wiring.api_base,
                    appid.as_str(),
                    secret,
                    store::token_mode(&row.token_mode),
                    self.wiring.timeout,
                )
                .map_err(|e| e.to_string())?;
                let tokens = TokenProvider::new(client.clone(), self.wiring.redis.clone());
                Some(Arc::new(WeChat::Live(Box::new(Live { client, tokens }))))
            }
            None => None,
        };
        let callback = match token {
            Some(token) => Some(Arc::new(
                CallbackKeys::new(
                    token,
                    &appid,
                    [aes.as_ref(), aes_previous.as_ref()],
                    self.wiring.max_skew_secs,
                )
                .map_err(|e| format!("invalid EncodingAESKey of {}: {e}", row.appid))?,
            )),
            None => None,
        };
        Ok((wechat, callback))
    }

    /// The account with `appid`, enabled or not. One this instance does not know (another
    /// instance may have just created it) is looked up in the database (one indexed read),
    /// and the accounts reloaded when it is there; concurrent callers share one reload.
    pub async fn find(&self, appid: &str) -> Option<Arc<Account>> {
        if let Some(account) = self.get(appid) {
            return Some(account);
        }
        if AppId::parse(appid).is_err() {
            return None;
        }
        match store::exists(&self.db, appid).await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look an account up");
                return None;
            }
        }
        let _one_reload = self.reloading.lock().await;
        if let Some(account) = self.get(appid) {
            return Some(account);
        }
        if let Err(e) = self.reload().await {
            tracing::warn!(error = %e, "cannot reload accounts");
        }
        self.get(appid)
    }

    /// The account with `appid`, as last loaded.
    pub fn get(&self, appid: &str) -> Option<Arc<Account>> {
        self.registry
            .read()
            .expect("poisoned")
            .by_appid
            .get(appid)
            .cloned()
    }

    /// The account with internal id `id`, as last loaded.
    pub fn by_id(&self, id: i64) -> Option<Arc<Account>> {
        self.registry
            .read()
            .expect("poisoned")
            .by_id
            .get(&id)
            .cloned()
    }

    /// The account configured by environment (the default of the legacy endpoint and of
    /// `/wechat/callback`); `None` only if its row was removed from the database by hand.
    pub fn default_account(&self) -> Option<Arc<Account>> {
        self.by_id(self.default_id)
    }

    /// Every account, by id.
    pub fn all(&self) -> Vec<Arc<Account>> {
        let mut all: Vec<_> = self
            .registry
            .read()
            .expect("poisoned")
            .by_id
            .values()
            .cloned()
            .collect();
        all.sort_by_key(|a| a.id);
        all
    }

    /// The enabled accounts, by id.
    pub fn enabled(&self) -> Vec<Arc<Account>> {
        self.all().into_iter().filter(|a| a.enabled).collect()
    }

    /// The sealer, when a master key is configured.
    pub fn sealer(&self) -> Option<&Sealer> {
        self.sealer.as_ref()
    }

    /// The database.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Records the original id learnt from a push's ToUserName, when none is known yet.
    ///
    /// # Errors
    /// The database failed.
    pub async fn learn_original_id(
        &self,
        account: &Account,
        original_id: &str,
    ) -> Result<(), AccountError> {
        if store::learn_original_id(&self.db, account.id, original_id).await? {
            tracing::info!(appid = %account.appid, original_id, "learnt the account's original id");
        }
        self.reload().await
    }

    /// The wiring of accounts' WeChat clients (for credential checks).
    pub fn wiring(&self) -> &Wiring {
        &self.wiring
    }
}
