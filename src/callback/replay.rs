//! Binding a plaintext push's signed query to the first body it arrived with, on every
//! instance.
//!
//! In plaintext mode WeChat's `signature` covers the token, `timestamp` and `nonce`, not the
//! body: whoever captures a push could send its query again with a body of their own for as
//! long as the timestamp is within `WECHAT_MAX_CLOCK_SKEW_SECS`. So the first body a signed
//! query arrives with is recorded (its SHA-256), for twice the skew (the whole time the
//! timestamp is accepted, whichever instance's clock is asked): the same query with the same
//! body again is WeChat's retry (it proceeds, and the event store answers it as the retry it
//! is); with another body it is a replay, refused.
//!
//! Safe and compatible mode need none of this: their `msg_signature` covers the ciphertext,
//! and only the decrypted message is used.
//!
//! The record is shared through Redis when it is configured (`SET NX PX` and a compare in
//! one script, the bindings of concurrent pushes in one pipeline, bounded by
//! [`crate::wechat::token::REDIS_DEADLINE`]), else through the database table
//! `callback_replay` (the bindings of concurrent pushes written in one statement, see
//! [`db`]; expired rows are deleted every [`SWEEP_EVERY`]). When Redis fails or does not
//! answer in time, the database stands in (and Redis is left alone for
//! [`REDIS_RETRY_AFTER`]); each such binding counts `qrscene_redis_degraded_total{op="replay"}`.
//!
//! The key is the signed query alone, not the account: two accounts that share a callback
//! token sign the same query alike, and a query captured on one account's URL must not
//! carry another body to the other's.

mod db;
mod redis_batch;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::TimeDelta;
use redis::aio::ConnectionManager;
use sea_orm::{DatabaseConnection, DbErr};
use sha2::{Digest, Sha256};

use db::DbBindings;
use redis_batch::RedisBindings;

/// After Redis failed, how long bindings go to the database before Redis is asked again
/// (so that a hung Redis costs one deadline per interval, not one per push).
pub const REDIS_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How often an instance deletes the expired rows of `callback_replay`.
pub const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// The longest a binding is kept (a year: far beyond any sensible clock skew).
const MAX_TTL_SECS: u64 = 366 * 24 * 3600;
/// Prefix of the Redis keys.
const KEY_PREFIX: &str = "qrscene:replay:";

/// Sets the binding unless present; answers 1 when it was set, 2 when the same body was
/// bound before, 0 when another one was. One key: fine on Redis Cluster.
const BIND: &str = r"if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 2 end
return 0";

/// What the guard made of a signed query and its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// The query's first arrival: now bound to this body.
    First,
    /// The query arrived before with this same body: WeChat's retry.
    Retry,
}

/// Why a push was not let through.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The signed query arrived before with another body.
    #[error(
        "this signed query (signature, timestamp, nonce) arrived before with another body: \
         a plaintext push's signature does not cover its body, so a query is bound to its \
         first body"
    )]
    Replayed,
    /// Neither Redis nor the database could record the binding.
    #[error("cannot record the push's signed query: {0}")]
    Db(#[from] DbErr),
}

/// The signed query parameters of a plaintext push, as sent.
#[derive(Debug, Clone, Copy)]
pub struct SignedQuery<'a> {
    /// `signature`.
    pub signature: &'a str,
    /// `timestamp`.
    pub timestamp: &'a str,
    /// `nonce`.
    pub nonce: &'a str,
}

impl SignedQuery<'_> {
    /// SHA-256 hex of `signature|timestamp|nonce` (unambiguous: a signature that held is
    /// hex, a timestamp that parsed is digits).
    fn hash(&self) -> String {
        let mut h = Sha256::new();
        for (i, part) in [self.signature, self.timestamp, self.nonce]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                h.update(b"|");
            }
            h.update(part.as_bytes());
        }
        hex::encode(h.finalize())
    }
}

/// The replay guard of the callback: one per instance, shared by its workers.
pub struct ReplayGuard {
    db: DbBindings,
    redis: Option<RedisBindings>,
    /// Until when Redis is left alone after a failure.
    redis_retry_at: Mutex<Option<Instant>>,
}

impl ReplayGuard {
    /// A guard over `db`, through `redis` when given, keeping bindings for twice
    /// `max_skew_secs` (at least one second).
    pub fn new(
        db: DatabaseConnection,
        redis: Option<ConnectionManager>,
        max_skew_secs: u64,
    ) -> Self {
        let ttl = Duration::from_secs(max_skew_secs.saturating_mul(2).clamp(1, MAX_TTL_SECS));
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        Self {
            db: DbBindings::new(db, TimeDelta::from_std(ttl).unwrap_or(TimeDelta::MAX)),
            redis: redis.map(|conn| RedisBindings::start(conn, ttl_ms)),
            redis_retry_at: Mutex::new(None),
        }
    }

    /// Binds `query` to `body` on its first arrival (for `account_id`, the account whose
    /// URL it arrived on); answers whether this is the first arrival or a retry.
    ///
    /// # Errors
    /// [`ReplayError::Replayed`] when the query arrived before with another body;
    /// [`ReplayError::Db`] when the binding could not be recorded (Redis failing too, when
    /// configured).
    pub async fn bind(
        &self,
        account_id: i64,
        query: SignedQuery<'_>,
        body: &[u8],
    ) -> Result<Binding, ReplayError> {
        let query_hash = query.hash();
        let body_hash = hex::encode(Sha256::digest(body));
        if let Some(redis) = self.redis_now() {
            match self.bind_redis(redis, &query_hash, &body_hash).await {
                Ok(binding) => return binding,
                Err(e) => {
                    *self.redis_retry_at.lock().expect("poisoned") =
                        Some(Instant::now() + REDIS_RETRY_AFTER);
                    tracing::warn!(error.message = %e, "Redis unavailable for the replay guard; using the database");
                }
            }
        }
        if self.redis.is_some() {
            crate::scans::bus::degraded("replay");
        }
        self.db.bind(account_id, query_hash, body_hash).await
    }

    /// Redis, unless it failed less than [`REDIS_RETRY_AFTER`] ago.
    fn redis_now(&self) -> Option<RedisBindings> {
        let redis = self.redis.as_ref()?;
        let mut retry_at = self.redis_retry_at.lock().expect("poisoned");
        match *retry_at {
            Some(at) if Instant::now() < at => None,
            Some(_) => {
                *retry_at = None;
                Some(redis.clone())
            }
            None => Some(redis.clone()),
        }
    }

    async fn bind_redis(
        &self,
        redis: RedisBindings,
        query_hash: &str,
        body_hash: &str,
    ) -> Result<Result<Binding, ReplayError>, redis::RedisError> {
        let answer = redis
            .bind(format!("{KEY_PREFIX}{query_hash}"), body_hash.to_owned())
            .await?;
        Ok(match answer {
            1 => Ok(Binding::First),
            2 => Ok(Binding::Retry),
            _ => Err(ReplayError::Replayed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_hash_covers_each_part_and_their_boundaries() {
        let q = |signature, timestamp, nonce| {
            SignedQuery {
                signature,
                timestamp,
                nonce,
            }
            .hash()
        };
        let base = q("ab", "1", "2");
        assert_eq!(base, q("ab", "1", "2"));
        assert_eq!(base.len(), 64);
        for other in [
            q("ac", "1", "2"),
            q("ab", "3", "2"),
            q("ab", "1", "3"),
            q("ab1", "", "2"),
        ] {
            assert_ne!(base, other);
        }
    }
}
