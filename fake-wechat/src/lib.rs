//! A fake of WeChat's HTTP API for qrscene's tests, benchmarks and local development
//! (`qrscene fake-wechat`): tokens that expire and get replaced, `qrcode/create` with
//! WeChat's validation and error codes, a permanent-code cap, a daily quota, and injected
//! faults (errcodes, delays) under the test's control.
//!
//! It lives outside the service's crate and shares none of its code: it models WeChat from
//! WeChat's documentation (its own error codes and ticket format), so a test that passes
//! against it checks the service against an independent description of the protocol.

#![warn(missing_docs)]

mod errcode;
mod handlers;
mod mint;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{App, HttpServer, dev::ServerHandle, web};

pub use errcode::*;

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `cgi-bin/token` and `cgi-bin/stable_token`.
    Token,
    /// `cgi-bin/qrcode/create`.
    QrCode,
}

/// An injected fault: the next `remaining` calls to `endpoint` wait `delay`, then answer
/// `errcode` (or normally when it is `None`).
struct Fault {
    endpoint: Endpoint,
    errcode: Option<i64>,
    delay: Duration,
    remaining: usize,
}

/// One issued access token.
struct TokenState {
    expires_at: Instant,
    replaced_at: Option<Instant>,
}

/// Everything the fake remembers, behind one mutex.
struct State {
    appid: String,
    secret: String,
    token_life: Duration,
    /// How long a replaced token keeps working (WeChat: 5 minutes).
    overlap: Duration,
    tokens: HashMap<String, TokenState>,
    /// The token `stable_token` hands out until it expires or is force-refreshed.
    stable: Option<String>,
    token_fetches: usize,
    qrcode_calls: usize,
    /// Permanent codes by scene, so that the same scene gets the same ticket.
    permanent: HashMap<String, String>,
    permanent_limit: usize,
    daily_quota: Option<usize>,
    faults: Vec<Fault>,
}

/// Locks the state; a panic in another handler does not make it unusable.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running fake; stops when dropped.
pub struct FakeWeChat {
    state: Arc<Mutex<State>>,
    base_url: String,
    handle: ServerHandle,
}

impl FakeWeChat {
    /// Starts the fake on `127.0.0.1` at a free port for the account `appid`/`secret`.
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn start(appid: &str, secret: &str) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1:0", appid, secret).await
    }

    /// Starts the fake on `addr`. Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn start_on(addr: &str, appid: &str, secret: &str) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State {
            appid: appid.into(),
            secret: secret.into(),
            token_life: Duration::from_secs(7200),
            overlap: Duration::from_secs(300),
            tokens: HashMap::new(),
            stable: None,
            token_fetches: 0,
            qrcode_calls: 0,
            permanent: HashMap::new(),
            permanent_limit: 100_000,
            daily_quota: None,
            faults: Vec::new(),
        }));
        let listener = TcpListener::bind(addr)?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/cgi-bin/token", web::get().to(handlers::classic_token))
                .route(
                    "/cgi-bin/stable_token",
                    web::post().to(handlers::stable_token),
                )
                .route(
                    "/cgi-bin/qrcode/create",
                    web::post().to(handlers::create_qrcode),
                )
        })
        .workers(2)
        .disable_signals()
        .listen(listener)?
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Ok(Self {
            state,
            base_url,
            handle,
        })
    }

    /// The appid it accepts.
    pub fn appid(&self) -> String {
        self.lock().appid.clone()
    }

    /// The base URL to give as `WECHAT_API_BASE`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Tokens fetched so far, from either token API.
    pub fn token_fetches(&self) -> usize {
        self.lock().token_fetches
    }

    /// `qrcode/create` calls so far, failed ones included.
    pub fn qrcode_calls(&self) -> usize {
        self.lock().qrcode_calls
    }

    /// Lifetime (`expires_in`) of tokens issued from now on.
    pub fn set_token_life(&self, life: Duration) {
        self.lock().token_life = life;
    }

    /// Expires every token issued so far: they now answer 42001.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        let mut state = self.lock();
        state.stable = None;
        for token in state.tokens.values_mut() {
            token.expires_at = now;
        }
    }

    /// The next `times` calls to `endpoint` answer `errcode`.
    pub fn fail_next(&self, endpoint: Endpoint, errcode: i64, times: usize) {
        let fault = Fault {
            endpoint,
            errcode: Some(errcode),
            delay: Duration::ZERO,
            remaining: times,
        };
        self.lock().faults.push(fault);
    }

    /// The next `times` calls to `endpoint` wait `delay` before answering normally.
    pub fn delay_next(&self, endpoint: Endpoint, delay: Duration, times: usize) {
        let fault = Fault {
            endpoint,
            errcode: None,
            delay,
            remaining: times,
        };
        self.lock().faults.push(fault);
    }

    /// Permanent codes the account may create (WeChat: 100,000).
    pub fn set_permanent_limit(&self, limit: usize) {
        self.lock().permanent_limit = limit;
    }

    /// `qrcode/create` calls allowed before 45009.
    pub fn set_daily_quota(&self, quota: usize) {
        self.lock().daily_quota = Some(quota);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for FakeWeChat {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}
