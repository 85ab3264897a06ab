//! WeChat's pushes (one row per distinct push, retries folded by `dedup_key`) and the
//! followers they describe.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WechatEvent {
    Table,
    Id,
    DedupKey,
    Account,
    Openid,
    MsgType,
    Event,
    Kind,
    EventKey,
    Scene,
    Ticket,
    MsgId,
    CreateTime,
    OccurredAt,
    ReceivedAt,
    GenerationId,
    Reply,
    Xml,
}

#[derive(DeriveIden)]
enum WechatFollower {
    Table,
    Openid,
    Account,
    Subscribed,
    FirstFollowedAt,
    FirstGenerationId,
    SubscribedAt,
    UnsubscribedAt,
    LastEventId,
    LastEventKind,
    LastEventAt,
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
                    .table(WechatEvent::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WechatEvent::Id))
                    .col(string_len_uniq(WechatEvent::DedupKey, 255))
                    .col(string_len(WechatEvent::Account, 64))
                    .col(string_len(WechatEvent::Openid, 64))
                    .col(string_len(WechatEvent::MsgType, 32))
                    .col(string_len_null(WechatEvent::Event, 64))
                    .col(string_len(WechatEvent::Kind, 32))
                    .col(text_null(WechatEvent::EventKey))
                    .col(string_len_null(WechatEvent::Scene, 64))
                    .col(string_len_null(WechatEvent::Ticket, 255))
                    .col(big_integer_null(WechatEvent::MsgId))
                    .col(big_integer(WechatEvent::CreateTime))
                    .col(timestamp_with_time_zone(WechatEvent::OccurredAt))
                    .col(timestamp_with_time_zone(WechatEvent::ReceivedAt))
                    .col(big_integer_null(WechatEvent::GenerationId))
                    .col(text_null(WechatEvent::Reply))
                    .col(text(WechatEvent::Xml))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_wechat_event_generation")
                            .from(WechatEvent::Table, WechatEvent::GenerationId)
                            .to(QrGeneration::Table, QrGeneration::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "idx_wechat_event_generation",
                vec![WechatEvent::GenerationId, WechatEvent::Id],
            ),
            (
                "idx_wechat_event_openid",
                vec![WechatEvent::Openid, WechatEvent::Id],
            ),
            (
                "idx_wechat_event_kind_time",
                vec![WechatEvent::Kind, WechatEvent::OccurredAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(WechatEvent::Table).if_not_exists();
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(WechatFollower::Table)
                    .if_not_exists()
                    .col(string_len(WechatFollower::Openid, 64).primary_key())
                    .col(string_len(WechatFollower::Account, 64))
                    .col(boolean(WechatFollower::Subscribed))
                    .col(timestamp_with_time_zone_null(
                        WechatFollower::FirstFollowedAt,
                    ))
                    .col(big_integer_null(WechatFollower::FirstGenerationId))
                    .col(timestamp_with_time_zone_null(WechatFollower::SubscribedAt))
                    .col(timestamp_with_time_zone_null(
                        WechatFollower::UnsubscribedAt,
                    ))
                    .col(big_integer(WechatFollower::LastEventId))
                    .col(string_len(WechatFollower::LastEventKind, 32))
                    .col(timestamp_with_time_zone(WechatFollower::LastEventAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_wechat_follower_first_generation")
                            .from(WechatFollower::Table, WechatFollower::FirstGenerationId)
                            .to(QrGeneration::Table, QrGeneration::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_wechat_follower_first_generation")
                    .table(WechatFollower::Table)
                    .col(WechatFollower::FirstGenerationId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WechatFollower::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(WechatEvent::Table).to_owned())
            .await
    }
}
