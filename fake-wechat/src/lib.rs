//! A fake of WeChat's HTTP API for qrscene's tests, benchmarks and local development
//! (`qrscene fake-wechat`): any number of apps (appid and secret), each with its own tokens
//! that expire and get replaced, its own counters and its own IP whitelist answer;
//! `qrcode/create` with WeChat's validation and error codes, for a token of a known app, a
//! permanent-code cap, a daily quota, and injected faults (errcodes, delays) under the test's
//! control.
//!
//! Followers too: user tags (`tags/get`, `tags/create`, `tags/members/batchtagging`,
//! `tags/getidlist`) with WeChat's limits and errcodes, and customer-service messages
//! (`message/custom/send`) with the 1-minute, 3-message window after a follow or a scan;
//! each app has its own tags and users, and a test can inspect what was called and set up
//! what WeChat would know (see `control.rs`: followers, interactions, tags a user has).
//!
//! Tokens as WeChat hands them out: `cgi-bin/token` issues a new one on every call and the
//! previous one keeps working for 5 minutes; `cgi-bin/stable_token` answers the same token
//! until it expires, and with `force_refresh` issues a new one that retires the previous at
//! once, at most 20 times a day (the fake's day is its lifetime; then 45009) and never twice within 30 s (the second answers
//! the current token). The two kinds never replace each other. Wrong credentials answer
//! 40013 (appid), 40125 (secret) or 40164 (IP not whitelisted, see
//! [`FakeWeChat::set_ip_whitelisted`]).
//!
//! It lives outside the service's crate and shares none of its code: it models WeChat from
//! WeChat's documentation (its own error codes and ticket format), so a test that passes
//! against it checks the service against an independent description of the protocol.

#![warn(missing_docs)]

mod access;
mod control;
mod errcode;
mod handlers;
mod kefu;
mod mint;
mod state;
mod tags;

use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{App as ActixApp, HttpServer, dev::ServerHandle, web};

pub use control::{BatchTaggingCall, FakeTag, SentMessage};
pub use errcode::*;
pub use state::Endpoint;
use state::{App, Fault, State};

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
    /// Starts the fake on `127.0.0.1` at a free port for the account `appid`/`secret`; more
    /// accounts join with [`FakeWeChat::add_app`].
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
        let state = Arc::new(Mutex::new(State::new(appid, secret)));
        let listener = TcpListener::bind(addr)?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || {
            ActixApp::new()
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
                .route("/cgi-bin/tags/get", web::get().to(tags::get_tags))
                .route("/cgi-bin/tags/create", web::post().to(tags::create_tag))
                .route(
                    "/cgi-bin/tags/members/batchtagging",
                    web::post().to(tags::batch_tagging),
                )
                .route("/cgi-bin/tags/getidlist", web::post().to(tags::tag_id_list))
                .route(
                    "/cgi-bin/message/custom/send",
                    web::post().to(kefu::custom_send),
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

    /// The appid it was started with.
    pub fn appid(&self) -> String {
        self.lock().first_appid.clone()
    }

    /// Accepts one more app, `appid` with `secret`, with tokens and counters of its own. An
    /// appid it knows already gets the new secret and keeps its tokens.
    pub fn add_app(&self, appid: &str, secret: &str) {
        let mut state = self.lock();
        match state.apps.get_mut(appid) {
            Some(app) => secret.clone_into(&mut app.secret),
            None => {
                state.apps.insert(appid.to_owned(), App::new(secret));
            }
        }
    }

    /// Every appid it accepts, sorted.
    pub fn appids(&self) -> Vec<String> {
        let mut appids: Vec<_> = self.lock().apps.keys().cloned().collect();
        appids.sort();
        appids
    }

    /// Whether the caller's IP is on the whitelist of `appid` (initially yes); off, its token
    /// fetches answer 40164.
    ///
    /// # Panics
    /// `appid` is not one of the fake's apps (a test's mistake).
    pub fn set_ip_whitelisted(&self, appid: &str, whitelisted: bool) {
        self.with_app(appid, |app| app.ip_whitelisted = whitelisted);
    }

    /// The base URL to give as `WECHAT_API_BASE`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Tokens fetched so far, from either token API, by every app.
    pub fn token_fetches(&self) -> usize {
        self.lock().apps.values().map(|a| a.token_fetches).sum()
    }

    /// Tokens `appid` fetched so far, from either token API (a forced refresh included).
    ///
    /// # Panics
    /// `appid` is not one of the fake's apps (a test's mistake).
    pub fn token_fetches_of(&self, appid: &str) -> usize {
        self.with_app(appid, |app| app.token_fetches)
    }

    /// Forced refreshes of the stable token that `appid` made, those that issued a new token
    /// (one within 30 s of the last does not).
    ///
    /// # Panics
    /// `appid` is not one of the fake's apps (a test's mistake).
    pub fn forced_refreshes_of(&self, appid: &str) -> usize {
        self.with_app(appid, |app| app.forced_refreshes)
    }

    /// The stable token `appid` has now, if it has one that has not expired.
    ///
    /// # Panics
    /// `appid` is not one of the fake's apps (a test's mistake).
    pub fn stable_token_of(&self, appid: &str) -> Option<String> {
        let now = Instant::now();
        self.with_app(appid, |app| {
            app.stable
                .clone()
                .filter(|t| app.tokens.get(t).is_some_and(|s| s.expires_at > now))
        })
    }

    /// `qrcode/create` calls so far, of every app, failed ones included.
    pub fn qrcode_calls(&self) -> usize {
        self.lock().qrcode_calls
    }

    /// Lifetime (`expires_in`) of tokens issued from now on.
    pub fn set_token_life(&self, life: Duration) {
        self.lock().token_life = life;
    }

    /// Expires every token issued so far, of every app: they now answer 42001.
    pub fn expire_tokens(&self) {
        let now = Instant::now();
        for app in self.lock().apps.values_mut() {
            app.stable = None;
            for token in app.tokens.values_mut() {
                token.expires_at = now;
            }
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

    /// Permanent codes each app may create (WeChat: 100,000).
    pub fn set_permanent_limit(&self, limit: usize) {
        self.lock().permanent_limit = limit;
    }

    /// `qrcode/create` calls each app may make before 45009.
    pub fn set_daily_quota(&self, quota: usize) {
        self.set_api_quota(Endpoint::QrCode, quota);
    }

    /// Calls each app may make to `endpoint` (past the token check, failed ones included)
    /// before it answers 45009, counted over the fake's lifetime (its day).
    pub fn set_api_quota(&self, endpoint: Endpoint, quota: usize) {
        self.lock().quotas.insert(endpoint, quota);
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn with_app<T>(&self, appid: &str, f: impl FnOnce(&mut App) -> T) -> T {
        let mut state = self.lock();
        let app = state
            .apps
            .get_mut(appid)
            .unwrap_or_else(|| panic!("the fake WeChat has no app {appid}"));
        f(app)
    }
}

impl Drop for FakeWeChat {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}
