//! Daily rollups for statistics (Postgres only; SQLite answers from the events).
//!
//! - `stats_day`: per code and local day, the additive figures.
//! - `stats_visit`: per level (0 code, 1 activity, 2 all), key, local day and the day of the
//!   scanner's previous visit under the same key, the number of scanners. Scanners of a run
//!   of days are those whose previous visit falls before it, so unique scanners of any run of
//!   whole days is a sum, exactly.
//! - `stats_dirty`: one row per insert into `wechat_event` (the earliest event time it
//!   carried and the ids of its events), written by a trigger in the same transaction. Those
//!   events are not in the rollups yet: queries read them from the events until the
//!   refresher has rebuilt the days from the earliest one on.
//! - An index of each scanner's scans in time, which answers "did this scanner scan in those
//!   days" from the index alone.
//! - `stats_rollup_state`: the time zone of the days, and whether the rollups were built.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const UP: &str = "
CREATE TABLE IF NOT EXISTS stats_rollup_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    tz TEXT NOT NULL,
    built BOOLEAN NOT NULL DEFAULT FALSE,
    built_at TIMESTAMPTZ
);
INSERT INTO stats_rollup_state (id, tz, built) VALUES (1, 'Asia/Shanghai', FALSE)
    ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS stats_dirty (
    id BIGSERIAL PRIMARY KEY,
    since TIMESTAMPTZ NOT NULL,
    ids BIGINT[] NOT NULL,
    marked_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS stats_day (
    day DATE NOT NULL,
    generation_id BIGINT NOT NULL,
    scans BIGINT NOT NULL,
    new_followers BIGINT NOT NULL,
    returning_scans BIGINT NOT NULL,
    unsubscribes BIGINT NOT NULL,
    PRIMARY KEY (day, generation_id)
);
CREATE TABLE IF NOT EXISTS stats_visit (
    level SMALLINT NOT NULL,
    key TEXT,
    day DATE NOT NULL,
    prev_day DATE,
    visits BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_stats_visit_level_day ON stats_visit (level, day);
CREATE INDEX IF NOT EXISTS idx_wechat_event_scanner_time ON wechat_event (openid, occurred_at)
    INCLUDE (generation_id, id) WHERE kind IN ('subscribe', 'scan');
CREATE OR REPLACE FUNCTION qrscene_stats_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO stats_dirty (since, ids)
    SELECT MIN(occurred_at), array_agg(id) FROM new_events
    WHERE kind IN ('subscribe', 'scan', 'unsubscribe')
    HAVING COUNT(*) > 0;
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS wechat_event_stats_dirty ON wechat_event;
CREATE TRIGGER wechat_event_stats_dirty AFTER INSERT ON wechat_event
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION qrscene_stats_mark_dirty();
";

const DOWN: &str = "
DROP TRIGGER IF EXISTS wechat_event_stats_dirty ON wechat_event;
DROP FUNCTION IF EXISTS qrscene_stats_mark_dirty();
DROP TABLE IF EXISTS stats_visit;
DROP TABLE IF EXISTS stats_day;
DROP TABLE IF EXISTS stats_dirty;
DROP TABLE IF EXISTS stats_rollup_state;
DROP INDEX IF EXISTS idx_wechat_event_scanner_time;
";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(UP).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        manager.get_connection().execute_unprepared(DOWN).await?;
        Ok(())
    }
}
