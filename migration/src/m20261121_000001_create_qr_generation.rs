//! The generation log: one row per attempt to create a QR code, failures included.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum QrGeneration {
    Table,
    Id,
    Kind,
    ActionName,
    Scene,
    SceneSource,
    Payload,
    ActivityId,
    Ticket,
    Url,
    ExpireSeconds,
    ExpiresAt,
    Status,
    Errcode,
    Errmsg,
    ApiKey,
    Reply,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(QrGeneration::Table)
                    .if_not_exists()
                    .col(big_pk_auto(QrGeneration::Id))
                    .col(string_len(QrGeneration::Kind, 16))
                    .col(string_len(QrGeneration::ActionName, 32))
                    .col(string_len(QrGeneration::Scene, 64))
                    .col(text_null(QrGeneration::SceneSource))
                    .col(json_binary_null(QrGeneration::Payload))
                    .col(string_len_null(QrGeneration::ActivityId, 128))
                    .col(string_len_null(QrGeneration::Ticket, 255))
                    .col(string_len_null(QrGeneration::Url, 255))
                    .col(integer_null(QrGeneration::ExpireSeconds))
                    .col(timestamp_with_time_zone_null(QrGeneration::ExpiresAt))
                    .col(string_len(QrGeneration::Status, 16))
                    .col(big_integer_null(QrGeneration::Errcode))
                    .col(text_null(QrGeneration::Errmsg))
                    .col(string_len_null(QrGeneration::ApiKey, 64))
                    .col(text_null(QrGeneration::Reply))
                    .col(timestamp_with_time_zone(QrGeneration::CreatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_qr_generation_ticket", vec![QrGeneration::Ticket]),
            (
                "idx_qr_generation_scene",
                vec![QrGeneration::Scene, QrGeneration::Id],
            ),
            (
                "idx_qr_generation_activity",
                vec![QrGeneration::ActivityId, QrGeneration::Id],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(QrGeneration::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        // One stored permanent code per scene: a second request for it returns the first.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS uq_qr_generation_permanent_scene \
                 ON qr_generation (action_name, scene) \
                 WHERE kind = 'permanent' AND status = 'succeeded'",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(QrGeneration::Table).to_owned())
            .await
    }
}
