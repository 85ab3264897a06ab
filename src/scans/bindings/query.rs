//! Reading bindings with their binding scan, in one statement: a binding's scan is the first
//! `subscribe`/`scan` of its code made while the code was valid (`occurred_at` not after
//! `expires_at`). A scan of an expired code binds nothing.

use chrono::{DateTime, Utc};
use entity::{account_binding, wechat_event};
use sea_orm::sea_query::{
    Alias, Condition, Expr, ExprTrait, JoinType, Order, Query, SelectStatement,
};
use sea_orm::{DatabaseConnection, DbErr, FromQueryResult};

use super::user::ExternalUserId;

/// Event kinds that are scans of a code.
const SCAN_KINDS: [&str; 2] = ["subscribe", "scan"];

/// A binding and its binding scan, if any.
#[derive(Debug, FromQueryResult)]
pub(super) struct BindingRow {
    pub id: i64,
    pub account_id: i64,
    pub external_user_id: String,
    pub generation_id: i64,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub scan_id: Option<i64>,
    pub scan_openid: Option<String>,
    pub scan_at: Option<DateTime<Utc>>,
}

/// Which bindings to read.
pub(super) enum Which<'a> {
    /// One binding.
    Id(i64),
    /// A user's latest bindings under an account, newest first.
    History(i64, &'a ExternalUserId, u64),
    /// The user's binding under an account whose scan is the latest.
    Current(i64, &'a ExternalUserId),
}

/// The rows of `which`.
///
/// # Errors
/// The database failed.
pub(super) async fn read(
    db: &DatabaseConnection,
    which: Which<'_>,
) -> Result<Vec<BindingRow>, DbErr> {
    let statement = db.get_database_backend().build(&select(which));
    BindingRow::find_by_statement(statement).all(db).await
}

fn select(which: Which<'_>) -> SelectStatement {
    use account_binding::Column as B;
    use wechat_event::Column as E;
    let (b, e, p) = (Alias::new("b"), Alias::new("e"), Alias::new("p"));
    // A valid scan of the binding's code: of its generation, a scan kind, not after expiry.
    let valid = |event: &Alias| {
        Condition::all()
            .add(Expr::col((event.clone(), E::GenerationId)).equals((b.clone(), B::GenerationId)))
            .add(Expr::col((event.clone(), E::Kind)).is_in(SCAN_KINDS))
            .add(
                Expr::col((event.clone(), E::OccurredAt)).lte(Expr::col((b.clone(), B::ExpiresAt))),
            )
    };
    let earlier = Query::select()
        .expr(Expr::val(1))
        .from_as(wechat_event::Entity, p.clone())
        .cond_where(valid(&p))
        .and_where(Expr::col((p.clone(), E::Id)).lt(Expr::col((e.clone(), E::Id))))
        .to_owned();
    let first_valid = valid(&e).add(Expr::exists(earlier).not());
    let join = match which {
        Which::Current(..) => JoinType::InnerJoin,
        Which::Id(_) | Which::History(..) => JoinType::LeftJoin,
    };
    let mut query = Query::select();
    query
        .columns([
            (b.clone(), B::Id),
            (b.clone(), B::AccountId),
            (b.clone(), B::ExternalUserId),
            (b.clone(), B::GenerationId),
            (b.clone(), B::CreatedAt),
            (b.clone(), B::ExpiresAt),
        ])
        .expr_as(Expr::col((e.clone(), E::Id)), Alias::new("scan_id"))
        .expr_as(Expr::col((e.clone(), E::Openid)), Alias::new("scan_openid"))
        .expr_as(Expr::col((e.clone(), E::OccurredAt)), Alias::new("scan_at"))
        .from_as(account_binding::Entity, b.clone())
        .join_as(join, wechat_event::Entity, e.clone(), first_valid);
    match which {
        Which::Id(id) => {
            query.and_where(Expr::col((b, B::Id)).eq(id));
        }
        Which::History(account, user, limit) => {
            query
                .and_where(Expr::col((b.clone(), B::AccountId)).eq(account))
                .and_where(Expr::col((b.clone(), B::ExternalUserId)).eq(user.as_str()))
                .order_by((b, B::Id), Order::Desc)
                .limit(limit);
        }
        Which::Current(account, user) => {
            query
                .and_where(Expr::col((b.clone(), B::AccountId)).eq(account))
                .and_where(Expr::col((b, B::ExternalUserId)).eq(user.as_str()))
                .order_by((e, E::Id), Order::Desc)
                .limit(1);
        }
    }
    query
}
