//! The `webhook` table: an account's subscriptions, their sealed secrets and their health.
//! Every time in it is epoch milliseconds, like `outbox_job`'s.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Statement, TransactionTrait, Value,
};
use secrecy::ExposeSecret;

use crate::accounts::AccountError;
use crate::accounts::seal::{Field, Sealer};
use crate::outbox::kind;

/// A row of `webhook`.
#[derive(Debug, Clone, FromQueryResult)]
pub struct WebhookRow {
    /// Its id.
    pub id: i64,
    /// Its account (`account.id`).
    pub account_id: i64,
    /// Where deliveries go.
    pub url: String,
    /// `*` or `,type,type,` (see `webhooks::encode_events`).
    pub kinds: String,
    /// The signing secret, sealed.
    pub secret: String,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// Since when its deliveries have failed without a success.
    pub failing_since_ms: Option<i64>,
    /// Its last successful delivery.
    pub last_success_ms: Option<i64>,
    /// Its last failed delivery.
    pub last_failure_ms: Option<i64>,
    /// When it was made.
    pub created_ms: i64,
    /// When it last changed.
    pub updated_ms: i64,
}

const COLUMNS: &str = "id, account_id, url, kinds, secret, enabled, disabled_reason, \
    failing_since_ms, last_success_ms, last_failure_ms, created_ms, updated_ms";

/// A webhook to write.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// Its account.
    pub account_id: i64,
    /// Its URL, checked.
    pub url: String,
    /// Its event types, encoded.
    pub kinds: String,
    /// Its secret, sealed.
    pub secret: String,
    /// Whether deliveries are made.
    pub enabled: bool,
}

fn statement<C: ConnectionTrait>(db: &C, sql: impl Into<String>, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// Writes `new`; answers the row.
///
/// # Errors
/// The database failed.
pub async fn insert<C: ConnectionTrait>(
    db: &C,
    new: NewWebhook,
    now_ms: i64,
) -> Result<WebhookRow, DbErr> {
    WebhookRow::find_by_statement(statement(
        db,
        format!(
            "INSERT INTO webhook (account_id, url, kinds, secret, enabled, created_ms, updated_ms) \
            VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {COLUMNS}"
        ),
        vec![
            new.account_id.into(),
            new.url.into(),
            new.kinds.into(),
            new.secret.into(),
            new.enabled.into(),
            now_ms.into(),
        ],
    ))
    .one(db)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

/// One webhook.
///
/// # Errors
/// The database failed.
pub async fn get<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<WebhookRow>, DbErr> {
    WebhookRow::find_by_statement(statement(
        db,
        format!("SELECT {COLUMNS} FROM webhook WHERE id = $1"),
        vec![id.into()],
    ))
    .one(db)
    .await
}

/// The webhooks of `account_id` with ids below `before`, newest first, at most `limit`.
///
/// # Errors
/// The database failed.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    account_id: i64,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<WebhookRow>, DbErr> {
    WebhookRow::find_by_statement(statement(
        db,
        format!(
            "SELECT {COLUMNS} FROM webhook WHERE account_id = $1 AND id < $2 \
            ORDER BY id DESC LIMIT {limit}"
        ),
        vec![account_id.into(), before.unwrap_or(i64::MAX).into()],
    ))
    .all(db)
    .await
}

/// What a `PATCH` changes.
#[derive(Debug, Clone, Default)]
pub struct Change {
    /// A new URL, checked.
    pub url: Option<String>,
    /// New event types, encoded.
    pub kinds: Option<String>,
    /// Enable (clears the reason it was disabled and its failing time) or disable.
    pub enabled: Option<bool>,
}

/// Applies `change` to webhook `id`; answers the row, `None` when there is none.
///
/// # Errors
/// The database failed.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    id: i64,
    change: Change,
    now_ms: i64,
) -> Result<Option<WebhookRow>, DbErr> {
    let mut sets = vec!["updated_ms = $1".to_owned()];
    let mut values: Vec<Value> = vec![now_ms.into()];
    let mut set = |column: &str, value: Value, sets: &mut Vec<String>| {
        values.push(value);
        sets.push(format!("{column} = ${}", values.len()));
    };
    if let Some(url) = change.url {
        set("url", url.into(), &mut sets);
    }
    if let Some(kinds) = change.kinds {
        set("kinds", kinds.into(), &mut sets);
    }
    match change.enabled {
        Some(true) => {
            set("enabled", true.into(), &mut sets);
            sets.push("disabled_reason = NULL".into());
            sets.push("failing_since_ms = NULL".into());
        }
        Some(false) => {
            set("enabled", false.into(), &mut sets);
            set(
                "disabled_reason",
                "disabled through the API".into(),
                &mut sets,
            );
        }
        None => {}
    }
    values.push(id.into());
    let sql = format!(
        "UPDATE webhook SET {} WHERE id = ${} RETURNING {COLUMNS}",
        sets.join(", "),
        values.len()
    );
    WebhookRow::find_by_statement(statement(db, sql, values))
        .one(db)
        .await
}

/// Deletes webhook `id` and every delivery of it (pending or finished: the log goes with
/// the webhook); answers whether it existed.
///
/// # Errors
/// The database failed; nothing is deleted then.
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<bool, DbErr> {
    let txn = db.begin().await?;
    txn.execute_raw(statement(
        &txn,
        format!(
            "DELETE FROM outbox_job WHERE kind = '{}' AND subject_id = $1",
            kind::WEBHOOK
        ),
        vec![id.into()],
    ))
    .await?;
    let deleted = txn
        .execute_raw(statement(
            &txn,
            "DELETE FROM webhook WHERE id = $1",
            vec![id.into()],
        ))
        .await?
        .rows_affected();
    txn.commit().await?;
    Ok(deleted == 1)
}

/// Records a successful delivery to webhook `id`: it is no longer failing.
///
/// # Errors
/// The database failed.
pub async fn record_success<C: ConnectionTrait>(db: &C, id: i64, now_ms: i64) -> Result<(), DbErr> {
    db.execute_raw(statement(
        db,
        // A success after a failure is written at once; otherwise at most once a second, so
        // that concurrent deliveries do not queue on the webhook's row.
        "UPDATE webhook SET last_success_ms = $1, failing_since_ms = NULL WHERE id = $2 \
        AND (failing_since_ms IS NOT NULL OR last_success_ms IS NULL OR last_success_ms < $3)",
        vec![now_ms.into(), id.into(), (now_ms - 1_000).into()],
    ))
    .await?;
    Ok(())
}

/// Records a failed delivery to webhook `id`; when it has failed without a success since
/// `disable_after_ms` ago or earlier, disables it and answers since when it has been
/// failing (`None` when it stays enabled).
///
/// # Errors
/// The database failed.
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    id: i64,
    now_ms: i64,
    disable_after_ms: i64,
) -> Result<Option<i64>, DbErr> {
    db.execute_raw(statement(
        db,
        "UPDATE webhook SET last_failure_ms = $1, \
            failing_since_ms = COALESCE(failing_since_ms, $1) WHERE id = $2",
        vec![now_ms.into(), id.into()],
    ))
    .await?;
    #[derive(FromQueryResult)]
    struct Since {
        failing_since_ms: i64,
    }
    let threshold = now_ms.saturating_sub(disable_after_ms);
    let row = Since::find_by_statement(statement(
        db,
        "UPDATE webhook SET enabled = $1, updated_ms = $2, disabled_reason = $3 \
        WHERE id = $4 AND enabled = $5 AND failing_since_ms <= $6 RETURNING failing_since_ms",
        vec![
            false.into(),
            now_ms.into(),
            Value::String(None),
            id.into(),
            true.into(),
            threshold.into(),
        ],
    ))
    .one(db)
    .await?;
    let Some(since) = row.map(|r| r.failing_since_ms) else {
        return Ok(None);
    };
    // The reason names the time, which the statement above only learnt.
    db.execute_raw(statement(
        db,
        "UPDATE webhook SET disabled_reason = $1 WHERE id = $2",
        vec![disabled_reason(since).into(), id.into()],
    ))
    .await?;
    Ok(Some(since))
}

/// Why a webhook failing since `since_ms` was disabled.
pub fn disabled_reason(since_ms: i64) -> String {
    let since = chrono::DateTime::from_timestamp_millis(since_ms)
        .map_or_else(|| since_ms.to_string(), |t| t.to_rfc3339());
    format!(
        "failing since {since} without a successful delivery; PATCH with \"enabled\": true to \
         deliver again"
    )
}

/// How many webhooks are disabled.
///
/// # Errors
/// The database failed.
pub async fn disabled_count<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct Count {
        n: i64,
    }
    Ok(Count::find_by_statement(statement(
        db,
        "SELECT COUNT(*) AS n FROM webhook WHERE enabled = $1",
        vec![false.into()],
    ))
    .one(db)
    .await?
    .map_or(0, |c| c.n))
}

/// Seals every webhook secret that is not under the current master key again with it
/// (`qrscene rotate-master-key`); answers how many.
///
/// # Errors
/// A secret sealed with a key that is not configured, or the database failed.
pub async fn reseal_all<C: ConnectionTrait>(
    db: &C,
    sealer: &Sealer,
) -> Result<usize, AccountError> {
    #[derive(FromQueryResult)]
    struct Row {
        id: i64,
        appid: String,
        secret: String,
    }
    let rows = Row::find_by_statement(statement(
        db,
        "SELECT w.id, a.appid, w.secret FROM webhook w JOIN account a ON a.id = w.account_id",
        vec![],
    ))
    .all(db)
    .await?;
    let mut resealed = 0;
    for row in rows {
        if sealer.is_current(&row.secret) {
            continue;
        }
        let plain = sealer.open(&row.appid, Field::WebhookSecret, &row.secret)?;
        let again = sealer.seal(&row.appid, Field::WebhookSecret, plain.expose_secret());
        db.execute_raw(statement(
            db,
            "UPDATE webhook SET secret = $1 WHERE id = $2",
            vec![again.into(), row.id.into()],
        ))
        .await?;
        resealed += 1;
    }
    Ok(resealed)
}
