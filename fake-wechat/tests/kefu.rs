//! The fake's `message/custom/send`: each type, each errcode, the window after an interaction.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{APPID, Api, errcode};
use qrscene_fake_wechat::*;
use serde_json::{Value, json};

const PATH: &str = "/cgi-bin/message/custom/send";

fn text(touser: &str, content: &str) -> Value {
    json!({ "touser": touser, "msgtype": "text", "text": { "content": content } })
}

#[tokio::test]
async fn every_type_qrscene_sends_is_accepted_and_recorded() {
    let api = Api::start().await;
    let bodies = [
        text("o1", "欢迎关注"),
        json!({ "touser": "o1", "msgtype": "image", "image": { "media_id": "MEDIA" } }),
        json!({ "touser": "o1", "msgtype": "news", "news": { "articles": [
            { "title": "T", "description": "D", "url": "https://e.x/a", "picurl": "https://e.x/p.jpg" }
        ] } }),
        json!({ "touser": "o1", "msgtype": "miniprogrampage", "miniprogrampage": {
            "title": "T", "appid": "wxmini", "pagepath": "pages/index?x=1", "thumb_media_id": "THUMB"
        } }),
    ];
    for body in &bodies {
        assert_eq!(
            api.post(PATH, body.clone()).await,
            json!({ "errcode": 0, "errmsg": "ok" })
        );
    }
    let sent = api.fake.kefu_messages(APPID);
    assert_eq!(sent.len(), 4);
    assert_eq!(sent[0].body, bodies[0]);
    assert_eq!(
        (sent[3].touser(), sent[3].msgtype()),
        ("o1", "miniprogrampage")
    );
    assert_eq!(api.fake.kefu_calls(APPID), 4);
}

#[tokio::test]
async fn malformed_messages_answer_wechats_codes() {
    let api = Api::start().await;
    let code = |v: Value| {
        let api = &api;
        async move { errcode(&api.post(PATH, v).await) }
    };
    assert_eq!(code(text("", "hi")).await, ERR_INVALID_OPENID);
    assert_eq!(
        code(json!({ "touser": "o", "msgtype": "voice", "voice": {} })).await,
        ERR_INVALID_MSGTYPE
    );
    assert_eq!(
        code(json!({ "touser": "o", "msgtype": "text" })).await,
        ERR_DATA_FORMAT
    );
    assert_eq!(
        code(json!({ "msgtype": "text", "text": { "content": "x" } })).await,
        ERR_DATA_FORMAT
    );
    assert_eq!(
        code(json!({ "touser": "o", "msgtype": "image", "image": { "media_id": "" } })).await,
        ERR_DATA_FORMAT
    );
    let mini = json!({ "touser": "o", "msgtype": "miniprogrampage", "miniprogrampage": { "title": "T", "appid": "a" } });
    assert_eq!(code(mini).await, ERR_DATA_FORMAT);
    let article = json!({ "title": "T", "description": "", "url": "u", "picurl": "p" });
    let news = |n: usize| json!({ "touser": "o", "msgtype": "news", "news": { "articles": vec![article.clone(); n] } });
    assert_eq!(code(news(2)).await, ERR_ARTICLE_COUNT);
    assert_eq!(code(news(0)).await, ERR_ARTICLE_COUNT);
    assert_eq!(
        code(text("o", &"a".repeat(2049))).await,
        ERR_CONTENT_TOO_LONG
    );
    assert_eq!(code(text("o", &"a".repeat(2048))).await, 0);
    assert_eq!(
        errcode(&api.post_raw_with(&api.token, PATH, " ").await),
        ERR_EMPTY_POST_DATA
    );
    assert_eq!(
        errcode(&api.post_raw_with(&api.token, PATH, "<xml/>").await),
        ERR_DATA_FORMAT
    );
    api.fake.declare_followers(APPID, &["o"]);
    assert_eq!(code(text("stranger", "hi")).await, ERR_INVALID_OPENID);
    assert_eq!(api.fake.kefu_messages(APPID).len(), 1);
}

#[tokio::test]
async fn a_declared_interaction_allows_three_messages_within_its_minute() {
    let api = Api::start().await;
    api.fake.declare_interaction(APPID, "o1", SystemTime::now());
    for _ in 0..3 {
        assert_eq!(errcode(&api.post(PATH, text("o1", "hi")).await), 0);
    }
    assert_eq!(
        errcode(&api.post(PATH, text("o1", "hi")).await),
        ERR_REPLY_COUNT_LIMIT
    );
    // Another user has no declared interaction: no window.
    for _ in 0..5 {
        assert_eq!(errcode(&api.post(PATH, text("o2", "hi")).await), 0);
    }
    // A new interaction opens a new window.
    api.fake.declare_interaction(APPID, "o1", SystemTime::now());
    assert_eq!(errcode(&api.post(PATH, text("o1", "hi")).await), 0);

    let late = SystemTime::now() - Duration::from_secs(70);
    api.fake.declare_interaction(APPID, "o3", late);
    assert_eq!(
        errcode(&api.post(PATH, text("o3", "hi")).await),
        ERR_REPLY_TIME_LIMIT
    );
    let sent = api.fake.kefu_messages(APPID);
    assert_eq!(sent.len(), 9);
    assert!(sent.iter().all(|m| m.touser() != "o3"));
    assert_eq!(api.fake.kefu_calls(APPID), 11);
}

#[tokio::test]
async fn kefu_checks_the_token_and_takes_quota_and_faults() {
    let api = Api::start().await;
    api.fake
        .delay_next(Endpoint::CustomSend, Duration::from_millis(300), 1);
    let started = Instant::now();
    assert_eq!(errcode(&api.post(PATH, text("o", "hi")).await), 0);
    assert!(started.elapsed() >= Duration::from_millis(300));
    api.fake.fail_next(Endpoint::CustomSend, ERR_QUOTA, 1);
    assert_eq!(errcode(&api.post(PATH, text("o", "hi")).await), ERR_QUOTA);
    api.fake.set_api_quota(Endpoint::CustomSend, 1);
    assert_eq!(errcode(&api.post(PATH, text("o", "hi")).await), ERR_QUOTA);
    assert_eq!(
        errcode(&api.post_with("nope", PATH, text("o", "hi")).await),
        ERR_INVALID_TOKEN
    );
    api.fake.expire_tokens();
    assert_eq!(
        errcode(&api.post(PATH, text("o", "hi")).await),
        ERR_TOKEN_EXPIRED
    );
    assert_eq!(api.fake.kefu_messages(APPID).len(), 1);
}
