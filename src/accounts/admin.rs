//! Creating and changing accounts, for the admin API and the command line alike: the
//! values are checked (appid, EncodingAESKey, lengths), the credentials are checked against
//! WeChat with one token fetch unless told not to, and the secrets are sealed.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::store::{self, AccountPatch, NewAccount};
use super::{Account, AccountError, Secrets, SecretsSet, Source, Wiring};
use crate::config::TokenMode;
use crate::wechat::client::ApiClient;
use crate::wechat::crypto::EncodingAesKey;
use crate::wechat::error::WeChatError;
use crate::wechat::ids::AppId;

/// Longest display name.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest original id.
pub const MAX_ORIGINAL_ID_CHARS: usize = 64;

/// `POST /api/v1/accounts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// WeChat's appid (`wx` and 16 hexadecimal digits).
    #[schema(example = "wx1234567890abcdef")]
    pub appid: String,
    /// A display name, 1 to 128 characters (the appid when left out).
    pub name: Option<String>,
    /// The AppSecret: needed to make codes and serve tokens.
    #[schema(value_type = Option<String>, format = Password)]
    pub secret: Option<String>,
    /// The callback token set in WeChat's console: needed to receive pushes.
    #[schema(value_type = Option<String>, format = Password)]
    pub callback_token: Option<String>,
    /// The EncodingAESKey (43 characters): needed for compatible and safe mode.
    #[schema(value_type = Option<String>, format = Password)]
    pub encoding_aes_key: Option<String>,
    /// The previous EncodingAESKey, still accepted while the key is being changed.
    #[schema(value_type = Option<String>, format = Password)]
    pub encoding_aes_key_previous: Option<String>,
    /// `stable` (default) or `classic`.
    #[schema(value_type = Option<String>, example = "stable")]
    pub token_mode: Option<TokenMode>,
    /// Refuse plaintext pushes (needs an EncodingAESKey).
    pub require_encryption: Option<bool>,
    /// The original id (`gh_...`); learnt from the first push when left out.
    pub original_id: Option<String>,
    /// Check the credentials with one token fetch (default true).
    pub verify: Option<bool>,
}

/// `PATCH /api/v1/accounts/{appid}`: each field given replaces the stored one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAccount {
    /// A display name, 1 to 128 characters.
    pub name: Option<String>,
    /// A new AppSecret.
    #[schema(value_type = Option<String>, format = Password)]
    pub secret: Option<String>,
    /// A new callback token.
    #[schema(value_type = Option<String>, format = Password)]
    pub callback_token: Option<String>,
    /// A new EncodingAESKey (43 characters).
    #[schema(value_type = Option<String>, format = Password)]
    pub encoding_aes_key: Option<String>,
    /// A new previous EncodingAESKey.
    #[schema(value_type = Option<String>, format = Password)]
    pub encoding_aes_key_previous: Option<String>,
    /// `stable` or `classic`.
    #[schema(value_type = Option<String>, example = "stable")]
    pub token_mode: Option<TokenMode>,
    /// Refuse plaintext pushes (needs an EncodingAESKey).
    pub require_encryption: Option<bool>,
    /// The original id (`gh_...`).
    pub original_id: Option<String>,
    /// Enable (or disable) the account.
    pub enabled: Option<bool>,
    /// Check a new secret with one token fetch (default true).
    pub verify: Option<bool>,
}

/// An account as the API shows it: never a secret, only whether each is set.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountView {
    /// WeChat's appid.
    pub appid: String,
    /// Display name.
    pub name: String,
    /// `env` (configured by environment) or `db` (admin API or command line).
    pub source: &'static str,
    /// `stable` or `classic`.
    pub token_mode: &'static str,
    /// Plaintext pushes are refused.
    pub require_encryption: bool,
    /// The original id (`gh_...`), once given or learnt.
    pub original_id: Option<String>,
    /// Whether it is served.
    pub enabled: bool,
    /// Which secrets are set.
    pub secrets: SecretsSet,
    /// The path of its callback URL, to set in WeChat's console.
    pub callback_path: String,
    /// Why it cannot be served here, when it cannot (e.g. no master key).
    pub problem: Option<String>,
    /// When it was created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When it last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl AccountView {
    /// The view of `account`.
    pub fn of(account: &Account) -> Self {
        Self {
            appid: account.appid.to_string(),
            name: account.name.clone(),
            source: account.source.as_str(),
            token_mode: store::token_mode_str(account.token_mode),
            require_encryption: account.require_encryption,
            original_id: account.original_id.clone(),
            enabled: account.enabled,
            secrets: account.secrets,
            callback_path: format!("/wechat/callback/{}", account.appid),
            problem: account.problem.clone(),
            created_at: account.created_at,
            updated_at: account.updated_at,
        }
    }
}

fn invalid(message: impl Into<String>) -> AccountError {
    AccountError::Invalid(message.into())
}

fn name(value: Option<String>) -> Result<Option<String>, AccountError> {
    match value {
        None => Ok(None),
        Some(n)
            if !n.trim().is_empty()
                && n.chars().count() <= MAX_NAME_CHARS
                && !n.chars().any(char::is_control) =>
        {
            Ok(Some(n))
        }
        Some(_) => Err(invalid(format!(
            "name: must be 1 to {MAX_NAME_CHARS} characters without control characters"
        ))),
    }
}

fn original_id(value: Option<String>) -> Result<Option<String>, AccountError> {
    match value {
        None => Ok(None),
        Some(id)
            if !id.is_empty()
                && id.chars().count() <= MAX_ORIGINAL_ID_CHARS
                && id.chars().all(|c| c.is_ascii_graphic()) =>
        {
            Ok(Some(id))
        }
        Some(_) => Err(invalid(format!(
            "original_id: must be 1 to {MAX_ORIGINAL_ID_CHARS} printable ASCII characters, \
             such as gh_0123456789ab"
        ))),
    }
}

fn secret(field: &str, value: Option<String>) -> Result<Option<SecretString>, AccountError> {
    match value {
        None => Ok(None),
        Some(v) if !v.trim().is_empty() && v.len() <= 256 && !v.chars().any(char::is_control) => {
            Ok(Some(SecretString::from(v)))
        }
        Some(_) => Err(invalid(format!(
            "{field}: must be 1 to 256 characters without control characters"
        ))),
    }
}

fn aes_key(field: &str, value: Option<String>) -> Result<Option<SecretString>, AccountError> {
    let value = secret(field, value)?;
    if let Some(key) = &value {
        EncodingAesKey::parse(key.expose_secret()).map_err(|_| {
            invalid(format!(
                "{field}: must be the 43-character EncodingAESKey shown in WeChat's console"
            ))
        })?;
    }
    Ok(value)
}

impl CreateAccount {
    /// The checked account to store, and whether to verify its credentials.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] naming the field.
    pub fn checked(self) -> Result<(NewAccount, bool), AccountError> {
        if self.appid.is_empty()
            || self.appid.len() > 32
            || !self
                .appid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                "appid: must be 1 to 32 letters, digits, `_` or `-` (WeChat's are `wx` and 16 \
                 hexadecimal digits)",
            ));
        }
        let appid = AppId::parse(&self.appid).map_err(|e| invalid(format!("appid: {e}")))?;
        let secrets = Secrets {
            secret: secret("secret", self.secret)?,
            callback_token: secret("callback_token", self.callback_token)?,
            aes_key: aes_key("encoding_aes_key", self.encoding_aes_key)?,
            aes_key_previous: aes_key("encoding_aes_key_previous", self.encoding_aes_key_previous)?,
        };
        let require_encryption = self.require_encryption.unwrap_or(false);
        if require_encryption && secrets.aes_key.is_none() {
            return Err(invalid(
                "require_encryption: needs encoding_aes_key, which decrypts the pushes",
            ));
        }
        if secrets.aes_key_previous.is_some() && secrets.aes_key.is_none() {
            return Err(invalid(
                "encoding_aes_key_previous: only accepted beside encoding_aes_key",
            ));
        }
        Ok((
            NewAccount {
                appid,
                name: name(self.name)?,
                token_mode: self.token_mode.unwrap_or_default(),
                require_encryption,
                original_id: original_id(self.original_id)?,
                secrets,
            },
            self.verify.unwrap_or(true),
        ))
    }
}

impl UpdateAccount {
    /// The checked change, and whether to verify a new secret.
    ///
    /// # Errors
    /// [`AccountError::Invalid`] naming the field.
    pub fn checked(self, current: &Account) -> Result<(AccountPatch, bool), AccountError> {
        let patch = AccountPatch {
            name: name(self.name)?,
            token_mode: self.token_mode,
            require_encryption: self.require_encryption,
            original_id: original_id(self.original_id)?,
            enabled: self.enabled,
            secrets: Secrets {
                secret: secret("secret", self.secret)?,
                callback_token: secret("callback_token", self.callback_token)?,
                aes_key: aes_key("encoding_aes_key", self.encoding_aes_key)?,
                aes_key_previous: aes_key(
                    "encoding_aes_key_previous",
                    self.encoding_aes_key_previous,
                )?,
            },
        };
        let will_have_key = patch.secrets.aes_key.is_some() || current.secrets.aes_key;
        if patch.require_encryption == Some(true) && !will_have_key {
            return Err(invalid(
                "require_encryption: needs encoding_aes_key, which decrypts the pushes",
            ));
        }
        if current.source == Source::Env && patch.enabled == Some(false) {
            return Err(AccountError::EnvManaged(current.appid.to_string()));
        }
        Ok((patch, self.verify.unwrap_or(true)))
    }
}

/// Checks `secret` of `appid` with one token fetch.
///
/// # Errors
/// [`AccountError::Credentials`] with WeChat's errcode (40013 invalid appid, 40125 invalid
/// secret, 40164 IP not whitelisted, ...), or [`AccountError::Unreachable`].
pub async fn verify_credentials(
    wiring: &Wiring,
    appid: &AppId,
    secret: &SecretString,
    mode: TokenMode,
) -> Result<(), AccountError> {
    let client = ApiClient::new(
        &wiring.api_base,
        appid.as_str(),
        secret.clone(),
        mode,
        wiring.timeout,
    )
    .map_err(|e| AccountError::Unreachable(e.to_string()))?;
    match client.fetch_token().await {
        Ok(_) => Ok(()),
        Err(WeChatError::Api { errcode, errmsg }) => Err(AccountError::Credentials {
            appid: appid.to_string(),
            errcode,
            errmsg,
        }),
        Err(e) => Err(AccountError::Unreachable(e.to_string())),
    }
}
