//! Black-box tests: the app spawned on port 0 against a fake of WeChat's HTTP API, on SQLite
//! or (with TEST_DATABASE_URL) a fresh Postgres database per test; Redis with TEST_REDIS_URL.

mod helpers;

mod accounts;
mod actions;
mod attribution;
mod auth;
mod bad_pushes;
mod callback_accounts;
mod callback_reply;
mod callback_store;
mod callback_verify;
mod cli;
mod dashboard;
mod generation;
mod legacy;
mod listing;
mod metrics;
mod openapi;
mod push;
mod quota;
mod scans;
mod security;
mod security_http;
mod stats_reference;
mod stats_rollup;
mod stats_zone;
mod token_service;
mod tokens;
mod upstream;
mod validation;
mod webhooks;
mod write_rules;
