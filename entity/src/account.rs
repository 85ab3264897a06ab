//! An official account served by this deployment. Its secrets are sealed by the service
//! (`v1:<key id>:<base64 nonce and ciphertext>`), or absent when they live in the
//! environment (`source = env`).

use sea_orm::entity::prelude::*;

/// A row of `account`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    /// Internal id, referenced by every table of data.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// WeChat's appid (`wx...`); empty for the migrated account until start-up claims it.
    #[sea_orm(unique)]
    pub appid: String,
    /// A display name.
    pub name: String,
    /// `env` (configured by environment, secrets never stored) or `db` (admin API or CLI).
    pub source: String,
    /// The AppSecret, sealed.
    pub secret: Option<String>,
    /// The callback token, sealed.
    pub callback_token: Option<String>,
    /// The EncodingAESKey, sealed.
    pub aes_key: Option<String>,
    /// The previous EncodingAESKey (during a rotation), sealed.
    pub aes_key_previous: Option<String>,
    /// `stable` or `classic`.
    pub token_mode: String,
    /// Plaintext pushes are refused.
    pub require_encryption: bool,
    /// The original id (`gh_...`), given or learnt from the first push's ToUserName.
    pub original_id: Option<String>,
    /// Disabled accounts serve nothing; their data is kept.
    pub enabled: bool,
    /// When it was created.
    pub created_at: DateTimeUtc,
    /// When it last changed.
    pub updated_at: DateTimeUtc,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
