//! The WeChat protocol: QR code limits, the API client, the access token, callback
//! signatures, safe-mode crypto, push XML and passive replies, user tags, customer-service
//! messages, and the sandbox. No database and none of the
//! service's handlers here. The fake of WeChat's HTTP API (tests, benchmarks and
//! `qrscene fake-wechat`) is the workspace crate `qrscene-fake-wechat`.

pub mod client;
pub mod crypto;
pub mod error;
pub mod ids;
pub mod kefu;
pub mod message;
pub mod qrcode;
pub mod sandbox;
pub mod signature;
pub mod tags;
pub mod token;

use std::sync::Arc;

use client::ApiClient;
use error::WeChatError;
use qrcode::{QrSpec, QrTicket};
use sandbox::Sandbox;
use token::TokenProvider;

/// Where QR codes come from: the real API, or the in-process simulation.
pub enum WeChat {
    /// WeChat's API with a shared access token.
    Live(Box<Live>),
    /// No credentials: tickets and urls made locally.
    Sandbox(Sandbox),
}

/// The real API: a client and the token it uses.
pub struct Live {
    /// The HTTP client.
    pub client: ApiClient,
    /// The access token.
    pub tokens: TokenProvider,
}

impl WeChat {
    /// Whether this is the simulation.
    pub fn is_sandbox(&self) -> bool {
        matches!(self, Self::Sandbox(_))
    }

    /// Creates a code. A token WeChat rejects (40001/40014/42001) is dropped and the call
    /// retried once with a fresh one.
    ///
    /// # Errors
    /// See [`WeChatError`]; token errors after the single retry reach the caller.
    pub async fn create_qrcode(&self, spec: &QrSpec) -> Result<QrTicket, WeChatError> {
        match self {
            Self::Sandbox(sandbox) => Ok(sandbox.create_qrcode(spec)),
            Self::Live(live) => {
                live.call(|token| async move { live.client.create_qrcode(&token, spec).await })
                    .await
            }
        }
    }
}

impl Live {
    /// Runs one API call `f` with the current access token. A token WeChat rejects
    /// (40001/40014/42001) is reported to the provider, which replaces it, and `f` runs once
    /// more with the new one; every other outcome is `f`'s.
    ///
    /// # Errors
    /// The token could not be had (see [`TokenProvider::get`]), or `f`'s error; token errors
    /// after the single retry reach the caller.
    ///
    /// `f` borrows what it needs, e.g. with `live: &Live`:
    /// `live.call(|token| async move { live.client.get_tags(&token).await })`.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, WeChatError>
    where
        F: Fn(Arc<str>) -> Fut,
        Fut: Future<Output = Result<T, WeChatError>>,
    {
        let token = self.tokens.get().await?;
        match f(token.clone()).await {
            Err(e) if e.is_stale_token() => {
                tracing::info!(
                    errcode = e.errcode(),
                    "access token rejected; fetching a fresh one"
                );
                self.tokens.invalidate(&token).await;
                let token = self.tokens.get().await?;
                f(token).await
            }
            other => other,
        }
    }
}
