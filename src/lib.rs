//! qrscene: parametric WeChat QR codes, their scans, and the attribution between them.

#![warn(missing_docs)]

pub mod accounts;
pub mod actions;
pub mod auth;
pub mod callback;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod generation;
pub mod image;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod outbox;
pub mod paging;
pub mod routes;
pub mod scans;
pub mod startup;
pub mod state;
pub mod stats;
pub mod tasks;
pub mod telemetry;
pub mod webhooks;
pub mod wechat;
