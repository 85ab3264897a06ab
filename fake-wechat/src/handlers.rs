//! The fake's endpoints: the two token APIs and `qrcode/create`, with WeChat's checks and
//! the faults a test injected.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::access::{TokenQuery, authorize};
use crate::errcode::*;
use crate::lock;
use crate::mint::{new_ticket, new_url};
use crate::state::{
    App, Endpoint, FORCED_REFRESH_INTERVAL, FORCED_REFRESHES_PER_DAY, Retire, State, TokenKind,
};

pub(crate) fn error(errcode: i64, errmsg: &str) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "errcode": errcode, "errmsg": errmsg }))
}

fn token_answer(token: &str, expires_in: u64) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "access_token": token, "expires_in": expires_in }))
}

/// Takes the next fault for `endpoint`: its delay and, maybe, an errcode to answer.
fn take_fault(state: &Mutex<State>, endpoint: Endpoint) -> (Duration, Option<i64>) {
    let mut state = lock(state);
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

pub(crate) async fn faulted(state: &Mutex<State>, endpoint: Endpoint) -> Option<HttpResponse> {
    let (delay, errcode) = take_fault(state, endpoint);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    errcode.map(|code| error(code, "injected by the fake"))
}

impl State {
    /// The app of `appid` if the secret is its own and the caller's IP is whitelisted, in
    /// WeChat's order of checks: appid (40013), secret (40125), IP (40164); else WeChat's
    /// refusal.
    fn check_credentials(
        &mut self,
        appid: &str,
        secret: &str,
        req: &HttpRequest,
    ) -> Result<&mut App, Box<HttpResponse>> {
        let Some(app) = self.apps.get_mut(appid) else {
            return Err(Box::new(error(ERR_INVALID_APPID, "invalid appid")));
        };
        if secret != app.secret {
            return Err(Box::new(error(ERR_INVALID_SECRET, "invalid appsecret")));
        }
        if !app.ip_whitelisted {
            let ip = req
                .peer_addr()
                .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
            let rid = uuid::Uuid::new_v4().simple().to_string();
            let errmsg = format!(
                "invalid ip {ip} ipv6 ::ffff:{ip}, not in whitelist rid: {}",
                &rid[..8]
            );
            return Err(Box::new(error(ERR_IP_NOT_WHITELISTED, &errmsg)));
        }
        Ok(app)
    }
}

#[derive(Deserialize)]
pub(crate) struct ClassicQuery {
    appid: String,
    secret: String,
}

/// `GET /cgi-bin/token`: a new token on every call; the previous one keeps working for the
/// overlap.
pub(crate) async fn classic_token(
    state: web::Data<Mutex<State>>,
    q: web::Query<ClassicQuery>,
    req: HttpRequest,
) -> HttpResponse {
    if let Some(r) = faulted(&state, Endpoint::Token).await {
        return r;
    }
    let mut state = lock(&state);
    if let Err(r) = state.check_credentials(&q.appid, &q.secret, &req) {
        return *r;
    }
    let (token, life) = state.issue(&q.appid, TokenKind::Classic, Retire::AfterOverlap);
    token_answer(&token, life)
}

#[derive(Deserialize)]
pub(crate) struct StableBody {
    appid: String,
    secret: String,
    #[serde(default)]
    force_refresh: bool,
}

/// `POST /cgi-bin/stable_token`: the same token until it expires or is force-refreshed. A
/// forced refresh retires the current token at once; WeChat allows 20 a day, and one less
/// than 30 s after the last refreshes nothing (the current token is answered).
pub(crate) async fn stable_token(
    state: web::Data<Mutex<State>>,
    body: web::Json<StableBody>,
    req: HttpRequest,
) -> HttpResponse {
    if let Some(r) = faulted(&state, Endpoint::Token).await {
        return r;
    }
    let mut state = lock(&state);
    let now = Instant::now();
    let app = match state.check_credentials(&body.appid, &body.secret, &req) {
        Ok(app) => app,
        Err(r) => return *r,
    };
    let recent = app
        .last_forced
        .is_some_and(|at| now < at + FORCED_REFRESH_INTERVAL);
    if body.force_refresh && !recent {
        if app.forced_refreshes >= FORCED_REFRESHES_PER_DAY {
            return error(ERR_QUOTA, "reach max api daily quota limit");
        }
        app.forced_refreshes += 1;
        app.last_forced = Some(now);
        let (token, life) = state.issue(&body.appid, TokenKind::Stable, Retire::Now);
        return token_answer(&token, life);
    }
    let current = app.stable.clone().and_then(|t| {
        let expires_at = app.tokens.get(&t)?.expires_at;
        (expires_at > now).then_some((t, expires_at))
    });
    match current {
        Some((token, expires_at)) => {
            app.token_fetches += 1;
            token_answer(&token, expires_at.saturating_duration_since(now).as_secs())
        }
        None => {
            let (token, life) = state.issue(&body.appid, TokenKind::Stable, Retire::AfterOverlap);
            token_answer(&token, life)
        }
    }
}

/// `POST /cgi-bin/qrcode/create`, with a token of one of the fake's apps.
pub(crate) async fn create_qrcode(
    state: web::Data<Mutex<State>>,
    q: web::Query<TokenQuery>,
    body: web::Json<Value>,
) -> HttpResponse {
    lock(&state).qrcode_calls += 1;
    if let Some(r) = faulted(&state, Endpoint::QrCode).await {
        return r;
    }
    let mut guard = lock(&state);
    let permanent_limit = guard.permanent_limit;
    let app = match authorize(&mut guard, q.access_token.as_deref(), Endpoint::QrCode) {
        Ok(app) => app,
        Err(r) => return *r,
    };
    let Some((permanent, scene, expire)) = validate(&body) else {
        return error(ERR_INVALID_ARGS, "invalid args");
    };
    if !permanent {
        let url = new_url();
        return HttpResponse::Ok()
            .json(json!({ "ticket": new_ticket(), "expire_seconds": expire, "url": url }));
    }
    let count = app.permanent.len();
    let ticket = match app.permanent.get(&scene) {
        Some(ticket) => ticket.clone(),
        None if count >= permanent_limit => {
            return error(ERR_PERMANENT_LIMIT, "qrcode count out of limit");
        }
        None => app
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

#[cfg(test)]
mod tests {
    use super::validate;
    use serde_json::json;

    fn body(action: &str, scene: serde_json::Value) -> serde_json::Value {
        json!({ "action_name": action, "action_info": { "scene": scene } })
    }

    #[test]
    fn scene_ids_and_strings_are_checked_against_wechats_ranges() {
        let id = |action, v: u64| validate(&body(action, json!({ "scene_id": v })));
        assert_eq!(id("QR_SCENE", 1), Some((false, "1".into(), 30)));
        assert_eq!(id("QR_SCENE", u64::from(u32::MAX) + 1), None);
        assert_eq!(id("QR_SCENE", 0), None);
        assert_eq!(
            id("QR_LIMIT_SCENE", 100_000),
            Some((true, "100000".into(), 30))
        );
        assert_eq!(id("QR_LIMIT_SCENE", 100_001), None);
        let text = |action, s: &str| validate(&body(action, json!({ "scene_str": s })));
        assert_eq!(
            text("QR_STR_SCENE", &"码".repeat(64)).map(|v| v.0),
            Some(false)
        );
        assert_eq!(text("QR_LIMIT_STR_SCENE", &"a".repeat(65)), None);
        assert_eq!(text("QR_LIMIT_STR_SCENE", ""), None);
        assert_eq!(text("QR_OTHER", "a"), None);
    }

    #[test]
    fn expiry_must_be_within_thirty_days() {
        let with = |e: serde_json::Value| {
            let mut b = body("QR_STR_SCENE", json!({ "scene_str": "s" }));
            b["expire_seconds"] = e;
            validate(&b).map(|v| v.2)
        };
        assert_eq!(with(json!(2_592_000)), Some(2_592_000));
        assert_eq!(with(json!(2_592_001)), None);
        assert_eq!(with(json!(0)), None);
        assert_eq!(with(json!("60")), None);
    }
}
