//! The daily statistics rollups (Postgres; SQLite answers from the events).
//!
//! [`refresh`] is the background job that owns them: it rebuilds dirty days (the SQL is in
//! `rebuild`) and writes their [`state`]. [`plan`] reads that state to decide how much of
//! a query the rollups answer, and [`query`] (with its `parts`) reads the rollups. Nothing
//! here reads back from the query side.

mod parts;
pub mod plan;
pub mod query;
mod rebuild;
pub mod refresh;
pub mod state;
