//! The access token: cached with its expiry, refreshed ahead of it, fetched once at a time.
//!
//! Inside a process, concurrent callers share one in-flight fetch (a mutex around the slow
//! path). Across processes, Redis holds the token under a per-appid key and a lock
//! (`SET NX PX`, released only by its owner) lets one instance fetch while the others wait
//! and re-read. Without Redis the token lives in this process only.
//!
//! Every Redis command has [`REDIS_DEADLINE`]: Redis down, refusing or hung costs one
//! deadline, after which this process serves its own cached token while WeChat still
//! accepts it, or else fetches one itself (one fetch at a time, kept in its own cache); it
//! logs that and counts `qrscene_redis_degraded_total{op="token"}`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::client::{AccessToken, ApiClient};
use super::error::WeChatError;

/// How long before WeChat's expiry a token is refreshed (or half its life, if shorter).
pub const REFRESH_AHEAD: Duration = Duration::from_secs(300);
/// How long the Redis fetch lock lives if its owner dies holding it: longer than one
/// fetch can take (3 attempts of `WECHAT_TIMEOUT_MS` plus backoff at the default 5 s).
const LOCK_TTL: Duration = Duration::from_secs(30);
/// How often a waiting instance re-reads Redis.
const LOCK_POLL: Duration = Duration::from_millis(20);
/// How long an instance waits for another one's fetch before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(35);
/// Slow Redis answers waited out while another instance is seen fetching the token.
const SLOW_POLLS: u32 = 3;
/// How long one Redis command may take before the provider stops relying on Redis for
/// this call (the client itself would retry a lost connection for 6-12 s).
pub const REDIS_DEADLINE: Duration = Duration::from_millis(500);
/// After Redis failed, how long this instance serves its own unexpired token before asking
/// Redis again: callers meanwhile take it without waiting on the refresh lock.
const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);

const RELEASE_IF_OWNER: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

#[derive(Clone)]
struct Cached {
    value: Arc<str>,
    refresh_at: Instant,
    /// When WeChat stops accepting it (at the earliest): until then it may stand in while
    /// Redis is unavailable.
    expires_at: Instant,
}

/// A token and how long it is good for, from now.
struct Lease {
    value: String,
    /// Until it should be refreshed.
    refresh_in: Duration,
    /// Until WeChat stops accepting it (at the earliest).
    expires_in: Duration,
}

impl Lease {
    fn fetched(token: &AccessToken) -> Self {
        Self {
            value: token.access_token.clone(),
            refresh_in: cache_ttl(token),
            expires_in: Duration::from_secs(token.expires_in),
        }
    }
}

/// Hands out a valid access token for one account.
pub struct TokenProvider {
    client: ApiClient,
    local: Mutex<Option<Cached>>,
    refresh: tokio::sync::Mutex<()>,
    shared: Option<SharedTokens>,
}

impl TokenProvider {
    /// A provider that caches in this process only, or in Redis too when given.
    pub fn new(client: ApiClient, redis: Option<ConnectionManager>) -> Self {
        let shared = redis.map(|conn| SharedTokens {
            key: format!("qrscene:token:{}", client.appid()),
            lock_key: format!("qrscene:token:{}:lock", client.appid()),
            conn,
        });
        Self {
            client,
            local: Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
            shared,
        }
    }

    /// A token valid for a while yet.
    ///
    /// # Errors
    /// The fetch failed (see [`ApiClient::fetch_token`]) or another instance's fetch took
    /// longer than we wait.
    pub async fn get(&self) -> Result<Arc<str>, WeChatError> {
        if let Some(token) = self.fresh_local() {
            return Ok(token);
        }
        let _one_fetch = self.refresh.lock().await;
        if let Some(token) = self.fresh_local() {
            return Ok(token);
        }
        let lease = match &self.shared {
            Some(shared) => match shared.get_or_fetch(&self.client).await {
                Ok(lease) => lease,
                Err(SharedError::WeChat(e)) => return Err(e),
                Err(SharedError::Redis(e)) => {
                    crate::scans::bus::degraded("token");
                    if let Some(token) = self.unexpired_local() {
                        self.postpone_refresh(REDIS_RETRY_AFTER);
                        tracing::warn!(error.message = %e, "Redis unavailable for the token cache; serving this instance's token until it expires");
                        return Ok(token);
                    }
                    tracing::warn!(error.message = %e, "Redis unavailable for the token cache; fetching directly");
                    Lease::fetched(&self.client.fetch_token().await?)
                }
            },
            None => Lease::fetched(&self.client.fetch_token().await?),
        };
        let value: Arc<str> = lease.value.into();
        let now = Instant::now();
        self.set_local(Some(Cached {
            value: value.clone(),
            refresh_at: now + lease.refresh_in,
            expires_at: now + lease.expires_in,
        }));
        Ok(value)
    }

    /// Drops `failed` from every cache, unless a newer token has replaced it already.
    pub async fn invalidate(&self, failed: &str) {
        {
            let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
            if local.as_ref().is_some_and(|c| &*c.value == failed) {
                *local = None;
            }
        }
        if let Some(shared) = &self.shared {
            shared.invalidate(failed).await;
        }
    }

    fn fresh_local(&self) -> Option<Arc<str>> {
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        local
            .as_ref()
            .filter(|c| Instant::now() < c.refresh_at)
            .map(|c| c.value.clone())
    }

    /// This instance's token past its refresh time but not its expiry.
    /// Moves the local token's refresh time `by` from now (never past its expiry).
    fn postpone_refresh(&self, by: Duration) {
        let mut local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cached) = local.as_mut() {
            cached.refresh_at = (Instant::now() + by).min(cached.expires_at);
        }
    }

    fn unexpired_local(&self) -> Option<Arc<str>> {
        let local = self.local.lock().unwrap_or_else(|p| p.into_inner());
        local
            .as_ref()
            .filter(|c| Instant::now() < c.expires_at)
            .map(|c| c.value.clone())
    }

    fn set_local(&self, value: Option<Cached>) {
        *self.local.lock().unwrap_or_else(|p| p.into_inner()) = value;
    }
}

/// How long a freshly fetched token is served from a cache.
fn cache_ttl(token: &AccessToken) -> Duration {
    let life = Duration::from_secs(token.expires_in);
    let ahead = REFRESH_AHEAD.min(life / 2);
    (life - ahead).max(Duration::from_millis(500))
}

/// The token shared by every instance through Redis.
struct SharedTokens {
    conn: ConnectionManager,
    key: String,
    lock_key: String,
}

impl SharedTokens {
    /// Reads the shared token; if there is none, fetches it under the lock or waits for the
    /// instance that holds the lock. Redis failing is the caller's to handle; while another
    /// instance is seen fetching, a few slow answers are waited out rather than treated as
    /// Redis gone (a second fetch would replace the token under `classic` mode).
    async fn get_or_fetch(&self, client: &ApiClient) -> Result<Lease, SharedError> {
        let deadline = Instant::now() + LOCK_WAIT;
        let owner = uuid::Uuid::new_v4().to_string();
        let mut conn = self.conn.clone();
        let mut slow_polls = 0;
        let mut waiting = false;
        loop {
            match self.poll(client, &owner, &mut conn).await {
                Ok(Some(lease)) => return Ok(lease),
                Ok(None) => waiting = true,
                Err(SharedError::Redis(e)) if waiting && slow_polls < SLOW_POLLS => {
                    slow_polls += 1;
                    tracing::debug!(error.message = %e, slow_polls, "slow Redis while waiting for another instance's token");
                }
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(SharedError::WeChat(WeChatError::TokenWait));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// One look: the shared token, or ours fetched under the lock; `None` while another
    /// instance holds the lock.
    async fn poll(
        &self,
        client: &ApiClient,
        owner: &str,
        conn: &mut ConnectionManager,
    ) -> Result<Option<Lease>, SharedError> {
        if let Some(found) = self.read(conn).await? {
            return Ok(Some(found));
        }
        let locked: Option<String> = bounded(
            redis::cmd("SET")
                .arg(&self.lock_key)
                .arg(owner)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_TTL.as_millis() as u64)
                .query_async(conn),
        )
        .await?;
        if locked.is_none() {
            return Ok(None);
        }
        let result = self.fetch_and_store(client, conn).await;
        let released: Result<i64, _> = bounded(
            redis::Script::new(RELEASE_IF_OWNER)
                .key(&self.lock_key)
                .arg(owner)
                .invoke_async(conn),
        )
        .await;
        if let Err(SharedError::Redis(e)) = released {
            tracing::warn!(error.message = %e, "could not release the token lock; it expires by itself");
        }
        result.map(Some)
    }

    async fn fetch_and_store(
        &self,
        client: &ApiClient,
        conn: &mut ConnectionManager,
    ) -> Result<Lease, SharedError> {
        // Another instance may have stored a token between our read and our lock.
        if let Some(found) = self.read(conn).await? {
            return Ok(found);
        }
        let token = client.fetch_token().await.map_err(SharedError::WeChat)?;
        let lease = Lease::fetched(&token);
        let stored: Result<(), _> = bounded(
            redis::cmd("SET")
                .arg(&self.key)
                .arg(&token.access_token)
                .arg("PX")
                .arg(lease.refresh_in.as_millis() as u64)
                .query_async(conn),
        )
        .await;
        if let Err(SharedError::Redis(e)) = stored {
            // The token is good; only the other instances will not find it.
            tracing::warn!(error.message = %e, "could not share the token through Redis");
            crate::scans::bus::degraded("token");
        }
        Ok(lease)
    }

    /// The shared token. Redis keeps it until its refresh time; WeChat accepts it for at
    /// least as long again, up to [`REFRESH_AHEAD`] (see [`cache_ttl`]).
    async fn read(&self, conn: &mut ConnectionManager) -> Result<Option<Lease>, SharedError> {
        let (value, pttl): (Option<String>, i64) = bounded(
            redis::pipe()
                .cmd("GET")
                .arg(&self.key)
                .cmd("PTTL")
                .arg(&self.key)
                .query_async(conn),
        )
        .await?;
        Ok(match (value, u64::try_from(pttl)) {
            (Some(value), Ok(ms)) if ms > 0 => {
                let refresh_in = Duration::from_millis(ms);
                Some(Lease {
                    value,
                    refresh_in,
                    expires_in: refresh_in + REFRESH_AHEAD.min(refresh_in),
                })
            }
            _ => None,
        })
    }

    async fn invalidate(&self, failed: &str) {
        let mut conn = self.conn.clone();
        let dropped: Result<i64, _> = bounded(
            redis::Script::new(RELEASE_IF_OWNER)
                .key(&self.key)
                .arg(failed)
                .invoke_async(&mut conn),
        )
        .await;
        if let Err(SharedError::Redis(e)) = dropped {
            tracing::warn!(error.message = %e, "could not drop the rejected token from Redis");
            crate::scans::bus::degraded("token");
        }
    }
}

enum SharedError {
    Redis(redis::RedisError),
    WeChat(WeChatError),
}

/// `command` with [`REDIS_DEADLINE`]; running out of it is a Redis error like any other.
async fn bounded<T>(
    command: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, SharedError> {
    match tokio::time::timeout(REDIS_DEADLINE, command).await {
        Ok(answer) => Ok(answer?),
        Err(_) => Err(SharedError::Redis(redis::RedisError::from((
            redis::ErrorKind::Io,
            "no answer within the deadline",
            format!("{REDIS_DEADLINE:?}"),
        )))),
    }
}

impl From<redis::RedisError> for SharedError {
    fn from(e: redis::RedisError) -> Self {
        Self::Redis(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_refreshed_ahead_of_expiry() {
        let t = |s| AccessToken {
            access_token: String::new(),
            expires_in: s,
        };
        assert_eq!(cache_ttl(&t(7200)), Duration::from_secs(6900));
        assert_eq!(cache_ttl(&t(60)), Duration::from_secs(30));
        assert_eq!(cache_ttl(&t(0)), Duration::from_millis(500));
    }
}
