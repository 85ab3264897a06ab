//! `stats` answers what a plain fold over the stored events gives (`stats_reference`), from
//! the events alone and from the daily rollups: random scans over twelve days, every
//! grouping, filter and period shape (whole days, partial first and last days read from the
//! events or subtracted from the rollups, events not rolled up yet, late events, another
//! time zone), compared figure by figure. On SQLite there are no rollups and both answers
//! come from the events. Also: the configured zone, and the refresher's cancellation.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::Tz;
use qrscene::stats::period::StatsZone;
use qrscene::stats::rollup::refresh::{Refreshed, due, refresh};
use qrscene::stats::{Stats, StatsQuery, compute, compute_from_events};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait,
};
use serde_json::{Value, json};

use crate::helpers::TestDb;
use crate::stats_reference::Stored;

const SHANGHAI: Tz = chrono_tz::Asia::Shanghai;
const USERS: u64 = 40;
const ACTIVITIES: [Option<&str>; 10] = [
    Some("A"),
    Some("A"),
    Some("A"),
    Some("B"),
    Some("B"),
    Some("C"),
    None,
    None,
    Some("A"),
    Some("B"),
];

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn base() -> DateTime<Utc> {
    SHANGHAI
        .with_ymd_and_hms(2026, 10, 1, 0, 0, 0)
        .single()
        .map(|t| t.with_timezone(&Utc))
        .expect("a Shanghai midnight")
}

struct Seeder {
    db: DatabaseConnection,
    codes: Vec<i64>,
    rng: Rng,
    n: u64,
}

impl Seeder {
    async fn new(db: DatabaseConnection) -> Self {
        let mut codes = Vec::new();
        for (i, activity) in ACTIVITIES.iter().enumerate() {
            let row = entity::qr_generation::ActiveModel {
                id: NotSet,
                account_id: Set(1),
                kind: Set(entity::qr_generation::CodeKind::Temporary),
                action_name: Set("QR_STR_SCENE".into()),
                scene: Set(format!("s{i}")),
                scene_source: Set(None),
                payload: Set(activity.map(|a| json!({ "activity_id": a }))),
                activity_id: Set(activity.map(str::to_owned)),
                ticket: Set(Some(format!("T{i}"))),
                url: Set(Some(format!("http://weixin.qq.com/q/{i}"))),
                expire_seconds: Set(Some(2_592_000)),
                expires_at: Set(None),
                status: Set(entity::qr_generation::GenerationStatus::Succeeded),
                errcode: Set(None),
                errmsg: Set(None),
                api_key: Set(None),
                reply: Set(None),
                created_at: Set(base() - Duration::days(1)),
            };
            let id = entity::qr_generation::Entity::insert(row)
                .exec(&db)
                .await
                .expect("insert code")
                .last_insert_id;
            codes.push(id);
        }
        Self {
            db,
            codes,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            n: 0,
        }
    }

    /// `count` random events (SCANs only, or every kind) with times in
    /// `[from, from + span)`, inserted in one statement.
    async fn events(
        &mut self,
        count: usize,
        from: DateTime<Utc>,
        span: Duration,
        scans_only: bool,
    ) {
        let mut events = Vec::new();
        for _ in 0..count {
            let openid = format!("u{}", self.rng.next(USERS));
            let at = from + Duration::seconds(self.rng.next(span.num_seconds() as u64) as i64);
            let roll = if scans_only {
                40 + self.rng.next(35)
            } else {
                self.rng.next(100)
            };
            let code = self.codes[self.rng.next(self.codes.len() as u64) as usize];
            let (kind, generation_id) = match roll {
                0..40 => ("subscribe", Some(code)),
                40..75 => ("scan", Some(code)),
                75..80 => ("scan", None),
                _ => ("unsubscribe", None),
            };
            events.push((openid, kind, generation_id, at));
        }
        self.insert(events).await;
    }

    /// Inserts events in one statement, then folds the followers again from every event
    /// (first subscribe through a code).
    async fn insert(&mut self, events: Vec<(String, &str, Option<i64>, DateTime<Utc>)>) {
        let mut rows = Vec::new();
        for (openid, kind, generation_id, at) in events {
            self.n += 1;
            rows.push(entity::wechat_event::ActiveModel {
                id: NotSet,
                account_id: Set(1),
                dedup_key: Set(format!("t:{}", self.n)),
                account: Set("gh_test".into()),
                openid: Set(openid),
                msg_type: Set("event".into()),
                event: Set(Some(kind.to_owned())),
                kind: Set(
                    sea_orm::ActiveEnum::try_from_value(&kind.to_owned()).expect("a stored kind")
                ),
                event_key: Set(None),
                scene: Set(None),
                ticket: Set(None),
                msg_id: Set(None),
                create_time: Set(at.timestamp()),
                occurred_at: Set(at),
                received_at: Set(at),
                generation_id: Set(generation_id),
                reply: Set(None),
                xml: Set("<xml/>".into()),
            });
        }
        entity::wechat_event::Entity::insert_many(rows)
            .exec(&self.db)
            .await
            .expect("insert events");
        self.db
            .execute_unprepared("DELETE FROM wechat_follower")
            .await
            .expect("clear followers");
        self.db
            .execute_unprepared(
                "INSERT INTO wechat_follower (openid, account, subscribed, first_followed_at, \
                 first_generation_id, subscribed_at, unsubscribed_at, last_event_id, last_event_kind, last_event_at) \
                 SELECT e.openid, 'gh_test', TRUE, e.occurred_at, e.generation_id, e.occurred_at, NULL, \
                        e.id, e.kind, e.occurred_at \
                 FROM wechat_event e WHERE e.kind = 'subscribe' AND NOT EXISTS ( \
                   SELECT 1 FROM wechat_event o WHERE o.openid = e.openid AND o.kind = 'subscribe' \
                   AND (o.occurred_at < e.occurred_at OR (o.occurred_at = e.occurred_at AND o.id < e.id)))",
            )
            .await
            .expect("fold followers");
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

fn queries(tz: &str) -> Vec<StatsQuery> {
    let b = base();
    let periods = [
        (b, b + Duration::days(12)),
        (b + Duration::days(2), b + Duration::days(7)),
        (
            b + Duration::days(1) + Duration::hours(5),
            b + Duration::days(9) + Duration::hours(13),
        ),
        (b - Duration::days(3), b + Duration::days(40)),
        (
            b + Duration::days(1) + Duration::hours(20),
            b + Duration::days(9) + Duration::hours(3),
        ),
        (b + Duration::hours(3), b + Duration::hours(20)),
        (
            b + Duration::days(2) + Duration::hours(10),
            b + Duration::days(2) + Duration::hours(12),
        ),
    ];
    let mut out = Vec::new();
    for (from, to) in periods {
        for group_by in ["activity", "qrcode", "day"] {
            for activity in [None, Some("A"), Some("C"), Some("none-such")] {
                out.push(
                    StatsQuery::parse(
                        Some(group_by),
                        Some(&rfc(from)),
                        Some(&rfc(to)),
                        Some(tz),
                        activity.map(str::to_owned),
                        StatsZone(SHANGHAI),
                        1,
                    )
                    .expect("a valid query"),
                );
            }
        }
    }
    out
}

fn figures(s: &Stats) -> Value {
    json!({ "groups": s.groups, "totals": s.totals })
}

/// Every query answers from the rollups and from the events alone what the fold of the
/// stored events gives; returns the rollup days of the first query (12 whole days, no
/// filter, by activity).
async fn compare(db: &DatabaseConnection, tz: &str) -> u32 {
    let stored = Stored::read(db).await;
    let mut first = None;
    for q in queries(tz) {
        let expected = stored.stats(&q);
        let fast = compute(db, &q).await.expect("stats");
        let from_events = compute_from_events(db, &q)
            .await
            .expect("stats from events");
        assert_eq!(from_events.rollup_days, 0);
        let what = format!(
            "{:?} {:?}..{:?} tz {} activity {:?}",
            q.group_by, q.from, q.to, q.tz, q.activity_id
        );
        assert_eq!(figures(&from_events), expected, "events only: {what}");
        assert_eq!(figures(&fast), expected, "rollups: {what}");
        if first.is_none() {
            // The seeding reached the reference: a comparison of empty answers proves nothing.
            assert!(
                expected["totals"]["scans"].as_i64() > Some(100),
                "{expected}"
            );
            assert!(
                expected["totals"]["unsubscribes"].as_i64() > Some(10),
                "{expected}"
            );
            first = Some(fast.rollup_days);
        }
    }
    first.unwrap_or(0)
}

/// Refreshes in `tz`: on Postgres the days from that of `from` on (every day when `None`)
/// are rebuilt, taking in `marks` dirty marks; SQLite has nothing to refresh.
async fn rebuilds(db: &DatabaseConnection, tz: Tz, from: Option<DateTime<Utc>>, marks: i64) {
    let expected = if db.get_database_backend() == DbBackend::Postgres {
        Refreshed::Rebuilt {
            from: from.map(|t| t.with_timezone(&tz).date_naive()),
            marks,
        }
    } else {
        Refreshed::Clean
    };
    assert_eq!(refresh(db, tz).await.expect("refresh"), expected);
}

#[tokio::test]
async fn rollups_answer_exactly_as_the_events() {
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    qrscene::db::migrate(&db).await.expect("migrate");
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let on_pg = |days: u32| if postgres { days } else { 0 };
    let mut seeder = Seeder::new(db.clone()).await;
    seeder
        .events(1_500, base(), Duration::days(12), false)
        .await;

    // Before the first refresh everything comes from the events.
    assert_eq!(compare(&db, "Asia/Shanghai").await, 0);
    assert_eq!(due(&db, SHANGHAI).await.expect("due"), postgres);
    rebuilds(&db, SHANGHAI, None, 1).await;
    assert_eq!(compare(&db, "Asia/Shanghai").await, on_pg(12));
    assert_eq!(
        refresh(&db, SHANGHAI).await.expect("refresh"),
        Refreshed::Clean
    );
    assert!(!due(&db, SHANGHAI).await.expect("due"));

    // Late SCANs on days 5 and 6, and events of today: not in the rollups yet, read from
    // the events alongside them.
    seeder
        .events(200, base() + Duration::days(5), Duration::hours(30), true)
        .await;
    seeder
        .events(30, Utc::now(), Duration::minutes(1), false)
        .await;
    assert_eq!(compare(&db, "Asia/Shanghai").await, on_pg(12));
    // A few recent fresh events: no rebuild due yet.
    assert!(!due(&db, SHANGHAI).await.expect("due"));

    // A scanner who follows and leaves: both fresh, read from the events next to the rollups.
    let code = seeder.codes[3];
    seeder
        .insert(vec![
            (
                "late".into(),
                "subscribe",
                Some(code),
                base() + Duration::days(3),
            ),
            (
                "late".into(),
                "unsubscribe",
                None,
                base() + Duration::days(8),
            ),
        ])
        .await;
    assert_eq!(compare(&db, "Asia/Shanghai").await, on_pg(12));
    rebuilds(&db, SHANGHAI, Some(base() + Duration::days(3)), 3).await;
    // A late first follow of that scanner, before the rolled-up unsubscribe, moves the
    // unsubscribe to another code: until the refresher has rebuilt, the events answer alone.
    seeder
        .insert(vec![(
            "late".into(),
            "subscribe",
            Some(seeder.codes[0]),
            base() + Duration::days(2),
        )])
        .await;
    assert_eq!(compare(&db, "Asia/Shanghai").await, 0);
    assert_eq!(due(&db, SHANGHAI).await.expect("due"), postgres);

    rebuilds(&db, SHANGHAI, Some(base() + Duration::days(2)), 1).await;
    assert_eq!(compare(&db, "Asia/Shanghai").await, on_pg(12));

    assert!(!due(&db, SHANGHAI).await.expect("due"));

    // Days in another zone than the rollups' are read from the events; rebuilding in that
    // zone serves them.
    compare(&db, "UTC").await;
    assert_eq!(due(&db, Tz::UTC).await.expect("due"), postgres);
    rebuilds(&db, Tz::UTC, None, 0).await;
    // UTC days are not Shanghai midnights: 11 whole UTC days, and the two partial ones count
    // as whole when nothing happened in their other part.
    let utc_days = compare(&db, "UTC").await;
    assert!(!postgres || (11..=13).contains(&utc_days), "{utc_days}");
    compare(&db, "Asia/Shanghai").await;
}

#[tokio::test]
async fn an_unknown_rollup_time_zone_refuses_to_start() {
    let test_db = TestDb::new().await;
    let settings = qrscene::config::Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: test_db.url.clone().into(),
        stats_tz: "Mars/Olympus".into(),
        ..Default::default()
    };
    let refused = qrscene::startup::Application::build(settings)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("QRSCENE_STATS_TZ") && refused.contains("Mars/Olympus"),
        "{refused}"
    );
}

/// Azores: on 2026-10-25 local midnight happens twice (01:00 UTC back to 00:00). Day figures
/// by local day, with rolled-up and fresh scans in the repeated hour, match the events.
#[tokio::test]
async fn rollups_answer_exactly_across_a_repeated_midnight() {
    let azores: Tz = chrono_tz::Atlantic::Azores;
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    qrscene::db::migrate(&db).await.expect("migrate");
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let mut seeder = Seeder::new(db.clone()).await;
    let start = Utc
        .with_ymd_and_hms(2026, 10, 22, 0, 0, 0)
        .single()
        .expect("a time");
    seeder.events(800, start, Duration::days(6), false).await;
    // The repeated hour and the hours around it.
    let repeated = Utc
        .with_ymd_and_hms(2026, 10, 24, 23, 0, 0)
        .single()
        .expect("a time");
    seeder
        .events(300, repeated, Duration::hours(4), false)
        .await;
    rebuilds(&db, azores, None, 2).await;
    seeder.events(60, repeated, Duration::hours(4), true).await;

    let local = |d: u32, h: u32| {
        azores
            .with_ymd_and_hms(2026, 10, d, h, 0, 0)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .expect("a local time")
    };
    let stored = Stored::read(&db).await;
    let mut from_rollups = 0;
    for (from, to) in [
        (local(22, 0), local(28, 0)),
        (local(23, 0), local(26, 0)),
        (local(24, 7), local(26, 5)),
        (local(25, 0), local(25, 12)),
    ] {
        for group_by in ["day", "activity", "qrcode"] {
            for activity in [None, Some("A")] {
                let q = StatsQuery::parse(
                    Some(group_by),
                    Some(&rfc(from)),
                    Some(&rfc(to)),
                    Some("Atlantic/Azores"),
                    activity.map(str::to_owned),
                    StatsZone(SHANGHAI),
                    1,
                )
                .expect("a valid query");
                let expected = stored.stats(&q);
                let fast = compute(&db, &q).await.expect("stats");
                let from_events = compute_from_events(&db, &q)
                    .await
                    .expect("stats from events");
                let what = format!("{group_by} {from}..{to} activity {activity:?}");
                assert_eq!(figures(&from_events), expected, "events only: {what}");
                assert_eq!(figures(&fast), expected, "rollups: {what}");
                from_rollups += fast.rollup_days;
            }
        }
    }
    assert_eq!(from_rollups > 0, postgres);
}

/// A refresh while another holds the rollups' state row gives way instead of failing.
#[tokio::test]
async fn a_refresh_gives_way_to_a_running_one() {
    use sea_orm::TransactionTrait;
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    qrscene::db::migrate(&db).await.expect("migrate");
    if db.get_database_backend() != DbBackend::Postgres {
        assert_eq!(
            refresh(&db, SHANGHAI).await.expect("refresh"),
            Refreshed::Clean
        );
        return;
    }
    let other = db.begin().await.expect("begin");
    other
        .execute_unprepared("SELECT 1 FROM stats_rollup_state WHERE id = 1 FOR UPDATE")
        .await
        .expect("lock");
    assert_eq!(
        refresh(&db, SHANGHAI).await.expect("refresh"),
        Refreshed::Busy
    );
    other.rollback().await.expect("rollback");
    rebuilds(&db, SHANGHAI, None, 0).await;
}
