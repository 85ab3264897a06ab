//! The access token: cached with its expiry, refreshed ahead of it, fetched once at a time.
//!
//! Inside a process, concurrent callers share one in-flight fetch (a mutex around the slow
//! path). Across processes, Redis holds the token under a per-appid key and a lock
//! (`SET NX PX`, released only by its owner) lets one instance fetch while the others wait
//! and re-read. Without Redis the token lives in this process only.
//!
//! Every Redis command has [`REDIS_DEADLINE`]: Redis down, refusing or hung costs one
//! deadline, after which this process fetches the token itself (one fetch at a time, kept
//! in its own cache), logs it and counts `qrscene_redis_degraded_total{op="token"}`.

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
/// How long one Redis command may take before the provider stops relying on Redis for
/// this call (the client itself would retry a lost connection for 6-12 s).
pub const REDIS_DEADLINE: Duration = Duration::from_millis(500);

const RELEASE_IF_OWNER: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

#[derive(Clone)]
struct Cached {
    value: Arc<str>,
    refresh_at: Instant,
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
        let (value, ttl) = match &self.shared {
            Some(shared) => shared.get_or_fetch(&self.client).await?,
            None => {
                let token = self.client.fetch_token().await?;
                (token.access_token.clone(), cache_ttl(&token))
            }
        };
        let value: Arc<str> = value.into();
        self.set_local(Some(Cached {
            value: value.clone(),
            refresh_at: Instant::now() + ttl,
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
    /// instance that holds the lock. Redis failing falls back to a direct fetch.
    async fn get_or_fetch(&self, client: &ApiClient) -> Result<(String, Duration), WeChatError> {
        match self.get_or_fetch_locked(client).await {
            Ok(found) => Ok(found),
            Err(SharedError::WeChat(e)) => Err(e),
            Err(SharedError::Redis(e)) => {
                tracing::warn!(error.message = %e, "Redis unavailable for the token cache; fetching directly");
                crate::scans::bus::degraded("token");
                let token = client.fetch_token().await?;
                Ok((token.access_token.clone(), cache_ttl(&token)))
            }
        }
    }

    async fn get_or_fetch_locked(
        &self,
        client: &ApiClient,
    ) -> Result<(String, Duration), SharedError> {
        let deadline = Instant::now() + LOCK_WAIT;
        let owner = uuid::Uuid::new_v4().to_string();
        let mut conn = self.conn.clone();
        loop {
            if let Some(found) = self.read(&mut conn).await? {
                return Ok(found);
            }
            let locked: Option<String> = bounded(
                redis::cmd("SET")
                    .arg(&self.lock_key)
                    .arg(&owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(LOCK_TTL.as_millis() as u64)
                    .query_async(&mut conn),
            )
            .await?;
            if locked.is_some() {
                let result = self.fetch_and_store(client, &mut conn).await;
                let released: Result<i64, _> = bounded(
                    redis::Script::new(RELEASE_IF_OWNER)
                        .key(&self.lock_key)
                        .arg(&owner)
                        .invoke_async(&mut conn),
                )
                .await;
                if let Err(SharedError::Redis(e)) = released {
                    tracing::warn!(error.message = %e, "could not release the token lock; it expires by itself");
                }
                return result;
            }
            if Instant::now() >= deadline {
                return Err(SharedError::WeChat(WeChatError::TokenWait));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    async fn fetch_and_store(
        &self,
        client: &ApiClient,
        conn: &mut ConnectionManager,
    ) -> Result<(String, Duration), SharedError> {
        // Another instance may have stored a token between our read and our lock.
        if let Some(found) = self.read(conn).await? {
            return Ok(found);
        }
        let token = client.fetch_token().await.map_err(SharedError::WeChat)?;
        let ttl = cache_ttl(&token);
        let stored: Result<(), _> = bounded(
            redis::cmd("SET")
                .arg(&self.key)
                .arg(&token.access_token)
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async(conn),
        )
        .await;
        if let Err(SharedError::Redis(e)) = stored {
            // The token is good; only the other instances will not find it.
            tracing::warn!(error.message = %e, "could not share the token through Redis");
            crate::scans::bus::degraded("token");
        }
        Ok((token.access_token, ttl))
    }

    async fn read(
        &self,
        conn: &mut ConnectionManager,
    ) -> Result<Option<(String, Duration)>, SharedError> {
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
            (Some(v), Ok(ms)) if ms > 0 => Some((v, Duration::from_millis(ms))),
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
