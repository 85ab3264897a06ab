//! The refusals of settings that would open the service by accident, each one line that
//! names the variables.

use std::net::SocketAddr;

use super::{Settings, env};

/// Why the settings were refused. Each message is one line naming the variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `QRSCENE_*`/`WECHAT_*` variable that is not ours (a typo, most likely).
    #[error(transparent)]
    Unknown(#[from] env::UnknownVariable),
    /// A value of the wrong type, an unknown TOML key, or an unreadable file.
    #[error("{0}")]
    Invalid(Box<figment::Error>),
    /// One of two settings that only work together is missing.
    #[error("{set} is set but {missing} is not: {hint}")]
    Missing {
        /// The one that is set.
        set: &'static str,
        /// The one that is missing.
        missing: &'static str,
        /// What to do.
        hint: &'static str,
    },
    /// Sandbox mode on an address others can reach, without `QRSCENE_SANDBOX=true`.
    #[error(
        "sandbox mode (neither WECHAT_APPID nor WECHAT_SECRET is set) serves an open API and \
         forges scans, so it listens only on a loopback address, not QRSCENE_LISTEN={0}; set \
         WECHAT_APPID and WECHAT_SECRET, or QRSCENE_SANDBOX=true to serve the sandbox there"
    )]
    SandboxNotLoopback(SocketAddr),
    /// `QRSCENE_SANDBOX=true` with credentials: which one was meant is unclear.
    #[error(
        "QRSCENE_SANDBOX=true but WECHAT_APPID and WECHAT_SECRET are set: unset QRSCENE_SANDBOX \
         for live mode, or the credentials for sandbox mode"
    )]
    SandboxWithCredentials,
    /// A setting that must be positive is 0.
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
}

/// Whether an optional setting holds something other than blanks.
pub(super) fn is_set(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.trim().is_empty())
}

impl Settings {
    /// Refuses settings that would open the service by accident: half of the WeChat
    /// credentials, sandbox mode on an address that is not loopback (unless
    /// `QRSCENE_SANDBOX=true`), a previous AES key without a current one, and limits of 0.
    ///
    /// # Errors
    /// The first such problem, naming the variables.
    pub fn check(&self) -> Result<(), ConfigError> {
        const BOTH: &str = "set both for live mode, or neither for sandbox mode";
        match (
            is_set(self.wechat_appid.as_deref()),
            self.wechat_secret.is_some(),
        ) {
            (true, false) => {
                return Err(ConfigError::Missing {
                    set: "WECHAT_APPID",
                    missing: "WECHAT_SECRET",
                    hint: BOTH,
                });
            }
            (false, true) => {
                return Err(ConfigError::Missing {
                    set: "WECHAT_SECRET",
                    missing: "WECHAT_APPID",
                    hint: BOTH,
                });
            }
            (true, true) if self.sandbox => return Err(ConfigError::SandboxWithCredentials),
            (false, false) if !self.sandbox && !self.listen.ip().is_loopback() => {
                return Err(ConfigError::SandboxNotLoopback(self.listen));
            }
            _ => {}
        }
        if self.wechat_encoding_aes_key_previous.is_some() && self.wechat_encoding_aes_key.is_none()
        {
            return Err(ConfigError::Missing {
                set: "WECHAT_ENCODING_AES_KEY_PREVIOUS",
                missing: "WECHAT_ENCODING_AES_KEY",
                hint: "the previous key is only accepted beside the current one",
            });
        }
        if self.wechat_require_encryption && self.wechat_encoding_aes_key.is_none() {
            return Err(ConfigError::Missing {
                set: "WECHAT_REQUIRE_ENCRYPTION",
                missing: "WECHAT_ENCODING_AES_KEY",
                hint: "pushes can only be required to be encrypted with the key that decrypts them",
            });
        }
        for (value, name) in [
            (self.max_connections as u64, "QRSCENE_MAX_CONNECTIONS"),
            (self.header_timeout_ms, "QRSCENE_HEADER_TIMEOUT_MS"),
            (self.outbox_lease_ms, "QRSCENE_OUTBOX_LEASE_MS"),
            (self.outbox_retry_base_ms, "QRSCENE_OUTBOX_RETRY_BASE_MS"),
            (self.outbox_poll_ms, "QRSCENE_OUTBOX_POLL_MS"),
            (self.outbox_retention_days, "QRSCENE_OUTBOX_RETENTION_DAYS"),
            (self.webhook_timeout_ms, "QRSCENE_WEBHOOK_TIMEOUT_MS"),
            (
                self.webhook_disable_after_hours,
                "QRSCENE_WEBHOOK_DISABLE_AFTER_HOURS",
            ),
            (self.body_timeout_ms, "QRSCENE_BODY_TIMEOUT_MS"),
            (self.wechat_timeout_ms, "WECHAT_TIMEOUT_MS"),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        Ok(())
    }
}
