//! Welcome messages sent as customer-service messages: the `kefu` jobs of the outbox.
//!
//! WeChat accepts up to 3 such messages within the minute after a scan or a follow, a minute
//! that runs from the event's CreateTime. A job carries that deadline (`expires_ms`): one
//! claimed after it is dropped with its reason, and a failed one is never tried again past
//! it (the outbox drops it), so a welcome is never sent late. 45015 (out of time) and 45047
//! (out of count) drop the job too; other refusals are dead.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{BoxFuture, join_all};

use super::spec::{Actions, Via};
use crate::accounts::Accounts;
use crate::outbox::{Job, Outcome, Policy, Ran, Runner, kind, now_ms};
use crate::wechat::WeChat;
use crate::wechat::error::{ERR_REPLY_COUNT_LIMIT, ERR_REPLY_TIME_LIMIT, WeChatError};

/// The runner of `kefu` jobs.
pub struct Kefu {
    accounts: Arc<Accounts>,
}

impl Kefu {
    /// Sends through the accounts' WeChat.
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Self { accounts }
    }
}

impl Runner for Kefu {
    fn kind(&self) -> &'static str {
        kind::KEFU
    }

    fn policy(&self) -> Policy {
        Policy {
            max_attempts: 5,
            max_backoff: Duration::from_secs(10),
            batch: 32,
            concurrency: 2,
            timeout: Duration::from_secs(30),
            gather: Duration::ZERO,
        }
    }

    fn run(&self, jobs: Vec<Job>) -> BoxFuture<'_, Vec<Ran>> {
        Box::pin(async move { join_all(jobs.iter().map(|job| self.send(job))).await })
    }
}

impl Kefu {
    async fn send(&self, job: &Job) -> Ran {
        Ran::new(job.id, self.outcome(job).await)
    }

    async fn outcome(&self, job: &Job) -> Outcome {
        let dead = |error: String| Outcome::Dead { error, code: None };
        if let Some(deadline) = job.expires_ms
            && now_ms() > deadline
        {
            metrics::counter!("qrscene_kefu_messages_total", "outcome" => "late").increment(1);
            return Outcome::Dropped {
                reason: format!(
                    "not sent: the minute WeChat allows after the event ended {} s ago",
                    (now_ms() - deadline) / 1000
                ),
            };
        }
        let welcome = match job.payload.as_deref().map(serde_json::from_str::<Actions>) {
            Some(Ok(Actions {
                welcome: Some(w), ..
            })) if w.via == Via::Kefu => w,
            _ => return dead("the job carries no kefu welcome".into()),
        };
        let Some(openid) = job.openid.as_deref() else {
            return dead("the job has no follower".into());
        };
        let Some(message) = welcome.kefu() else {
            return dead("the welcome is not a kefu message".into());
        };
        let Some(account) = self.accounts.by_id(job.account_id) else {
            return dead(format!("account {} is not known", job.account_id));
        };
        let wechat = match account.wechat() {
            Ok(w) => w.clone(),
            Err(e) => {
                return Outcome::Retry {
                    error: e.to_string(),
                    code: None,
                };
            }
        };
        let sent = match &*wechat {
            WeChat::Sandbox(_) => {
                tracing::info!(
                    job = job.id,
                    openid,
                    "sandbox: kefu welcome not sent to WeChat"
                );
                Ok(())
            }
            WeChat::Live(live) => {
                live.call(|token| {
                    let message = &message;
                    async move { live.client.send_custom(&token, openid, message).await }
                })
                .await
            }
        };
        let (label, outcome) = match sent {
            Ok(()) => ("sent", Outcome::Done { code: Some(0) }),
            // No answer, or one we cannot read: WeChat may have sent it, and a retry could
            // welcome the follower twice.
            Err(e @ (WeChatError::Timeout(_) | WeChatError::Decode(_))) => (
                "unknown",
                Outcome::Dropped {
                    reason: format!("not retried, as it may have been sent: {e}"),
                },
            ),
            Err(WeChatError::Transport(t)) if !t.is_connect() => (
                "unknown",
                Outcome::Dropped {
                    reason: format!(
                        "not retried, as it may have been sent: WeChat's answer was lost ({t})"
                    ),
                },
            ),
            Err(e) => match e.errcode() {
                Some(c @ (ERR_REPLY_TIME_LIMIT | ERR_REPLY_COUNT_LIMIT)) => (
                    "refused",
                    Outcome::Dropped {
                        reason: format!("WeChat refused it (errcode {c}): {e}"),
                    },
                ),
                Some(c)
                    if !e.is_busy()
                        && !e.is_stale_token()
                        && c != crate::wechat::error::ERR_QUOTA =>
                {
                    (
                        "refused",
                        Outcome::Dead {
                            error: e.to_string(),
                            code: Some(c),
                        },
                    )
                }
                code => (
                    "failed",
                    Outcome::Retry {
                        error: e.to_string(),
                        code,
                    },
                ),
            },
        };
        metrics::counter!("qrscene_kefu_messages_total", "outcome" => label).increment(1);
        outcome
    }
}
