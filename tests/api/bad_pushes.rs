//! Pushes that cannot be stored as sent, and time checks: a malformed signed push is refused
//! with 400 `bad_push` naming its field and never fails its neighbours; a CreateTime too
//! far in the future is refused; a signed timestamp near `now - 2^63` is refused without
//! overflowing; follower state never runs ahead of receipt.

use qrscene::callback::event::IncomingEvent;
use qrscene::callback::store;
use qrscene::wechat::message;
use serde_json::Value;

use crate::helpers::spawn_app;
use crate::push::{Push, event, now, subscribe};

/// The error body's code and message.
fn error(body: &str) -> (String, String) {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (
        v["code"].as_str().unwrap_or_default().to_owned(),
        v["message"].as_str().unwrap_or_default().to_owned(),
    )
}

#[tokio::test]
async fn one_bad_push_among_good_ones_is_refused_alone_and_the_good_ones_are_stored() {
    let app = spawn_app().await;
    let t = now() - 30;
    let good: Vec<String> = (0..12)
        .map(|i| subscribe(&format!("oGood{i}"), t, None, None))
        .collect();
    // (push, the field its answer must name)
    let bad = [
        (subscribe(&"o".repeat(65), t, None, None), "FromUserName"),
        (
            event("oNul", t, "CLICK", Some("menu\u{0}1"), None),
            "EventKey",
        ),
        (
            subscribe("oPast", -20_000_000_000_000, None, None),
            "CreateTime",
        ),
        (
            subscribe("oFar", 99_999_999_999_999, None, None),
            "CreateTime",
        ),
        (
            subscribe("oTicket", t, Some("s"), Some(&"T".repeat(256))),
            "Ticket",
        ),
        (event("oType", t, &"E".repeat(65), None, None), "Event"),
    ];
    // All at once, so that the good ones share batches with the bad ones.
    let sends = good
        .iter()
        .map(String::as_str)
        .chain(bad.iter().map(|(xml, _)| xml.as_str()))
        .map(|xml| {
            let app = &app;
            async move { Push::plain(xml).send(app).await }
        });
    let answers = futures_util::future::join_all(sends).await;
    for (status, body) in &answers[..good.len()] {
        assert_eq!((*status, body.as_str()), (200, "success"));
    }
    for ((status, body), (_, field)) in answers[good.len()..].iter().zip(&bad) {
        assert_eq!(*status, 400, "{field}: {body}");
        let (code, message) = error(body);
        assert_eq!(code, "bad_push");
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
    let events = app.events().await;
    assert_eq!(events.len(), good.len());
    assert!(events.iter().all(|e| e.openid.starts_with("oGood")));
}

#[tokio::test]
async fn a_batch_the_database_refuses_is_stored_one_by_one_and_only_the_culprit_fails() {
    let app = spawn_app().await;
    let t = now() - 30;
    // Of the account configured by environment (id 1), as the callback tags them.
    let parse = |xml: String| {
        IncomingEvent::new(&message::parse(&xml).unwrap(), xml.clone())
            .unwrap()
            .for_account(1)
    };
    let first = parse(subscribe("oFirst", t, None, None));
    let second = parse(subscribe("oSecond", t, None, None));
    // Past validation, as a future bug might let through: too long for its column, which
    // Postgres enforces and SQLite does not.
    let mut culprit = parse(subscribe("oCulprit", t, None, None));
    culprit.account = "g".repeat(65);
    let outcomes = store::commit(&app.db, &[&first, &culprit, &second], 2_000)
        .await
        .expect("not a conflict");
    assert_eq!(outcomes.len(), 3);
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
    let postgres = app.db.get_database_backend() == sea_orm::DbBackend::Postgres;
    assert_eq!(outcomes[1].is_err(), postgres, "{:?}", outcomes[1]);
    let stored: Vec<String> = app.events().await.into_iter().map(|e| e.openid).collect();
    assert!(stored.contains(&"oFirst".to_owned()) && stored.contains(&"oSecond".to_owned()));
    assert!(app.follower("oFirst").await.is_some() && app.follower("oSecond").await.is_some());
}

#[tokio::test]
async fn a_signed_timestamp_near_minus_2_63_is_refused_without_overflow() {
    let app = spawn_app().await;
    let xml = subscribe("oSkew", now(), None, None);
    for timestamp in [now().wrapping_add(i64::MIN), i64::MIN, i64::MAX] {
        let (status, body) = Push::plain_at(&xml, timestamp).send(&app).await;
        assert_eq!(status, 401, "{timestamp}: {body}");
        assert_eq!(error(&body).0, "unverified_push");
    }
    assert!(app.events().await.is_empty());
}

#[tokio::test]
async fn a_create_time_beyond_the_skew_is_refused_and_follower_times_never_pass_receipt() {
    let app = spawn_app().await;
    // The default WECHAT_MAX_CLOCK_SKEW_SECS is 300.
    let (status, body) = Push::plain(&subscribe("oFuture", now() + 400, None, None))
        .send(&app)
        .await;
    assert_eq!(status, 400, "{body}");
    let (code, message) = error(&body);
    assert_eq!(code, "bad_push");
    assert!(message.contains("`CreateTime`"), "{message}");
    assert!(app.events().await.is_empty());

    // Within the skew: stored as sent, but the follower is dated when we received it.
    let ahead = now() + 200;
    let (status, _) = Push::plain(&subscribe("oAhead", ahead, None, None))
        .send(&app)
        .await;
    assert_eq!(status, 200);
    let event = app.events().await.pop().unwrap();
    assert_eq!(event.occurred_at.timestamp(), ahead);
    let f = app.follower("oAhead").await.unwrap();
    for (name, at) in [
        ("last_event_at", Some(f.last_event_at)),
        ("subscribed_at", f.subscribed_at),
        ("first_followed_at", f.first_followed_at),
    ] {
        let at = at.unwrap_or_else(|| panic!("{name} unset"));
        assert!(
            at <= event.received_at,
            "{name} {at} is later than the receipt {}",
            event.received_at
        );
    }
}
