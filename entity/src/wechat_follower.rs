//! A user of the account as the pushes describe them: following or not, and which code
//! first brought them.

use sea_orm::entity::prelude::*;

/// A row of `wechat_follower`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "wechat_follower")]
pub struct Model {
    /// The account (`account.id`) they are a user of: the same openid under two accounts is
    /// two people.
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: i64,
    /// The user's openid.
    #[sea_orm(primary_key, auto_increment = false)]
    pub openid: String,
    /// The account's original id.
    pub account: String,
    /// Whether they follow now.
    pub subscribed: bool,
    /// Their first follow that qrscene saw.
    pub first_followed_at: Option<DateTimeUtc>,
    /// The generation whose code brought that first follow (first touch).
    pub first_generation_id: Option<i64>,
    /// Their latest follow.
    pub subscribed_at: Option<DateTimeUtc>,
    /// Their latest unfollow.
    pub unsubscribed_at: Option<DateTimeUtc>,
    /// Their latest subscribe, unsubscribe or scan event.
    pub last_event_id: i64,
    /// Its kind (subscribe, scan or unsubscribe).
    pub last_event_kind: super::wechat_event::EventKind,
    /// Its time.
    pub last_event_at: DateTimeUtc,
}

/// No declared relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
