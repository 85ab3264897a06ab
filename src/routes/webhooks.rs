//! `/api/v1/webhooks`: an account's outbound webhooks, their delivery log, test deliveries
//! and replays. Any key that may use the account manages its webhooks; a webhook of an
//! account the key may not use is a 404. The signing secret is shown once, in the answer to
//! `POST`.

use actix_web::http::header;
use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::Accounts;
use crate::accounts::seal::{Field, SealError};
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::outbox::store::{self as jobs, Filter, JobView, NewJob};
use crate::outbox::{Outbox, at, kind, now_ms, state};
use crate::paging::PageRequest;
use crate::webhooks::store::{self, Change, NewWebhook, WebhookRow};
use crate::webhooks::{self as hooks, body, deliver, sign};

/// `POST /api/v1/webhooks`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhook {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    pub account: Option<String>,
    /// Where deliveries are POSTed: http or https, with a host, without credentials, at
    /// most 2048 characters. Loopback, link-local and private addresses are refused at
    /// delivery time unless `QRSCENE_WEBHOOK_ALLOW_PRIVATE=true`.
    #[schema(example = "https://crm.example.com/hooks/qrscene", max_length = 2048)]
    pub url: String,
    /// The event types to deliver: `scan`, `subscribe`, `unsubscribe`, `binding.bound`,
    /// `message`, or `["*"]` for all of them (also those added later).
    #[schema(example = json!(["subscribe", "scan"]), min_items = 1)]
    pub events: Vec<String>,
    /// Whether deliveries are made (default true).
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/webhooks/{id}`: each field given replaces the stored one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhook {
    /// A new URL (same rules as on creation).
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New event types (same rules as on creation).
    #[schema(min_items = 1)]
    pub events: Option<Vec<String>>,
    /// `true` enables it again (clearing `disabled_reason` and `failing_since`); `false`
    /// disables it: pending deliveries then end dead, `webhook disabled` (replayable).
    pub enabled: Option<bool>,
}

/// A webhook. Its secret appears once, in the answer to its creation.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookView {
    /// Webhook id.
    pub id: i64,
    /// Its account (appid).
    pub account: String,
    /// Where deliveries go.
    pub url: String,
    /// The event types it receives (`["*"]`: all).
    pub events: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// Why it is disabled: by the API, or failing for `QRSCENE_WEBHOOK_DISABLE_AFTER_HOURS`.
    pub disabled_reason: Option<String>,
    /// Since when its deliveries have failed without a success (`null`: not failing).
    pub failing_since: Option<DateTime<Utc>>,
    /// Its last successful delivery.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Its last failed delivery attempt.
    pub last_failure_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// The signing secret (`whsec_` and base64 of 32 bytes): in the answer to `POST` only,
    /// never again. Verify `webhook-signature` with it as Standard Webhooks describes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
}

impl WebhookView {
    fn of(row: WebhookRow, appid: String, secret: Option<String>) -> Self {
        Self {
            id: row.id,
            account: appid,
            url: row.url,
            events: hooks::decode_events(&row.kinds),
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            failing_since: row.failing_since_ms.map(at),
            last_success_at: row.last_success_ms.map(at),
            last_failure_at: row.last_failure_ms.map(at),
            created_at: at(row.created_ms),
            updated_at: at(row.updated_ms),
            secret,
        }
    }
}

/// A page of webhooks, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookPage {
    /// The webhooks.
    pub items: Vec<WebhookView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// A delivery: an outbox job of kind `webhook`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Delivery id (the outbox job's id).
    pub id: i64,
    /// The `webhook-id` header it is sent with, the same on every attempt and replay.
    #[schema(example = "msg_42")]
    pub message_id: String,
    /// The webhook.
    pub webhook_id: i64,
    /// `pending` (waiting for its next attempt), `running`, `done`, `dead` (failed for
    /// good: replay it) or `dropped`.
    pub state: String,
    /// The event delivered (`null` for a test delivery).
    pub event_id: Option<i64>,
    /// Attempts made (a replay counts afresh).
    pub attempts: i32,
    /// The HTTP status of the last answer.
    pub last_response_code: Option<i64>,
    /// The last failure: the status and the start of the answer, a timeout, a connection
    /// error, or a refusal.
    pub last_error: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// When it last changed (its last attempt, for a finished one).
    pub updated_at: DateTime<Utc>,
    /// When it is tried next (pending) or its attempt's lease ends (running).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When it finished (done, dead, dropped).
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<JobView> for DeliveryView {
    fn from(j: JobView) -> Self {
        let unfinished = j.state == state::PENDING || j.state == state::RUNNING;
        Self {
            id: j.id,
            message_id: sign::message_id(j.id),
            webhook_id: j.subject_id.unwrap_or_default(),
            state: j.state,
            event_id: j.event_id,
            attempts: j.attempts,
            last_response_code: j.last_code,
            last_error: j.last_error,
            created_at: at(j.created_ms),
            updated_at: at(j.updated_ms),
            next_attempt_at: unfinished.then(|| at(j.run_after_ms)),
            finished_at: j.finished_ms.map(at),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryPage {
    /// The deliveries.
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/v1/webhooks`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    account: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    cursor: Option<String>,
    /// Page size, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u64>,
}

/// Query of `GET /api/v1/webhooks/{id}/deliveries`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Only deliveries in this state.
    #[param(value_type = Option<DeliveryState>, inline)]
    state: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    cursor: Option<String>,
    /// Page size, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u64>,
}

/// The states of a delivery.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// Being attempted.
    Running,
    /// Delivered (a 2xx answer).
    Done,
    /// Failed for good.
    Dead,
    /// Not delivered on purpose.
    Dropped,
}

/// The webhook `id`, when the caller may see it (404 otherwise, whatever the reason).
async fn visible(
    caller: &Caller,
    accounts: &Accounts,
    id: i64,
) -> Result<(WebhookRow, String), ApiError> {
    let not_found = || ApiError::NotFound(format!("no webhook has id {id}"));
    let row = store::get(accounts.db(), id).await?.ok_or_else(not_found)?;
    if !accounts.visible(caller, row.account_id) {
        return Err(not_found());
    }
    let appid = accounts
        .by_id(row.account_id)
        .map(|a| a.appid.as_str().to_owned())
        .ok_or_else(not_found)?;
    Ok((row, appid))
}

fn no_store(mut response: HttpResponse) -> HttpResponse {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

/// Wakes this instance's outbox workers, when it runs them.
fn nudge(outbox: Option<&web::Data<Outbox>>) {
    if let Some(outbox) = outbox {
        outbox.nudge();
    }
}

/// Makes a webhook. Its signing secret is in the answer, and never shown again. The
/// secret is sealed with `QRSCENE_MASTER_KEY` (503 without one).
#[utoipa::path(
    operation_id = "create_webhook",
    tag = "webhooks",
    request_body = CreateWebhook,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "The webhook, with its `secret` (shown this once)", body = WebhookView),
        (status = 400, description = "`invalid_field` (url, events: the value named) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 503, description = "`unavailable`: no `QRSCENE_MASTER_KEY` to seal the secret", body = ErrorBody),
    )
)]
#[post("/api/v1/webhooks")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn create(
    caller: Caller,
    accounts: web::Data<Accounts>,
    body: web::Json<CreateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let account = accounts.resolve(&caller, body.account.as_deref()).await?;
    let url = hooks::check_url(&body.url)?;
    let kinds = hooks::encode_events(&body.events)?;
    let sealer = accounts
        .sealer()
        .ok_or_else(|| ApiError::Unavailable(webhook_no_key()))?;
    let secret = hooks::new_secret();
    let appid = account.appid.as_str().to_owned();
    let row = store::insert(
        accounts.db(),
        NewWebhook {
            account_id: account.id,
            url: url.to_string(),
            kinds,
            secret: sealer.seal(&appid, Field::WebhookSecret, &secret),
            enabled: body.enabled.unwrap_or(true),
        },
        now_ms(),
    )
    .await?;
    tracing::info!(appid, webhook = row.id, "webhook created");
    Ok(no_store(HttpResponse::Created().json(WebhookView::of(
        row,
        appid,
        Some(secret),
    ))))
}

fn webhook_no_key() -> String {
    format!(
        "{}; webhook secrets are sealed with it too",
        SealError::NoKey
    )
}

/// The account's webhooks, newest first (without their secrets).
#[utoipa::path(
    operation_id = "list_webhooks",
    tag = "webhooks",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of webhooks", body = WebhookPage),
        (status = 400, description = "`invalid_field` (cursor, limit)", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[get("/api/v1/webhooks")]
pub async fn list(
    caller: Caller,
    accounts: web::Data<Accounts>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let account = accounts.resolve(&caller, q.account.as_deref()).await?;
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut rows = store::list(accounts.db(), account.id, page.before, page.limit + 1).await?;
    let next = page.cut(&mut rows, |r| r.id);
    let appid = account.appid.as_str();
    Ok(HttpResponse::Ok().json(WebhookPage {
        items: rows
            .into_iter()
            .map(|r| WebhookView::of(r, appid.to_owned(), None))
            .collect(),
        next_cursor: next.map(|id| id.to_string()),
    }))
}

/// One webhook (without its secret).
#[utoipa::path(
    operation_id = "get_webhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`: no webhook of an account the key may use has this id", body = ErrorBody),
    )
)]
#[get("/api/v1/webhooks/{id}")]
pub async fn get(
    caller: Caller,
    accounts: web::Data<Accounts>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (row, appid) = visible(&caller, &accounts, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(WebhookView::of(row, appid, None)))
}

/// Changes a webhook: its URL, its event types, or whether it is enabled. Enabling it
/// again clears `disabled_reason` and `failing_since`; its dead deliveries stay dead until
/// replayed.
#[utoipa::path(
    operation_id = "update_webhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    request_body = UpdateWebhook,
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The webhook", body = WebhookView),
        (status = 400, description = "`invalid_field` (url, events) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
#[patch("/api/v1/webhooks/{id}")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn update(
    caller: Caller,
    accounts: web::Data<Accounts>,
    id: web::Path<i64>,
    body: web::Json<UpdateWebhook>,
) -> Result<HttpResponse, ApiError> {
    let (row, appid) = visible(&caller, &accounts, id.into_inner()).await?;
    let body = body.into_inner();
    let change = Change {
        url: body
            .url
            .as_deref()
            .map(hooks::check_url)
            .transpose()?
            .map(|u| u.to_string()),
        kinds: body
            .events
            .as_deref()
            .map(hooks::encode_events)
            .transpose()?,
        enabled: body.enabled,
    };
    let toggled = change.enabled.is_some_and(|e| e != row.enabled);
    let row = store::update(accounts.db(), row.id, change, now_ms())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no webhook has id {}", row.id)))?;
    if toggled {
        deliver::refresh_disabled_gauge(accounts.db()).await;
    }
    tracing::info!(appid, webhook = row.id, "webhook changed");
    Ok(HttpResponse::Ok().json(WebhookView::of(row, appid, None)))
}

/// Deletes a webhook with its deliveries (pending ones are never sent, and its log goes
/// with it).
#[utoipa::path(
    operation_id = "delete_webhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("api_key" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
#[delete("/api/v1/webhooks/{id}")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn remove(
    caller: Caller,
    accounts: web::Data<Accounts>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (row, appid) = visible(&caller, &accounts, id.into_inner()).await?;
    store::delete(accounts.db(), row.id).await?;
    if !row.enabled {
        deliver::refresh_disabled_gauge(accounts.db()).await;
    }
    tracing::info!(appid, webhook = row.id, "webhook deleted");
    Ok(HttpResponse::NoContent().finish())
}

/// Sends a test delivery (type `webhook.test`) through the outbox, signed like every
/// delivery; follow it in the delivery log.
#[utoipa::path(
    operation_id = "test_webhook",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id")),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "The delivery, queued", body = DeliveryView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
#[post("/api/v1/webhooks/{id}/test")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn test(
    caller: Caller,
    accounts: web::Data<Accounts>,
    outbox: Option<web::Data<Outbox>>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (row, appid) = visible(&caller, &accounts, id.into_inner()).await?;
    let job = jobs::enqueue(
        accounts.db(),
        NewJob {
            account_id: row.account_id,
            kind: kind::WEBHOOK,
            event_id: None,
            subject_id: Some(row.id),
            openid: None,
            payload: Some(body::test_body(&appid, row.id, Utc::now())),
            expires_ms: None,
        },
    )
    .await?;
    nudge(outbox.as_ref());
    let view = jobs::get(accounts.db(), job)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no delivery has id {job}")))?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(view)))
}

/// The webhook's delivery log, newest first: each delivery's state, attempts, last answer
/// and error. Finished deliveries are kept `QRSCENE_OUTBOX_RETENTION_DAYS` (dead ones until
/// the webhook is deleted).
#[utoipa::path(
    operation_id = "list_webhook_deliveries",
    tag = "webhooks",
    params(("id" = i64, Path, description = "Webhook id"), DeliveryQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryPage),
        (status = 400, description = "`invalid_field` (state, cursor, limit)", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
    )
)]
#[get("/api/v1/webhooks/{id}/deliveries")]
pub async fn deliveries(
    caller: Caller,
    accounts: web::Data<Accounts>,
    id: web::Path<i64>,
    query: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let (row, _) = visible(&caller, &accounts, id.into_inner()).await?;
    let q = query.into_inner();
    if let Some(s) = q.state.as_deref()
        && !state::ALL.contains(&s)
    {
        return Err(crate::wechat::qrcode::LimitError::new(
            "state",
            format!("must be one of {}, got {s:?}", state::ALL.join(", ")),
        )
        .into());
    }
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let mut rows = jobs::list(
        accounts.db(),
        &Filter {
            accounts: Some(vec![row.account_id]),
            state: q.state,
            webhook: Some(row.id),
            before: page.before,
            limit: page.limit + 1,
            ..Filter::default()
        },
    )
    .await?;
    let next = page.cut(&mut rows, |j| j.id);
    Ok(HttpResponse::Ok().json(DeliveryPage {
        items: rows.into_iter().map(DeliveryView::from).collect(),
        next_cursor: next.map(|id| id.to_string()),
    }))
}

/// Sends a finished delivery (done, dead or dropped) again: the same body under the same
/// `webhook-id`, its attempts counted afresh. 409 while it is pending or running.
#[utoipa::path(
    operation_id = "replay_webhook_delivery",
    tag = "webhooks",
    params(
        ("id" = i64, Path, description = "Webhook id"),
        ("did" = i64, Path, description = "Delivery id"),
    ),
    security(("api_key" = [])),
    responses(
        (status = 202, description = "The delivery, queued again", body = DeliveryView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "`not_found`: no such webhook, or no such delivery of it", body = ErrorBody),
        (status = 409, description = "`conflict`: the delivery is pending or running", body = ErrorBody),
    )
)]
#[post("/api/v1/webhooks/{id}/deliveries/{did}/replay")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn replay(
    caller: Caller,
    accounts: web::Data<Accounts>,
    outbox: Option<web::Data<Outbox>>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (id, did) = path.into_inner();
    let (row, _) = visible(&caller, &accounts, id).await?;
    let not_found = || ApiError::NotFound(format!("webhook {id} has no delivery {did}"));
    let job = jobs::get(accounts.db(), did)
        .await?
        .filter(|j| j.kind == kind::WEBHOOK && j.subject_id == Some(row.id))
        .ok_or_else(not_found)?;
    if !jobs::requeue(
        accounts.db(),
        did,
        &[state::DONE, state::DEAD, state::DROPPED],
    )
    .await?
    {
        return Err(ApiError::Conflict(format!(
            "delivery {did} is {}: only a finished delivery (done, dead, dropped) can be replayed",
            job.state
        )));
    }
    nudge(outbox.as_ref());
    tracing::info!(
        webhook = row.id,
        delivery = did,
        "webhook delivery replayed"
    );
    let view = jobs::get(accounts.db(), did).await?.ok_or_else(not_found)?;
    Ok(HttpResponse::Accepted().json(DeliveryView::from(view)))
}
