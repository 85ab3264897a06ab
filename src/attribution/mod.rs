//! What the scans brought: events of a code, a follower's story, and statistics per
//! activity, code or day, computed by the database.

pub mod events;
pub mod followers;
pub mod period;
pub mod rollup;
pub mod stats;
mod stats_fast;
mod stats_sql;
