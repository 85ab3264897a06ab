//! What every API called with an access token shares: WeChat's token checks, the daily
//! quota of each endpoint, and reading a JSON body as WeChat does.

use std::sync::Mutex;
use std::time::Instant;

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::Value;

use crate::errcode::*;
use crate::handlers::{error, faulted};
use crate::lock;
use crate::state::{App, Endpoint, State};

#[derive(Deserialize)]
pub(crate) struct TokenQuery {
    pub(crate) access_token: Option<String>,
}

/// The app whose token the caller gave, after WeChat's checks (41001 missing, 40014
/// unknown, 42001 expired, 40001 replaced), with the call counted against the app's daily
/// quota of `endpoint` (45009 past it).
pub(crate) fn authorize<'a>(
    state: &'a mut State,
    token: Option<&str>,
    endpoint: Endpoint,
) -> Result<&'a mut App, Box<HttpResponse>> {
    let now = Instant::now();
    let quota = state.quotas.get(&endpoint).copied();
    let Some(token) = token else {
        return Err(Box::new(error(ERR_TOKEN_MISSING, "access_token missing")));
    };
    let Some(app) = state
        .owners
        .get(token)
        .and_then(|appid| state.apps.get_mut(appid))
    else {
        return Err(Box::new(error(ERR_INVALID_TOKEN, "invalid access_token")));
    };
    match app.tokens.get(token) {
        None => return Err(Box::new(error(ERR_INVALID_TOKEN, "invalid access_token"))),
        Some(t) if t.expires_at <= now => {
            return Err(Box::new(error(ERR_TOKEN_EXPIRED, "access_token expired")));
        }
        Some(t) if t.valid_until.is_some_and(|until| until <= now) => {
            return Err(Box::new(error(
                ERR_INVALID_CREDENTIAL,
                "invalid credential, access_token is invalid or not latest",
            )));
        }
        Some(_) => {}
    }
    let calls = app.calls.entry(endpoint).or_default();
    *calls += 1;
    if quota.is_some_and(|quota| *calls > quota) {
        return Err(Box::new(error(
            ERR_QUOTA,
            "reach max api daily quota limit",
        )));
    }
    Ok(app)
}

/// A JSON body as WeChat reads it: none is 44002, one that is not JSON 47001.
pub(crate) fn json_body(body: &[u8]) -> Result<Value, Box<HttpResponse>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Box::new(error(ERR_EMPTY_POST_DATA, "empty post data")));
    }
    serde_json::from_slice(body).map_err(|_| Box::new(error(ERR_DATA_FORMAT, "data format error")))
}

/// Runs `f` on the app of the caller's token after the fault, token and quota checks.
pub(crate) async fn with_app(
    state: &Mutex<State>,
    q: &TokenQuery,
    endpoint: Endpoint,
    f: impl FnOnce(&mut App) -> HttpResponse,
) -> HttpResponse {
    if let Some(r) = faulted(state, endpoint).await {
        return r;
    }
    let mut state = lock(state);
    match authorize(&mut state, q.access_token.as_deref(), endpoint) {
        Ok(app) => f(app),
        Err(r) => *r,
    }
}
