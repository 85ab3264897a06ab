//! Outbound webhooks: an account's subscriptions to its events, delivered by the outbox
//! following the Standard Webhooks specification (standardwebhooks.com).
//!
//! - A webhook ([`store`]) names a URL and the event types it wants; its signing secret
//!   (`whsec_<base64 of 32 random bytes>`) is shown once, when it is made, and stored sealed
//!   with the master key like the accounts' secrets.
//! - The callback writes one outbox job of kind `webhook` per stored event and webhook that
//!   wants it, in the transaction that stores the event; a test delivery is written by
//!   `POST /api/v1/webhooks/{id}/test`. The [`deliver::WebhookRunner`] builds the body on the
//!   first attempt from the stored rows ([`body`]) and keeps it, so that every attempt sends
//!   the same bytes under the same `webhook-id`, signed ([`sign`]) at each attempt.
//! - Deliveries are tried for more than 24 hours (see [`deliver::policy`]); a webhook that
//!   has failed without a success for `QRSCENE_WEBHOOK_DISABLE_AFTER_HOURS` is disabled.
//! - Requests never reach loopback, link-local, private or other internal addresses unless
//!   `QRSCENE_WEBHOOK_ALLOW_PRIVATE=true` ([`net`]): the check is made on the addresses the
//!   name resolves to, by the resolver the connection uses, so DNS rebinding cannot get
//!   around it.

pub mod body;
pub mod deliver;
pub mod net;
pub mod sign;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::Accounts;
use crate::config::Settings;
use crate::outbox::Runner;
use crate::wechat::qrcode::LimitError;

/// The event types a webhook may ask for.
pub const EVENT_TYPES: [&str; 5] = [
    "scan",
    "subscribe",
    "unsubscribe",
    "binding.bound",
    "message",
];
/// Every event type, as asked for and as stored in `webhook.kinds`.
pub const ALL: &str = "*";
/// The type of a test delivery.
pub const TEST_TYPE: &str = "webhook.test";
/// Longest URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// How deliveries are made.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// Reach loopback, link-local and private addresses too (`QRSCENE_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
    /// Timeout of one delivery: connect, send, read the answer (`QRSCENE_WEBHOOK_TIMEOUT_MS`).
    pub timeout: Duration,
    /// A webhook failing this long without a success is disabled
    /// (`QRSCENE_WEBHOOK_DISABLE_AFTER_HOURS`).
    pub disable_after: Duration,
}

impl WebhookSettings {
    /// The webhook settings of `settings`.
    pub fn of(settings: &Settings) -> Self {
        Self {
            allow_private: settings.webhook_allow_private,
            timeout: Duration::from_millis(settings.webhook_timeout_ms.max(1)),
            disable_after: Duration::from_secs(
                settings.webhook_disable_after_hours.saturating_mul(3600),
            ),
        }
    }
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self::of(&Settings::default())
    }
}

/// The outbox runner of webhook deliveries, to register with `Outbox::start`.
///
/// # Errors
/// The HTTP client cannot be built (the TLS stack).
pub fn runner(
    accounts: Arc<Accounts>,
    settings: &WebhookSettings,
) -> anyhow::Result<Arc<dyn Runner>> {
    Ok(Arc::new(deliver::WebhookRunner::new(accounts, settings)?))
}

/// The event types of a request, as stored in `webhook.kinds`: `*`, or the types wrapped in
/// commas (`,scan,subscribe,`) so that the callback's statement matches a type with
/// `kinds LIKE '%,' || kind || ',%'`.
///
/// # Errors
/// An empty list, or a name that is not an event type.
pub fn encode_events(events: &[String]) -> Result<String, LimitError> {
    if events.is_empty() {
        return Err(LimitError::new(
            "events",
            format!(
                "must name at least one event type: {} or \"*\" (all)",
                EVENT_TYPES.join(", ")
            ),
        ));
    }
    let mut kinds: Vec<&str> = Vec::new();
    for event in events {
        let event = event.trim();
        if event == ALL {
            return Ok(ALL.to_owned());
        }
        let Some(known) = EVENT_TYPES.iter().find(|t| **t == event) else {
            return Err(LimitError::new(
                "events",
                format!(
                    "unknown event type {event:?}: must be one of {} or \"*\" (all)",
                    EVENT_TYPES.join(", ")
                ),
            ));
        };
        if !kinds.contains(known) {
            kinds.push(known);
        }
    }
    // Stored in the order of EVENT_TYPES, so that equal sets are equal strings.
    let ordered: Vec<&str> = EVENT_TYPES
        .iter()
        .copied()
        .filter(|t| kinds.contains(t))
        .collect();
    Ok(format!(",{},", ordered.join(",")))
}

/// The event types of a stored `webhook.kinds`.
pub fn decode_events(kinds: &str) -> Vec<String> {
    if kinds == ALL {
        return vec![ALL.to_owned()];
    }
    kinds
        .split(',')
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Checks a webhook URL: http or https, with a host, no credentials, at most
/// [`MAX_URL_LEN`] characters. Where it points is checked when delivering ([`net`]).
///
/// # Errors
/// The rule it breaks.
pub fn check_url(url: &str) -> Result<reqwest::Url, LimitError> {
    let url = url.trim();
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(LimitError::new(
            "url",
            format!("must be 1 to {MAX_URL_LEN} characters"),
        ));
    }
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| LimitError::new("url", format!("must be an absolute URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(LimitError::new(
            "url",
            format!("must be http or https, not {}", parsed.scheme()),
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(LimitError::new("url", "must name a host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(LimitError::new(
            "url",
            "must not carry credentials (user:password@): the signature authenticates deliveries",
        ));
    }
    Ok(parsed)
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    format!(
        "{}{}",
        sign::SECRET_PREFIX,
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn events_are_stored_wrapped_in_commas_or_as_a_star() {
        assert_eq!(
            encode_events(&events(&["subscribe", "scan", "scan"])).unwrap(),
            ",scan,subscribe,"
        );
        assert_eq!(
            encode_events(&events(&["binding.bound"])).unwrap(),
            ",binding.bound,"
        );
        assert_eq!(encode_events(&events(&["scan", "*"])).unwrap(), "*");
        assert_eq!(
            decode_events(",scan,message,"),
            events(&["scan", "message"])
        );
        assert_eq!(decode_events("*"), events(&["*"]));
        let empty = encode_events(&[]).unwrap_err();
        assert_eq!(empty.field, "events");
        let unknown = encode_events(&events(&["scan", "click"])).unwrap_err();
        assert!(unknown.rule.contains("\"click\""), "{}", unknown.rule);
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_credentials() {
        assert!(check_url("https://crm.example.com/hooks/qrscene?x=1").is_ok());
        assert!(check_url("http://10.0.0.1:8080/").is_ok());
        for bad in [
            "",
            "crm.example.com/hook",
            "ftp://crm.example.com/",
            "https://user:pw@crm.example.com/",
            "https://user@crm.example.com/",
            "file:///etc/passwd",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(check_url(&long).is_err());
    }

    #[test]
    fn secrets_are_32_random_bytes() {
        let a = new_secret();
        assert!(a.starts_with("whsec_"));
        assert_eq!(sign::secret_bytes(&a).unwrap().len(), 32);
        assert_ne!(a, new_secret());
    }
}
