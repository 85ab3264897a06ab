//! Account bindings: a temporary code made for one user of the caller's system; its first
//! scan binds that user to the scanner's openid. The binding state is derived from the
//! code's events, so it cannot disagree with them.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AccountBinding {
    Table,
    Id,
    ExternalUserId,
    GenerationId,
    ApiKey,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum QrGeneration {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AccountBinding::Table)
                    .if_not_exists()
                    .col(big_pk_auto(AccountBinding::Id))
                    .col(string_len(AccountBinding::ExternalUserId, 128))
                    .col(big_integer_uniq(AccountBinding::GenerationId))
                    .col(string_len_null(AccountBinding::ApiKey, 64))
                    .col(timestamp_with_time_zone(AccountBinding::CreatedAt))
                    .col(timestamp_with_time_zone(AccountBinding::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_account_binding_generation")
                            .from(AccountBinding::Table, AccountBinding::GenerationId)
                            .to(QrGeneration::Table, QrGeneration::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_account_binding_external_user")
                    .table(AccountBinding::Table)
                    .col(AccountBinding::ExternalUserId)
                    .col(AccountBinding::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AccountBinding::Table).to_owned())
            .await
    }
}
