//! Delivering webhook jobs: the outbox runner of kind `webhook`.
//!
//! Each job of a run is delivered concurrently. On its first attempt the body is built from
//! the stored rows and handed back to the outbox to keep, so every attempt (and a replay)
//! sends the same bytes with the same `webhook-id` (`msg_<job id>`); the signature is made
//! afresh at each attempt with its `webhook-timestamp`.
//!
//! Outcomes: a 2xx answer is done; 3xx (redirects are not followed), 4xx and 5xx answers,
//! timeouts and connection errors are retried (`Retry-After` on 429 and 503 is honoured, up
//! to an hour); 410 Gone, a URL refused as internal, a deleted or disabled webhook, or an
//! event that is gone are dead (a dead delivery may be replayed).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, join_all};
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

use super::body::{self, BodyError};
use super::store::{self, WebhookRow};
use super::{WebhookSettings, net, sign};
use crate::accounts::Accounts;
use crate::accounts::seal::Field;
use crate::outbox::{Job, Outcome, Policy, Ran, Runner, kind, now_ms};

/// Most bytes of an answer read (and kept in `last_error` on failure).
pub const MAX_ANSWER: usize = 4 * 1024;
/// Longest wait a `Retry-After` may ask for, and the longest backoff.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// Attempts of a delivery. With the default first delay of 5 s
/// (`QRSCENE_OUTBOX_RETRY_BASE_MS`) doubling up to an hour, the waits add up to about 30 h
/// (5 s + 10 s + ... + 2560 s, then 29 waits of an hour), and to more than 24 h even with
/// every wait cut by the outbox's 20% jitter.
pub const MAX_ATTEMPTS: i32 = 40;
/// Jobs handed to one run (delivered concurrently).
pub const BATCH: u64 = 16;
/// Runs at the same time on one instance.
pub const CONCURRENCY: usize = 2;

/// The retry and batching policy of deliveries, whose single requests time out after
/// `timeout`.
pub fn policy(timeout: Duration) -> Policy {
    Policy {
        max_attempts: MAX_ATTEMPTS,
        max_backoff: MAX_BACKOFF,
        batch: BATCH,
        concurrency: CONCURRENCY,
        // Every request of the run has its own timeout; the rest is reading and writing rows.
        timeout: timeout + Duration::from_secs(20),
        gather: Duration::ZERO,
    }
}

/// Delivers webhook jobs.
pub struct WebhookRunner {
    accounts: Arc<Accounts>,
    http: reqwest::Client,
    settings: WebhookSettings,
    /// Whether the metrics were described and the disabled gauge set (on the first run:
    /// the metrics recorder may be installed after the runner is built).
    started: AtomicBool,
}

impl WebhookRunner {
    /// A runner over the accounts (their database, and the master key that opens the
    /// webhooks' secrets).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(accounts: Arc<Accounts>, settings: &WebhookSettings) -> reqwest::Result<Self> {
        Ok(Self {
            accounts,
            http: net::client(settings)?,
            settings: settings.clone(),
            started: AtomicBool::new(false),
        })
    }

    fn db(&self) -> &DatabaseConnection {
        self.accounts.db()
    }

    /// One job: its outcome, and its body when it was built now.
    async fn deliver(&self, job: Job) -> Ran {
        let (outcome, payload) = self.attempt(&job).await;
        metrics::counter!("qrscene_webhook_deliveries_total", "outcome" => outcome.label())
            .increment(1);
        Ran {
            id: job.id,
            outcome,
            payload,
        }
    }

    async fn attempt(&self, job: &Job) -> (Outcome, Option<String>) {
        let dead = |error: String| Outcome::Dead { error, code: None };
        let Some(webhook_id) = job.subject_id else {
            return (dead("the job names no webhook".into()), None);
        };
        let webhook = match store::get(self.db(), webhook_id).await {
            Ok(Some(w)) if w.account_id == job.account_id => w,
            Ok(_) => return (dead(format!("webhook {webhook_id} was deleted")), None),
            Err(e) => return (retry(format!("the webhook could not be read: {e}")), None),
        };
        if !webhook.enabled {
            return (dead("webhook disabled".into()), None);
        }
        let Some(account) = self.accounts.by_id(job.account_id) else {
            return (
                dead(format!("account {} no longer exists", job.account_id)),
                None,
            );
        };
        let appid = account.appid.as_str().to_owned();
        if body::seed_type(job.payload.as_deref()).as_deref() == Some(body::BINDING_BOUND) {
            match self.earlier_binding_bound(job, webhook_id).await {
                Ok(Some(first)) => {
                    return (
                        Outcome::Dropped {
                            reason: format!(
                                "delivery {first} already tells this webhook of this binding"
                            ),
                        },
                        None,
                    );
                }
                Ok(None) => {}
                Err(e) => {
                    return (
                        retry(format!("earlier deliveries could not be read: {e}")),
                        None,
                    );
                }
            }
        }
        let (body, built) = match self.body(job, &appid).await {
            Ok(found) => found,
            Err(BodyError::Gone(error)) => return (dead(error), None),
            Err(e @ BodyError::Db(_)) => return (retry(e.to_string()), None),
        };
        let outcome = self.send(job, &webhook, &appid, &body).await;
        let keep = built.then_some(body);
        self.record_health(&webhook, &appid, &outcome).await;
        (outcome, keep)
    }

    /// An earlier `binding.bound` delivery of the same binding to the same webhook: two
    /// early scans of a binding code stored by concurrent batches each write one, and only
    /// the first is sent.
    async fn earlier_binding_bound(
        &self,
        job: &Job,
        webhook_id: i64,
    ) -> Result<Option<i64>, sea_orm::DbErr> {
        use sea_orm::{FromQueryResult, Statement};
        #[derive(FromQueryResult)]
        struct Earlier {
            id: i64,
        }
        let Some(event_id) = job.event_id else {
            return Ok(None);
        };
        let db = self.db();
        let earlier = Earlier::find_by_statement(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT j.id FROM outbox_job j JOIN wechat_event e ON e.id = j.event_id \
            WHERE j.kind = 'webhook' AND j.subject_id = $1 AND j.id < $2 \
            AND (j.payload LIKE '{\"type\":\"binding.bound\"%' OR j.payload LIKE '%\"type\":\"binding.bound\"}') \
            AND e.generation_id = (SELECT generation_id FROM wechat_event WHERE id = $3) \
            ORDER BY j.id LIMIT 1",
            [webhook_id.into(), job.id.into(), event_id.into()],
        ))
        .one(db)
        .await?;
        Ok(earlier.map(|e| e.id))
    }

    /// The body to send, and whether it was built now (else it was stored).
    async fn body(&self, job: &Job, appid: &str) -> Result<(String, bool), BodyError> {
        if let Some(payload) = job.payload.as_deref().filter(|p| body::is_built(p)) {
            return Ok((payload.to_owned(), false));
        }
        let Some(event_id) = job.event_id else {
            return Err(BodyError::Gone(
                "the job has neither a body nor an event".into(),
            ));
        };
        let seed = body::seed_type(job.payload.as_deref());
        let built =
            body::build(self.db(), job.account_id, appid, event_id, seed.as_deref()).await?;
        Ok((built, true))
    }

    async fn send(&self, job: &Job, webhook: &WebhookRow, appid: &str, body: &str) -> Outcome {
        let url = match super::check_url(&webhook.url) {
            Ok(url) => url,
            Err(e) => {
                return Outcome::Dead {
                    error: format!("{}: {}", e.field, e.rule),
                    code: None,
                };
            }
        };
        if !self.settings.allow_private
            && let Some(refused) = net::refused_literal(&url)
        {
            return Outcome::Dead {
                error: refused.to_string(),
                code: None,
            };
        }
        let Some(sealer) = self.accounts.sealer() else {
            return retry(
                "QRSCENE_MASTER_KEY is not set: the webhook's secret cannot be opened".into(),
            );
        };
        let key = match sealer
            .open(appid, Field::WebhookSecret, &webhook.secret)
            .map_err(|e| e.to_string())
            .and_then(|s| sign::secret_bytes(s.expose_secret()).map_err(|e| e.to_string()))
        {
            Ok(key) => key,
            Err(e) => return retry(format!("the webhook's secret cannot be opened: {e}")),
        };
        let id = sign::message_id(job.id);
        let timestamp = chrono::Utc::now().timestamp();
        let signature = sign::signature(&key, &id, timestamp, body.as_bytes());
        let started = Instant::now();
        let sent = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned())
            .send()
            .await;
        let outcome = match sent {
            Ok(response) => answer(response).await,
            Err(e) => match net::refusal(&e) {
                Some(refused) => Outcome::Dead {
                    error: refused.to_string(),
                    code: None,
                },
                None => retry(transport_error(&e)),
            },
        };
        metrics::histogram!("qrscene_webhook_delivery_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        outcome
    }

    /// Keeps the webhook's health: its last success or failure, since when it fails, and
    /// disables it when it has failed for too long.
    async fn record_health(&self, webhook: &WebhookRow, appid: &str, outcome: &Outcome) {
        let now = now_ms();
        let result = match outcome {
            Outcome::Done { .. } => store::record_success(self.db(), webhook.id, now)
                .await
                .map(|()| None),
            _ => {
                let after =
                    i64::try_from(self.settings.disable_after.as_millis()).unwrap_or(i64::MAX);
                store::record_failure(self.db(), webhook.id, now, after).await
            }
        };
        match result {
            Ok(Some(since)) => {
                tracing::warn!(
                    webhook = webhook.id,
                    appid,
                    host = %reqwest::Url::parse(&webhook.url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default(),
                    reason = %store::disabled_reason(since),
                    "webhook disabled: its deliveries keep failing"
                );
                metrics::counter!("qrscene_webhooks_disabled_total", "appid" => appid.to_owned())
                    .increment(1);
                refresh_disabled_gauge(self.db()).await;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(webhook = webhook.id, error.message = %e, "webhook health not recorded");
            }
        }
    }
}

impl Runner for WebhookRunner {
    fn kind(&self) -> &'static str {
        kind::WEBHOOK
    }

    fn policy(&self) -> Policy {
        policy(self.settings.timeout)
    }

    fn run(&self, jobs: Vec<Job>) -> BoxFuture<'_, Vec<Ran>> {
        Box::pin(async move {
            if !self.started.swap(true, Ordering::Relaxed) {
                describe();
                refresh_disabled_gauge(self.db()).await;
            }
            join_all(jobs.into_iter().map(|job| self.deliver(job))).await
        })
    }
}

fn retry(error: String) -> Outcome {
    Outcome::Retry { error, code: None }
}

/// What an answer means.
async fn answer(mut response: reqwest::Response) -> Outcome {
    let status = response.status();
    let code = Some(i64::from(status.as_u16()));
    if status.is_success() {
        return Outcome::Done { code };
    }
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = read_answer(&mut response).await;
    let mut error = format!("HTTP {}", status.as_u16());
    if status.is_redirection() {
        error.push_str(&format!(
            " (redirect to {} not followed)",
            location.as_deref().unwrap_or("nowhere")
        ));
    }
    if !text.is_empty() {
        error.push_str(": ");
        error.push_str(&text);
    }
    match status.as_u16() {
        410 => Outcome::Dead { error, code },
        429 | 503 if retry_after.is_some() => {
            let wait = Duration::from_secs(retry_after.unwrap_or(0)).min(MAX_BACKOFF);
            Outcome::RetryAt {
                error,
                code,
                at_ms: now_ms() + i64::try_from(wait.as_millis()).unwrap_or(0),
            }
        }
        _ => Outcome::Retry { error, code },
    }
}

/// At most [`MAX_ANSWER`] bytes of the answer, as text.
async fn read_answer(response: &mut reqwest::Response) -> String {
    let mut bytes: Vec<u8> = Vec::new();
    while bytes.len() < MAX_ANSWER {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    bytes.truncate(MAX_ANSWER);
    String::from_utf8_lossy(&bytes).trim().to_owned()
}

/// A transport error with its causes (reqwest's own message is terse).
fn transport_error(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Sets `qrscene_webhooks_disabled` to the number of disabled webhooks.
pub async fn refresh_disabled_gauge(db: &DatabaseConnection) {
    match store::disabled_count(db).await {
        Ok(n) => metrics::gauge!("qrscene_webhooks_disabled").set(n as f64),
        Err(e) => tracing::warn!(error.message = %e, "disabled webhooks not counted"),
    }
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "qrscene_webhook_deliveries_total",
        "Webhook delivery attempts, by outcome (done, retry, dead)"
    );
    describe_histogram!(
        "qrscene_webhook_delivery_duration_seconds",
        Unit::Seconds,
        "Time of one webhook request, from sending to the answer read"
    );
    describe_counter!(
        "qrscene_webhooks_disabled_total",
        "Webhooks disabled after failing for QRSCENE_WEBHOOK_DISABLE_AFTER_HOURS, by account"
    );
    describe_gauge!("qrscene_webhooks_disabled", "Webhooks disabled now");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default schedule (first wait 5 s) covers more than 24 h even with the lowest
    /// jitter.
    #[test]
    fn the_default_schedule_covers_a_day() {
        let policy = policy(Duration::from_secs(10));
        let base = Duration::from_secs(5);
        let mut nominal = 0u64;
        for attempt in 1..MAX_ATTEMPTS {
            let exponent = u32::try_from(attempt - 1).unwrap().min(30);
            let wait = base
                .saturating_mul(2u32.saturating_pow(exponent))
                .min(MAX_BACKOFF);
            nominal += wait.as_secs();
            assert!(policy.next_attempt(attempt, base, 0).is_some());
        }
        assert!(policy.next_attempt(MAX_ATTEMPTS, base, 0).is_none());
        assert!(nominal * 8 / 10 > 24 * 3600, "{nominal} s");
    }
}
