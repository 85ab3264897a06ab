//! The token shared by every instance through Redis, under per-appid keys:
//!
//! - `qrscene:token:{appid}`: the token alone, kept until its refresh time (the format of
//!   earlier versions, which a rolling deploy still reads);
//! - `qrscene:token:{appid}:meta`: `fetched_ms:expires_ms:token`, its wall-clock times;
//! - `qrscene:token:{appid}:lock`: the fetch lock (`SET NX PX`, released only by its owner);
//! - `qrscene:token:{appid}:forced`: the time of the last forced refresh (stable mode), kept
//!   for [`FORCED_REFRESH_INTERVAL`].
//!
//! Whoever fetches holds the lock; the others wait and re-read. A report of a stale token
//! refetches only if Redis still holds that very token, re-checked under the lock, so any
//! number of reports across any number of instances cost one fetch.

use std::time::{Duration, Instant};

use redis::aio::ConnectionManager;

use super::lease::{Lease, encode_meta};
use super::{FORCED_REFRESH_INTERVAL, Replacement, replace};
use crate::wechat::client::ApiClient;
use crate::wechat::error::WeChatError;

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

const RELEASE_IF_OWNER: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// What the caller will take.
#[derive(Clone, Copy)]
pub(super) enum Want<'a> {
    /// Any token Redis holds (the read path).
    Any,
    /// A token other than this one, which a caller reported WeChat refused.
    Replace(&'a str),
}

impl Want<'_> {
    fn accepts(self, lease: &Lease) -> bool {
        match self {
            Self::Any => true,
            Self::Replace(stale) => &*lease.info.access_token != stale,
        }
    }
}

/// Where the token handed back came from.
pub(super) enum Got {
    /// Redis held it.
    Cached,
    /// This instance fetched it.
    Fetched,
    /// This instance fetched it with a forced refresh (stable mode, replacing a reported
    /// token).
    Forced,
    /// The reported token itself: it is the current one, and a forced refresh is not
    /// allowed yet.
    Throttled,
}

pub(super) enum SharedError {
    Redis(redis::RedisError),
    WeChat(WeChatError),
}

impl From<redis::RedisError> for SharedError {
    fn from(e: redis::RedisError) -> Self {
        Self::Redis(e)
    }
}

/// The Redis keys of one appid.
pub(super) struct SharedTokens {
    conn: ConnectionManager,
    key: String,
    meta_key: String,
    lock_key: String,
    forced_key: String,
}

impl SharedTokens {
    pub(super) fn new(conn: ConnectionManager, appid: &str) -> Self {
        let key = format!("qrscene:token:{appid}");
        Self {
            conn,
            meta_key: format!("{key}:meta"),
            lock_key: format!("{key}:lock"),
            forced_key: format!("{key}:forced"),
            key,
        }
    }

    /// A token `want` accepts: the shared one, or one fetched under the lock, or (waiting
    /// for the instance that holds the lock) the one it stores. Redis failing is the
    /// caller's to handle; while another instance is seen fetching, a few slow answers are
    /// waited out rather than treated as Redis gone (a second fetch would replace the token
    /// under `classic` mode).
    pub(super) async fn obtain(
        &self,
        client: &ApiClient,
        want: Want<'_>,
    ) -> Result<(Lease, Got), SharedError> {
        let deadline = Instant::now() + LOCK_WAIT;
        let owner = uuid::Uuid::new_v4().to_string();
        let mut conn = self.conn.clone();
        let mut slow_polls = 0;
        let mut waiting = false;
        loop {
            match self.poll(client, want, &owner, &mut conn).await {
                Ok(Some(found)) => return Ok(found),
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

    /// One look: the shared token if `want` accepts it, or what [`Self::under_lock`] gives;
    /// `None` while another instance holds the lock.
    async fn poll(
        &self,
        client: &ApiClient,
        want: Want<'_>,
        owner: &str,
        conn: &mut ConnectionManager,
    ) -> Result<Option<(Lease, Got)>, SharedError> {
        if let Some(found) = self.read(conn).await?.filter(|l| want.accepts(l)) {
            return Ok(Some((found, Got::Cached)));
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
        let result = self.under_lock(client, want, conn).await;
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

    /// Holding the lock: the shared token read again (another instance may have stored one
    /// between our read and our lock), else a fetch; the reported token itself is replaced
    /// by [`replace`], under the forced-refresh limit kept in Redis.
    async fn under_lock(
        &self,
        client: &ApiClient,
        want: Want<'_>,
        conn: &mut ConnectionManager,
    ) -> Result<(Lease, Got), SharedError> {
        let current = match self.read(conn).await? {
            Some(found) if want.accepts(&found) => return Ok((found, Got::Cached)),
            found => found,
        };
        let Some(current) = current else {
            let token = client.fetch_token().await.map_err(SharedError::WeChat)?;
            return Ok((self.store(Lease::fetched(&token), conn).await, Got::Fetched));
        };
        let recently_forced = self.forced_recently(client, conn).await?;
        match replace(client, recently_forced)
            .await
            .map_err(SharedError::WeChat)?
        {
            Replacement::Fetched(lease) => Ok((self.store(lease, conn).await, Got::Fetched)),
            Replacement::Forced(lease) => {
                self.mark_forced(conn).await;
                Ok((self.store(lease, conn).await, Got::Forced))
            }
            Replacement::DayLimit => {
                self.mark_forced(conn).await;
                Ok((current, Got::Throttled))
            }
            Replacement::Throttled => Ok((current, Got::Throttled)),
        }
    }

    /// Shares `lease` with the other instances. The token is good whether or not Redis takes
    /// it; only the other instances will not find it.
    async fn store(&self, lease: Lease, conn: &mut ConnectionManager) -> Lease {
        let px = lease.refresh_in.as_millis() as u64;
        let stored: Result<(), _> = bounded(
            redis::pipe()
                .atomic()
                .cmd("SET")
                .arg(&self.key)
                .arg(&*lease.info.access_token)
                .arg("PX")
                .arg(px)
                .ignore()
                .cmd("SET")
                .arg(&self.meta_key)
                .arg(encode_meta(&lease.info))
                .arg("PX")
                .arg(px)
                .ignore()
                .query_async(conn),
        )
        .await;
        if let Err(SharedError::Redis(e)) = stored {
            tracing::warn!(error.message = %e, "could not share the token through Redis");
            crate::scans::bus::degraded("token");
        }
        lease
    }

    /// Whether any instance forced a refresh less than [`FORCED_REFRESH_INTERVAL`] ago
    /// (stable mode only: classic mode has no such limit).
    async fn forced_recently(
        &self,
        client: &ApiClient,
        conn: &mut ConnectionManager,
    ) -> Result<bool, SharedError> {
        if client.mode() != crate::config::TokenMode::Stable {
            return Ok(false);
        }
        let exists: i64 =
            bounded(redis::cmd("EXISTS").arg(&self.forced_key).query_async(conn)).await?;
        Ok(exists > 0)
    }

    /// Starts the forced-refresh interval for every instance. Failing, the next report may
    /// force a refresh early, which WeChat answers with the current token.
    async fn mark_forced(&self, conn: &mut ConnectionManager) {
        let marked: Result<(), _> = bounded(
            redis::cmd("SET")
                .arg(&self.forced_key)
                .arg(chrono::Utc::now().timestamp_millis())
                .arg("PX")
                .arg(FORCED_REFRESH_INTERVAL.as_millis() as u64)
                .query_async(conn),
        )
        .await;
        if let Err(SharedError::Redis(e)) = marked {
            tracing::warn!(error.message = %e, "could not share the time of the forced refresh");
            crate::scans::bus::degraded("token");
        }
    }

    /// The shared token, with its times when they were stored beside it.
    async fn read(&self, conn: &mut ConnectionManager) -> Result<Option<Lease>, SharedError> {
        let (value, pttl, meta): (Option<String>, i64, Option<String>) = bounded(
            redis::pipe()
                .cmd("GET")
                .arg(&self.key)
                .cmd("PTTL")
                .arg(&self.key)
                .cmd("GET")
                .arg(&self.meta_key)
                .query_async(conn),
        )
        .await?;
        Ok(match (value, u64::try_from(pttl)) {
            (Some(value), Ok(ms)) if ms > 0 => Some(Lease::shared(
                &value,
                Duration::from_millis(ms),
                meta.as_deref(),
            )),
            _ => None,
        })
    }
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
