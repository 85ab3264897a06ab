//! Statistics per account (Postgres; SQLite has no rollups and only gains an index).
//!
//! The same openid under two accounts is two people, the same scene two codes, so every
//! rollup row and every index the statistics read is led by the account:
//! - `stats_day` gains `account_id` (its code's account), keyed (account, day, code);
//! - `stats_visit` gains `account_id`; the scanner whose previous visit it counts is an
//!   openid of that account (and the totals and activities are the account's);
//! - the scanner-time index and the covering index of the scans of a period lead with
//!   `account_id`.
//!
//! The rollups are emptied and marked unbuilt: until the refresher has rebuilt every day
//! (its next tick), queries read the events, so the figures of the data from before (all of
//! account 1) stay the same. The dirty-tracking trigger is unchanged: it marks event ids.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const POSTGRES_UP: &str = "
DROP TABLE IF EXISTS stats_day;
CREATE TABLE stats_day (
    account_id BIGINT NOT NULL,
    day DATE NOT NULL,
    generation_id BIGINT NOT NULL,
    scans BIGINT NOT NULL,
    new_followers BIGINT NOT NULL,
    returning_scans BIGINT NOT NULL,
    unsubscribes BIGINT NOT NULL,
    PRIMARY KEY (account_id, day, generation_id)
);
DROP TABLE IF EXISTS stats_visit;
CREATE TABLE stats_visit (
    account_id BIGINT NOT NULL,
    level SMALLINT NOT NULL,
    key TEXT,
    day DATE NOT NULL,
    prev_day DATE,
    visits BIGINT NOT NULL
);
CREATE INDEX idx_stats_visit_account_level_day ON stats_visit (account_id, level, day);
UPDATE stats_rollup_state SET built = FALSE, built_at = NULL;
DROP INDEX IF EXISTS idx_wechat_event_scanner_time;
CREATE INDEX idx_wechat_event_scanner_time ON wechat_event (account_id, openid, occurred_at)
    INCLUDE (generation_id, id) WHERE kind IN ('subscribe', 'scan');
CREATE INDEX IF NOT EXISTS idx_wechat_event_account_kind_time
    ON wechat_event (account_id, kind, occurred_at) INCLUDE (generation_id, openid);
DROP INDEX IF EXISTS idx_wechat_event_kind_time_cover;
";

/// The single-account shape of `m20261121_000005_stats_rollup` and its cover index, empty
/// and unbuilt (the refresher of that version rebuilds them).
const POSTGRES_DOWN: &str = "
DROP TABLE IF EXISTS stats_day;
CREATE TABLE stats_day (
    day DATE NOT NULL,
    generation_id BIGINT NOT NULL,
    scans BIGINT NOT NULL,
    new_followers BIGINT NOT NULL,
    returning_scans BIGINT NOT NULL,
    unsubscribes BIGINT NOT NULL,
    PRIMARY KEY (day, generation_id)
);
DROP TABLE IF EXISTS stats_visit;
CREATE TABLE stats_visit (
    level SMALLINT NOT NULL,
    key TEXT,
    day DATE NOT NULL,
    prev_day DATE,
    visits BIGINT NOT NULL
);
CREATE INDEX idx_stats_visit_level_day ON stats_visit (level, day);
UPDATE stats_rollup_state SET built = FALSE, built_at = NULL;
DROP INDEX IF EXISTS idx_wechat_event_scanner_time;
CREATE INDEX idx_wechat_event_scanner_time ON wechat_event (openid, occurred_at)
    INCLUDE (generation_id, id) WHERE kind IN ('subscribe', 'scan');
CREATE INDEX IF NOT EXISTS idx_wechat_event_kind_time_cover
    ON wechat_event (kind, occurred_at) INCLUDE (generation_id, openid);
DROP INDEX IF EXISTS idx_wechat_event_account_kind_time;
";

const SQLITE_UP: &str = "
CREATE INDEX IF NOT EXISTS idx_wechat_event_account_kind_time
    ON wechat_event (account_id, kind, occurred_at);
DROP INDEX IF EXISTS idx_wechat_event_kind_time;
";

const SQLITE_DOWN: &str = "
CREATE INDEX IF NOT EXISTS idx_wechat_event_kind_time ON wechat_event (kind, occurred_at);
DROP INDEX IF EXISTS idx_wechat_event_account_kind_time;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_UP,
            _ => SQLITE_UP,
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let sql = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_DOWN,
            _ => SQLITE_DOWN,
        };
        manager.get_connection().execute_unprepared(sql).await?;
        Ok(())
    }
}
