//! A fake of WeChat's HTTP API for tests, benchmarks and local development
//! (`qrscene fake-wechat`): tokens that expire and get replaced, `qrcode/create` with
//! WeChat's validation and error codes, a permanent-code cap, a daily quota, and injected
//! faults (errcodes, delays) under the test's control.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, dev::ServerHandle, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::*;
use super::sandbox::{new_ticket, new_url};

/// Which endpoint a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `cgi-bin/token` and `cgi-bin/stable_token`.
    Token,
    /// `cgi-bin/qrcode/create`.
    QrCode,
}

struct Fault {
    endpoint: Endpoint,
    errcode: Option<i64>,
    delay: Duration,
    remaining: usize,
}

struct TokenState {
    expires_at: Instant,
    replaced_at: Option<Instant>,
}

struct State {
    appid: String,
    secret: String,
    token_life: Duration,
    overlap: Duration,
    tokens: HashMap<String, TokenState>,
    stable: Option<String>,
    token_fetches: usize,
    qrcode_calls: usize,
    permanent: HashMap<String, String>,
    permanent_limit: usize,
    daily_quota: Option<usize>,
    faults: Vec<Fault>,
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

    /// Starts the fake on `addr`.
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
                .route("/cgi-bin/token", web::get().to(classic_token))
                .route("/cgi-bin/stable_token", web::post().to(stable_token))
                .route("/cgi-bin/qrcode/create", web::post().to(create_qrcode))
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
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for FakeWeChat {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        drop(handle.stop(false));
    }
}

fn error(errcode: i64, errmsg: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "errcode": errcode, "errmsg": errmsg }))
}

/// Takes the next fault for `endpoint`: its delay and, maybe, an errcode to answer.
fn take_fault(state: &Mutex<State>, endpoint: Endpoint) -> (Duration, Option<i64>) {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(fault) = state
        .faults
        .iter_mut()
        .find(|f| f.endpoint == endpoint && f.remaining > 0)
    else {
        return (Duration::ZERO, None);
    };
    fault.remaining -= 1;
    let taken = (fault.delay, fault.errcode);
    state.faults.retain(|f| f.remaining > 0);
    taken
}

async fn faulted(state: &Mutex<State>, endpoint: Endpoint) -> Option<HttpResponse> {
    let (delay, errcode) = take_fault(state, endpoint);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    errcode.map(|code| error(code, "injected by the fake"))
}

impl State {
    fn check_credentials(&self, appid: &str, secret: &str) -> Option<HttpResponse> {
        if appid != self.appid {
            return Some(error(ERR_INVALID_APPID, "invalid appid"));
        }
        if secret != self.secret {
            return Some(error(ERR_INVALID_SECRET, "invalid appsecret"));
        }
        None
    }

    fn issue(&mut self) -> HttpResponse {
        let token = format!("FAKE_{}", uuid::Uuid::new_v4().simple());
        let now = Instant::now();
        for old in self.tokens.values_mut() {
            old.replaced_at.get_or_insert(now);
        }
        self.tokens.insert(
            token.clone(),
            TokenState {
                expires_at: now + self.token_life,
                replaced_at: None,
            },
        );
        self.token_fetches += 1;
        HttpResponse::Ok()
            .json(json!({ "access_token": token, "expires_in": self.token_life.as_secs() }))
    }
}

#[derive(Deserialize)]
struct ClassicQuery {
    appid: String,
    secret: String,
}

async fn classic_token(
    state: web::Data<Mutex<State>>,
    q: web::Query<ClassicQuery>,
) -> HttpResponse {
    if let Some(r) = faulted(&state, Endpoint::Token).await {
        return r;
    }
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    state
        .check_credentials(&q.appid, &q.secret)
        .unwrap_or_else(|| state.issue())
}

#[derive(Deserialize)]
struct StableBody {
    appid: String,
    secret: String,
    #[serde(default)]
    force_refresh: bool,
}

async fn stable_token(state: web::Data<Mutex<State>>, body: web::Json<StableBody>) -> HttpResponse {
    if let Some(r) = faulted(&state, Endpoint::Token).await {
        return r;
    }
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(r) = state.check_credentials(&body.appid, &body.secret) {
        return r;
    }
    let now = Instant::now();
    let current = state.stable.clone().and_then(|t| {
        let expires_at = state.tokens.get(&t)?.expires_at;
        (expires_at > now && !body.force_refresh).then_some((t, expires_at))
    });
    match current {
        Some((token, expires_at)) => {
            state.token_fetches += 1;
            let left = expires_at.saturating_duration_since(now).as_secs();
            HttpResponse::Ok().json(json!({ "access_token": token, "expires_in": left }))
        }
        None => {
            let response = state.issue();
            state.stable = state
                .tokens
                .iter()
                .find(|(_, t)| t.replaced_at.is_none())
                .map(|(k, _)| k.clone());
            response
        }
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    access_token: Option<String>,
}

async fn create_qrcode(
    state: web::Data<Mutex<State>>,
    q: web::Query<TokenQuery>,
    body: web::Json<Value>,
) -> HttpResponse {
    state.lock().unwrap_or_else(|p| p.into_inner()).qrcode_calls += 1;
    if let Some(r) = faulted(&state, Endpoint::QrCode).await {
        return r;
    }
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let now = Instant::now();
    let Some(token) = q.access_token.as_deref() else {
        return error(41001, "access_token missing");
    };
    match state.tokens.get(token) {
        None => return error(ERR_INVALID_TOKEN, "invalid access_token"),
        Some(t) if t.expires_at <= now => return error(ERR_TOKEN_EXPIRED, "access_token expired"),
        Some(t) if t.replaced_at.is_some_and(|r| r + state.overlap <= now) => {
            return error(
                ERR_INVALID_CREDENTIAL,
                "invalid credential, access_token is invalid or not latest",
            );
        }
        Some(_) => {}
    }
    if state
        .daily_quota
        .is_some_and(|quota| state.qrcode_calls > quota)
    {
        return error(ERR_QUOTA, "reach max api daily quota limit");
    }
    let Some((permanent, scene, expire)) = validate(&body) else {
        return error(40097, "invalid args");
    };
    if !permanent {
        let url = new_url();
        return HttpResponse::Ok()
            .json(json!({ "ticket": new_ticket(), "expire_seconds": expire, "url": url }));
    }
    let count = state.permanent.len();
    let limit = state.permanent_limit;
    let ticket = match state.permanent.get(&scene) {
        Some(ticket) => ticket.clone(),
        None if count >= limit => return error(ERR_PERMANENT_LIMIT, "qrcode count out of limit"),
        None => state
            .permanent
            .entry(scene)
            .or_insert_with(new_ticket)
            .clone(),
    };
    HttpResponse::Ok().json(json!({ "ticket": ticket, "url": new_url() }))
}

/// WeChat's checks of a `qrcode/create` body: (permanent, scene key, expire_seconds).
fn validate(body: &Value) -> Option<(bool, String, u64)> {
    let scene = body.pointer("/action_info/scene")?;
    let id = scene.get("scene_id").and_then(Value::as_u64);
    let text = scene.get("scene_str").and_then(Value::as_str);
    let (permanent, scene) = match body.get("action_name")?.as_str()? {
        "QR_SCENE" => (
            false,
            id.filter(|v| (1..=u64::from(u32::MAX)).contains(v))?
                .to_string(),
        ),
        "QR_LIMIT_SCENE" => (true, id.filter(|v| (1..=100_000).contains(v))?.to_string()),
        "QR_STR_SCENE" => (
            false,
            text.filter(|s| (1..=64).contains(&s.chars().count()))?
                .to_owned(),
        ),
        "QR_LIMIT_STR_SCENE" => (
            true,
            text.filter(|s| (1..=64).contains(&s.chars().count()))?
                .to_owned(),
        ),
        _ => return None,
    };
    let expire = match body.get("expire_seconds") {
        None => 30,
        Some(v) => v.as_u64().filter(|v| (1..=2_592_000).contains(v))?,
    };
    Some((permanent, scene, expire))
}
