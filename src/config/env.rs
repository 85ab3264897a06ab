//! The environment variables of the service: their names (the public interface, see the
//! README), the settings field each one sets, and the refusal of an unknown `QRSCENE_*` or
//! `WECHAT_*` variable (a misspelt `WECHAT_APPSECRET` must not silently mean "unset").

/// Environment variable -> settings field.
pub(super) const ENV_KEYS: &[(&str, &str)] = &[
    ("QRSCENE_LISTEN", "listen"),
    ("DATABASE_URL", "database_url"),
    ("QRSCENE_DB_MAX_CONNECTIONS", "db_max_connections"),
    ("REDIS_URL", "redis_url"),
    ("WECHAT_APPID", "wechat_appid"),
    ("WECHAT_SECRET", "wechat_secret"),
    ("WECHAT_API_BASE", "wechat_api_base"),
    ("WECHAT_MP_BASE", "wechat_mp_base"),
    ("WECHAT_TOKEN_MODE", "wechat_token_mode"),
    ("WECHAT_TIMEOUT_MS", "wechat_timeout_ms"),
    ("QRSCENE_API_KEYS", "api_keys"),
    ("QRSCENE_ALLOW_ANONYMOUS", "allow_anonymous"),
    ("QRSCENE_LEGACY_OPEN", "legacy_open"),
    ("QRSCENE_DEFAULT_EXPIRE_SECONDS", "default_expire_seconds"),
    ("QRSCENE_LOG_JSON", "log_json"),
    ("WECHAT_TOKEN", "wechat_token"),
    ("WECHAT_ENCODING_AES_KEY", "wechat_encoding_aes_key"),
    (
        "WECHAT_ENCODING_AES_KEY_PREVIOUS",
        "wechat_encoding_aes_key_previous",
    ),
    ("WECHAT_MAX_CLOCK_SKEW_SECS", "wechat_max_clock_skew_secs"),
    ("WECHAT_REQUIRE_ENCRYPTION", "wechat_require_encryption"),
    ("QRSCENE_MASTER_KEY", "master_key"),
    ("QRSCENE_MASTER_KEY_PREVIOUS", "master_key_previous"),
    ("QRSCENE_ACCOUNTS_REFRESH_MS", "accounts_refresh_ms"),
    ("QRSCENE_OUTBOX_WORKERS", "outbox_workers"),
    ("QRSCENE_OUTBOX_LEASE_MS", "outbox_lease_ms"),
    ("QRSCENE_OUTBOX_RETRY_BASE_MS", "outbox_retry_base_ms"),
    ("QRSCENE_OUTBOX_POLL_MS", "outbox_poll_ms"),
    ("QRSCENE_OUTBOX_RETENTION_DAYS", "outbox_retention_days"),
    ("QRSCENE_TAG_GATHER_MS", "tag_gather_ms"),
    ("QRSCENE_WEBHOOK_ALLOW_PRIVATE", "webhook_allow_private"),
    ("QRSCENE_WEBHOOK_TIMEOUT_MS", "webhook_timeout_ms"),
    (
        "QRSCENE_WEBHOOK_DISABLE_AFTER_HOURS",
        "webhook_disable_after_hours",
    ),
    #[cfg(feature = "bench")]
    ("QRSCENE_BENCH_ROUTES", "bench_routes"),
    ("QRSCENE_EVENT_COMMITTERS", "event_committers"),
    ("QRSCENE_STATS_TZ", "stats_tz"),
    ("QRSCENE_STATS_REFRESH_MS", "stats_refresh_ms"),
    ("QRSCENE_SANDBOX", "sandbox"),
    ("QRSCENE_TRUSTED_PROXIES", "trusted_proxies"),
    ("QRSCENE_MAX_CONNECTIONS", "max_connections"),
    ("QRSCENE_HEADER_TIMEOUT_MS", "header_timeout_ms"),
    ("QRSCENE_BODY_TIMEOUT_MS", "body_timeout_ms"),
    ("QRSCENE_KEEP_ALIVE_MS", "keep_alive_ms"),
    ("QRSCENE_DISCONNECT_TIMEOUT_MS", "disconnect_timeout_ms"),
];

/// Variables of ours that are not settings fields (read by the command line).
const OTHER_KNOWN: &[&str] = &["QRSCENE_CONFIG"];

/// Prefixes of the variables that must be known.
const PREFIXES: &[&str] = &["QRSCENE_", "WECHAT_"];

/// The settings field of environment variable `name` (case-insensitive), if it is one.
pub(super) fn field_of(name: &str) -> Option<&'static str> {
    ENV_KEYS
        .iter()
        .find(|(var, _)| name.eq_ignore_ascii_case(var))
        .map(|(_, field)| *field)
}

/// A `QRSCENE_*` or `WECHAT_*` variable that the service does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown environment variable {name}; did you mean {suggestion}? (unset it if not)")]
pub struct UnknownVariable {
    /// The variable as set.
    pub name: String,
    /// The known variable closest to it.
    pub suggestion: &'static str,
}

/// The first variable of `names` with one of our prefixes that is not known.
///
/// # Errors
/// The unknown variable, with the closest known name.
pub fn check_names<I, S>(names: I) -> Result<(), UnknownVariable>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let known = || {
        ENV_KEYS
            .iter()
            .map(|(var, _)| *var)
            .chain(OTHER_KNOWN.iter().copied())
    };
    for name in names {
        let name = name.as_ref();
        let upper = name.to_ascii_uppercase();
        if !PREFIXES.iter().any(|p| upper.starts_with(p)) {
            continue;
        }
        if known().any(|var| var == upper) {
            continue;
        }
        let suggestion = known()
            .min_by_key(|var| strsim::damerau_levenshtein(var, &upper))
            .unwrap_or("QRSCENE_LISTEN");
        return Err(UnknownVariable {
            name: name.to_owned(),
            suggestion,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_variable_is_named_with_the_closest_known_one() {
        assert_eq!(
            check_names(["PATH", "WECHAT_APPID", "wechat_secret", "QRSCENE_CONFIG"]),
            Ok(())
        );
        let err = check_names(["HOME", "WECHAT_APPSECRET"]).unwrap_err();
        assert_eq!(err.suggestion, "WECHAT_SECRET");
        assert_eq!(
            err.to_string(),
            "unknown environment variable WECHAT_APPSECRET; did you mean WECHAT_SECRET? (unset it if not)"
        );
        let err = check_names(["QRSCENE_API_KEY"]).unwrap_err();
        assert_eq!(err.suggestion, "QRSCENE_API_KEYS");
        let err = check_names(["QRSCENE_TRUSTED_PROXY"]).unwrap_err();
        assert_eq!(err.suggestion, "QRSCENE_TRUSTED_PROXIES");
    }
}
