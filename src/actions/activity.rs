//! Actions of an activity: what every code of the activity that has no actions (and no
//! reply) of its own does when scanned, so that a campaign is configured once. Read by the
//! callback's statement at each scan, so a change applies to the next scan of every code.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement};

use super::spec::{Actions, StoredActions};
use crate::outbox::now_ms;

/// Sets (or replaces) the actions of `activity_id` under `account_id`.
///
/// # Errors
/// The database failed.
pub async fn put<C: ConnectionTrait>(
    db: &C,
    account_id: i64,
    activity_id: &str,
    actions: &StoredActions,
) -> Result<(), DbErr> {
    db.execute_raw(Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO activity_action (account_id, activity_id, actions, actions_on, action_reply, \
            action_tags, action_kefu, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
        ON CONFLICT (account_id, activity_id) DO UPDATE SET actions = excluded.actions, \
            actions_on = excluded.actions_on, action_reply = excluded.action_reply, \
            action_tags = excluded.action_tags, action_kefu = excluded.action_kefu, \
            updated_ms = excluded.updated_ms",
        [
            account_id.into(),
            activity_id.into(),
            actions.json.clone().into(),
            actions.on.into(),
            actions.reply.clone().into(),
            actions.tags.into(),
            actions.kefu.into(),
            now_ms().into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The actions of `activity_id`, if set.
///
/// # Errors
/// The database failed.
pub async fn get<C: ConnectionTrait>(
    db: &C,
    account_id: i64,
    activity_id: &str,
) -> Result<Option<Actions>, DbErr> {
    #[derive(FromQueryResult)]
    struct Row {
        actions: String,
    }
    let row = Row::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT actions FROM activity_action WHERE account_id = $1 AND activity_id = $2",
        [account_id.into(), activity_id.into()],
    ))
    .one(db)
    .await?;
    row.map(|r| serde_json::from_str(&r.actions).map_err(|e| DbErr::Custom(e.to_string())))
        .transpose()
}

/// Removes the actions of `activity_id`; answers whether there were any.
///
/// # Errors
/// The database failed.
pub async fn delete<C: ConnectionTrait>(
    db: &C,
    account_id: i64,
    activity_id: &str,
) -> Result<bool, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "DELETE FROM activity_action WHERE account_id = $1 AND activity_id = $2",
            [account_id.into(), activity_id.into()],
        ))
        .await?;
    Ok(result.rows_affected() > 0)
}
