//! Acting on scans: tags given in batches, welcomes as passive replies or kefu messages,
//! activity-wide actions, the jobs API, against the fake WeChat on both backends.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::helpers::{KEY, Options, TestApp, spawn_with};
use crate::push::{Push, now, scan, subscribe};

fn quick(settings: &mut qrscene::config::Settings) {
    settings.tag_gather_ms = 300;
    settings.outbox_poll_ms = 100;
    settings.outbox_retry_base_ms = 200;
}

async fn app() -> TestApp {
    spawn_with(Options {
        tweak: quick,
        ..Options::default()
    })
    .await
}

async fn jobs(app: &TestApp, query: &str) -> Vec<Value> {
    let response = app.get(&format!("/api/v1/jobs?{query}")).await;
    assert_eq!(response.status(), 200, "GET /api/v1/jobs?{query}");
    let page: Value = response.json().await.unwrap();
    page["items"].as_array().unwrap().clone()
}

/// Waits up to `limit` for `n` jobs matching `query`.
async fn wait_jobs(app: &TestApp, query: &str, n: usize, limit: Duration) -> Vec<Value> {
    let start = std::time::Instant::now();
    loop {
        let found = jobs(app, query).await;
        if found.len() >= n {
            return found;
        }
        assert!(
            start.elapsed() < limit,
            "{query}: {} of {n} jobs after {limit:?}; all jobs: {:#?}",
            found.len(),
            jobs(app, "").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn code(app: &TestApp, body: Value) -> Value {
    let (status, code) = app.create(body.clone()).await;
    assert_eq!(status, 201, "{body}: {code}");
    code
}

fn push_subscribe(openid: &str, code: &Value, create_time: i64) -> String {
    subscribe(
        openid,
        create_time,
        code["scene_str"].as_str(),
        code["ticket"].as_str(),
    )
}

#[tokio::test]
async fn a_scan_through_a_tagged_code_tags_the_follower_once_although_wechat_retries() {
    let app = app().await;
    let appid = app.fake.appid();
    let code = code(
        &app,
        json!({"kind": "temporary", "actions": {"tags": ["vip", "春季"]}}),
    )
    .await;
    let xml = push_subscribe("oTagged", &code, now());
    for _ in 0..3 {
        // WeChat's retries: the same XML, signed anew.
        let (status, body) = Push::plain(&xml).send(&app).await;
        assert_eq!((status, body.as_str()), (200, "success"));
    }
    let done = wait_jobs(&app, "kind=tag&state=done", 1, Duration::from_secs(10)).await;
    assert_eq!(done.len(), 1, "{done:#?}");
    assert_eq!(done[0]["openid"], "oTagged");
    tokio::time::sleep(Duration::from_millis(800)).await;
    let calls = app.fake.batchtagging_calls(&appid);
    assert_eq!(calls.len(), 2, "one call per tag: {calls:?}");
    let tags = app.fake.tags(&appid);
    let user_tags = app.fake.user_tags(&appid, "oTagged");
    for name in ["vip", "春季"] {
        let tag = tags.iter().find(|t| t.name == name).expect("tag created");
        assert!(user_tags.contains(&tag.id), "{name}: {user_tags:?}");
    }
    assert_eq!(
        jobs(&app, "kind=tag").await.len(),
        1,
        "one job for the retried push"
    );
    // The local mirror: both tags, one follower each.
    let mirrored: Value = app.get("/api/v1/tags").await.json().await.unwrap();
    let mirrored = mirrored.as_array().unwrap();
    assert_eq!(mirrored.len(), 2, "{mirrored:?}");
    assert!(mirrored.iter().all(|t| t["tagged"] == 1), "{mirrored:?}");
}

#[tokio::test]
async fn one_hundred_and_twenty_followers_of_one_code_are_tagged_in_at_most_three_calls() {
    let app = spawn_with(Options {
        tweak: |s| {
            quick(s);
            s.tag_gather_ms = 3_000;
        },
        ..Options::default()
    })
    .await;
    let appid = app.fake.appid();
    let code = code(
        &app,
        json!({"kind": "temporary", "actions": {"tags": ["fair"], "on": "subscribe"}}),
    )
    .await;
    let t = now();
    let pushes: Vec<String> = (0..120)
        .map(|i| push_subscribe(&format!("oMany{i:03}"), &code, t))
        .collect();
    let statuses: Vec<u16> = futures_util::stream::iter(pushes.iter())
        .map(|xml| {
            let app = &app;
            async move { Push::plain(xml).send(app).await.0 }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    wait_jobs(
        &app,
        "kind=tag&state=done&limit=500",
        120,
        Duration::from_secs(20),
    )
    .await;
    let calls = app.fake.batchtagging_calls(&appid);
    assert!(calls.len() <= 3, "{} calls", calls.len());
    assert!(calls.iter().all(|c| c.openids.len() <= 50));
    let tagged: std::collections::BTreeSet<&String> =
        calls.iter().flat_map(|c| c.openids.iter()).collect();
    assert_eq!(tagged.len(), 120);
}

#[tokio::test]
async fn a_follower_with_twenty_tags_is_recorded_as_45059_and_not_retried() {
    let app = app().await;
    let appid = app.fake.appid();
    app.fake.set_user_tag_count(&appid, "oFull", 20);
    let code = code(
        &app,
        json!({"kind": "temporary", "actions": {"tags": ["extra"]}}),
    )
    .await;
    for openid in ["oFull", "oRoom"] {
        Push::plain(&push_subscribe(openid, &code, now()))
            .send(&app)
            .await;
    }
    let dead = wait_jobs(&app, "kind=tag&state=dead", 1, Duration::from_secs(10)).await;
    assert_eq!(dead[0]["openid"], "oFull");
    assert_eq!(dead[0]["last_code"], 45059);
    assert!(
        dead[0]["last_error"].as_str().unwrap().contains("45059"),
        "{}",
        dead[0]
    );
    wait_jobs(&app, "kind=tag&state=done", 1, Duration::from_secs(10)).await;
    let calls_then = app.fake.batchtagging_calls(&appid).len();
    // Several retry periods later: still dead after its single attempt, no more calls.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let dead = jobs(&app, "kind=tag&state=dead").await;
    assert_eq!((dead.len(), dead[0]["attempts"].as_i64()), (1, Some(1)));
    assert_eq!(app.fake.batchtagging_calls(&appid).len(), calls_then);
    let user_tags = app.fake.user_tags(&appid, "oRoom");
    assert_eq!(user_tags.len(), 1, "the other follower is tagged");

    // Retrying by hand runs it again (and WeChat refuses again).
    let id = dead[0]["id"].as_i64().unwrap();
    let response = app
        .post(&format!("/api/v1/jobs/{id}/retry"), &json!({}))
        .await;
    assert_eq!(response.status(), 200);
    let retried: Value = response.json().await.unwrap();
    assert_eq!(retried["state"], "pending");
    let done_id = jobs(&app, "kind=tag&state=done").await[0]["id"]
        .as_i64()
        .unwrap();
    let response = app
        .post(&format!("/api/v1/jobs/{done_id}/retry"), &json!({}))
        .await;
    assert_eq!(response.status(), 409);
    let response = app.post("/api/v1/jobs/999999/retry", &json!({})).await;
    assert_eq!(response.status(), 404);
    let response = app.get("/api/v1/jobs?state=lost").await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_kefu_welcome_goes_out_once_and_never_after_its_minute() {
    let app = app().await;
    let appid = app.fake.appid();
    let code = code(
        &app,
        json!({"kind": "temporary", "actions": {"welcome": {"via": "kefu", "type": "text", "content": "欢迎 <b>"}}}),
    )
    .await;
    let xml = push_subscribe("oWelcome", &code, now());
    for _ in 0..2 {
        let (status, body) = Push::plain(&xml).send(&app).await;
        // A kefu welcome is not the passive reply.
        assert_eq!((status, body.as_str()), (200, "success"));
    }
    wait_jobs(&app, "kind=kefu&state=done", 1, Duration::from_secs(10)).await;
    let sent = app.fake.kefu_messages(&appid);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].body["touser"], "oWelcome");
    assert_eq!(sent[0].body["msgtype"], "text");
    assert_eq!(sent[0].body["text"]["content"], "欢迎 <b>");

    // A scan that WeChat reports 70 s late: the minute has passed, nothing is sent.
    let late = push_subscribe("oLate", &code, now() - 70);
    Push::plain(&late).send(&app).await;
    let dropped = wait_jobs(&app, "kind=kefu&state=dropped", 1, Duration::from_secs(10)).await;
    assert_eq!(dropped[0]["openid"], "oLate");
    assert!(
        dropped[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("minute")
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.fake.kefu_messages(&appid).len(), 1);
}

#[tokio::test]
async fn welcomes_as_passive_replies_can_be_images_and_news() {
    let app = app().await;
    let image = code(
        &app,
        json!({"kind": "temporary", "actions": {"welcome": {"type": "image", "media_id": "MEDIA_1"}}}),
    )
    .await;
    let (_, body) = Push::plain(&push_subscribe("oImg", &image, now()))
        .send(&app)
        .await;
    assert!(
        body.contains("<MsgType><![CDATA[image]]></MsgType>"),
        "{body}"
    );
    assert!(body.contains("MEDIA_1"), "{body}");
    let news = code(
        &app,
        json!({"kind": "temporary", "actions": {"on": "scan", "welcome": {"type": "news", "articles": [
            {"title": "春季 fair", "description": "d", "url": "https://example.com/a", "picurl": "https://example.com/p.png"},
            {"title": "second", "url": "https://example.com/b"}]}}}),
    )
    .await;
    // `on: scan`: a new follower gets nothing, a returning one the news.
    let (_, body) = Push::plain(&push_subscribe("oNews", &news, now()))
        .send(&app)
        .await;
    assert_eq!(body, "success");
    let (_, body) = Push::plain(&scan(
        "oNews",
        now() + 1,
        news["scene_str"].as_str().unwrap(),
        None,
    ))
    .send(&app)
    .await;
    assert!(body.contains("<ArticleCount>2</ArticleCount>"), "{body}");
    assert!(
        body.contains("春季 fair") && body.contains("https://example.com/b"),
        "{body}"
    );
    // The stored code shows its actions.
    let got: Value = app
        .get(&format!("/api/v1/qrcodes/{}", news["id"]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["actions"]["on"], "scan");
}

#[tokio::test]
async fn activity_actions_apply_to_its_codes_without_actions_of_their_own() {
    let app = app().await;
    let response = app
        .http
        .put(format!("{}/api/v1/activities/SPRING/actions", app.address))
        .bearer_auth(KEY)
        .json(&json!({"on": "scan", "tags": ["spring"], "welcome": {"type": "text", "content": "again!"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let plain = code(
        &app,
        json!({"kind": "temporary", "payload": {"activity_id": "SPRING"}}),
    )
    .await;
    let own = code(
        &app,
        json!({"kind": "temporary", "payload": {"activity_id": "SPRING"}, "reply": "mine"}),
    )
    .await;
    // Subscribe: not triggered (`on: scan`).
    let (_, body) = Push::plain(&push_subscribe("oAct", &plain, now()))
        .send(&app)
        .await;
    assert_eq!(body, "success");
    let (_, body) = Push::plain(&scan(
        "oAct",
        now() + 1,
        plain["scene_str"].as_str().unwrap(),
        None,
    ))
    .send(&app)
    .await;
    assert!(body.contains("again!"), "{body}");
    let (_, body) = Push::plain(&scan(
        "oAct",
        now() + 2,
        own["scene_str"].as_str().unwrap(),
        None,
    ))
    .send(&app)
    .await;
    assert!(body.contains("mine"), "the code's own reply wins: {body}");
    let done = wait_jobs(&app, "kind=tag&state=done", 1, Duration::from_secs(10)).await;
    assert_eq!(
        done.len(),
        1,
        "only the code without actions tags: {done:#?}"
    );
    assert_eq!(done[0]["subject_id"], plain["id"]);

    let got: Value = app
        .get("/api/v1/activities/SPRING/actions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(got["tags"], json!(["spring"]));
    let delete = |path: &'static str| {
        app.http
            .delete(format!("{}{path}", app.address))
            .bearer_auth(KEY)
            .send()
    };
    assert_eq!(
        delete("/api/v1/activities/SPRING/actions")
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        delete("/api/v1/activities/SPRING/actions")
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        app.get("/api/v1/activities/SPRING/actions").await.status(),
        404
    );
}

#[tokio::test]
async fn bad_actions_are_refused_with_the_field_and_legacy_codes_take_actions() {
    let app = app().await;
    let cases = [
        (
            json!({"kind": "temporary", "actions": {"tags": ["x".repeat(31)]}}),
            "actions.tags",
        ),
        (
            json!({"kind": "temporary", "reply": "a", "actions": {"welcome": {"type": "text", "content": "b"}}}),
            "reply",
        ),
        (
            json!({"kind": "temporary", "actions": {"welcome": {"via": "kefu", "type": "image"}}}),
            "actions.welcome",
        ),
        (json!({"kind": "temporary", "actions": {}}), "actions"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.create(body.clone()).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    assert!(
        app.log().await.is_empty(),
        "nothing is stored for a refused request"
    );

    let legacy = app
        .post(
            "/activity-wechat/api/wxWeChat/createQrCode",
            &json!({"sceneStr": "eyJhY3Rpdml0eV9pZCI6Ik1UMTk1MCJ9", "second": 600, "actions": {"tags": ["legacy"]}}),
        )
        .await;
    assert_eq!(legacy.status(), 200);
    let log = app.log().await;
    assert_eq!(log.len(), 1);
    assert!(log[0].action_tags);
    assert!(log[0].actions.as_deref().unwrap().contains("legacy"));
}

#[tokio::test]
async fn a_kefu_welcome_whose_answer_is_lost_is_not_sent_again() {
    let app = app().await;
    let code = code(
        &app,
        json!({"kind": "temporary", "actions": {"welcome": {"via": "kefu", "type": "text", "content": "once"}}}),
    )
    .await;
    // WeChat takes longer than our timeout (2 s in the tests): it may have sent it.
    app.fake.delay_next(
        qrscene_fake_wechat::Endpoint::CustomSend,
        Duration::from_secs(3),
        1,
    );
    Push::plain(&push_subscribe("oSlow", &code, now()))
        .send(&app)
        .await;
    let dropped = wait_jobs(&app, "kind=kefu&state=dropped", 1, Duration::from_secs(15)).await;
    assert_eq!(dropped[0]["attempts"], 1, "{}", dropped[0]);
    assert!(
        dropped[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("may have been sent"),
        "{}",
        dropped[0]
    );
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    assert!(app.fake.kefu_messages(&app.fake.appid()).len() <= 1);
    assert_eq!(jobs(&app, "kind=kefu").await.len(), 1);
}

fn quick_sealed(settings: &mut qrscene::config::Settings) {
    quick(settings);
    settings.master_key = Some(crate::accounts::MASTER_KEY.into());
}

#[tokio::test]
async fn an_admin_key_scoped_to_one_account_sees_and_retries_only_its_jobs() {
    let app = spawn_with(Options {
        tweak: quick_sealed,
        ..Options::default()
    })
    .await;
    let a = app.fake.appid();
    let b = crate::helpers::new_appid();
    app.add_account(&b).await;
    for (account, path, token) in [
        (
            &a,
            "/wechat/callback".to_owned(),
            crate::helpers::CALLBACK_TOKEN,
        ),
        (
            &b,
            format!("/wechat/callback/{b}"),
            crate::accounts::B_TOKEN,
        ),
    ] {
        let code = code(
            &app,
            json!({"kind": "temporary", "account": account, "actions": {"tags": ["scoped"]}}),
        )
        .await;
        let xml = push_subscribe(&format!("oScoped{account}"), &code, now());
        let (status, body) = Push::plain_signed(&xml, token, now())
            .send_to(&app, &path)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let all = wait_jobs(&app, "kind=tag&state=done", 2, Duration::from_secs(10)).await;
    assert_eq!(all.len(), 2);
    let ops_a = app
        .add_key(json!({"name": "ops-a", "role": "admin", "accounts": [a]}))
        .await;
    let (status, page) = app
        .send(reqwest::Method::GET, "/api/v1/jobs", &ops_a, None)
        .await;
    assert_eq!(status, 200, "{page}");
    let seen = page["items"].as_array().unwrap();
    assert_eq!(seen.len(), 1, "{page}");
    assert_eq!(seen[0]["openid"], json!(format!("oScoped{a}")));
    let of_b = all
        .iter()
        .find(|j| j["openid"] == json!(format!("oScoped{b}")))
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/jobs/{of_b}/retry"),
            &ops_a,
            None,
        )
        .await;
    assert_eq!(status, 404, "another account's job is not found");
}
