//! A binding request: a code made for one external user; its first scan binds them.

use sea_orm::entity::prelude::*;

/// A row of `account_binding`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account_binding")]
pub struct Model {
    /// Binding id.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The account (`account.id`) the row belongs to.
    pub account_id: i64,
    /// The user in the caller's own system.
    pub external_user_id: String,
    /// The code made for it.
    #[sea_orm(unique)]
    pub generation_id: i64,
    /// The API key that asked.
    pub api_key: Option<String>,
    /// When it was asked.
    pub created_at: DateTimeUtc,
    /// When its code expires.
    pub expires_at: DateTimeUtc,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
