//! User tags as WeChat documents them: `tags/get`, `tags/create`,
//! `tags/members/batchtagging` and `tags/getidlist`, each app with its own tags.
//!
//! Limits: 100 tags of an account's own (WeChat's 0-2 not counted; 45056), names unique
//! (45157) and at most 30 bytes (45158), at most 50 openids a tagging call (40032), at most
//! 20 tags a user (45059: the whole call fails, nobody is tagged). Tagging a user who has
//! the tag already succeeds and changes nothing.

use std::sync::Mutex;
use std::time::SystemTime;

use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use crate::BatchTaggingCall;
use crate::access::{TokenQuery, json_body, with_app};
use crate::errcode::*;
use crate::handlers::error;
use crate::state::{App, Endpoint, FIRST_TAG_ID, State};

/// Tags an account may create.
pub(crate) const MAX_TAGS: usize = 100;
/// Tags one user may have.
pub(crate) const MAX_TAGS_PER_USER: usize = 20;
/// Longest tag name, in bytes of UTF-8.
pub(crate) const MAX_TAG_NAME_BYTES: usize = 30;
/// Openids in one `batchtagging` call.
pub(crate) const BATCH_TAGGING_MAX: usize = 50;

fn ok() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "errcode": 0, "errmsg": "ok" }))
}

impl App {
    /// Users who have tag `id`.
    pub(crate) fn tag_count(&self, id: i64) -> usize {
        self.user_tags.values().filter(|t| t.contains(&id)).count()
    }

    /// The tags `openid` has: those given here, and those a test said it has besides.
    fn tags_of(&self, openid: &str) -> usize {
        self.user_tags.get(openid).map_or(0, Vec::len)
            + self.other_tags.get(openid).copied().unwrap_or(0)
    }

    /// Whether WeChat knows `openid` as a follower (every openid unless a test declared
    /// the followers).
    pub(crate) fn follows(&self, openid: &str) -> bool {
        self.followers.as_ref().is_none_or(|f| f.contains(openid))
    }
}

/// `GET /cgi-bin/tags/get`: every tag of the app with its number of users.
pub(crate) async fn get_tags(
    state: web::Data<Mutex<State>>,
    q: web::Query<TokenQuery>,
) -> HttpResponse {
    with_app(&state, &q, Endpoint::TagsGet, |app| {
        let tags: Vec<Value> = app
            .tags
            .iter()
            .map(|(&id, name)| json!({ "id": id, "name": name, "count": app.tag_count(id) }))
            .collect();
        HttpResponse::Ok().json(json!({ "tags": tags }))
    })
    .await
}

/// `POST /cgi-bin/tags/create` with `{"tag":{"name":"..."}}`.
pub(crate) async fn create_tag(
    state: web::Data<Mutex<State>>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> HttpResponse {
    with_app(&state, &q, Endpoint::TagsCreate, |app| {
        app.tag_creates += 1;
        let body = match json_body(&body) {
            Ok(body) => body,
            Err(r) => return *r,
        };
        let Some(name) = body.pointer("/tag/name").and_then(Value::as_str) else {
            return error(ERR_DATA_FORMAT, "data format error");
        };
        // WeChat documents no code for an empty name; the fake answers 40097.
        if name.is_empty() {
            return error(ERR_INVALID_ARGS, "invalid args");
        }
        if name.len() > MAX_TAG_NAME_BYTES {
            return error(ERR_TAG_NAME_TOO_LONG, "tag name too long");
        }
        if app.tags.values().any(|n| n == name) {
            return error(ERR_TAG_NAME_EXISTS, "tag name already exists");
        }
        if app.tags.keys().filter(|&&id| id >= FIRST_TAG_ID).count() >= MAX_TAGS {
            return error(ERR_TOO_MANY_TAGS, "too many tags");
        }
        let id = app.next_tag_id;
        app.next_tag_id += 1;
        app.tags.insert(id, name.to_owned());
        HttpResponse::Ok().json(json!({ "tag": { "id": id, "name": name } }))
    })
    .await
}

/// `POST /cgi-bin/tags/members/batchtagging` with `{"openid_list":[...],"tagid":N}`.
pub(crate) async fn batch_tagging(
    state: web::Data<Mutex<State>>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> HttpResponse {
    with_app(&state, &q, Endpoint::BatchTagging, |app| {
        let body = match json_body(&body) {
            Ok(body) => body,
            Err(r) => return *r,
        };
        let tagid = body.get("tagid").and_then(Value::as_i64);
        let openids: Option<Vec<String>> = body
            .get("openid_list")
            .and_then(Value::as_array)
            .and_then(|list| list.iter().map(|o| o.as_str().map(str::to_owned)).collect());
        let (Some(tagid), Some(openids)) = (tagid, openids) else {
            return error(ERR_DATA_FORMAT, "data format error");
        };
        let errcode = tag_users(app, tagid, &openids);
        app.batch_calls.push(BatchTaggingCall {
            tagid,
            openids,
            at: SystemTime::now(),
            errcode,
        });
        match errcode {
            0 => ok(),
            ERR_INVALID_OPENID_LIST => error(errcode, "invalid openid list size"),
            ERR_INVALID_TAG_ID => error(errcode, "invalid tagid"),
            ERR_INVALID_OPENID => error(errcode, "invalid openid"),
            _ => error(errcode, "user tag count out of limit"),
        }
    })
    .await
}

/// Gives `tagid` to every one of `openids`, or to none: the errcode (0 when done).
fn tag_users(app: &mut App, tagid: i64, openids: &[String]) -> i64 {
    if openids.is_empty() || openids.len() > BATCH_TAGGING_MAX {
        return ERR_INVALID_OPENID_LIST;
    }
    if !app.tags.contains_key(&tagid) {
        return ERR_INVALID_TAG_ID;
    }
    if openids.iter().any(|o| o.is_empty() || !app.follows(o)) {
        return ERR_INVALID_OPENID;
    }
    let has = |app: &App, o: &str| app.user_tags.get(o).is_some_and(|t| t.contains(&tagid));
    if openids
        .iter()
        .any(|o| !has(app, o) && app.tags_of(o) >= MAX_TAGS_PER_USER)
    {
        return ERR_USER_TAG_LIMIT;
    }
    for openid in openids {
        let tags = app.user_tags.entry(openid.clone()).or_default();
        if !tags.contains(&tagid) {
            tags.push(tagid);
        }
    }
    0
}

/// `POST /cgi-bin/tags/getidlist` with `{"openid":"..."}`: the user's tag ids.
pub(crate) async fn tag_id_list(
    state: web::Data<Mutex<State>>,
    q: web::Query<TokenQuery>,
    body: web::Bytes,
) -> HttpResponse {
    with_app(&state, &q, Endpoint::TagIdList, |app| {
        let body = match json_body(&body) {
            Ok(body) => body,
            Err(r) => return *r,
        };
        let Some(openid) = body.get("openid").and_then(Value::as_str) else {
            return error(ERR_DATA_FORMAT, "data format error");
        };
        if openid.is_empty() || !app.follows(openid) {
            return error(ERR_INVALID_OPENID, "invalid openid");
        }
        let list = app.user_tags.get(openid).cloned().unwrap_or_default();
        HttpResponse::Ok().json(json!({ "tagid_list": list }))
    })
    .await
}
