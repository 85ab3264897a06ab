//! API keys kept in the database: only the SHA-256 of each key is stored, the key itself
//! is shown once when it is created. Each key has a role (`admin` or `client`), the
//! accounts it may use (a list of appids, or all), and maybe the `token` permission.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::api_key;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, the admin API included.
    Admin,
    /// The JSON API for its accounts.
    Client,
}

impl Role {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Client => "client",
        }
    }

    fn parse(stored: &str) -> Self {
        if stored == "admin" {
            Self::Admin
        } else {
            Self::Client
        }
    }
}

/// Which accounts a key may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every account.
    All,
    /// These appids.
    Only(Vec<String>),
}

impl Scope {
    /// Whether `appid` is in it.
    pub fn allows(&self, appid: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(appids) => appids.iter().any(|a| a == appid),
        }
    }

    /// The appids, `None` for every account.
    pub fn appids(&self) -> Option<&[String]> {
        match self {
            Self::All => None,
            Self::Only(appids) => Some(appids),
        }
    }
}

/// What a key grants.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The key's name (logged with what it creates).
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its accounts.
    pub scope: Scope,
    /// It may read access tokens of its accounts.
    pub can_read_token: bool,
}

/// A key as listed: never the key, never its hash.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    /// Its id (to revoke it).
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The appids it may use; `null` for every account.
    pub accounts: Option<Vec<String>>,
    /// Permissions beyond its role: `token` (may read access tokens).
    pub permissions: Vec<String>,
    /// The key's first characters, to recognise it.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl KeyView {
    fn of(row: api_key::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            role: Role::parse(&row.role),
            accounts: row
                .accounts
                .as_deref()
                .and_then(|a| serde_json::from_str(a).ok()),
            permissions: if row.can_read_token {
                vec!["token".to_owned()]
            } else {
                Vec::new()
            },
            prefix: row.prefix,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Lowercase hex SHA-256 of `key`: what is stored and looked up.
pub fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// What every key made here starts with.
pub const PREFIX: &str = "qsk_";

/// A new key: [`PREFIX`] and 32 random bytes in URL-safe base64 (47 characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A key to create.
pub struct NewKey {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Its accounts.
    pub scope: Scope,
    /// It may read access tokens.
    pub can_read_token: bool,
}

/// Creates a key; answers the key (shown once) and its listing.
///
/// # Errors
/// The database failed.
pub async fn create(
    db: &DatabaseConnection,
    new: NewKey,
) -> Result<(String, KeyView), sea_orm::DbErr> {
    let key = generate();
    let row = api_key::ActiveModel {
        name: Set(new.name),
        role: Set(new.role.as_str().to_owned()),
        accounts: Set(new
            .scope
            .appids()
            .map(|a| serde_json::to_string(a).expect("strings serialize"))),
        can_read_token: Set(new.can_read_token),
        key_hash: Set(hash(&key)),
        prefix: Set(key.chars().take(8).collect()),
        created_at: Set(Utc::now()),
        revoked_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok((key, KeyView::of(row)))
}

/// Every key, newest first.
///
/// # Errors
/// The database failed.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<KeyView>, sea_orm::DbErr> {
    Ok(api_key::Entity::find()
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(KeyView::of)
        .collect())
}

/// Revokes key `id`; answers it, or `None` when there is no such key.
///
/// # Errors
/// The database failed.
pub async fn revoke(db: &DatabaseConnection, id: i64) -> Result<Option<KeyView>, sea_orm::DbErr> {
    let Some(row) = api_key::Entity::find_by_id(id).one(db).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() {
        return Ok(Some(KeyView::of(row)));
    }
    let mut active: api_key::ActiveModel = row.into();
    active.revoked_at = Set(Some(Utc::now()));
    Ok(Some(KeyView::of(active.update(db).await?)))
}

/// The key in force with this hash, if any.
///
/// # Errors
/// The database failed.
pub async fn find_in_force(
    db: &DatabaseConnection,
    key_hash: &str,
) -> Result<Option<Grant>, sea_orm::DbErr> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(key_hash))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .map(|row| grant(row).1))
}

fn grant(row: api_key::Model) -> (String, Grant) {
    let scope = match row
        .accounts
        .as_deref()
        .and_then(|a| serde_json::from_str::<Vec<String>>(a).ok())
    {
        Some(appids) => Scope::Only(appids),
        None => Scope::All,
    };
    (
        row.key_hash,
        Grant {
            name: row.name,
            role: Role::parse(&row.role),
            scope,
            can_read_token: row.can_read_token,
        },
    )
}

/// Every key in force, by hash.
///
/// # Errors
/// The database failed.
pub async fn in_force(db: &DatabaseConnection) -> Result<Vec<(String, Grant)>, sea_orm::DbErr> {
    Ok(api_key::Entity::find()
        .filter(api_key::Column::RevokedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(grant)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_are_long_distinct_and_hashed_to_hex() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        assert!(a.starts_with("qsk_") && a.len() == 47, "{a}");
        let h = hash(&a);
        assert_eq!(h.len(), 64);
        assert!(!h.contains(&a));
        assert_eq!(h, hash(&a));
    }

    #[test]
    fn a_scope_allows_its_appids_only() {
        let only = Scope::Only(vec!["wxa".into()]);
        assert!(only.allows("wxa"));
        assert!(!only.allows("wxb"));
        assert!(Scope::All.allows("wxb"));
    }
}
