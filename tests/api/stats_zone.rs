//! One time-zone setting (`QRSCENE_STATS_TZ`) for the rollups and for `stats` requests
//! that name no zone; and the rollup refresher stopping when cancelled.

use std::time::Duration;

use chrono_tz::Tz;
use qrscene::config::Settings;
use qrscene::startup::Application;
use qrscene::stats::rollup::refresh::{Refreshed, refresh, spawn};
use qrscene::stats::rollup::state;
use sea_orm::{DatabaseConnection, DbBackend};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::helpers::TestDb;

const KEY: &str = "stats-zone-test-key-0123456789";

/// Builds and serves an instance over `db` whose rollups are in `tz` (no refresher).
async fn start(db: &TestDb, tz: &str) -> String {
    let settings = Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        database_url: db.url.clone().into(),
        api_keys: Some(format!("zone:{KEY}").into()),
        stats_tz: tz.into(),
        stats_refresh_ms: 0,
        ..Settings::default()
    };
    let app = Application::build(settings).await.expect("build app");
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    address
}

/// The rollups' zone and whether they are built (Postgres).
async fn rollup_state(db: &DatabaseConnection) -> Option<(String, bool)> {
    state::read(db)
        .await
        .expect("state")
        .map(|s| (s.tz, s.built))
}

#[tokio::test]
async fn the_configured_zone_is_the_default_of_stats_and_the_rollups_zone() {
    let test_db = TestDb::new().await;
    let address = start(&test_db, "Europe/Berlin").await;
    let answer: Value = reqwest::Client::new()
        .get(format!(
            "{address}/api/v1/stats?group_by=day&from=2026-11-01T00:00:00Z&to=2026-11-03T00:00:00Z"
        ))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["tz"], "Europe/Berlin", "{answer}");
    assert_eq!(answer["from"], "2026-11-01T01:00:00+01:00", "{answer}");
    let days: Vec<&str> = answer["groups"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["key"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(days, ["2026-11-01", "2026-11-02", "2026-11-03"]);

    let db = test_db.connect().await;
    if db.get_database_backend() != DbBackend::Postgres {
        return;
    }
    // The migration's seed is replaced by the configured zone at start-up.
    assert_eq!(
        rollup_state(&db).await,
        Some(("Europe/Berlin".into(), false))
    );
    let berlin: Tz = chrono_tz::Europe::Berlin;
    assert_eq!(
        refresh(&db, berlin).await.expect("refresh"),
        Refreshed::Rebuilt {
            from: None,
            marks: 0
        }
    );
    // Another instance in the same zone keeps the built rollups...
    start(&test_db, "Europe/Berlin").await;
    assert_eq!(
        rollup_state(&db).await,
        Some(("Europe/Berlin".into(), true))
    );
    // ...one in another zone has them rebuilt, and queries read the events until then.
    start(&test_db, "UTC").await;
    assert_eq!(rollup_state(&db).await, Some(("UTC".into(), false)));
}

#[tokio::test]
async fn a_cancelled_refresher_stops() {
    let test_db = TestDb::new().await;
    let db = test_db.connect().await;
    qrscene::db::migrate(&db).await.expect("migrate");
    let stop = CancellationToken::new();
    let tz = chrono_tz::Asia::Shanghai;
    let handle = spawn(db.clone(), tz, Duration::from_millis(20), stop.clone());
    if db.get_database_backend() == DbBackend::Postgres {
        // It works until cancelled: the first check builds the rollups.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while rollup_state(&db).await.is_none_or(|(_, built)| !built) {
            assert!(tokio::time::Instant::now() < deadline, "never built");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(!handle.is_finished());
    }
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), handle)
        .await
        .expect("the refresher stops within 5 s of being cancelled")
        .expect("the refresher did not panic");
}
