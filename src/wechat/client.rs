//! The HTTP client of WeChat's API: token endpoints and `qrcode/create`, and the plain
//! GET/POST with a token that the other APIs ([`super::tags`], [`super::kefu`]) are built on.
//!
//! One call is one request with a timeout; `-1` (system busy) is retried a bounded number of
//! times with backoff. Token handling (caching, refresh after 40001/42001) lives in
//! [`super::token`], not here. Every token request counts in
//! `qrscene_token_fetches_total{appid}` (and a forced one in
//! `qrscene_token_forced_refreshes_total{appid}`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::error::WeChatError;
use super::qrcode::{QrSpec, QrTicket};
use crate::config::TokenMode;

/// Attempts of one call while WeChat answers `-1`.
const BUSY_ATTEMPTS: u32 = 3;
/// Backoff before the first retry; doubled each time.
const BUSY_BACKOFF: Duration = Duration::from_millis(100);

/// An access token as WeChat hands it out.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessToken {
    /// The token.
    pub access_token: String,
    /// Seconds it stays valid.
    pub expires_in: u64,
}

/// Credentials and endpoints of one Official Account.
#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    api_base: String,
    appid: String,
    secret: SecretString,
    mode: TokenMode,
    timeout: Duration,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient")
            .field("api_base", &self.api_base)
            .field("appid", &self.appid)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ApiClient {
    /// A client whose every request times out after `timeout`.
    ///
    /// # Errors
    /// The TLS stack cannot be set up.
    pub fn new(
        api_base: &str,
        appid: &str,
        secret: SecretString,
        mode: TokenMode,
        timeout: Duration,
    ) -> Result<Self, WeChatError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Self {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            appid: appid.to_owned(),
            secret,
            mode,
            timeout,
        })
    }

    /// The account's appid.
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// Which token API it calls.
    pub fn mode(&self) -> TokenMode {
        self.mode
    }

    /// Fetches a token from the configured token API: in stable mode the token WeChat has
    /// now, in classic mode a new one (which retires the previous one after about 5 minutes).
    ///
    /// # Errors
    /// WeChat's errcode (40013/40125/40164 are configuration errors), timeout or transport
    /// failure.
    pub async fn fetch_token(&self) -> Result<AccessToken, WeChatError> {
        self.request_token(false).await
    }

    /// Fetches a new token even though the current one has not expired: in stable mode with
    /// `force_refresh: true`, which retires the current token at once and which WeChat allows
    /// about 20 times a day, 30 s apart (a call within 30 s of the last refreshes nothing); in
    /// classic mode the same as [`ApiClient::fetch_token`].
    ///
    /// # Errors
    /// As [`ApiClient::fetch_token`]; 45009 once the day's forced refreshes are spent.
    pub async fn refresh_token(&self) -> Result<AccessToken, WeChatError> {
        self.request_token(true).await
    }

    #[tracing::instrument(skip_all, fields(appid = %self.appid, mode = ?self.mode, force = force))]
    async fn request_token(&self, force: bool) -> Result<AccessToken, WeChatError> {
        let force = force && self.mode == TokenMode::Stable;
        metrics::counter!("qrscene_wechat_token_fetches_total").increment(1);
        metrics::counter!("qrscene_token_fetches_total", "appid" => self.appid.clone())
            .increment(1);
        if force {
            metrics::counter!("qrscene_token_forced_refreshes_total", "appid" => self.appid.clone())
                .increment(1);
        }
        let url = match self.mode {
            TokenMode::Stable => format!("{}/cgi-bin/stable_token", self.api_base),
            TokenMode::Classic => format!("{}/cgi-bin/token", self.api_base),
        };
        with_busy_retry(|| async {
            let request = match self.mode {
                TokenMode::Stable => self.http.post(&url).json(&serde_json::json!({
                    "grant_type": "client_credential",
                    "appid": self.appid,
                    "secret": self.secret.expose_secret(),
                    "force_refresh": force,
                })),
                TokenMode::Classic => self.http.get(&url).query(&[
                    ("grant_type", "client_credential"),
                    ("appid", self.appid.as_str()),
                    ("secret", self.secret.expose_secret()),
                ]),
            };
            self.send(request).await
        })
        .await
    }

    /// Calls `qrcode/create` once with `token` (retrying only `-1`).
    ///
    /// # Errors
    /// WeChat's errcode, timeout or transport failure.
    #[tracing::instrument(skip_all, fields(action = spec.action_name()))]
    pub async fn create_qrcode(&self, token: &str, spec: &QrSpec) -> Result<QrTicket, WeChatError> {
        let url = format!("{}/cgi-bin/qrcode/create", self.api_base);
        let body = spec.to_request_body();
        with_busy_retry(|| async {
            let request = self
                .http
                .post(&url)
                .query(&[("access_token", token)])
                .json(&body);
            self.send(request).await
        })
        .await
    }

    /// GETs `path` (from the API base, e.g. `/cgi-bin/tags/get`) with `token`, once
    /// (retrying only `-1`).
    ///
    /// # Errors
    /// WeChat's errcode, timeout, transport failure, or an answer that is not a `T`.
    pub(super) async fn get_with_token<T: DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
    ) -> Result<T, WeChatError> {
        let url = format!("{}{path}", self.api_base);
        with_busy_retry(|| async {
            let request = self.http.get(&url).query(&[("access_token", token)]);
            self.send(request).await
        })
        .await
    }

    /// POSTs `body` as JSON to `path` with `token`, once (retrying only `-1`).
    ///
    /// # Errors
    /// As [`ApiClient::get_with_token`].
    pub(super) async fn post_with_token<T: DeserializeOwned>(
        &self,
        token: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, WeChatError> {
        let url = format!("{}{path}", self.api_base);
        with_busy_retry(|| async {
            let request = self
                .http
                .post(&url)
                .query(&[("access_token", token)])
                .json(body);
            self.send(request).await
        })
        .await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, WeChatError> {
        let response = request.send().await.map_err(|e| self.classify(e))?;
        let response = response.error_for_status()?;
        let bytes = response.bytes().await.map_err(|e| self.classify(e))?;
        decode(&bytes)
    }

    fn classify(&self, e: reqwest::Error) -> WeChatError {
        if e.is_timeout() {
            WeChatError::Timeout(self.timeout)
        } else {
            WeChatError::from(e)
        }
    }
}

/// Installs ring as the process's TLS crypto provider (once; later calls are no-ops).
/// reqwest is built without a provider of its own, so this must run before any client.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// WeChat answers errors as `{"errcode":N,"errmsg":"..."}` with HTTP 200.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, WeChatError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| WeChatError::Decode(e.to_string()))?;
    if let Some(errcode) = value.get("errcode").and_then(serde_json::Value::as_i64)
        && errcode != 0
    {
        let errmsg = value
            .get("errmsg")
            .and_then(|m| m.as_str())
            .unwrap_or_default()
            .to_owned();
        return Err(WeChatError::Api { errcode, errmsg });
    }
    serde_json::from_value(value).map_err(|e| WeChatError::Decode(e.to_string()))
}

async fn with_busy_retry<T, F, Fut>(mut call: F) -> Result<T, WeChatError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, WeChatError>>,
{
    let mut backoff = BUSY_BACKOFF;
    let mut attempt = 1;
    loop {
        match call().await {
            Err(e) if e.is_busy() && attempt < BUSY_ATTEMPTS => {
                tracing::warn!(attempt, "WeChat busy (-1), retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_turns_errcode_into_an_error() {
        let err = decode::<AccessToken>(br#"{"errcode":40125,"errmsg":"invalid appsecret"}"#)
            .unwrap_err();
        assert!(err.is_configuration());
        let ok: AccessToken = decode(br#"{"access_token":"T","expires_in":7200}"#).unwrap();
        assert_eq!(ok.expires_in, 7200);
        let zero: AccessToken =
            decode(br#"{"errcode":0,"access_token":"T","expires_in":1}"#).unwrap();
        assert_eq!(zero.access_token, "T");
    }
}
