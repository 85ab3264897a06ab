//! An API key, stored as the SHA-256 of the key (never the key itself).

use sea_orm::entity::prelude::*;

/// A row of `api_key`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_key")]
pub struct Model {
    /// Internal id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// A name for logs and listings.
    pub name: String,
    /// `admin` or `client`.
    pub role: String,
    /// The appids it may use, as a JSON array; `None` for every account.
    pub accounts: Option<String>,
    /// It may read access tokens of its accounts.
    pub can_read_token: bool,
    /// Lowercase hex SHA-256 of the key.
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The key's first characters, to recognise it in a listing.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When it was revoked; revoked keys are refused.
    pub revoked_at: Option<DateTimeUtc>,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
