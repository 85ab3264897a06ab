//! A token with its times: what WeChat answered, what the Redis keys hold, and how long a
//! cache may serve it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use super::{REFRESH_AHEAD, TokenInfo};
use crate::wechat::client::AccessToken;

/// A token and how long it is good for, from now.
#[derive(Clone)]
pub(super) struct Lease {
    pub(super) info: TokenInfo,
    /// Until it should be refreshed.
    pub(super) refresh_in: Duration,
    /// Until WeChat stops accepting it (at the earliest).
    pub(super) expires_in: Duration,
}

impl Lease {
    /// A token WeChat has just answered. Its times are in whole milliseconds, as Redis
    /// keeps them, so that every instance tells the same times.
    pub(super) fn fetched(token: &AccessToken) -> Self {
        let now = Utc::now().trunc_subsecs(3);
        let life = Duration::from_secs(token.expires_in);
        Self {
            info: TokenInfo {
                access_token: Arc::from(token.access_token.as_str()),
                expires_at: after(now, life),
                fetched_at: now,
            },
            refresh_in: cache_ttl(token),
            expires_in: life,
        }
    }

    /// The shared token `value`, which Redis keeps for `refresh_in` more, with the times in
    /// `meta` (see [`encode_meta`]) when they are this token's. A token stored by an older
    /// instance has none: WeChat accepts it for at least as long again as Redis keeps it, up
    /// to [`REFRESH_AHEAD`] (see [`cache_ttl`]), and its fetch time is unknown (now).
    pub(super) fn shared(value: &str, refresh_in: Duration, meta: Option<&str>) -> Self {
        let now = Utc::now();
        let estimate = refresh_in + REFRESH_AHEAD.min(refresh_in);
        let (fetched_at, expires_at) = meta
            .and_then(parse_meta)
            .filter(|(_, _, token)| *token == value)
            .map_or((now, after(now, estimate)), |(f, e, _)| (f, e));
        let left = (expires_at - now).to_std().unwrap_or_default();
        Self {
            info: TokenInfo {
                access_token: Arc::from(value),
                expires_at,
                fetched_at,
            },
            refresh_in,
            expires_in: left.max(refresh_in),
        }
    }
}

/// How long a freshly fetched token is served from a cache.
pub(super) fn cache_ttl(token: &AccessToken) -> Duration {
    let life = Duration::from_secs(token.expires_in);
    let ahead = REFRESH_AHEAD.min(life / 2);
    (life - ahead).max(Duration::from_millis(500))
}

/// The times of a shared token, stored beside it: `fetched_ms:expires_ms:token` (Unix
/// milliseconds). The token itself stays alone in its own key, as instances before this
/// format read it.
pub(super) fn encode_meta(info: &TokenInfo) -> String {
    format!(
        "{}:{}:{}",
        info.fetched_at.timestamp_millis(),
        info.expires_at.timestamp_millis(),
        info.access_token
    )
}

/// The fetch time, expiry and token of [`encode_meta`]'s format.
pub(super) fn parse_meta(meta: &str) -> Option<(DateTime<Utc>, DateTime<Utc>, &str)> {
    let mut parts = meta.splitn(3, ':');
    let mut time = || {
        parts
            .next()?
            .parse()
            .ok()
            .and_then(DateTime::from_timestamp_millis)
    };
    let (fetched_at, expires_at) = (time()?, time()?);
    Some((fetched_at, expires_at, parts.next()?))
}

/// `now` + `span`, saturating at chrono's last representable time.
pub(super) fn after(now: DateTime<Utc>, span: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(span)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}
