//! Acting on scans: the transactional outbox, outbound webhooks, per-code and per-activity
//! actions (tags, welcome), and the local mirror of WeChat's user tags.
//!
//! - `outbox_job`: one side effect to carry out (a tagging, a kefu message, a webhook
//!   delivery), written in the transaction that stores the event causing it. Every time in it
//!   is epoch milliseconds (`*_ms`), so that both backends compare them as integers. A job is
//!   due while `state` is `pending` or `running` and `run_after_ms` has passed: a claim moves
//!   `run_after_ms` to the end of its lease, so a job whose worker died is due again when the
//!   lease runs out.
//! - `webhook`: a subscription of an account; its signing secret sealed like the account's.
//! - `activity_action`: the actions of every code of an activity that has none of its own.
//! - `qr_generation` gains its own actions (`actions` JSON, `actions_on`, and whether they
//!   tag or send a kefu message, so that the callback's statement decides without parsing JSON).
//! - Passive replies become JSON (`{"type":"text","content":...}`) in `qr_generation.reply`
//!   and `wechat_event.reply`, so that image and news replies fit the same column.
//! - `wechat_tag` and `follower_tag`: the tags of each account and the taggings qrscene made.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: &str = "
CREATE TABLE outbox_job (
    id {pk},
    account_id BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    state VARCHAR(16) NOT NULL,
    event_id BIGINT,
    subject_id BIGINT,
    openid VARCHAR(64),
    payload TEXT,
    attempts INTEGER NOT NULL,
    run_after_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    claimed_by VARCHAR(64),
    last_error TEXT,
    last_code BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    finished_ms BIGINT
);
CREATE INDEX idx_outbox_job_due ON outbox_job (kind, run_after_ms) WHERE state IN ('pending', 'running');
CREATE INDEX idx_outbox_job_dead ON outbox_job (id) WHERE state = 'dead';
CREATE INDEX idx_outbox_job_subject ON outbox_job (subject_id, id) WHERE kind = 'webhook';
CREATE TABLE webhook (
    id {pk},
    account_id BIGINT NOT NULL,
    url TEXT NOT NULL,
    kinds TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failing_since_ms BIGINT,
    last_success_ms BIGINT,
    last_failure_ms BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX idx_webhook_account ON webhook (account_id) WHERE enabled;
CREATE TABLE activity_action (
    account_id BIGINT NOT NULL,
    activity_id VARCHAR(64) NOT NULL,
    actions TEXT NOT NULL,
    actions_on VARCHAR(16) NOT NULL,
    action_reply TEXT,
    action_tags BOOLEAN NOT NULL,
    action_kefu BOOLEAN NOT NULL,
    updated_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, activity_id)
);
CREATE TABLE wechat_tag (
    account_id BIGINT NOT NULL,
    tag_id BIGINT NOT NULL,
    name VARCHAR(64) NOT NULL,
    synced_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, tag_id)
);
CREATE UNIQUE INDEX idx_wechat_tag_name ON wechat_tag (account_id, name);
CREATE TABLE follower_tag (
    account_id BIGINT NOT NULL,
    openid VARCHAR(64) NOT NULL,
    tag_id BIGINT NOT NULL,
    job_id BIGINT,
    tagged_ms BIGINT NOT NULL,
    PRIMARY KEY (account_id, openid, tag_id)
);
CREATE INDEX idx_follower_tag_tag ON follower_tag (account_id, tag_id);
ALTER TABLE qr_generation ADD COLUMN actions TEXT;
ALTER TABLE qr_generation ADD COLUMN actions_on VARCHAR(16);
ALTER TABLE qr_generation ADD COLUMN action_tags BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE qr_generation ADD COLUMN action_kefu BOOLEAN NOT NULL DEFAULT FALSE;
";

fn sql(backend: DbBackend) -> String {
    let (pk, object) = match backend {
        DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "json_build_object"),
        _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "json_object"),
    };
    let mut sql = TABLES.replace("{pk}", pk);
    let cast = if backend == DbBackend::Postgres {
        "::text"
    } else {
        ""
    };
    for table in ["qr_generation", "wechat_event"] {
        sql.push_str(&format!(
            "UPDATE {table} SET reply = {object}('type', 'text', 'content', reply){cast} \
             WHERE reply IS NOT NULL;\n"
        ));
    }
    sql
}

const DOWN: &str = "
DROP TABLE IF EXISTS outbox_job;
DROP TABLE IF EXISTS webhook;
DROP TABLE IF EXISTS activity_action;
DROP TABLE IF EXISTS wechat_tag;
DROP TABLE IF EXISTS follower_tag;
ALTER TABLE qr_generation DROP COLUMN actions;
ALTER TABLE qr_generation DROP COLUMN actions_on;
ALTER TABLE qr_generation DROP COLUMN action_tags;
ALTER TABLE qr_generation DROP COLUMN action_kefu;
";

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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Text replies go back to their content; image and news replies have no text form
        // and are dropped.
        let backend = manager.get_database_backend();
        let (get, ty) = match backend {
            DbBackend::Postgres => ("reply::json->>'content'", "reply::json->>'type'"),
            _ => (
                "json_extract(reply, '$.content')",
                "json_extract(reply, '$.type')",
            ),
        };
        let mut sql = String::new();
        for table in ["qr_generation", "wechat_event"] {
            sql.push_str(&format!(
                "UPDATE {table} SET reply = CASE WHEN {ty} = 'text' THEN {get} END \
                 WHERE reply IS NOT NULL;\n"
            ));
        }
        sql.push_str(DOWN);
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }
}
