//! Permanent codes can be retired: `qr_generation.retired_at`. WeChat never frees a
//! permanent scene, so a retired one is never made again; its scans still count.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let ts = match manager.get_database_backend() {
            DbBackend::Postgres => "TIMESTAMPTZ",
            _ => "TIMESTAMP",
        };
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE qr_generation ADD COLUMN retired_at {ts}"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("ALTER TABLE qr_generation DROP COLUMN retired_at")
            .await?;
        Ok(())
    }
}
