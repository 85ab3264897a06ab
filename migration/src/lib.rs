//! The schema, versioned. Source of truth for Postgres and SQLite alike; migrations name
//! their own identifiers and never import `entity`.

#![warn(missing_docs)]

pub use sea_orm_migration::prelude::*;

mod m20261121_000001_create_qr_generation;
mod m20261121_000002_create_events;
mod m20261121_000003_create_account_binding;
mod m20261121_000004_cover_scan_index;
mod m20261121_000005_stats_rollup;
mod m20261207_000001_accounts;
mod m20261207_000002_stats_per_account;
mod m20261208_000001_outbox_actions;
mod m20261208_000002_retired_codes;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_qr_generation::Migration),
            Box::new(m20261121_000002_create_events::Migration),
            Box::new(m20261121_000003_create_account_binding::Migration),
            Box::new(m20261121_000004_cover_scan_index::Migration),
            Box::new(m20261121_000005_stats_rollup::Migration),
            Box::new(m20261207_000001_accounts::Migration),
            Box::new(m20261207_000002_stats_per_account::Migration),
            Box::new(m20261208_000001_outbox_actions::Migration),
            Box::new(m20261208_000002_retired_codes::Migration),
        ]
    }
}
