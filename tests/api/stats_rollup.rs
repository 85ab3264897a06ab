//! `stats` answers what a plain fold over the stored events gives (`stats_reference`), from
//! the events alone and from the daily rollups: random scans over twelve days, every
//! grouping, filter and period shape (whole days, partial first and last days read from the
//! events or subtracted from the rollups, events not rolled up yet, late events, another
//! time zone), compared figure by figure, for each of two accounts that share openids, scenes
//! and activity ids (and are still two people, two codes, two activities). On SQLite there
//! are no rollups and both answers come from the events. Also: the configured zone, and the
//! refresher's cancellation.

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

/// Inserts an account as the admin API would (no secrets: the tests never call WeChat for
/// it), and returns its id.
pub async fn insert_account(db: &DatabaseConnection, appid: &str) -> i64 {
    let now = Utc::now();
    let row = entity::account::ActiveModel {
        id: NotSet,
        appid: Set(appid.to_owned()),
        name: Set(format!("stats test {appid}")),
        source: Set("db".into()),
        secret: Set(None),
        callback_token: Set(None),
        aes_key: Set(None),
        aes_key_previous: Set(None),
        token_mode: Set("stable".into()),
        require_encryption: Set(false),
        original_id: Set(None),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    entity::account::Entity::insert(row)
        .exec(db)
        .await
        .expect("insert account")
        .last_insert_id
}

/// A second account: `wxstatsb` and random hex.
pub fn appid_b() -> String {
    format!(
        "wxstatsb{}",
        &uuid::Uuid::new_v4().simple().to_string()[..10]
    )
}

/// One seeded account: its id and its codes, the same scenes and activities in every
/// account.
struct Account {
    id: i64,
    codes: Vec<i64>,
}

/// An event to insert: account (index into the seeder's accounts), openid, kind, code, time.
type Event = (usize, String, &'static str, Option<i64>, DateTime<Utc>);

struct Seeder {
    db: DatabaseConnection,
    accounts: Vec<Account>,
    rng: Rng,
    n: u64,
}

impl Seeder {
    /// Codes `s0`..`s9` of the activities of [`ACTIVITIES`], for each of `accounts`.
    async fn new(db: DatabaseConnection, accounts: &[i64]) -> Self {
        let mut seeded = Vec::new();
        for &account in accounts {
            let mut codes = Vec::new();
            for (i, activity) in ACTIVITIES.iter().enumerate() {
                let row = entity::qr_generation::ActiveModel {
                    id: NotSet,
                    account_id: Set(account),
                    kind: Set(entity::qr_generation::CodeKind::Temporary),
                    action_name: Set("QR_STR_SCENE".into()),
                    scene: Set(format!("s{i}")),
                    scene_source: Set(None),
                    payload: Set(activity.map(|a| json!({ "activity_id": a }))),
                    activity_id: Set(activity.map(str::to_owned)),
                    ticket: Set(Some(format!("T{account}-{i}"))),
                    url: Set(Some(format!("http://weixin.qq.com/q/{account}-{i}"))),
                    expire_seconds: Set(Some(2_592_000)),
                    expires_at: Set(None),
                    status: Set(entity::qr_generation::GenerationStatus::Succeeded),
                    errcode: Set(None),
                    errmsg: Set(None),
                    api_key: Set(None),
                    reply: Set(None),
                    // Left out: the test also seeds the schema before actions.
                    actions: NotSet,
                    actions_on: NotSet,
                    action_tags: NotSet,
                    action_kefu: NotSet,
                    retired_at: NotSet,
                    created_at: Set(base() - Duration::days(1)),
                };
                let id = entity::qr_generation::Entity::insert(row)
                    .exec(&db)
                    .await
                    .expect("insert code")
                    .last_insert_id;
                codes.push(id);
            }
            seeded.push(Account { id: account, codes });
        }
        Self {
            db,
            accounts: seeded,
            rng: Rng(0x9e37_79b9_7f4a_7c15),
            n: 0,
        }
    }

    /// Code `i` of the seeder's account `account`.
    fn code(&self, account: usize, i: usize) -> i64 {
        self.accounts[account].codes[i]
    }

    /// `count` random events (SCANs only, or every kind) with times in
    /// `[from, from + span)`, of random accounts among the seeder's, inserted in one
    /// statement. Every account draws from the same openids.
    async fn events(
        &mut self,
        count: usize,
        from: DateTime<Utc>,
        span: Duration,
        scans_only: bool,
    ) {
        let mut events = Vec::new();
        for _ in 0..count {
            let account = self.rng.next(self.accounts.len() as u64) as usize;
            let openid = format!("u{}", self.rng.next(USERS));
            let at = from + Duration::seconds(self.rng.next(span.num_seconds() as u64) as i64);
            let roll = if scans_only {
                40 + self.rng.next(35)
            } else {
                self.rng.next(100)
            };
            let codes = &self.accounts[account].codes;
            let code = codes[self.rng.next(codes.len() as u64) as usize];
            let (kind, generation_id) = match roll {
                0..40 => ("subscribe", Some(code)),
                40..75 => ("scan", Some(code)),
                75..80 => ("scan", None),
                _ => ("unsubscribe", None),
            };
            events.push((account, openid, kind, generation_id, at));
        }
        self.insert(events).await;
    }

    /// Inserts events in one statement, then folds the followers again from every event
    /// (first subscribe through a code, per account and openid).
    async fn insert(&mut self, events: Vec<Event>) {
        let mut rows = Vec::new();
        for (account, openid, kind, generation_id, at) in events {
            self.n += 1;
            let account_id = self.accounts[account].id;
            rows.push(entity::wechat_event::ActiveModel {
                id: NotSet,
                account_id: Set(account_id),
                dedup_key: Set(format!("{account_id}:t:{}", self.n)),
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
        // One statement on Postgres (one dirty mark); SQLite binds at most 32,766 values
        // per statement, and has no marks.
        let per_statement = match self.db.get_database_backend() {
            DbBackend::Postgres => rows.len().max(1),
            _ => 1_000,
        };
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            entity::wechat_event::Entity::insert_many(rows.by_ref().take(per_statement))
                .exec(&self.db)
                .await
                .expect("insert events");
        }
        self.db
            .execute_unprepared("DELETE FROM wechat_follower")
            .await
            .expect("clear followers");
        self.db
            .execute_unprepared(
                "INSERT INTO wechat_follower (account_id, openid, account, subscribed, first_followed_at, \
                 first_generation_id, subscribed_at, unsubscribed_at, last_event_id, last_event_kind, last_event_at) \
                 SELECT e.account_id, e.openid, 'gh_test', TRUE, e.occurred_at, e.generation_id, e.occurred_at, NULL, \
                        e.id, e.kind, e.occurred_at \
                 FROM wechat_event e WHERE e.kind = 'subscribe' AND NOT EXISTS ( \
                   SELECT 1 FROM wechat_event o WHERE o.account_id = e.account_id AND o.openid = e.openid \
                   AND o.kind = 'subscribe' \
                   AND (o.occurred_at < e.occurred_at OR (o.occurred_at = e.occurred_at AND o.id < e.id)))",
            )
            .await
            .expect("fold followers");
    }
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339()
}

/// Queries of `account`: every grouping and filter over periods of every shape.
fn queries(tz: &str, account: i64) -> Vec<StatsQuery> {
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
                        account,
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

/// Every query of each of `accounts` answers from the rollups and from the events alone what
/// the fold of that account's stored events gives; returns, per account, the rollup days of
/// the first query (12 whole days, no filter, by activity).
async fn compare(db: &DatabaseConnection, tz: &str, accounts: &[i64]) -> Vec<u32> {
    let mut days = Vec::new();
    for &account in accounts {
        days.push(compare_one(db, tz, account).await);
    }
    days
}

async fn compare_one(db: &DatabaseConnection, tz: &str, account: i64) -> u32 {
    let stored = Stored::read(db, account).await;
    let mut first = None;
    for q in queries(tz, account) {
        let expected = stored.stats(&q);
        let fast = compute(db, &q).await.expect("stats");
        let from_events = compute_from_events(db, &q)
            .await
            .expect("stats from events");
        assert_eq!(from_events.rollup_days, 0);
        let what = format!(
            "account {account}: {:?} {:?}..{:?} tz {} activity {:?}",
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
    // Account 1 (the migrated one) and another with the same openids, scenes and activities.
    let b = insert_account(&db, &appid_b()).await;
    let accounts = [1, b];
    let sh = "Asia/Shanghai";
    let mut seeder = Seeder::new(db.clone(), &accounts).await;
    seeder
        .events(3_000, base(), Duration::days(12), false)
        .await;

    // Before the first refresh everything comes from the events.
    assert_eq!(compare(&db, sh, &accounts).await, [0, 0]);
    assert_eq!(due(&db, SHANGHAI).await.expect("due"), postgres);
    rebuilds(&db, SHANGHAI, None, 1).await;
    assert_eq!(compare(&db, sh, &accounts).await, [on_pg(12); 2]);
    assert_eq!(
        refresh(&db, SHANGHAI).await.expect("refresh"),
        Refreshed::Clean
    );
    assert!(!due(&db, SHANGHAI).await.expect("due"));

    // Late SCANs on days 5 and 6, and events of today: not in the rollups yet, read from
    // the events alongside them.
    seeder
        .events(400, base() + Duration::days(5), Duration::hours(30), true)
        .await;
    seeder
        .events(60, Utc::now(), Duration::minutes(1), false)
        .await;
    assert_eq!(compare(&db, sh, &accounts).await, [on_pg(12); 2]);
    // A few recent fresh events: no rebuild due yet.
    assert!(!due(&db, SHANGHAI).await.expect("due"));

    // A scanner who follows and leaves, in each account (the same openid: two people, with
    // their own first codes): all fresh, read from the events next to the rollups.
    let late = |account: usize, kind, code, day: i64| {
        (
            account,
            "late".to_owned(),
            kind,
            code,
            base() + Duration::days(day),
        )
    };
    let (a3, b5) = (seeder.code(0, 3), seeder.code(1, 5));
    seeder
        .insert(vec![
            late(0, "subscribe", Some(a3), 3),
            late(0, "unsubscribe", None, 8),
            late(1, "subscribe", Some(b5), 1),
            late(1, "unsubscribe", None, 9),
        ])
        .await;
    assert_eq!(compare(&db, sh, &accounts).await, [on_pg(12); 2]);
    rebuilds(&db, SHANGHAI, Some(base() + Duration::days(1)), 3).await;
    // A late first follow of account 1's scanner, before its rolled-up unsubscribe, moves
    // that unsubscribe to another code: until the refresher has rebuilt, account 1's
    // figures come from the events alone. The other account's attribution did not move:
    // its rollups still answer.
    let a0 = seeder.code(0, 0);
    seeder.insert(vec![late(0, "subscribe", Some(a0), 2)]).await;
    assert_eq!(compare(&db, sh, &accounts).await, [0, on_pg(12)]);
    assert_eq!(due(&db, SHANGHAI).await.expect("due"), postgres);

    rebuilds(&db, SHANGHAI, Some(base() + Duration::days(2)), 1).await;
    assert_eq!(compare(&db, sh, &accounts).await, [on_pg(12); 2]);

    assert!(!due(&db, SHANGHAI).await.expect("due"));

    // Days in another zone than the rollups' are read from the events; rebuilding in that
    // zone serves them.
    compare(&db, "UTC", &accounts).await;
    assert_eq!(due(&db, Tz::UTC).await.expect("due"), postgres);
    rebuilds(&db, Tz::UTC, None, 0).await;
    // UTC days are not Shanghai midnights: 11 whole UTC days, and the two partial ones count
    // as whole when nothing happened in their other part.
    for utc_days in compare(&db, "UTC", &accounts).await {
        assert!(!postgres || (11..=13).contains(&utc_days), "{utc_days}");
    }
    compare(&db, sh, &accounts).await;
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
    let mut seeder = Seeder::new(db.clone(), &[1]).await;
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
    let stored = Stored::read(&db, 1).await;
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

/// Two accounts with the same openids, scenes and activity ids, each with its own random
/// events, a scanner seen by one account only in each, and a third account with nothing:
/// each answers what its own events give (every grouping, a period of rolled-up days and
/// partial days read next to them on Postgres, with fresh events), and a follower or a
/// code's events of one account never show the other's.
#[tokio::test]
async fn two_accounts_with_the_same_openids_and_scenes_never_mix() {
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    qrscene::db::migrate(&db).await.expect("migrate");
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let b = insert_account(&db, &appid_b()).await;
    let empty = insert_account(&db, &appid_b()).await;
    let mut seeder = Seeder::new(db.clone(), &[1, b]).await;
    seeder
        .events(2_000, base(), Duration::days(12), false)
        .await;
    let (a1, b2) = (seeder.code(0, 1), seeder.code(1, 2));
    let day4 = base() + Duration::days(4);
    seeder
        .insert(vec![
            (0, "only-a".into(), "subscribe", Some(a1), day4),
            (1, "only-b".into(), "subscribe", Some(b2), day4),
        ])
        .await;
    rebuilds(&db, SHANGHAI, None, 2).await;
    // Fresh events of both accounts, not rolled up yet: SCANs, and unsubscribes of the same
    // openid in both (no first follow moves, so the rollups keep answering).
    seeder
        .events(200, base() + Duration::days(1), Duration::days(9), true)
        .await;
    let day6 = base() + Duration::days(6) + Duration::hours(7);
    seeder
        .insert(vec![
            (0, "only-a".into(), "unsubscribe", None, day6),
            (0, "u1".into(), "unsubscribe", None, day6),
            (1, "u1".into(), "unsubscribe", None, day6),
        ])
        .await;

    let b0 = base();
    let periods = [
        (b0, b0 + Duration::days(12)),
        (
            b0 + Duration::days(1) + Duration::hours(5),
            b0 + Duration::days(9) + Duration::hours(13),
        ),
    ];
    let mut answers: Vec<(i64, Value)> = Vec::new();
    for account in [1, b, empty] {
        let stored = Stored::read(&db, account).await;
        for (from, to) in periods {
            for group_by in ["activity", "qrcode", "day"] {
                for activity in [None, Some("A")] {
                    let q = StatsQuery::parse(
                        Some(group_by),
                        Some(&rfc(from)),
                        Some(&rfc(to)),
                        None,
                        activity.map(str::to_owned),
                        StatsZone(SHANGHAI),
                        account,
                    )
                    .expect("a valid query");
                    let expected = stored.stats(&q);
                    let fast = compute(&db, &q).await.expect("stats");
                    let from_events = compute_from_events(&db, &q).await.expect("stats");
                    let what = format!("account {account}: {group_by} {from}..{to} {activity:?}");
                    assert_eq!(figures(&from_events), expected, "events only: {what}");
                    assert_eq!(figures(&fast), expected, "rollups: {what}");
                    // Rolled-up days on Postgres: 12, or 7 with partial days around them.
                    assert!(!postgres || fast.rollup_days >= 7, "{what}");
                    if group_by == "activity" && activity.is_none() && from == b0 {
                        answers.push((account, expected));
                    }
                }
            }
        }
    }
    let totals = |account: i64| {
        answers
            .iter()
            .find(|(a, _)| *a == account)
            .map(|(_, v)| v["totals"].clone())
            .unwrap_or_default()
    };
    assert!(totals(1)["scans"].as_i64() > Some(500), "{}", totals(1));
    assert!(
        totals(b)["unsubscribes"].as_i64() > Some(20),
        "{}",
        totals(b)
    );
    assert_ne!(totals(1), totals(b), "two accounts, two sets of figures");
    assert_eq!(totals(empty)["scans"], 0);
    assert_eq!(totals(empty)["unique_scanners"], 0);

    // Followers are the account's own: the same openid is another person.
    let find = |account: i64, openid: String| {
        let db = db.clone();
        async move {
            qrscene::stats::followers::find(&db, account, &openid)
                .await
                .expect("follower")
        }
    };
    let only_a = find(1, "only-a".into())
        .await
        .expect("account 1 saw only-a");
    assert_eq!(only_a.first_touch.map(|t| t.qrcode_id), Some(a1));
    assert!(find(b, "only-a".into()).await.is_none());
    assert!(find(1, "only-b".into()).await.is_none());
    assert!(find(empty, "u1".into()).await.is_none());
    let ids_of = |account: i64| {
        let db = db.clone();
        async move {
            entity::wechat_event::Entity::find()
                .all(&db)
                .await
                .expect("events")
                .into_iter()
                .filter(|e| e.account_id == account)
                .map(|e| e.id)
                .collect::<std::collections::HashSet<i64>>()
        }
    };
    let (ids_a, ids_b) = (ids_of(1).await, ids_of(b).await);
    let mut in_both = 0;
    for n in 0..USERS {
        let openid = format!("u{n}");
        let (Some(in_a), Some(in_b)) =
            (find(1, openid.clone()).await, find(b, openid.clone()).await)
        else {
            continue;
        };
        in_both += 1;
        for (view, ids, codes) in [
            (&in_a, &ids_a, &seeder.accounts[0].codes),
            (&in_b, &ids_b, &seeder.accounts[1].codes),
        ] {
            assert!(view.recent_events.iter().all(|e| ids.contains(&e.id)));
            if let Some(touch) = &view.first_touch {
                assert!(codes.contains(&touch.qrcode_id), "{openid}");
            }
        }
    }
    assert!(in_both > 10, "{in_both} openids follow both accounts");

    // A code's events (its scans, and the unsubscribes of the followers it first brought)
    // are its account's, though the other account's openids are the same.
    let mut unsubscribes = 0;
    for (account, ids) in [(0, &ids_a), (1, &ids_b)] {
        for &code in &seeder.accounts[account].codes {
            let page = qrscene::paging::PageRequest::parse(None, Some(200)).expect("a page");
            let (events, _) = qrscene::stats::events::of_code(&db, code, page)
                .await
                .expect("events of a code");
            assert!(events.iter().all(|e| ids.contains(&e.id)), "code {code}");
            unsubscribes += events.iter().filter(|e| e.kind == "unsubscribe").count();
        }
    }
    assert!(unsubscribes > 20, "{unsubscribes}");
}

/// A database of the single-account schema, its rollups built: the migration to rollups
/// per account empties them and marks them unbuilt, so that the figures are the events'
/// until the refresher has rebuilt every day, and the same after.
#[tokio::test]
async fn the_migration_to_rollups_per_account_keeps_the_figures() {
    use migration::{Migrator, MigratorTrait};
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    // Every migration up to the accounts (m20261207_000001_accounts) included.
    Migrator::up(&db, Some(6))
        .await
        .expect("migrate to accounts");
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let mut seeder = Seeder::new(db.clone(), &[1]).await;
    seeder
        .events(1_000, base(), Duration::days(12), false)
        .await;
    if postgres {
        // Rollups of that schema, said to be built: they must not be read any more.
        db.execute_unprepared(
            "INSERT INTO stats_day (day, generation_id, scans, new_followers, returning_scans, \
               unsubscribes) VALUES ('2026-10-03', 1, 1000, 1000, 0, 0); \
             INSERT INTO stats_visit (level, key, day, prev_day, visits) \
               VALUES (2, NULL, '2026-10-03', NULL, 1000); \
             UPDATE stats_rollup_state SET tz = 'Asia/Shanghai', built = TRUE, built_at = now(); \
             DELETE FROM stats_dirty",
        )
        .await
        .expect("rollups of the single-account schema");
    }
    qrscene::db::migrate(&db).await.expect("migrate");
    let on_pg = |days: u32| if postgres { days } else { 0 };
    assert_eq!(compare(&db, "Asia/Shanghai", &[1]).await, [0]);
    assert_eq!(due(&db, SHANGHAI).await.expect("due"), postgres);
    rebuilds(&db, SHANGHAI, None, 0).await;
    assert_eq!(compare(&db, "Asia/Shanghai", &[1]).await, [on_pg(12)]);
}
