//! The statistics domain's errors; `routes::attribution` maps them to HTTP by variant.

use sea_orm::DbErr;

/// Everything reading events, followers or statistics can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// A request field broke a rule.
    #[error("{field}: {rule}")]
    Invalid {
        /// The request field at fault.
        field: &'static str,
        /// The rule it broke, in words.
        rule: &'static str,
    },
    /// The rollups' state row is missing: the migrations have not run.
    #[error("the statistics rollups have no state row (stats_rollup_state); run the migrations")]
    NoRollupState,
    /// The database failed.
    #[error("the database failed")]
    Database(#[from] DbErr),
}

impl StatsError {
    /// A broken rule of `field`.
    pub(crate) fn invalid(field: &'static str, rule: &'static str) -> Self {
        Self::Invalid { field, rule }
    }
}
