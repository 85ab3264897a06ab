//! Events of a code, followers, and statistics per activity, code and local day.

use chrono::{DateTime, FixedOffset};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};
use crate::push::{Push, scan, subscribe, unsubscribe};

/// Unix seconds of a Shanghai local time.
fn sh(local: &str) -> i64 {
    DateTime::<FixedOffset>::parse_from_rfc3339(&format!("{local}+08:00"))
        .unwrap()
        .timestamp()
}

struct Seeded {
    a1: Value,
    a2: Value,
    b1: Value,
}

/// MT1: codes a1, a2; MT2: b1; c has no activity.
async fn seed(app: &TestApp) -> Seeded {
    let a1 = app
        .create(json!({"kind":"temporary","payload":{"activity_id":"MT1","name":"a1"}}))
        .await
        .1;
    let a2 = app
        .create(json!({"kind":"temporary","payload":{"activity_id":"MT1"}}))
        .await
        .1;
    let b1 = app
        .create(json!({"kind":"permanent","scene_id":9,"payload":{"activity_id":"MT2"}}))
        .await
        .1;
    let c = app.create(json!({"kind":"temporary"})).await.1;
    let s = |g: &Value| {
        g["scene_str"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| g["scene_id"].to_string())
    };
    let t = |g: &Value| g["ticket"].as_str().unwrap().to_owned();
    let pushes = [
        subscribe(
            "u1",
            sh("2026-11-10T10:00:00"),
            Some(&s(&a1)),
            Some(&t(&a1)),
        ),
        subscribe(
            "u2",
            sh("2026-11-10T23:59:00"),
            Some(&s(&a1)),
            Some(&t(&a1)),
        ),
        scan("u1", sh("2026-11-11T00:30:00"), &s(&a2), Some(&t(&a2))),
        subscribe("u3", sh("2026-11-11T12:00:00"), Some(&s(&b1)), None),
        unsubscribe("u2", sh("2026-11-12T08:00:00")),
        scan("u4", sh("2026-11-12T09:00:00"), &s(&b1), Some(&t(&b1))),
        subscribe("u5", sh("2026-11-12T10:00:00"), None, None),
        scan("u6", sh("2026-11-12T11:00:00"), &s(&c), None),
        // Outside the period.
        subscribe("u7", sh("2026-11-20T10:00:00"), Some(&s(&a1)), None),
    ];
    for xml in &pushes {
        assert_eq!(Push::plain(xml).send(app).await.0, 200);
    }
    Seeded { a1, a2, b1 }
}

async fn stats(app: &TestApp, query: &str) -> Value {
    let response = app
        .get(&format!(
            "/api/v1/stats?from=2026-11-10T00:00:00%2B08:00&to=2026-11-13T00:00:00%2B08:00&{query}"
        ))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn figures(v: &Value) -> [i64; 6] {
    [
        "scans",
        "unique_scanners",
        "new_followers",
        "returning_scans",
        "unsubscribes",
        "net_new_followers",
    ]
    .map(|k| v[k].as_i64().unwrap_or_else(|| panic!("{k} in {v}")))
}

#[tokio::test]
async fn stats_per_activity_code_and_local_day() {
    let app = spawn_app().await;
    let seeded = seed(&app).await;

    let by_activity = stats(&app, "group_by=activity").await;
    let groups = by_activity["groups"].as_array().unwrap();
    // scans, unique scanners, new followers, returning scans, unsubscribes, net new followers
    assert_eq!(groups[0]["key"], "MT1");
    assert_eq!(figures(&groups[0]), [3, 2, 2, 1, 1, 1]);
    assert_eq!(groups[1]["key"], "MT2");
    assert_eq!(figures(&groups[1]), [2, 2, 1, 1, 0, 1]);
    assert_eq!(groups[2]["key"], Value::Null, "the code without activity");
    assert_eq!(figures(&groups[2]), [1, 1, 0, 1, 0, 0]);
    assert_eq!(figures(&by_activity["totals"]), [6, 5, 3, 3, 1, 2]);
    assert_eq!(by_activity["tz"], "Asia/Shanghai");

    let by_day = stats(&app, "group_by=day").await;
    let days: Vec<_> = by_day["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].clone(), figures(g)))
        .collect();
    assert_eq!(
        days,
        [
            (json!("2026-11-10"), [2, 2, 2, 0, 0, 2]),
            (json!("2026-11-11"), [2, 2, 1, 1, 0, 1]),
            (json!("2026-11-12"), [2, 2, 0, 2, 1, -1]),
        ]
    );
    // In UTC days, 23:59 and 00:30 Shanghai both fall on 11-10, and 11-09 is empty.
    let utc = stats(&app, "group_by=day&tz=UTC").await;
    assert_eq!(utc["groups"][0]["key"], "2026-11-09");
    assert_eq!(figures(&utc["groups"][0]), [0; 6]);
    assert_eq!(figures(&utc["groups"][1]), [3, 2, 2, 1, 0, 2]);

    let by_code = stats(&app, "group_by=qrcode&activity_id=MT1").await;
    let codes = by_code["groups"].as_array().unwrap();
    assert_eq!(codes.len(), 2);
    assert_eq!(codes[0]["qrcode_id"], seeded.a1["id"]);
    assert_eq!(codes[0]["activity_id"], "MT1");
    assert_eq!(figures(&codes[0]), [2, 2, 2, 0, 1, 1]);
    assert_eq!(codes[1]["qrcode_id"], seeded.a2["id"]);
    assert_eq!(figures(&codes[1]), [1, 1, 0, 1, 0, 0]);
    assert_eq!(figures(&by_code["totals"]), [3, 2, 2, 1, 1, 1]);
    let _ = seeded.b1;

    for bad in ["group_by=week", "group_by=day&tz=Mars/Base"] {
        let r = app
            .get(&format!(
                "/api/v1/stats?from=2026-11-10T00:00:00Z&to=2026-11-13T00:00:00Z&{bad}"
            ))
            .await;
        assert_eq!(r.status(), 400, "{bad}");
    }
    let backwards = app
        .get("/api/v1/stats?group_by=day&from=2026-11-13T00:00:00Z&to=2026-11-10T00:00:00Z")
        .await;
    assert_eq!(backwards.status(), 400);
    let error: Value = backwards.json().await.unwrap();
    assert_eq!(error["field"], "to");
}

#[tokio::test]
async fn the_events_of_a_code_newest_first_with_paging() {
    let app = spawn_app().await;
    let seeded = seed(&app).await;
    let id = seeded.a1["id"].as_i64().unwrap();
    let page: Value = app
        .get(&format!("/api/v1/qrcodes/{id}/events?limit=2"))
        .await
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    let seen: Vec<_> = items
        .iter()
        .map(|e| (e["openid"].as_str().unwrap(), e["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [("u7", "subscribe"), ("u2", "unsubscribe")]);
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(&format!(
            "/api/v1/qrcodes/{id}/events?limit=2&cursor={cursor}"
        ))
        .await
        .json()
        .await
        .unwrap();
    let seen: Vec<_> = rest["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["openid"].clone())
        .collect();
    assert_eq!(seen, [json!("u2"), json!("u1")]);
    assert!(rest["next_cursor"].is_null());
    assert!(rest["items"][0].get("xml").is_none());
    assert_eq!(app.get("/api/v1/qrcodes/987654/events").await.status(), 404);
}

#[tokio::test]
async fn a_follower_with_first_touch_and_recent_events() {
    let app = spawn_app().await;
    let seeded = seed(&app).await;
    let u2: Value = app.get("/api/v1/followers/u2").await.json().await.unwrap();
    assert_eq!(u2["subscribed"], false);
    assert_eq!(u2["first_touch"]["qrcode_id"], seeded.a1["id"]);
    assert_eq!(u2["first_touch"]["activity_id"], "MT1");
    assert_eq!(u2["first_touch"]["payload"]["name"], "a1");
    let kinds: Vec<_> = u2["recent_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].clone())
        .collect();
    assert_eq!(kinds, [json!("unsubscribe"), json!("subscribe")]);
    let u4: Value = app.get("/api/v1/followers/u4").await.json().await.unwrap();
    assert_eq!(u4["subscribed"], true, "only followers can SCAN");
    assert!(u4["first_touch"].is_null());
    assert_eq!(app.get("/api/v1/followers/nobody").await.status(), 404);
}

/// A second account on the same deployment, with the codes of the first under the same
/// scenes and activities and the events of u1 and u2 under the same openids (rows written
/// as its callback would): each account's statistics, followers and code events are its
/// own, through the API.
#[tokio::test]
async fn a_second_account_with_the_same_openids_and_scenes_keeps_its_own_figures() {
    use sea_orm::ConnectionTrait;
    let app = spawn_app().await;
    let seeded = seed(&app).await;
    let appid_b = crate::stats_rollup::appid_b();
    let b = crate::stats_rollup::insert_account(&app.db, &appid_b).await;
    let appid_a = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(
            app.db.get_database_backend(),
            "SELECT appid FROM account WHERE id = 1",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<String>("", "appid")
        .unwrap();
    // B's codes: A's, same scenes and activities. B's code of a scene is found by that scene.
    let copy = format!(
        "INSERT INTO qr_generation (account_id, kind, action_name, scene, scene_source, payload, \
           activity_id, ticket, url, expire_seconds, expires_at, status, errcode, errmsg, api_key, \
           reply, created_at) \
         SELECT {b}, kind, action_name, scene, scene_source, payload, activity_id, 'B' || ticket, url, \
           expire_seconds, expires_at, status, errcode, errmsg, api_key, reply, created_at \
         FROM qr_generation WHERE account_id = 1; \
         INSERT INTO wechat_event (account_id, dedup_key, account, openid, msg_type, event, kind, \
           event_key, scene, ticket, msg_id, create_time, occurred_at, received_at, generation_id, \
           reply, xml) \
         SELECT {b}, 'b' || e.dedup_key, e.account, e.openid, e.msg_type, e.event, e.kind, e.event_key, \
           e.scene, e.ticket, e.msg_id, e.create_time, e.occurred_at, e.received_at, \
           (SELECT gb.id FROM qr_generation ga JOIN qr_generation gb \
              ON gb.account_id = {b} AND gb.scene = ga.scene AND gb.kind = ga.kind \
            WHERE ga.id = e.generation_id), \
           e.reply, e.xml \
         FROM wechat_event e WHERE e.account_id = 1 AND e.openid IN ('u1', 'u2') ORDER BY e.id; \
         INSERT INTO wechat_follower (account_id, openid, account, subscribed, first_followed_at, \
           first_generation_id, subscribed_at, unsubscribed_at, last_event_id, last_event_kind, \
           last_event_at) \
         SELECT {b}, f.openid, f.account, f.subscribed, f.first_followed_at, \
           (SELECT gb.id FROM qr_generation ga JOIN qr_generation gb \
              ON gb.account_id = {b} AND gb.scene = ga.scene AND gb.kind = ga.kind \
            WHERE ga.id = f.first_generation_id), \
           f.subscribed_at, f.unsubscribed_at, f.last_event_id, f.last_event_kind, f.last_event_at \
         FROM wechat_follower f WHERE f.account_id = 1 AND f.openid IN ('u1', 'u2');"
    );
    for statement in copy.split("; ").filter(|s| !s.trim().is_empty()) {
        app.db.execute_unprepared(statement).await.unwrap();
    }

    // A's figures are those of the single-account test; B's are those of u1 and u2 alone:
    // two subscribes through a1 and a SCAN of a2 (MT1), and u2 leaving.
    let a = stats(&app, &format!("group_by=activity&account={appid_a}")).await;
    assert_eq!(figures(&a["totals"]), [6, 5, 3, 3, 1, 2]);
    let by_activity = stats(&app, &format!("group_by=activity&account={appid_b}")).await;
    let groups = by_activity["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{by_activity}");
    assert_eq!(groups[0]["key"], "MT1");
    assert_eq!(figures(&by_activity["totals"]), [3, 2, 2, 1, 1, 1]);
    let by_code = stats(&app, &format!("group_by=qrcode&account={appid_b}")).await;
    let b_a1 = by_code["groups"][0]["qrcode_id"].as_i64().unwrap();
    assert_ne!(
        json!(b_a1),
        seeded.a1["id"],
        "B's code of a1's scene is B's"
    );
    assert_eq!(figures(&by_code["groups"][0]), [2, 2, 2, 0, 1, 1]);
    let by_day = stats(&app, &format!("group_by=day&account={appid_b}")).await;
    let days: Vec<_> = by_day["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(figures)
        .collect();
    assert_eq!(
        days,
        [[2, 2, 2, 0, 0, 2], [1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 1, -1]]
    );

    // u2 of B is first brought by B's code; u4 was never seen by B.
    let u2: Value = app
        .get(&format!("/api/v1/followers/u2?account={appid_b}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(u2["first_touch"]["qrcode_id"], b_a1);
    assert_eq!(u2["recent_events"].as_array().unwrap().len(), 2);
    let u4 = app
        .get(&format!("/api/v1/followers/u4?account={appid_b}"))
        .await;
    assert_eq!(u4.status(), 404);

    // A's a1 lists A's events only (not B's u2 leaving), and is not B's code.
    let a1 = seeded.a1["id"].as_i64().unwrap();
    let events: Value = app
        .get(&format!("/api/v1/qrcodes/{a1}/events?account={appid_a}"))
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<_> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["openid"].clone(), e["kind"].clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            (json!("u7"), json!("subscribe")),
            (json!("u2"), json!("unsubscribe")),
            (json!("u2"), json!("subscribe")),
            (json!("u1"), json!("subscribe")),
        ]
    );
    let other = app
        .get(&format!("/api/v1/qrcodes/{a1}/events?account={appid_b}"))
        .await;
    assert_eq!(other.status(), 404);
    let events: Value = app
        .get(&format!("/api/v1/qrcodes/{b_a1}/events?account={appid_b}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(events["items"].as_array().unwrap().len(), 3, "{events}");
}
