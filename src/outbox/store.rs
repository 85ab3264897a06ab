//! Jobs outside the callback's statement: written one at a time (a test delivery), listed,
//! and put back in the queue by hand; and the figures the metrics sample.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Statement, Value};

use super::{now_ms, state};

/// A job to write.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Its account.
    pub account_id: i64,
    /// Its kind.
    pub kind: &'static str,
    /// The event that caused it.
    pub event_id: Option<i64>,
    /// The webhook or generation.
    pub subject_id: Option<i64>,
    /// The follower.
    pub openid: Option<String>,
    /// What it carries.
    pub payload: Option<String>,
    /// After this it is not carried out any more.
    pub expires_ms: Option<i64>,
}

/// Writes `job`, due now; answers its id.
///
/// # Errors
/// The database failed.
pub async fn enqueue<C: ConnectionTrait>(db: &C, job: NewJob) -> Result<i64, DbErr> {
    #[derive(FromQueryResult)]
    struct Id {
        id: i64,
    }
    let now = now_ms();
    let statement = Statement::from_sql_and_values(
        db.get_database_backend(),
        "INSERT INTO outbox_job (account_id, kind, state, event_id, subject_id, openid, payload, \
            attempts, run_after_ms, expires_ms, created_ms, updated_ms) \
        VALUES ($1, $2, 'pending', $3, $4, $5, $6, 0, $7, $8, $7, $7) RETURNING id",
        [
            job.account_id.into(),
            job.kind.into(),
            job.event_id.into(),
            job.subject_id.into(),
            job.openid.into(),
            job.payload.into(),
            now.into(),
            job.expires_ms.into(),
        ],
    );
    let row = Id::find_by_statement(statement)
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)?;
    Ok(row.id)
}

/// A job as listings read it (times in epoch milliseconds).
#[derive(Debug, Clone, FromQueryResult)]
pub struct JobView {
    /// The job's id.
    pub id: i64,
    /// Its account's id.
    pub account_id: i64,
    /// `tag`, `kefu` or `webhook`.
    pub kind: String,
    /// `pending`, `running`, `done`, `dead` or `dropped`.
    pub state: String,
    /// The event that caused it.
    pub event_id: Option<i64>,
    /// The webhook (webhook jobs) or the code's generation (tag and kefu jobs).
    pub subject_id: Option<i64>,
    /// The follower it concerns.
    pub openid: Option<String>,
    /// Attempts made.
    pub attempts: i32,
    /// The last failure, or why it was dropped.
    pub last_error: Option<String>,
    /// The last answer's HTTP status (webhooks) or WeChat errcode.
    pub last_code: Option<i64>,
    /// Epoch milliseconds: written.
    pub created_ms: i64,
    /// Epoch milliseconds: last changed.
    pub updated_ms: i64,
    /// Epoch milliseconds: next attempt (pending) or end of the lease (running).
    pub run_after_ms: i64,
    /// Epoch milliseconds: finished (done, dead, dropped).
    pub finished_ms: Option<i64>,
}

const VIEW_COLUMNS: &str = "id, account_id, kind, state, event_id, subject_id, openid, attempts, \
    last_error, last_code, created_ms, updated_ms, run_after_ms, finished_ms";

/// Which jobs to list.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// Only these accounts (`None`: every account).
    pub accounts: Option<Vec<i64>>,
    /// Only this state.
    pub state: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only the deliveries of this webhook.
    pub webhook: Option<i64>,
    /// Only ids below this (paging, newest first).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u64,
}

/// The jobs matching `filter`, newest first.
///
/// # Errors
/// The database failed.
pub async fn list<C: ConnectionTrait>(db: &C, filter: &Filter) -> Result<Vec<JobView>, DbErr> {
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut values: Vec<Value> = Vec::new();
    let mut bind = |sql: &str, value: Value, conditions: &mut Vec<String>| {
        values.push(value);
        conditions.push(sql.replace('?', &format!("${}", values.len())));
    };
    if let Some(accounts) = &filter.accounts {
        let ids: Vec<String> = accounts.iter().map(i64::to_string).collect();
        conditions.push(format!("account_id IN ({})", ids.join(", ")));
        if ids.is_empty() {
            conditions.push("1 = 0".into());
        }
    }
    if let Some(state) = &filter.state {
        bind("state = ?", state.clone().into(), &mut conditions);
    }
    if let Some(kind) = &filter.kind {
        bind("kind = ?", kind.clone().into(), &mut conditions);
    }
    if let Some(webhook) = filter.webhook {
        bind(
            "kind = 'webhook' AND subject_id = ?",
            webhook.into(),
            &mut conditions,
        );
    }
    if let Some(before) = filter.before {
        bind("id < ?", before.into(), &mut conditions);
    }
    let sql = format!(
        "SELECT {VIEW_COLUMNS} FROM outbox_job WHERE {} ORDER BY id DESC LIMIT {}",
        conditions.join(" AND "),
        filter.limit
    );
    JobView::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        sql,
        values,
    ))
    .all(db)
    .await
}

/// One job.
///
/// # Errors
/// The database failed.
pub async fn get<C: ConnectionTrait>(db: &C, id: i64) -> Result<Option<JobView>, DbErr> {
    JobView::find_by_statement(Statement::from_sql_and_values(
        db.get_database_backend(),
        format!("SELECT {VIEW_COLUMNS} FROM outbox_job WHERE id = $1"),
        [id.into()],
    ))
    .one(db)
    .await
}

/// Puts a finished job (in one of `from`) back in the queue, due now, with its attempts
/// counted afresh; answers whether it was (a job in another state is left alone).
///
/// # Errors
/// The database failed.
pub async fn requeue<C: ConnectionTrait>(db: &C, id: i64, from: &[&str]) -> Result<bool, DbErr> {
    let states: Vec<String> = from.iter().map(|s| format!("'{s}'")).collect();
    let now = now_ms();
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "UPDATE outbox_job SET state = '{pending}', attempts = 0, run_after_ms = $1, \
                    updated_ms = $1, finished_ms = NULL, claimed_by = NULL \
                WHERE id = $2 AND state IN ({})",
                states.join(", "),
                pending = state::PENDING,
            ),
            [now.into(), id.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Jobs per kind and state, for the unfinished and dead states (finished ones are counted
/// by `qrscene_outbox_attempts_total`).
#[derive(Debug, FromQueryResult)]
pub struct Count {
    /// The kind.
    pub kind: String,
    /// The state.
    pub state: String,
    /// How many.
    pub jobs: i64,
    /// Epoch milliseconds of the oldest due time among them.
    pub oldest_ms: Option<i64>,
}

/// The figures of [`Count`].
///
/// # Errors
/// The database failed.
pub async fn counts<C: ConnectionTrait>(db: &C) -> Result<Vec<Count>, DbErr> {
    Count::find_by_statement(Statement::from_string(
        db.get_database_backend(),
        format!(
            // Two parts, each read from its partial index (finished jobs are most of the table).
            "SELECT kind, state, COUNT(*) AS jobs, MIN(run_after_ms) AS oldest_ms FROM outbox_job \
            WHERE state IN ('{pending}', '{running}') GROUP BY kind, state \
            UNION ALL SELECT kind, state, COUNT(*) AS jobs, NULL AS oldest_ms FROM outbox_job \
            WHERE state = '{dead}' GROUP BY kind, state",
            pending = state::PENDING,
            running = state::RUNNING,
            dead = state::DEAD
        ),
    ))
    .all(db)
    .await
}

/// Deletes up to 10,000 jobs finished (done or dropped) before `before_ms`; answers how many.
///
/// # Errors
/// The database failed.
pub async fn purge<C: ConnectionTrait>(db: &C, before_ms: i64) -> Result<u64, DbErr> {
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            format!(
                "DELETE FROM outbox_job WHERE id IN (SELECT id FROM outbox_job \
                WHERE state IN ('{}', '{}') AND finished_ms < $1 LIMIT 10000)",
                state::DONE,
                state::DROPPED
            ),
            [before_ms.into()],
        ))
        .await?;
    Ok(result.rows_affected())
}
