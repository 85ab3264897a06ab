//! Storing pushes exactly once, tying scans to generations, keeping followers.

use std::sync::Arc;

use entity::wechat_event::EventKind;
use serde_json::json;

use crate::helpers::{Options, spawn_app, spawn_instance};
use crate::push::{Push, now, scan, subscribe, unsubscribe};

const LEGACY_SCENE_STR: &str = "eyJhY3Rpdml0eV90eXBlX25hbWUiOiJQS+i1my3mtojotLnogIXln7norq0iLCJhY3Rpdml0eV90eXBlIjoiMyIsImFjdGl2aXR5X2lkIjoiTVQxOTUwIiwiaWQiOjQ5MjgyLCJhY3Rpdml0eV90aGVtZSI6IjIyIiwiaWQiOjQ5MjgyfQ==";

#[tokio::test]
async fn three_identical_concurrent_pushes_leave_one_row_and_three_identical_answers() {
    let app = spawn_app().await;
    let (_, g) = app.create(json!({"kind":"temporary","reply":"hi"})).await;
    let xml = subscribe(
        "oTriple",
        now(),
        g["scene_str"].as_str(),
        g["ticket"].as_str(),
    );
    let push = Push::plain(&xml);
    let answers = futures_util::future::join_all((0..3).map(|_| push.send(&app))).await;
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert!(answers[0].1.contains("<![CDATA[hi]]>"));
    assert_eq!(app.events().await.len(), 1);
    // A later retry, after the commit, gets the same answer too.
    assert_eq!(push.send(&app).await, answers[0]);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn identical_pushes_to_two_instances_are_stored_once() {
    let first = spawn_app().await;
    let second = spawn_instance(
        &Options::default(),
        first._database.clone(),
        Arc::clone(&first.fake),
        &first.fake.appid(),
    )
    .await;
    let t = now();
    let (first, second) = (&first, &second);
    let mut sends = Vec::new();
    for i in 0..20 {
        let push = Push::plain(&unsubscribe(&format!("oMulti{i}"), t));
        sends.push(async move { tokio::join!(push.send(first), push.send(second)) });
    }
    let answers = futures_util::future::join_all(sends).await;
    assert!(
        answers.iter().all(|(a, b)| a == b && a.0 == 200),
        "{answers:?}"
    );
    assert_eq!(first.events().await.len(), 20);
}

#[tokio::test]
async fn a_subscribe_for_a_legacy_code_links_to_its_generation_and_activity() {
    let app = spawn_app().await;
    let answer: serde_json::Value = app
        .post(
            "/activity-wechat/api/wxWeChat/createQrCode",
            &json!({"sceneStr": LEGACY_SCENE_STR, "second": 600}),
        )
        .await
        .json()
        .await
        .unwrap();
    let generation = app.log().await.pop().unwrap();
    assert_eq!(generation.ticket.as_deref(), answer["ticket"].as_str());
    // No Ticket in the push: the short scene key alone ties it back.
    let xml = subscribe("oLegacy", now(), Some(&generation.scene), None);
    assert_eq!(Push::plain(&xml).send(&app).await, (200, "success".into()));
    let event = app.events().await.pop().unwrap();
    assert_eq!(event.kind, EventKind::Subscribe);
    assert_eq!(event.scene.as_deref(), Some(generation.scene.as_str()));
    assert_eq!(
        event.event_key.as_deref(),
        Some(format!("qrscene_{}", generation.scene).as_str())
    );
    assert_eq!(event.generation_id, Some(generation.id));
    assert_eq!(generation.activity_id.as_deref(), Some("MT1950"));
    assert_eq!(event.xml, xml);
    let follower = app.follower("oLegacy").await.unwrap();
    assert!(follower.subscribed);
    assert_eq!(follower.first_generation_id, Some(generation.id));
}

#[tokio::test]
async fn scan_links_by_ticket_before_scene() {
    let app = spawn_app().await;
    let (_, a) = app.create(json!({"kind":"temporary","scene_id":7})).await;
    let (_, b) = app.create(json!({"kind":"temporary","scene_id":7})).await;
    // Both codes share scene 7; the ticket says it was the first one.
    let xml = scan("oScan", now(), "7", a["ticket"].as_str());
    assert_eq!(Push::plain(&xml).send(&app).await.0, 200);
    // Without a ticket, the latest generation with the scene.
    let xml = scan("oScan", now() + 1, "7", None);
    assert_eq!(Push::plain(&xml).send(&app).await.0, 200);
    // An unknown scene links to nothing but is stored.
    let xml = scan("oScan", now() + 2, "nobody", None);
    assert_eq!(Push::plain(&xml).send(&app).await.0, 200);
    let events = app.events().await;
    assert_eq!(events[0].generation_id, a["id"].as_i64());
    assert_eq!(events[0].ticket.as_deref(), a["ticket"].as_str());
    assert_eq!(events[1].generation_id, b["id"].as_i64());
    assert_eq!(events[2].generation_id, None);
    assert!(events.iter().all(|e| e.kind == EventKind::Scan));
}

#[tokio::test]
async fn unsubscribe_and_resubscribe_update_the_follower_and_keep_first_touch() {
    let app = spawn_app().await;
    let (_, first) = app.create(json!({"kind":"temporary"})).await;
    let (_, second) = app.create(json!({"kind":"temporary"})).await;
    // In the past: follower times never run ahead of when a push was received.
    let t = now() - 60;
    let steps = [
        subscribe(
            "oF",
            t,
            first["scene_str"].as_str(),
            first["ticket"].as_str(),
        ),
        unsubscribe("oF", t + 10),
        subscribe(
            "oF",
            t + 20,
            second["scene_str"].as_str(),
            second["ticket"].as_str(),
        ),
    ];
    Push::plain(&steps[0]).send(&app).await;
    let f = app.follower("oF").await.unwrap();
    assert!(f.subscribed);
    assert_eq!(f.first_generation_id, first["id"].as_i64());
    Push::plain(&steps[1]).send(&app).await;
    let f = app.follower("oF").await.unwrap();
    assert!(!f.subscribed);
    assert_eq!(f.last_event_kind, EventKind::Unsubscribe);
    assert!(f.unsubscribed_at.is_some());
    Push::plain(&steps[2]).send(&app).await;
    let f = app.follower("oF").await.unwrap();
    assert!(f.subscribed);
    assert_eq!(
        f.first_generation_id,
        first["id"].as_i64(),
        "first touch stays"
    );
    assert_eq!(f.first_followed_at.unwrap().timestamp(), t);
    assert_eq!(f.subscribed_at.unwrap().timestamp(), t + 20);
    // An older event that arrives late (never stored before) does not undo the newer subscribe.
    assert_eq!(
        Push::plain(&unsubscribe("oF", t + 15)).send(&app).await.0,
        200
    );
    let f = app.follower("oF").await.unwrap();
    assert!(
        f.subscribed,
        "a late unsubscribe of t+15 must not undo the subscribe of t+20"
    );
    assert_eq!(f.last_event_kind, EventKind::Subscribe);
    assert_eq!(f.subscribed_at.unwrap().timestamp(), t + 20);
    assert_eq!(app.events().await.len(), 4);
    // A plain follow (no scene) of someone new has no first touch.
    Push::plain(&subscribe("oPlain", t, None, None))
        .send(&app)
        .await;
    let plain = app.follower("oPlain").await.unwrap();
    assert!(plain.subscribed && plain.first_generation_id.is_none());
}

#[tokio::test]
async fn a_ticket_that_is_not_ours_links_to_nothing_even_with_a_known_scene() {
    let app = spawn_app().await;
    let (_, ours) = app
        .create(json!({"kind":"temporary","scene_id":3,"reply":"ours"}))
        .await;
    let (_, body) = Push::plain(&scan(
        "oPoster",
        now(),
        "3",
        Some("gQH_an_old_poster_made_elsewhere=="),
    ))
    .send(&app)
    .await;
    assert_eq!(
        body, "success",
        "no reply of our code for someone else's poster"
    );
    let (_, body) = Push::plain(&scan("oPoster", now() + 1, "3", ours["ticket"].as_str()))
        .send(&app)
        .await;
    assert!(body.contains("ours"));
    let events = app.events().await;
    assert_eq!(events[0].generation_id, None);
    assert_eq!(events[1].generation_id, ours["id"].as_i64());
}

#[tokio::test]
async fn template_reports_of_one_second_are_told_apart_by_msgid() {
    let app = spawn_app().await;
    let report = |id: u64| {
        format!(
            "<xml><ToUserName><![CDATA[gh_test]]></ToUserName><FromUserName><![CDATA[oT]]></FromUserName>\
             <CreateTime>1714036600</CreateTime><MsgType><![CDATA[event]]></MsgType>\
             <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>{id}</MsgID><Status><![CDATA[success]]></Status></xml>"
        )
    };
    for id in [200163836, 200163837, 200163836] {
        assert_eq!(
            Push::plain(&report(id)).send(&app).await,
            (200, "success".into())
        );
    }
    let events = app.events().await;
    assert_eq!(
        events.len(),
        2,
        "two reports, the third push a retry of the first"
    );
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventKind::TemplateSendJobFinish)
    );
}

#[tokio::test]
async fn every_fixture_is_stored_with_its_kind() {
    let app = spawn_app().await;
    let fixtures = [
        (include_str!("../fixtures/subscribe_plain.xml"), "subscribe"),
        (include_str!("../fixtures/subscribe_scene.xml"), "subscribe"),
        (include_str!("../fixtures/scan.xml"), "scan"),
        (include_str!("../fixtures/unsubscribe.xml"), "unsubscribe"),
        (include_str!("../fixtures/click.xml"), "click"),
        (include_str!("../fixtures/view.xml"), "view"),
        (include_str!("../fixtures/location_event.xml"), "location"),
        (
            include_str!("../fixtures/templatesendjobfinish.xml"),
            "template_send_job_finish",
        ),
        (include_str!("../fixtures/text.xml"), "message"),
        (include_str!("../fixtures/image.xml"), "message"),
        (include_str!("../fixtures/voice.xml"), "message"),
        (include_str!("../fixtures/video.xml"), "message"),
        (include_str!("../fixtures/shortvideo.xml"), "message"),
        (include_str!("../fixtures/location.xml"), "message"),
        (include_str!("../fixtures/link.xml"), "message"),
    ];
    for (xml, _) in &fixtures {
        assert_eq!(
            Push::plain(xml).send(&app).await,
            (200, "success".into()),
            "{xml}"
        );
    }
    let events = app.events().await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let expected: Vec<&str> = fixtures.iter().map(|(_, k)| *k).collect();
    assert_eq!(kinds, expected);
    let text = &events[8];
    assert!(text.msg_id.is_some() && text.dedup_key.starts_with("1:m:"));
    // Sending them all again stores nothing new.
    for (xml, _) in &fixtures {
        Push::plain(xml).send(&app).await;
    }
    assert_eq!(app.events().await.len(), fixtures.len());
}

#[tokio::test]
async fn a_push_that_cannot_be_stored_is_not_answered_success() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let push = Push::plain(&unsubscribe("oDown", now()));
    app.db
        .execute_unprepared("ALTER TABLE wechat_event RENAME TO wechat_event_away")
        .await
        .unwrap();
    let (status, body) = push.send(&app).await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body, "success");
    app.db
        .execute_unprepared("ALTER TABLE wechat_event_away RENAME TO wechat_event")
        .await
        .unwrap();
    // WeChat's retry then lands, once.
    assert_eq!(push.send(&app).await, (200, "success".into()));
    assert_eq!(app.events().await.len(), 1);
}
