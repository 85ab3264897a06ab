//! Claiming due jobs and recording what became of them.
//!
//! A claim moves a job to `running`, counts the attempt and sets `run_after_ms` to the end
//! of the lease: a job whose worker died is due again then, and is claimed like any other.
//! On Postgres the candidates are locked with `FOR UPDATE SKIP LOCKED`, so workers on many
//! instances take disjoint jobs without waiting on each other; SQLite has one writer.
//! Recording an outcome is fenced by the claim (its token and the attempt number): a worker
//! whose lease ran out, and whose job was claimed again, changes nothing.

use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, FromQueryResult, Statement, Value,
};

use super::{Job, Outcome, Policy, Ran, state};

/// The columns a runner gets, as `RETURNING` or `SELECT` lists them.
pub(super) const JOB_COLUMNS: &str = "id, account_id, kind, event_id, subject_id, openid, payload, \
    attempts, created_ms, expires_ms, claimed_by";

#[derive(Debug, FromQueryResult)]
struct JobRow {
    id: i64,
    account_id: i64,
    kind: String,
    event_id: Option<i64>,
    subject_id: Option<i64>,
    openid: Option<String>,
    payload: Option<String>,
    attempts: i32,
    created_ms: i64,
    expires_ms: Option<i64>,
    claimed_by: Option<String>,
}

impl From<JobRow> for Job {
    fn from(r: JobRow) -> Self {
        Self {
            id: r.id,
            account_id: r.account_id,
            kind: r.kind,
            event_id: r.event_id,
            subject_id: r.subject_id,
            openid: r.openid,
            payload: r.payload,
            attempts: r.attempts,
            created_ms: r.created_ms,
            expires_ms: r.expires_ms,
            claim: r.claimed_by.unwrap_or_default(),
        }
    }
}

/// Claims up to `policy.batch` due jobs of `kind` for `lease` under the claim token `claim`
/// (unique per claim), at `now_ms`. When one is due, pending jobs due within
/// `policy.gather` come along; a running job only once its lease has run out.
///
/// # Errors
/// The database failed; nothing was claimed.
pub async fn claim(
    db: &DatabaseConnection,
    kind: &str,
    policy: &Policy,
    lease: Duration,
    claim: &str,
    now_ms: i64,
) -> Result<Vec<Job>, DbErr> {
    let backend = db.get_database_backend();
    let lock = match backend {
        DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
        _ => "",
    };
    let gather = i64::try_from(policy.gather.as_millis()).unwrap_or(i64::MAX);
    let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let sql = format!(
        "UPDATE outbox_job SET state = '{running}', attempts = attempts + 1, \
            run_after_ms = $1, claimed_by = $2, updated_ms = $3 \
        WHERE id IN (SELECT id FROM outbox_job \
            WHERE kind = $4 AND state IN ('{pending}', '{running}') AND run_after_ms <= $5 \
            AND (state = '{pending}' OR run_after_ms <= $3) \
            AND EXISTS (SELECT 1 FROM outbox_job d WHERE d.kind = $4 \
                AND d.state IN ('{pending}', '{running}') AND d.run_after_ms <= $3) \
            ORDER BY run_after_ms LIMIT $6{lock}) \
        RETURNING {JOB_COLUMNS}",
        running = state::RUNNING,
        pending = state::PENDING,
    );
    let values: Vec<Value> = vec![
        (now_ms + lease).into(),
        claim.into(),
        now_ms.into(),
        kind.into(),
        (now_ms + gather).into(),
        i64::try_from(policy.batch).unwrap_or(i64::MAX).into(),
    ];
    let rows = JobRow::find_by_statement(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await?;
    let mut jobs: Vec<Job> = rows.into_iter().map(Job::from).collect();
    jobs.sort_by_key(|j| j.id);
    Ok(jobs)
}

/// What an outcome writes: the state, the next due time, the error and code, and whether
/// the job is finished.
struct Settled {
    state: &'static str,
    run_after_ms: i64,
    error: Option<String>,
    code: Option<i64>,
    finished: bool,
}

/// How `outcome` of attempt `job.attempts` settles the job under `policy` at `now_ms`.
fn settle(job: &Job, outcome: &Outcome, policy: &Policy, base: Duration, now_ms: i64) -> Settled {
    let finished = |state, error, code| Settled {
        state,
        run_after_ms: now_ms,
        error,
        code,
        finished: true,
    };
    let again = |at: Option<i64>, error: &str, code: Option<i64>| match at {
        None => finished(
            state::DEAD,
            Some(format!("gave up after {} attempts: {error}", job.attempts)),
            code,
        ),
        Some(at) if job.expires_ms.is_some_and(|deadline| at > deadline) => finished(
            state::DROPPED,
            Some(format!("not tried again after its deadline: {error}")),
            code,
        ),
        Some(at) => Settled {
            state: state::PENDING,
            run_after_ms: at,
            error: Some(error.to_owned()),
            code,
            finished: false,
        },
    };
    match outcome {
        Outcome::Done { code } => finished(state::DONE, None, *code),
        Outcome::Dead { error, code } => finished(state::DEAD, Some(error.clone()), *code),
        Outcome::Dropped { reason } => finished(state::DROPPED, Some(reason.clone()), None),
        Outcome::Retry { error, code } => again(
            policy.next_attempt(job.attempts, base, now_ms),
            error,
            *code,
        ),
        Outcome::RetryAt { error, code, at_ms } => {
            let at = (job.attempts < policy.max_attempts).then_some(*at_ms);
            again(at, error, *code)
        }
    }
}

/// Records `ran` for the claimed `jobs` (a job without an outcome failed), in one
/// statement; outcomes of jobs this worker no longer holds (their attempt number moved on)
/// are ignored. Answers how many were recorded.
///
/// # Errors
/// The database failed; the jobs stay claimed until their lease runs out.
pub async fn record(
    db: &DatabaseConnection,
    jobs: &[Job],
    ran: Vec<Ran>,
    policy: &Policy,
    base: Duration,
) -> Result<usize, DbErr> {
    let now_ms = super::now_ms();
    let mut by_id: std::collections::HashMap<i64, Ran> =
        ran.into_iter().map(|r| (r.id, r)).collect();
    let mut rows = Vec::with_capacity(jobs.len());
    for job in jobs {
        let ran = by_id.remove(&job.id).unwrap_or_else(|| {
            Ran::new(
                job.id,
                Outcome::Retry {
                    error: "the runner gave no outcome".into(),
                    code: None,
                },
            )
        });
        metrics::counter!("qrscene_outbox_attempts_total", "kind" => job.kind.clone(), "outcome" => ran.outcome.label()).increment(1);
        let settled = settle(job, &ran.outcome, policy, base, now_ms);
        if settled.state == state::DEAD {
            tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, error = settled.error.as_deref().unwrap_or(""), "outbox job dead");
        }
        rows.push(serde_json::json!({
            "id": job.id, "attempts": job.attempts, "claim": job.claim, "state": settled.state,
            "run_after_ms": settled.run_after_ms, "last_error": settled.error,
            "last_code": settled.code, "finished_ms": settled.finished.then_some(now_ms),
            "payload": ran.payload,
        }));
    }
    if rows.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let rows = serde_json::Value::Array(rows);
    let (sql, rows): (&str, Value) = match backend {
        DbBackend::Postgres => (
            "UPDATE outbox_job o SET state = x.state, run_after_ms = x.run_after_ms, \
                last_error = x.last_error, last_code = x.last_code, claimed_by = NULL, \
                updated_ms = $2, finished_ms = x.finished_ms, payload = COALESCE(x.payload, o.payload) \
            FROM jsonb_to_recordset($1::jsonb) AS x(id bigint, attempts int, claim text, state text, \
                run_after_ms bigint, last_error text, last_code bigint, finished_ms bigint, payload text) \
            WHERE o.id = x.id AND o.attempts = x.attempts AND o.claimed_by = x.claim AND o.state = 'running'",
            rows.into(),
        ),
        _ => (
            "UPDATE outbox_job SET state = x.state, run_after_ms = x.run_after_ms, \
                last_error = x.last_error, last_code = x.last_code, claimed_by = NULL, \
                updated_ms = $2, finished_ms = x.finished_ms, \
                payload = COALESCE(x.payload, outbox_job.payload) \
            FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.attempts') AS attempts, \
                json_extract(value, '$.claim') AS claim, \
                json_extract(value, '$.state') AS state, json_extract(value, '$.run_after_ms') AS run_after_ms, \
                json_extract(value, '$.last_error') AS last_error, json_extract(value, '$.last_code') AS last_code, \
                json_extract(value, '$.finished_ms') AS finished_ms, json_extract(value, '$.payload') AS payload \
                FROM json_each($1)) AS x \
            WHERE outbox_job.id = x.id AND outbox_job.attempts = x.attempts \
                AND outbox_job.claimed_by = x.claim AND outbox_job.state = 'running'",
            rows.to_string().into(),
        ),
    };
    let result = db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [rows, now_ms.into()],
        ))
        .await?;
    Ok(usize::try_from(result.rows_affected()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(attempts: i32, expires_ms: Option<i64>) -> Job {
        Job {
            id: 1,
            account_id: 1,
            kind: "tag".into(),
            event_id: None,
            subject_id: None,
            openid: None,
            payload: None,
            attempts,
            created_ms: 0,
            expires_ms,
            claim: "test:1".into(),
        }
    }

    fn policy() -> Policy {
        Policy {
            max_attempts: 3,
            max_backoff: Duration::from_secs(60),
            batch: 10,
            concurrency: 1,
            timeout: Duration::from_secs(1),
            gather: Duration::ZERO,
        }
    }

    #[test]
    fn outcomes_settle_as_documented() {
        let base = Duration::from_secs(1);
        let retry = Outcome::Retry {
            error: "boom".into(),
            code: Some(500),
        };
        let s = settle(&job(1, None), &retry, &policy(), base, 1_000);
        assert_eq!(s.state, state::PENDING);
        assert!((1_800..=2_200).contains(&s.run_after_ms));
        let s = settle(&job(3, None), &retry, &policy(), base, 1_000);
        assert_eq!(s.state, state::DEAD);
        assert_eq!(s.error.as_deref(), Some("gave up after 3 attempts: boom"));
        assert_eq!(s.code, Some(500));
        // A retry after the job's deadline is never made.
        let s = settle(&job(1, Some(1_500)), &retry, &policy(), base, 1_000);
        assert_eq!(s.state, state::DROPPED);
        let s = settle(
            &job(1, None),
            &Outcome::RetryAt {
                error: "quota".into(),
                code: Some(45009),
                at_ms: 9_000,
            },
            &policy(),
            base,
            1_000,
        );
        assert_eq!((s.state, s.run_after_ms), (state::PENDING, 9_000));
        let s = settle(
            &job(2, None),
            &Outcome::Done { code: Some(200) },
            &policy(),
            base,
            5,
        );
        assert!(s.finished && s.state == state::DONE && s.error.is_none());
    }
}
