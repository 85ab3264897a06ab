//! What the scans brought: the events of a code, a follower's story, and statistics per
//! activity, code or local day.
//!
//! Dependencies point one way, down this list:
//! - `compute` ([`compute()`], [`compute_from_events`]): the entry of `stats`; one
//!   snapshot, the rollups where they answer, the events for the rest.
//! - [`rollup`]: the daily rollups (Postgres): [`rollup::refresh`] owns them and their state,
//!   [`rollup::plan`] and [`rollup::query`] read them.
//! - `from_events`: the statistics read from the events alone (both backends).
//! - `fragments`, [`figures`], [`period`], `params`, [`error`]: the SQL shared by both
//!   paths, the result rows, the validated request, the parameter binder and the errors.
//! - [`events`], [`followers`]: listings of stored events and followers.

mod compute;
pub mod error;
pub mod events;
pub mod figures;
pub mod followers;
mod fragments;
mod from_events;
mod params;
pub mod period;
pub mod rollup;

pub use compute::{Stats, compute, compute_from_events};
pub use error::StatsError;
pub use figures::{Figures, Group};
pub use period::{GroupBy, MAX_DAYS, StatsQuery};
