//! Statistics read the scans of a period: on Postgres, an index that also carries the code
//! and the scanner answers them from the index alone (the heap rows hold the XML). It
//! replaces the plain (kind, occurred_at) index; SQLite keeps that one (no INCLUDE).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_wechat_event_kind_time_cover \
             ON wechat_event (kind, occurred_at) INCLUDE (generation_id, openid)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_wechat_event_kind_time")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS idx_wechat_event_kind_time ON wechat_event (kind, occurred_at)",
        )
        .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS idx_wechat_event_kind_time_cover")
            .await?;
        Ok(())
    }
}
