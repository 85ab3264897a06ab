//! The dashboard's account switch and the time zone of its days, in headless Chromium: the
//! switch lists the accounts the key may see and the figures follow the chosen one (which
//! is remembered); the days, the period's bounds and the buckets are those of the chosen
//! zone, across a DST change.

use chrono::{DateTime, Days, NaiveDate, TimeZone};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::{
    METRICS, Numbers, assert_ready, attr, browser_available, create_code, dump_dom, dump_dom_in,
    int_after, numbers, tags_with,
};
use crate::helpers::{KEY, TestApp, new_appid, spawn_app};
use crate::push::{Push, now, scan, subscribe};

#[tokio::test]
async fn the_switch_lists_the_keys_accounts_and_the_figures_follow_the_choice() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let a = app.fake.appid();
    let (status, code) = app
        .create(json!({"kind": "temporary", "payload": {"activity_id": "SWITCH"}}))
        .await;
    assert_eq!(status, 201, "{code}");
    let text = |field: &str| code[field].as_str().expect(field).to_owned();
    let (id, scene, ticket) = (
        code["id"].as_i64().expect("id"),
        text("scene_str"),
        text("ticket"),
    );
    let t = now();
    for xml in [
        subscribe("oSwitch1", t - 3_600, Some(&scene), Some(&ticket)),
        scan("oSwitch2", t - 1_800, &scene, Some(&ticket)),
    ] {
        let (status, body) = Push::plain(&xml).send(&app).await;
        assert_eq!(status, 200, "{body}");
    }
    let seeded = numbers([2, 2, 1, 1, 0, 1]);
    // Account B: no secret, so no master key, and no data.
    let b = new_appid();
    let (status, body) = post(
        &app,
        "/api/v1/accounts",
        json!({"appid": b, "verify": false}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = post(
        &app,
        "/api/v1/keys",
        json!({"name": "dashboard-a", "role": "client", "accounts": [a]}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let client = body["key"].as_str().expect("the key").to_owned();

    // One browser profile throughout: what the page remembers stays.
    let profile = tempfile::tempdir().expect("profile");
    let open = |fragment: String| {
        let url = format!("{}/dashboard#{fragment}", app.address);
        dump_dom_in(url, Some(profile.path().to_owned()))
    };

    // An admin key: both accounts; with none chosen, the first (the environment's).
    let dom = open(format!("key={KEY}")).await;
    assert_ready(&dom);
    let both = |chosen: &str| Select {
        hidden: false,
        options: [&a, &b].map(|x| (x.clone(), *x == chosen)).to_vec(),
    };
    assert_eq!(select(&dom, "account"), both(&a));
    assert_eq!(totals(&dom), seeded);
    assert_eq!(range(&dom, "data-tz"), "Asia/Shanghai", "the default zone");

    // Choosing B shows B's figures (none), and the choice is remembered for this key.
    let dom = open(format!("key={KEY}&account={b}")).await;
    assert_ready(&dom);
    assert_eq!(select(&dom, "account"), both(&b));
    assert_eq!(totals(&dom), numbers([0; 6]), "B's figures");
    let dom = open(format!("key={KEY}")).await;
    assert_ready(&dom);
    assert_eq!(select(&dom, "account"), both(&b), "remembered");
    assert_eq!(totals(&dom), numbers([0; 6]));

    // Every call names the account: the code's drill-down (the code, its events and image)
    // under A; under B the same code is not found.
    let drill = format!("key={KEY}&activity=SWITCH&code={id}");
    let dom = open(format!("{drill}&account={a}")).await;
    assert_ready(&dom);
    assert_eq!(tags_with(&dom, "data-event").len(), 2, "the code's events");
    assert!(dom.contains("<img src=\"blob:"), "the code's image");
    let row = tags_with(&dom, "data-qrcode");
    assert_eq!(
        row.iter()
            .map(|(tag, _)| attr(tag, "data-qrcode"))
            .collect::<Vec<_>>(),
        [Some(id.to_string().as_str())]
    );
    let dom = open(format!("{drill}&account={b}")).await;
    assert!(dom.contains("data-ready=\"error\""), "{dom}");
    let error = text_of(&dom, "id=\"error\"");
    assert!(error.contains("(404)"), "{error}");

    // A key scoped to A: A alone, named but not a choice, even when the address names B.
    let dom = open(format!("key={client}&account={b}")).await;
    assert_ready(&dom);
    let only_a = Select {
        hidden: true,
        options: vec![(a.clone(), true)],
    };
    assert_eq!(select(&dom, "account"), only_a);
    let name = text_of(&dom, "id=\"account-name\"");
    assert!(name.contains(&a), "the account's name shows: {name:?}");
    assert_eq!(totals(&dom), seeded);
}

#[tokio::test]
async fn days_are_those_of_the_chosen_zone_across_a_dst_change() {
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    let (scene, ticket) = create_code(&app, Some("ZONES")).await;
    let t = now();
    // The two latest DST changes (spring and autumn) of each zone before yesterday, each with a
    // follower at 22:30 local the day before (already the next day in Shanghai).
    let mut periods = Vec::new();
    let mut subscribes: Vec<i64> = Vec::new();
    for zone in [chrono_tz::America::New_York, chrono_tz::Europe::Berlin] {
        let today = local_day(zone, t);
        let changes = (2..=366)
            .map(|k| today - Days::new(k))
            .filter(|d| (midnight(zone, next(*d)) - midnight(zone, *d)).num_hours() != 24);
        for change in changes.take(2) {
            let evening = change - Days::new(1);
            let at = zone
                .from_local_datetime(&evening.and_hms_opt(22, 30, 0).unwrap())
                .single()
                .expect("22:30 exists")
                .timestamp();
            let xml = subscribe(
                &format!("oZone{}", subscribes.len()),
                at,
                Some(&scene),
                Some(&ticket),
            );
            let (status, body) = Push::plain(&xml).send(&app).await;
            assert_eq!(status, 200, "{body}");
            subscribes.push(at);
            let last = (change + Days::new(2)).min(today - Days::new(1));
            periods.push((zone, change - Days::new(2), last, evening));
        }
    }
    assert_eq!(periods.len(), 4, "two DST changes a year in each zone");

    for (zone, first, last, evening) in periods {
        let url = format!(
            "{}/dashboard#key={KEY}&tz={}&from={first}&to={last}",
            app.address,
            zone.name()
        );
        let dom = dump_dom(url).await;
        assert_ready(&dom);
        // What the server understood: the zone, and its midnights with their own offsets.
        assert_eq!(range(&dom, "data-tz"), zone.name());
        assert_eq!(range(&dom, "data-from"), midnight(zone, first).to_rfc3339());
        assert_eq!(
            range(&dom, "data-to"),
            midnight(zone, next(last)).to_rfc3339()
        );
        let chosen = select(&dom, "tz").options.into_iter().find(|(_, on)| *on);
        assert_eq!(chosen.map(|(z, _)| z).as_deref(), Some(zone.name()));
        // One bucket per local day, each with the followers of that local day.
        let mut expected = Vec::new();
        let mut day = first;
        while day <= last {
            let on_day = subscribes.iter().filter(|s| local_day(zone, **s) == day);
            expected.push((day.to_string(), i64::try_from(on_day.count()).unwrap()));
            day = next(day);
        }
        assert!(
            expected
                .iter()
                .any(|(d, n)| *d == evening.to_string() && *n >= 1)
        );
        let shown: Vec<(String, i64)> = tags_with(&dom, "data-day")
            .into_iter()
            .map(|(tag, _)| {
                let followers = attr(tag, "data-new-followers").unwrap().parse().unwrap();
                (attr(tag, "data-day").unwrap().to_owned(), followers)
            })
            .collect();
        assert_eq!(shown, expected, "{} from {first} to {last}", zone.name());
    }

    // The default period in New York: its last 30 days, from a New York midnight.
    let zone = chrono_tz::America::New_York;
    let dom = dump_dom(format!(
        "{}/dashboard#key={KEY}&tz={}",
        app.address,
        zone.name()
    ))
    .await;
    assert_ready(&dom);
    let today = local_day(zone, now());
    let first = today - Days::new(29);
    assert_eq!(range(&dom, "data-from"), midnight(zone, first).to_rfc3339());
    let to = range(&dom, "data-to");
    assert!(
        to.starts_with(&today.to_string()),
        "up to now, in New York: {to}"
    );
    let days = tags_with(&dom, "data-day");
    assert_eq!(days.len(), 30);
    assert_eq!(
        attr(days[29].0, "data-day"),
        Some(today.to_string().as_str())
    );
}

/// A `<select>`: hidden or not, and its options' values, marked when chosen.
#[derive(Debug, PartialEq)]
struct Select {
    hidden: bool,
    options: Vec<(String, bool)>,
}

fn select(dom: &str, id: &str) -> Select {
    let marker = format!("<select id=\"{id}\"");
    let start = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker} in:\n{dom}"));
    let tag_end = start + dom[start..].find('>').expect("end of the tag");
    let end = start + dom[start..].find("</select>").expect("</select>");
    let options = tags_with(&dom[tag_end..end], "value")
        .into_iter()
        .map(|(tag, _)| {
            (
                attr(tag, "value").unwrap().to_owned(),
                tag.contains(" selected="),
            )
        })
        .collect();
    Select {
        hidden: dom[start..tag_end].contains(" hidden"),
        options,
    }
}

/// The totals the page shows.
fn totals(dom: &str) -> Numbers {
    METRICS
        .into_iter()
        .map(|m| (m, int_after(dom, &format!("data-total=\"{m}\""))))
        .collect()
}

/// Attribute `name` of the period line (`#range`).
fn range<'a>(dom: &'a str, name: &str) -> &'a str {
    let (tag, _) = tags_with(dom, "id")
        .into_iter()
        .find(|(tag, _)| attr(tag, "id") == Some("range"))
        .unwrap_or_else(|| panic!("no #range in:\n{dom}"));
    attr(tag, name).unwrap_or_else(|| panic!("no {name} on {tag}"))
}

/// The text right after the start tag containing `marker`.
fn text_of<'a>(dom: &'a str, marker: &str) -> &'a str {
    let at = dom
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in:\n{dom}"));
    let rest = &dom[at + dom[at..].find('>').expect("end of the tag") + 1..];
    &rest[..rest.find('<').unwrap_or(rest.len())]
}

async fn post(app: &TestApp, path: &str, body: Value) -> (u16, Value) {
    let response = app.post(path, &body).await;
    let status = response.status().as_u16();
    (status, response.json().await.expect("JSON body"))
}

/// The local day of Unix time `t` in `zone`.
fn local_day(zone: Tz, t: i64) -> NaiveDate {
    DateTime::from_timestamp(t, 0)
        .expect("a time")
        .with_timezone(&zone)
        .date_naive()
}

fn next(day: NaiveDate) -> NaiveDate {
    day + Days::new(1)
}

/// The first instant of local `day` in `zone`, as the server counts it (a gap at midnight
/// moves it later).
fn midnight(zone: Tz, day: NaiveDate) -> DateTime<Tz> {
    (0..3)
        .find_map(|h| {
            zone.from_local_datetime(&day.and_hms_opt(h, 0, 0)?)
                .earliest()
        })
        .expect("the day starts")
}
