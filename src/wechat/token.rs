//! The access token of one account: the accounts' single token service.
//!
//! [`TokenProvider::current`] serves the token with its wall-clock times from a cache, and
//! fetches only when it is due (refreshed [`REFRESH_AHEAD`] of WeChat's expiry, or half its
//! life if shorter). Inside a process, concurrent callers share one in-flight fetch (a mutex
//! around the slow path). Across processes, Redis holds the token and its times under
//! per-appid keys, and a lock (`SET NX PX`, released only by its owner) lets one instance
//! fetch while the others wait and re-read (see `shared`): one fetch per expiry, whatever the
//! number of instances. With Redis, an instance re-reads it at least every
//! [`LOCAL_RECHECK`], so a token replaced elsewhere is not served for longer. Without Redis
//! the token lives in this process only.
//!
//! A caller whose token WeChat refused (40001/42001) reports it to
//! [`TokenProvider::invalidate_if_current`]: a new token is fetched only if the reported one
//! is still the current one (checked in Redis, under the lock, when there is Redis), so any
//! number of reports of one stale token cost one fetch. In stable mode that fetch is a forced
//! refresh, which WeChat allows about 20 times a day and 30 s apart: a report within
//! [`FORCED_REFRESH_INTERVAL`] of the last forced refresh (of any instance: its time is kept
//! in Redis) gets the current token back and fetches nothing, and so does one after WeChat's
//! daily limit (45009). In classic mode a new token is fetched.
//!
//! Every Redis command has [`REDIS_DEADLINE`]: Redis down, refusing or hung costs one
//! deadline, after which this process serves its own cached token while WeChat still
//! accepts it (asking Redis again after 5 s), or else fetches one itself (one fetch at a
//! time, kept in its own cache); it logs that and counts
//! `qrscene_redis_degraded_total{op="token"}`. A report is then judged against this
//! process's own token and forced-refresh time.
//!
//! Metrics, per account (`appid`): `qrscene_tokens_served_total` (tokens handed out by
//! [`TokenProvider::current`]), `qrscene_token_invalidations_total{outcome}` (reports, by
//! [`InvalidationOutcome`] or `failed`); the client counts the fetches.

mod lease;
mod shared;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use redis::aio::ConnectionManager;

use super::client::ApiClient;
use super::error::{ERR_QUOTA, WeChatError};
use crate::config::TokenMode;
use lease::Lease;
pub use shared::REDIS_DEADLINE;
use shared::{Got, SharedError, SharedTokens, Want};

/// How long before WeChat's expiry a token is refreshed (or half its life, if shorter).
pub const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// How far apart two forced refreshes of a stable token must be (WeChat's rule: a closer one
/// refreshes nothing).
pub const FORCED_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// With Redis, how long an instance serves its own copy of the shared token before reading
/// Redis again: the longest another instance's replacement goes unseen.
pub const LOCAL_RECHECK: Duration = Duration::from_secs(2);
/// After Redis failed, how long this instance serves its own unexpired token before asking
/// Redis again: callers meanwhile take it without waiting on the refresh lock.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An access token as the token service hands it out.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The token, for WeChat's `access_token` parameter. A secret: never logged.
    pub access_token: Arc<str>,
    /// When WeChat stops accepting it (as WeChat's `expires_in` said when it was fetched).
    pub expires_at: DateTime<Utc>,
    /// When it was fetched from WeChat.
    pub fetched_at: DateTime<Utc>,
}

impl std::fmt::Debug for TokenInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenInfo")
            .field("access_token", &"[redacted]")
            .field("expires_at", &self.expires_at)
            .field("fetched_at", &self.fetched_at)
            .finish()
    }
}

/// What a report of a stale token led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidationOutcome {
    /// The reported token was the current one: a new one was fetched.
    Refreshed,
    /// A newer token had replaced the reported one already: nothing was fetched.
    AlreadyReplaced,
    /// The reported token is the current one, but stable mode allows no forced refresh yet
    /// (within 30 s of the last, or WeChat's daily limit spent): nothing was fetched, and
    /// the current token is handed back.
    Throttled,
}

impl InvalidationOutcome {
    /// The outcome's name in metrics and API answers: `refreshed`, `already_replaced` or
    /// `throttled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::AlreadyReplaced => "already_replaced",
            Self::Throttled => "throttled",
        }
    }
}

/// The answer to a report of a stale token.
#[derive(Debug, Clone)]
pub struct Invalidated {
    /// The token to use now: the fresh one, or the current one.
    pub token: TokenInfo,
    /// What the report led to.
    pub outcome: InvalidationOutcome,
}

#[derive(Clone)]
struct Cached {
    lease: Lease,
    /// When to ask Redis or WeChat again.
    refresh_at: Instant,
    /// When WeChat stops accepting it (at the earliest): until then it may stand in while
    /// Redis is unavailable.
    expires_at: Instant,
}

/// Hands out a valid access token for one account (appid).
pub struct TokenProvider {
    client: ApiClient,
    local: Mutex<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
    /// When this process last forced a refresh: what it goes by without Redis.
    last_forced: Mutex<Option<Instant>>,
    shared: Option<SharedTokens>,
}

impl TokenProvider {
    /// A provider that caches in this process only, or in Redis too when given (under keys
    /// named after the client's appid).
    pub fn new(client: ApiClient, redis: Option<ConnectionManager>) -> Self {
        let shared = redis.map(|conn| SharedTokens::new(conn, client.appid()));
        Self {
            client,
            local: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            last_forced: Mutex::new(None),
            shared,
        }
    }

    /// The account's appid.
    pub fn appid(&self) -> &str {
        self.client.appid()
    }

    /// The current token with its times, from the cache; fetched only when it is due.
    /// Counts in `qrscene_tokens_served_total{appid}`.
    ///
    /// # Errors
    /// The fetch failed (see [`ApiClient::fetch_token`]) or another instance's fetch took
    /// longer than we wait.
    pub async fn current(&self) -> Result<TokenInfo, WeChatError> {
        let info = self.cached_or_fetched().await?;
        metrics::counter!("qrscene_tokens_served_total", "appid" => self.appid().to_owned())
            .increment(1);
        Ok(info)
    }

    /// A token valid for a while yet: [`TokenProvider::current`]'s token, for the service's
    /// own calls (not counted as served).
    ///
    /// # Errors
    /// As [`TokenProvider::current`].
    pub async fn get(&self) -> Result<Arc<str>, WeChatError> {
        Ok(self.cached_or_fetched().await?.access_token)
    }

    /// A caller reports `stale`, a token WeChat refused (40001/42001). Only if it is still
    /// the current token is a new one fetched: forced in stable mode, unless the last forced
    /// refresh (of any instance) was less than [`FORCED_REFRESH_INTERVAL`] ago. Answers the
    /// token to use now and what happened; counts in
    /// `qrscene_token_invalidations_total{appid, outcome}`.
    ///
    /// # Errors
    /// The fetch failed (see [`ApiClient::refresh_token`]) or another instance's fetch took
    /// longer than we wait.
    pub async fn invalidate_if_current(&self, stale: &str) -> Result<Invalidated, WeChatError> {
        let result = self.replace_stale(stale).await;
        let outcome = result.as_ref().map_or("failed", |r| r.outcome.as_str());
        metrics::counter!("qrscene_token_invalidations_total", "appid" => self.appid().to_owned(), "outcome" => outcome)
            .increment(1);
        if let Ok(r) = &result {
            tracing::debug!(appid = self.appid(), outcome, expires_at = %r.token.expires_at, "stale access token reported");
        }
        result
    }

    /// [`TokenProvider::invalidate_if_current`] for the service's own calls, which then
    /// [`TokenProvider::get`] the token to retry with. If no new token could be had, `failed`
    /// is dropped from this process's cache, so that `get` fetches and reports why.
    pub async fn invalidate(&self, failed: &str) {
        if let Err(e) = self.invalidate_if_current(failed).await {
            tracing::warn!(error.message = %e, "could not replace the rejected access token");
            let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
            if local
                .as_ref()
                .is_some_and(|c| &*c.lease.info.access_token == failed)
            {
                *local = None;
            }
        }
    }

    async fn cached_or_fetched(&self) -> Result<TokenInfo, WeChatError> {
        if let Some(info) = self.fresh_local() {
            return Ok(info);
        }
        let _one_fetch = self.refresh.lock().await;
        if let Some(info) = self.fresh_local() {
            return Ok(info);
        }
        let lease = match &self.shared {
            Some(shared) => match shared.obtain(&self.client, Want::Any).await {
                Ok((lease, _)) => lease,
                Err(SharedError::WeChat(e)) => return Err(e),
                Err(SharedError::Redis(e)) => {
                    crate::scans::bus::degraded("token");
                    if let Some(cached) = self.unexpired_local() {
                        self.postpone_refresh(REDIS_RETRY_AFTER);
                        tracing::warn!(error.message = %e, "Redis unavailable for the token cache; serving this instance's token until it expires");
                        return Ok(cached.lease.info);
                    }
                    tracing::warn!(error.message = %e, "Redis unavailable for the token cache; fetching directly");
                    Lease::fetched(&self.client.fetch_token().await?)
                }
            },
            None => Lease::fetched(&self.client.fetch_token().await?),
        };
        Ok(self.keep(lease))
    }

    async fn replace_stale(&self, stale: &str) -> Result<Invalidated, WeChatError> {
        let _one_fetch = self.refresh.lock().await;
        let (lease, outcome) = match &self.shared {
            Some(shared) => match shared.obtain(&self.client, Want::Replace(stale)).await {
                Ok((lease, got)) => {
                    if matches!(got, Got::Forced) {
                        // Should Redis fail later, this process still knows.
                        self.mark_forced();
                    }
                    (lease, outcome_of(&got))
                }
                Err(SharedError::WeChat(e)) => return Err(e),
                Err(SharedError::Redis(e)) => {
                    crate::scans::bus::degraded("token");
                    tracing::warn!(error.message = %e, "Redis unavailable for the token cache; judging the report by this instance's token");
                    self.replace_locally(stale).await?
                }
            },
            None => self.replace_locally(stale).await?,
        };
        Ok(Invalidated {
            token: self.keep(lease),
            outcome,
        })
    }

    /// A report judged by this process alone: its own token and forced-refresh time.
    async fn replace_locally(
        &self,
        stale: &str,
    ) -> Result<(Lease, InvalidationOutcome), WeChatError> {
        let Some(current) = self.unexpired_local().map(|c| c.lease) else {
            let lease = Lease::fetched(&self.client.fetch_token().await?);
            return Ok((lease, InvalidationOutcome::Refreshed));
        };
        if &*current.info.access_token != stale {
            return Ok((current, InvalidationOutcome::AlreadyReplaced));
        }
        let recently_forced = self.client.mode() == TokenMode::Stable
            && self
                .last_forced
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some_and(|at| at.elapsed() < FORCED_REFRESH_INTERVAL);
        Ok(match replace(&self.client, recently_forced).await? {
            Replacement::Fetched(lease) => (lease, InvalidationOutcome::Refreshed),
            Replacement::Forced(lease) => {
                self.mark_forced();
                (lease, InvalidationOutcome::Refreshed)
            }
            Replacement::DayLimit => {
                self.mark_forced();
                (current, InvalidationOutcome::Throttled)
            }
            Replacement::Throttled => (current, InvalidationOutcome::Throttled),
        })
    }

    fn mark_forced(&self) {
        *self.last_forced.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Keeps `lease` as this process's token; with Redis, only until [`LOCAL_RECHECK`].
    fn keep(&self, lease: Lease) -> TokenInfo {
        let now = Instant::now();
        let served_for = match self.shared {
            Some(_) => lease.refresh_in.min(LOCAL_RECHECK),
            None => lease.refresh_in,
        };
        let info = lease.info.clone();
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            refresh_at: now + served_for,
            expires_at: now + lease.expires_in,
            lease,
        });
        info
    }

    fn fresh_local(&self) -> Option<TokenInfo> {
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        local
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.lease.info.clone())
    }

    /// This instance's token, due for refresh or not, while WeChat still accepts it, with
    /// its lease counted from now.
    fn unexpired_local(&self) -> Option<Cached> {
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        local.as_ref().filter(|c| now < c.expires_at).map(|c| {
            let mut cached = c.clone();
            cached.lease.refresh_in = c.refresh_at.saturating_duration_since(now);
            cached.lease.expires_in = c.expires_at.saturating_duration_since(now);
            cached
        })
    }

    /// Moves the local token's refresh time `by` from now (never past its expiry).
    fn postpone_refresh(&self, by: Duration) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = local.as_mut() {
            cached.refresh_at = (Instant::now() + by).min(cached.expires_at);
        }
    }
}

fn outcome_of(got: &Got) -> InvalidationOutcome {
    match got {
        Got::Cached => InvalidationOutcome::AlreadyReplaced,
        Got::Fetched | Got::Forced => InvalidationOutcome::Refreshed,
        Got::Throttled => InvalidationOutcome::Throttled,
    }
}

/// What replacing the current token, which a caller reported stale, came to.
enum Replacement {
    /// Classic mode: a new token.
    Fetched(Lease),
    /// Stable mode: a forced refresh.
    Forced(Lease),
    /// Stable mode: WeChat refused the forced refresh, its daily limit spent (45009).
    DayLimit,
    /// Stable mode: the last forced refresh was less than [`FORCED_REFRESH_INTERVAL`] ago.
    Throttled,
}

/// Replaces the current token: one rule for Redis and for a process on its own.
async fn replace(client: &ApiClient, recently_forced: bool) -> Result<Replacement, WeChatError> {
    match client.mode() {
        TokenMode::Classic => Ok(Replacement::Fetched(Lease::fetched(
            &client.fetch_token().await?,
        ))),
        TokenMode::Stable if recently_forced => Ok(Replacement::Throttled),
        TokenMode::Stable => match client.refresh_token().await {
            Ok(token) => Ok(Replacement::Forced(Lease::fetched(&token))),
            Err(e) if e.errcode() == Some(ERR_QUOTA) => {
                tracing::warn!(
                    appid = client.appid(),
                    "WeChat's daily forced refreshes are spent; serving the current token"
                );
                Ok(Replacement::DayLimit)
            }
            Err(e) => Err(e),
        },
    }
}
