//! Fault tests: the app spawned in-process while what it depends on fails under it. Each test
//! starts what it kills: its own `redis-server` on a free port (never the shared one), or a
//! TCP proxy in front of Postgres (TEST_DATABASE_URL's server, a fresh database) that stops
//! forwarding without closing. Without redis-server or TEST_DATABASE_URL a test is skipped
//! locally and fails under CI=true.

#[allow(dead_code)]
#[path = "../api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "../api/push.rs"]
mod push;

mod support;

mod outbox_kill;
mod postgres_dark;
mod redis_outage;
mod shutdown;
