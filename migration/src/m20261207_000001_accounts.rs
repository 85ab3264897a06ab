//! Many official accounts in one deployment: the `account` table (secrets sealed by the
//! service, never stored in clear), hashed API keys, the replay binding of signed callback
//! queries, and an `account_id` on every table of data.
//!
//! Existing rows belong to account 1, which this migration creates without an appid (an
//! empty one); the service's start-up gives it the appid of the account configured by
//! environment (or the sandbox's), so a single-account deployment keeps all its data with no
//! new setting. Stored dedup keys gain the account's id as a prefix (`1:`), as new ones do.
//! `wechat_follower` is keyed by account and openid (the same openid under two accounts is
//! two people): the table is rebuilt with that key, its rows copied.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const ACCOUNT: &str = "
CREATE TABLE IF NOT EXISTS account (
    id {pk},
    appid VARCHAR(32) NOT NULL UNIQUE,
    name VARCHAR(128) NOT NULL,
    source VARCHAR(8) NOT NULL,
    secret TEXT,
    callback_token TEXT,
    aes_key TEXT,
    aes_key_previous TEXT,
    token_mode VARCHAR(8) NOT NULL,
    require_encryption BOOLEAN NOT NULL DEFAULT FALSE,
    original_id VARCHAR(64),
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at {ts} NOT NULL,
    updated_at {ts} NOT NULL
);
INSERT INTO account (id, appid, name, source, token_mode, require_encryption, enabled,
    created_at, updated_at)
SELECT 1, '', 'configured by environment', 'env', 'stable', FALSE, TRUE, {now}, {now}
WHERE NOT EXISTS (SELECT 1 FROM account WHERE id = 1);
CREATE TABLE IF NOT EXISTS api_key (
    id {pk},
    name VARCHAR(64) NOT NULL,
    role VARCHAR(8) NOT NULL,
    accounts TEXT,
    can_read_token BOOLEAN NOT NULL DEFAULT FALSE,
    key_hash VARCHAR(64) NOT NULL UNIQUE,
    prefix VARCHAR(16) NOT NULL,
    created_at {ts} NOT NULL,
    revoked_at {ts}
);
CREATE TABLE IF NOT EXISTS callback_replay (
    query_hash VARCHAR(64) PRIMARY KEY,
    account_id BIGINT NOT NULL,
    body_hash VARCHAR(64) NOT NULL,
    expires_at {ts} NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_callback_replay_expires ON callback_replay (expires_at);
ALTER TABLE qr_generation ADD COLUMN account_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE wechat_event ADD COLUMN account_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE account_binding ADD COLUMN account_id BIGINT NOT NULL DEFAULT 1;
UPDATE wechat_event SET dedup_key = '1:' || dedup_key;
DROP INDEX IF EXISTS uq_qr_generation_permanent_scene;
CREATE UNIQUE INDEX IF NOT EXISTS uq_qr_generation_permanent_scene
    ON qr_generation (account_id, action_name, scene)
    WHERE kind = 'permanent' AND status = 'succeeded';
DROP INDEX IF EXISTS idx_qr_generation_scene;
CREATE INDEX IF NOT EXISTS idx_qr_generation_scene ON qr_generation (account_id, scene, id);
DROP INDEX IF EXISTS idx_qr_generation_activity;
CREATE INDEX IF NOT EXISTS idx_qr_generation_activity
    ON qr_generation (account_id, activity_id, id);
CREATE INDEX IF NOT EXISTS idx_qr_generation_account ON qr_generation (account_id, id);
DROP INDEX IF EXISTS idx_wechat_event_openid;
CREATE INDEX IF NOT EXISTS idx_wechat_event_openid ON wechat_event (account_id, openid, id);
DROP INDEX IF EXISTS idx_account_binding_external_user;
CREATE INDEX IF NOT EXISTS idx_account_binding_external_user
    ON account_binding (account_id, external_user_id, id);
CREATE TABLE wechat_follower_by_account (
    account_id BIGINT NOT NULL,
    openid VARCHAR(64) NOT NULL,
    account VARCHAR(64) NOT NULL,
    subscribed BOOLEAN NOT NULL,
    first_followed_at {ts},
    first_generation_id BIGINT REFERENCES qr_generation (id) ON DELETE SET NULL,
    subscribed_at {ts},
    unsubscribed_at {ts},
    last_event_id BIGINT NOT NULL,
    last_event_kind VARCHAR(32) NOT NULL,
    last_event_at {ts} NOT NULL,
    PRIMARY KEY (account_id, openid)
);
INSERT INTO wechat_follower_by_account (account_id, openid, account, subscribed,
    first_followed_at, first_generation_id, subscribed_at, unsubscribed_at, last_event_id,
    last_event_kind, last_event_at)
SELECT 1, openid, account, subscribed, first_followed_at, first_generation_id, subscribed_at,
    unsubscribed_at, last_event_id, last_event_kind, last_event_at FROM wechat_follower;
DROP TABLE wechat_follower;
ALTER TABLE wechat_follower_by_account RENAME TO wechat_follower;
CREATE INDEX IF NOT EXISTS idx_wechat_follower_first_generation
    ON wechat_follower (first_generation_id);
";

/// Postgres only: the account columns keep no default (a row must name its account), and
/// reference `account`.
const POSTGRES_ONLY: &str = "
SELECT setval(pg_get_serial_sequence('account', 'id'), GREATEST((SELECT MAX(id) FROM account), 1));
ALTER TABLE qr_generation ALTER COLUMN account_id DROP DEFAULT;
ALTER TABLE wechat_event ALTER COLUMN account_id DROP DEFAULT;
ALTER TABLE account_binding ALTER COLUMN account_id DROP DEFAULT;
ALTER TABLE qr_generation ADD CONSTRAINT fk_qr_generation_account
    FOREIGN KEY (account_id) REFERENCES account (id);
ALTER TABLE wechat_event ADD CONSTRAINT fk_wechat_event_account
    FOREIGN KEY (account_id) REFERENCES account (id);
ALTER TABLE account_binding ADD CONSTRAINT fk_account_binding_account
    FOREIGN KEY (account_id) REFERENCES account (id);
ALTER TABLE wechat_follower ADD CONSTRAINT fk_wechat_follower_account
    FOREIGN KEY (account_id) REFERENCES account (id);
ALTER TABLE callback_replay ADD CONSTRAINT fk_callback_replay_account
    FOREIGN KEY (account_id) REFERENCES account (id);
";

fn sql(backend: DbBackend) -> String {
    let (pk, ts, now) = match backend {
        DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "TIMESTAMPTZ", "now()"),
        _ => (
            "INTEGER PRIMARY KEY AUTOINCREMENT",
            "TIMESTAMP",
            "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        ),
    };
    let mut sql = ACCOUNT
        .replace("{pk}", pk)
        .replace("{ts}", ts)
        .replace("{now}", now);
    if backend == DbBackend::Postgres {
        sql.push_str(POSTGRES_ONLY);
    }
    sql
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        manager
            .get_connection()
            .execute_unprepared(&sql(backend))
            .await?;
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration(
            "the accounts migration is not reversible: it would merge the data of every \
             account into one"
                .to_owned(),
        ))
    }
}
