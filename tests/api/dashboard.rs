//! The dashboard page in a real headless Chromium: after seeding scans through the callback,
//! the totals, the activity ranking and the chart it shows for the default period (the last 30
//! Asia/Shanghai days) are the numbers the stored events give. [`switch`]: the account switch
//! and the time zone of the days.

mod switch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, QueryResult, Statement};
use serde_json::json;

use crate::helpers::{KEY, TestApp, ci, spawn_app};
use crate::push::{Push, now, scan, subscribe, unsubscribe};

/// Where Debian's `chromium` package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";
const DAY: i64 = 86_400;
const SHANGHAI: i64 = 8 * 3_600;
const METRICS: [&str; 6] = [
    "scans",
    "unique_scanners",
    "new_followers",
    "returning_scans",
    "unsubscribes",
    "net_new_followers",
];
const ROW_METRICS: [&str; 5] = [
    "scans",
    "unique_scanners",
    "new_followers",
    "unsubscribes",
    "net_new_followers",
];

/// Numbers by metric name.
type Numbers = BTreeMap<&'static str, i64>;

/// What a user does, and with which code (an index into the seeded codes).
enum Step {
    Subscribe(usize),
    Scan(usize),
    Unsubscribe,
}

/// Counts of one activity, or of all.
#[derive(Default)]
struct Tally {
    scans: i64,
    scanners: BTreeSet<String>,
    subscribes: i64,
    unsubscribes: i64,
}

#[tokio::test]
async fn the_dashboard_shows_the_stored_numbers_of_the_last_30_days() {
    use Step::{Scan, Subscribe, Unsubscribe};
    if !browser_available() {
        return;
    }
    let app = spawn_app().await;
    // Two codes of MT1950, one of XMAS26, one without an activity.
    let mut codes = Vec::new();
    for activity in [Some("MT1950"), Some("MT1950"), Some("XMAS26"), None] {
        codes.push(create_code(&app, activity).await);
    }
    let steps: [(&str, i64, Step); 13] = [
        ("oDashOld", 45, Subscribe(0)), // before the period: not counted
        ("oDashA1", 20, Subscribe(0)),
        ("oDashA2", 15, Subscribe(0)),
        ("oDashB1", 12, Subscribe(2)),
        ("oDashA3", 10, Subscribe(1)),
        ("oDashC1", 8, Subscribe(3)),
        ("oDashC1", 7, Unsubscribe),
        ("oDashB1", 6, Scan(2)),
        ("oDashA1", 5, Scan(1)),
        ("oDashB1", 4, Scan(2)),
        ("oDashA2", 3, Scan(0)),
        ("oDashA2", 2, Unsubscribe),
        ("oDashB2", 1, Subscribe(2)),
    ];
    let t = now();
    for (openid, days_ago, step) in &steps {
        let time = t - days_ago * DAY;
        let xml = match step {
            Subscribe(i) => subscribe(
                openid,
                time,
                Some(codes[*i].0.as_str()),
                Some(codes[*i].1.as_str()),
            ),
            Scan(i) => scan(openid, time, &codes[*i].0, Some(codes[*i].1.as_str())),
            Unsubscribe => unsubscribe(openid, time),
        };
        let (status, body) = Push::plain(&xml).send(&app).await;
        assert_eq!(status, 200, "{body}");
    }

    // The expected numbers, from the database: the page's default period starts at 00:00
    // Asia/Shanghai 29 days before today there.
    let from = (t + SHANGHAI) - (t + SHANGHAI).rem_euclid(DAY) - SHANGHAI - 29 * DAY;
    let (totals, by_activity) = expected(&app, from).await;
    // What was seeded, as a check on the seeding itself.
    assert_eq!(totals, numbers([10, 6, 6, 4, 2, 4]));
    let of = |a: &str| &by_activity[&Some(a.to_owned())];
    assert_eq!(of("MT1950"), &numbers([5, 3, 3, 2, 1, 2]));
    assert_eq!(of("XMAS26"), &numbers([4, 2, 2, 2, 0, 2]));
    assert_eq!(by_activity[&None], numbers([1, 1, 1, 0, 1, 0]));

    // Two followers tagged by the codes' actions (the mirror the tagging runner writes).
    app.db
        .execute_unprepared(
            "INSERT INTO wechat_tag (account_id, tag_id, name, synced_ms) VALUES (1, 101, '春季', 0); \
             INSERT INTO follower_tag (account_id, openid, tag_id, job_id, tagged_ms) \
             VALUES (1, 'oDashA1', 101, NULL, 0), (1, 'oDashA2', 101, NULL, 0)",
        )
        .await
        .unwrap();

    let dom = dump_dom(format!("{}/dashboard#key={KEY}", app.address)).await;
    assert_ready(&dom);
    let tag_rows = tags_with(&dom, "data-tag");
    assert_eq!(tag_rows.len(), 1, "one tag row");
    let (_, end) = tag_rows[0];
    let row = &dom[end..end + dom[end..].find("</tr>").expect("</tr>")];
    assert!(row.contains("春季") && row.contains(">2<"), "{row}");

    for m in METRICS {
        let shown = int_after(&dom, &format!("data-total=\"{m}\""));
        assert_eq!(shown, totals[m], "total {m}");
    }

    // Activity rows, in the page's order: ranked by new followers.
    let rows: Vec<(String, Numbers)> = tags_with(&dom, "data-activity")
        .into_iter()
        .map(|(tag, end)| {
            let row = &dom[end..end + dom[end..].find("</tr>").expect("</tr>")];
            let shown = ROW_METRICS
                .iter()
                .map(|m| (*m, int_after(row, &format!("data-metric=\"{m}\""))))
                .collect();
            (attr(tag, "data-activity").unwrap().to_owned(), shown)
        })
        .collect();
    let mut expected_rows: Vec<(String, Numbers)> = by_activity
        .iter()
        .map(|(a, n)| {
            let row = ROW_METRICS.iter().map(|m| (*m, n[m])).collect();
            (a.clone().unwrap_or_default(), row)
        })
        .collect();
    expected_rows.sort_by_key(|(a, n)| (-n["new_followers"], a.clone()));
    assert_eq!(rows, expected_rows);

    // The chart: one point per day of the period, up to today, adding up to the totals.
    let points = tags_with(&dom, "data-day");
    assert_eq!(points.len(), 30, "days in the chart");
    let today = chrono::DateTime::from_timestamp(t + SHANGHAI, 0)
        .unwrap()
        .date_naive()
        .to_string();
    assert_eq!(attr(points[29].0, "data-day"), Some(today.as_str()));
    let sum = |name: &str| -> i64 {
        points
            .iter()
            .map(|(tag, _)| attr(tag, name).and_then(|v| v.parse::<i64>().ok()).unwrap())
            .sum()
    };
    assert_eq!(sum("data-scans"), totals["scans"]);
    assert_eq!(sum("data-new-followers"), totals["new_followers"]);
}

/// Whether Chromium is there; outside CI its absence skips the test (with a note).
fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert!(
        !ci(),
        "CI=true but {CHROMIUM} is missing: install the `chromium` package"
    );
    eprintln!("{CHROMIUM} missing: skipping a dashboard test (CI=true makes this a failure)");
    false
}

/// The page finished loading without an error (`<body data-ready="true">`).
fn assert_ready(dom: &str) {
    let body = tags_with(dom, "data-ready")
        .into_iter()
        .find(|(tag, _)| tag.starts_with("<body"))
        .unwrap_or_else(|| panic!("no <body data-ready> in the page:\n{dom}"))
        .0;
    assert_eq!(attr(body, "data-ready"), Some("true"), "{body}\n{dom}");
}

/// A temporary code, with `activity` in its payload; answers its scene and ticket.
async fn create_code(app: &TestApp, activity: Option<&str>) -> (String, String) {
    let body = match activity {
        Some(a) => json!({"kind": "temporary", "payload": {"activity_id": a, "channel": "poster"}}),
        None => json!({"kind": "temporary"}),
    };
    let (status, code) = app.create(body).await;
    assert_eq!(status, 201, "{code}");
    let text = |field: &str| code[field].as_str().expect(field).to_owned();
    (text("scene_str"), text("ticket"))
}

/// Numbers in the order of `METRICS`.
fn numbers(values: [i64; 6]) -> Numbers {
    METRICS.into_iter().zip(values).collect()
}

/// Totals and per-activity numbers of the events since `from` (Unix seconds): scans are
/// subscribes and SCANs tied to a code; new followers its subscribes; returning scans its
/// SCANs; unsubscribes count for the code that first brought the follower.
async fn expected(app: &TestApp, from: i64) -> (Numbers, BTreeMap<Option<String>, Numbers>) {
    let scans = query(
        app,
        format!(
            "SELECT e.openid AS openid, e.kind AS kind, g.activity_id AS activity_id \
         FROM wechat_event e JOIN qr_generation g ON g.id = e.generation_id \
         WHERE e.kind IN ('subscribe', 'scan') AND e.create_time >= {from}"
        ),
    )
    .await;
    let unsubscribes = query(
        app,
        format!(
            "SELECT e.openid AS openid, g.activity_id AS activity_id \
         FROM wechat_event e JOIN wechat_follower f ON f.openid = e.openid \
         JOIN qr_generation g ON g.id = f.first_generation_id \
         WHERE e.kind = 'unsubscribe' AND e.create_time >= {from}"
        ),
    )
    .await;
    let mut all = Tally::default();
    let mut by_activity: BTreeMap<Option<String>, Tally> = BTreeMap::new();
    for row in &scans {
        let openid: String = row.try_get("", "openid").unwrap();
        let kind: String = row.try_get("", "kind").unwrap();
        let activity: Option<String> = row.try_get("", "activity_id").unwrap();
        for tally in [&mut all, by_activity.entry(activity).or_default()] {
            tally.scans += 1;
            tally.scanners.insert(openid.clone());
            tally.subscribes += i64::from(kind == "subscribe");
        }
    }
    for row in &unsubscribes {
        let activity: Option<String> = row.try_get("", "activity_id").unwrap();
        all.unsubscribes += 1;
        by_activity.entry(activity).or_default().unsubscribes += 1;
    }
    let finish = |t: &Tally| {
        let unique = i64::try_from(t.scanners.len()).unwrap();
        let net = t.subscribes - t.unsubscribes;
        numbers([
            t.scans,
            unique,
            t.subscribes,
            t.scans - t.subscribes,
            t.unsubscribes,
            net,
        ])
    };
    let by_activity = by_activity
        .iter()
        .map(|(a, t)| (a.clone(), finish(t)))
        .collect();
    (finish(&all), by_activity)
}

async fn query(app: &TestApp, sql: String) -> Vec<QueryResult> {
    let statement = Statement::from_string(app.db.get_database_backend(), sql);
    app.db.query_all_raw(statement).await.expect("query")
}

/// The page at `url` as Chromium serializes it once loaded (10 s of virtual time), in a
/// fresh profile.
async fn dump_dom(url: String) -> String {
    dump_dom_in(url, None).await
}

/// [`dump_dom`] in browser profile `profile` when given: what the page stored in an earlier
/// run there (`localStorage`) is kept.
async fn dump_dom_in(url: String, profile: Option<PathBuf>) -> String {
    let run = move || -> Result<String, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (out, err) = (dir.path().join("dom.html"), dir.path().join("stderr.txt"));
        let profile = profile.unwrap_or_else(|| dir.path().join("profile"));
        let file = |p: &Path| std::fs::File::create(p).map_err(|e| e.to_string());
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--window-size=1280,1800",
                "--dump-dom",
                "--virtual-time-budget=10000",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(file(out.as_path())?)
            .stderr(file(err.as_path())?)
            .spawn()
            .map_err(|e| format!("start {CHROMIUM}: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(90);
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err("chromium did not finish within 90 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let dom = std::fs::read_to_string(&out).unwrap_or_default();
        if dom.trim().is_empty() {
            let stderr = std::fs::read_to_string(&err).unwrap_or_default();
            return Err(format!("chromium ({status}) dumped no page:\n{stderr}"));
        }
        Ok(dom)
    };
    // Blocking, off the runtime, which keeps serving the app meanwhile.
    tokio::task::spawn_blocking(run)
        .await
        .expect("chromium task")
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Every start tag with attribute `name`, and where it ends.
fn tags_with<'a>(html: &'a str, name: &str) -> Vec<(&'a str, usize)> {
    let marker = format!(" {name}=\"");
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(i) = html[from..].find(&marker) {
        let at = from + i;
        let start = html[..at].rfind('<').expect("inside a tag");
        let end = at + html[at..].find('>').expect("end of the tag") + 1;
        found.push((&html[start..end], end));
        from = end;
    }
    found
}

/// The value of attribute `name` in the start tag `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!(" {name}=\"");
    let at = tag.find(&marker)? + marker.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// The integer the element whose start tag contains `marker` shows.
fn int_after(html: &str, marker: &str) -> i64 {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in:\n{html}"));
    let rest = &html[at + html[at..].find('>').expect("end of the tag") + 1..];
    let text = rest[..rest.find('<').unwrap_or(rest.len())].trim();
    text.parse()
        .unwrap_or_else(|_| panic!("{marker} shows {text:?}, not a plain integer"))
}
