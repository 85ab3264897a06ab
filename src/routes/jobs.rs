//! `/api/v1/jobs`: the outbox's jobs (taggings, kefu welcomes, webhook deliveries), to see
//! what failed and put it back in the queue. Admin keys only.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::Accounts;
use crate::accounts::access::require_admin;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::outbox::store::{self, Filter, JobView};
use crate::outbox::{at, kind, state};
use crate::state::Db;
use crate::wechat::qrcode::LimitError;

/// Filters of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// Only this account (appid); every account by default.
    pub account: Option<String>,
    /// `pending`, `running`, `done`, `dead` or `dropped`.
    pub state: Option<String>,
    /// `tag`, `kefu` or `webhook`.
    pub kind: Option<String>,
    /// Jobs with ids below this one (the `next` of the previous page).
    pub before: Option<i64>,
    /// Page size, 1..=500 (default 100).
    pub limit: Option<u64>,
}

/// A job of the outbox.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobItem {
    /// The job's id.
    pub id: i64,
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
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// Its next attempt (pending), or the end of its lease (running).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it finished (done, dead, dropped).
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<JobView> for JobItem {
    fn from(j: JobView) -> Self {
        let unfinished = j.state == state::PENDING || j.state == state::RUNNING;
        Self {
            id: j.id,
            kind: j.kind,
            state: j.state,
            event_id: j.event_id,
            subject_id: j.subject_id,
            openid: j.openid,
            attempts: j.attempts,
            last_error: j.last_error,
            last_code: j.last_code,
            created_at: at(j.created_ms),
            updated_at: at(j.updated_ms),
            next_attempt_at: unfinished.then(|| at(j.run_after_ms)),
            finished_at: j.finished_ms.map(at),
        }
    }
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    /// The jobs.
    pub items: Vec<JobItem>,
    /// `before` of the next page, when there may be one.
    pub next: Option<i64>,
}

fn one_of(
    field: &'static str,
    value: Option<String>,
    allowed: &[&str],
) -> Result<Option<String>, ApiError> {
    match value {
        Some(v) if !allowed.contains(&v.as_str()) => Err(LimitError::new(
            field,
            format!("must be one of {}, got {v:?}", allowed.join(", ")),
        )
        .into()),
        other => Ok(other),
    }
}

/// The outbox's jobs, newest first: e.g. `?state=dead` for what failed for good.
#[utoipa::path(
    tag = "jobs",
    operation_id = "list_jobs",
    params(JobsQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of jobs", body = JobPage),
        (status = 400, description = "`invalid_field` (state, kind, limit)", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
    )
)]
#[get("/api/v1/jobs")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn list(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    query: web::Query<JobsQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let q = query.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(LimitError::new("limit", "must be between 1 and 500").into());
    }
    // A key scoped to some accounts sees their jobs only.
    let visible = match q.account.as_deref() {
        Some(_) => vec![accounts.resolve(&caller, q.account.as_deref()).await?.id],
        None => accounts
            .all()
            .into_iter()
            .filter(|a| caller.may_use(a.appid.as_str()))
            .map(|a| a.id)
            .collect(),
    };
    let filter = Filter {
        accounts: Some(visible),
        state: one_of("state", q.state, &state::ALL)?,
        kind: one_of("kind", q.kind, &[kind::TAG, kind::KEFU, kind::WEBHOOK])?,
        webhook: None,
        before: q.before,
        limit,
    };
    let items = store::list(&db.0, &filter).await?;
    let next = (items.len() as u64 == limit)
        .then(|| items.last().map(|j| j.id))
        .flatten();
    let items = items.into_iter().map(JobItem::from).collect();
    Ok(HttpResponse::Ok().json(JobPage { items, next }))
}

/// Puts a dead or dropped job back in the queue, due now, its attempts counted afresh.
#[utoipa::path(
    tag = "jobs",
    operation_id = "retry_job",
    params(("id" = i64, Path, description = "The job")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The job, pending again", body = JobItem),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: not an admin key", body = ErrorBody),
        (status = 404, description = "`not_found`: no such job", body = ErrorBody),
        (status = 409, description = "`conflict`: the job is not dead or dropped", body = ErrorBody),
    )
)]
#[post("/api/v1/jobs/{id}/retry")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn retry(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&caller)?;
    let id = path.into_inner();
    let not_found = || ApiError::NotFound(format!("no job has id {id}"));
    let job = store::get(&db.0, id).await?.ok_or_else(not_found)?;
    if !accounts.visible(&caller, job.account_id) {
        return Err(not_found());
    }
    if !store::requeue(&db.0, id, &[state::DEAD, state::DROPPED]).await? {
        return Err(ApiError::Conflict(format!(
            "job {id} is {}: only dead or dropped jobs are retried",
            job.state
        )));
    }
    tracing::info!(job = id, kind = %job.kind, "job retried by hand");
    let job = store::get(&db.0, id).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(JobItem::from(job)))
}
