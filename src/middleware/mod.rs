//! Request middleware of every route: security headers on every answer, a deadline on
//! reading request bodies, the client address behind trusted proxies, and no NUL in a
//! path or query.

pub mod body_deadline;
pub mod client_ip;
pub mod headers;
pub mod nul;
