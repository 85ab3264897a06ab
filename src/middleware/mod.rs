//! Request middleware of every route: security headers on every answer, a deadline on
//! reading request bodies, and the client address behind trusted proxies.

pub mod body_deadline;
pub mod client_ip;
pub mod headers;
