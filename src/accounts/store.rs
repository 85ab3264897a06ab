//! The `account` table: the environment's account at start-up, db accounts created and
//! changed by the admin API and CLI, secrets sealed before they are written.

use chrono::Utc;
use entity::account;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use secrecy::ExposeSecret;

use super::seal::{Field, Sealer};
use super::{AccountError, EnvAccount, Secrets};
use crate::config::TokenMode;
use crate::wechat::ids::AppId;

/// Every account, by id.
///
/// # Errors
/// The database failed.
pub async fn all(db: &impl ConnectionTrait) -> Result<Vec<account::Model>, sea_orm::DbErr> {
    account::Entity::find()
        .filter(account::Column::Appid.ne(""))
        .order_by_asc(account::Column::Id)
        .all(db)
        .await
}

/// Whether an account has this appid.
///
/// # Errors
/// The database failed.
pub async fn exists(db: &impl ConnectionTrait, appid: &str) -> Result<bool, sea_orm::DbErr> {
    Ok(account::Entity::find()
        .filter(account::Column::Appid.eq(appid))
        .one(db)
        .await?
        .is_some())
}

/// The token mode as stored.
pub fn token_mode(stored: &str) -> TokenMode {
    if stored == "classic" {
        TokenMode::Classic
    } else {
        TokenMode::Stable
    }
}

/// The token mode to store.
pub fn token_mode_str(mode: TokenMode) -> &'static str {
    match mode {
        TokenMode::Stable => "stable",
        TokenMode::Classic => "classic",
    }
}

/// What an account's WeChat and callback keys are built from: they are rebuilt when it
/// changes.
pub fn fingerprint(row: &account::Model) -> String {
    format!(
        "{}|{:?}|{:?}|{:?}|{:?}|{}|{}",
        row.source,
        row.secret,
        row.callback_token,
        row.aes_key,
        row.aes_key_previous,
        row.token_mode,
        row.require_encryption
    )
}

/// Creates or updates the account configured by environment and answers its id. The
/// migrated account 1 (no appid yet) becomes it, unless an account with its appid exists.
///
/// # Errors
/// The database failed.
pub async fn upsert_env(db: &DatabaseConnection, env: &EnvAccount) -> Result<i64, AccountError> {
    let appid = env.appid.as_str();
    let now = Utc::now();
    let taken = account::Entity::find()
        .filter(account::Column::Appid.eq(appid))
        .one(db)
        .await?;
    if taken.is_none() {
        // Claim the migrated account: its rows are this deployment's.
        account::Entity::update_many()
            .col_expr(account::Column::Appid, appid.into())
            .col_expr(account::Column::Name, appid.into())
            .col_expr(account::Column::UpdatedAt, now.into())
            .filter(account::Column::Id.eq(1))
            .filter(account::Column::Appid.eq(""))
            .exec(db)
            .await?;
    }
    let row = account::ActiveModel {
        appid: Set(appid.to_owned()),
        name: Set(appid.to_owned()),
        source: Set("env".to_owned()),
        token_mode: Set(token_mode_str(env.token_mode).to_owned()),
        require_encryption: Set(env.require_encryption),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    account::Entity::insert(row)
        .on_conflict(
            OnConflict::column(account::Column::Appid)
                .update_columns([
                    account::Column::Source,
                    account::Column::TokenMode,
                    account::Column::RequireEncryption,
                    account::Column::Enabled,
                ])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    let row = account::Entity::find()
        .filter(account::Column::Appid.eq(appid))
        .one(db)
        .await?
        .ok_or_else(|| AccountError::NotFound(appid.to_owned()))?;
    Ok(row.id)
}

/// A new db account.
pub struct NewAccount {
    /// Its appid.
    pub appid: AppId,
    /// Its display name (the appid when not given).
    pub name: Option<String>,
    /// Its token API.
    pub token_mode: TokenMode,
    /// Refuse plaintext pushes.
    pub require_encryption: bool,
    /// Its original id, when known.
    pub original_id: Option<String>,
    /// Its secrets.
    pub secrets: Secrets,
}

fn seal(
    sealer: Option<&Sealer>,
    appid: &str,
    field: Field,
    value: Option<&secrecy::SecretString>,
) -> Result<Option<String>, AccountError> {
    match value {
        None => Ok(None),
        Some(value) => {
            let sealer = sealer.ok_or(super::seal::SealError::NoKey)?;
            Ok(Some(sealer.seal(appid, field, value.expose_secret())))
        }
    }
}

/// Stores a new account, its secrets sealed.
///
/// # Errors
/// An account with this appid exists, there are secrets but no master key, or the database
/// failed.
pub async fn create(
    db: &DatabaseConnection,
    sealer: Option<&Sealer>,
    new: NewAccount,
) -> Result<account::Model, AccountError> {
    let appid = new.appid.as_str();
    if account::Entity::find()
        .filter(account::Column::Appid.eq(appid))
        .one(db)
        .await?
        .is_some()
    {
        return Err(AccountError::Exists(appid.to_owned()));
    }
    let now = Utc::now();
    let row = account::ActiveModel {
        appid: Set(appid.to_owned()),
        name: Set(new.name.unwrap_or_else(|| appid.to_owned())),
        source: Set("db".to_owned()),
        secret: Set(seal(
            sealer,
            appid,
            Field::Secret,
            new.secrets.secret.as_ref(),
        )?),
        callback_token: Set(seal(
            sealer,
            appid,
            Field::CallbackToken,
            new.secrets.callback_token.as_ref(),
        )?),
        aes_key: Set(seal(
            sealer,
            appid,
            Field::AesKey,
            new.secrets.aes_key.as_ref(),
        )?),
        aes_key_previous: Set(seal(
            sealer,
            appid,
            Field::AesKeyPrevious,
            new.secrets.aes_key_previous.as_ref(),
        )?),
        token_mode: Set(token_mode_str(new.token_mode).to_owned()),
        require_encryption: Set(new.require_encryption),
        original_id: Set(new.original_id),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    row.insert(db).await.map_err(|e| match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            AccountError::Exists(appid.to_owned())
        }
        _ => AccountError::Db(e),
    })
}

/// A change to an account; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountPatch {
    /// New display name.
    pub name: Option<String>,
    /// New token API.
    pub token_mode: Option<TokenMode>,
    /// Refuse plaintext pushes or not.
    pub require_encryption: Option<bool>,
    /// New original id.
    pub original_id: Option<String>,
    /// Enable or disable.
    pub enabled: Option<bool>,
    /// New secrets (each given one replaces the stored one).
    pub secrets: Secrets,
}

/// Applies `patch` to the account `appid`. The environment's account only takes a name,
/// an original id and the enabled flag: the rest is the environment's.
///
/// # Errors
/// No such account, a secret or mode change of the environment's account, secrets without
/// a master key, or the database failed.
pub async fn update(
    db: &DatabaseConnection,
    sealer: Option<&Sealer>,
    appid: &str,
    patch: AccountPatch,
) -> Result<account::Model, AccountError> {
    let row = account::Entity::find()
        .filter(account::Column::Appid.eq(appid))
        .one(db)
        .await?
        .ok_or_else(|| AccountError::NotFound(appid.to_owned()))?;
    let s = &patch.secrets;
    let touches_env = patch.token_mode.is_some()
        || patch.require_encryption.is_some()
        || s.secret.is_some()
        || s.callback_token.is_some()
        || s.aes_key.is_some()
        || s.aes_key_previous.is_some();
    if row.source == "env" && touches_env {
        return Err(AccountError::EnvManaged(appid.to_owned()));
    }
    let mut active: account::ActiveModel = row.into();
    if let Some(name) = patch.name {
        active.name = Set(name);
    }
    if let Some(mode) = patch.token_mode {
        active.token_mode = Set(token_mode_str(mode).to_owned());
    }
    if let Some(require) = patch.require_encryption {
        active.require_encryption = Set(require);
    }
    if let Some(original) = patch.original_id {
        active.original_id = Set(Some(original));
    }
    if let Some(enabled) = patch.enabled {
        active.enabled = Set(enabled);
    }
    for (field, value) in [
        (Field::Secret, &s.secret),
        (Field::CallbackToken, &s.callback_token),
        (Field::AesKey, &s.aes_key),
        (Field::AesKeyPrevious, &s.aes_key_previous),
    ] {
        let Some(sealed) = seal(sealer, appid, field, value.as_ref())? else {
            continue;
        };
        match field {
            Field::Secret => active.secret = Set(Some(sealed)),
            Field::CallbackToken => active.callback_token = Set(Some(sealed)),
            Field::AesKey => active.aes_key = Set(Some(sealed)),
            Field::AesKeyPrevious => active.aes_key_previous = Set(Some(sealed)),
            Field::WebhookSecret => unreachable!("webhook secrets live in `webhook`"),
        }
    }
    active.updated_at = Set(Utc::now());
    Ok(active.update(db).await?)
}

/// Sets the original id of account `id` when it has none; answers whether it did.
///
/// # Errors
/// The database failed.
pub async fn learn_original_id(
    db: &DatabaseConnection,
    id: i64,
    original_id: &str,
) -> Result<bool, sea_orm::DbErr> {
    let result = account::Entity::update_many()
        .col_expr(account::Column::OriginalId, original_id.into())
        .filter(account::Column::Id.eq(id))
        .filter(account::Column::OriginalId.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Seals every db account's secrets again with the current master key; answers how many
/// values were sealed again (values already under the current key are left alone).
///
/// # Errors
/// A value sealed with a key that is not configured, or the database failed; nothing is
/// changed then (one transaction).
pub async fn reseal_all(db: &DatabaseConnection, sealer: &Sealer) -> Result<usize, AccountError> {
    use sea_orm::TransactionTrait;
    let txn = db.begin().await?;
    let mut resealed = 0;
    for row in all(&txn).await? {
        let appid = row.appid.clone();
        let mut active: account::ActiveModel = row.clone().into();
        let mut changed = false;
        for (field, value) in [
            (Field::Secret, &row.secret),
            (Field::CallbackToken, &row.callback_token),
            (Field::AesKey, &row.aes_key),
            (Field::AesKeyPrevious, &row.aes_key_previous),
        ] {
            let Some(sealed) = value else { continue };
            if sealer.is_current(sealed) {
                continue;
            }
            let plain = sealer.open(&appid, field, sealed)?;
            let again = Some(sealer.seal(&appid, field, plain.expose_secret()));
            match field {
                Field::Secret => active.secret = Set(again),
                Field::CallbackToken => active.callback_token = Set(again),
                Field::AesKey => active.aes_key = Set(again),
                Field::AesKeyPrevious => active.aes_key_previous = Set(again),
                Field::WebhookSecret => unreachable!("webhook secrets live in `webhook`"),
            }
            changed = true;
            resealed += 1;
        }
        if changed {
            active.updated_at = Set(Utc::now());
            active.update(&txn).await?;
        }
    }
    resealed += crate::webhooks::store::reseal_all(&txn, sealer).await?;
    txn.commit().await?;
    Ok(resealed)
}
