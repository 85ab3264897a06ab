//! Acting on scans: what a code (or its activity) does to whoever scans it ([`spec`]),
//! carried out as outbox jobs: tags given in batches ([`tagging`]) and welcomes sent as
//! customer-service messages ([`kefu`]); a welcome sent as the passive reply is the
//! callback's answer. Activity-wide actions live in [`activity`].

pub mod activity;
pub mod kefu;
pub mod spec;
pub mod tagging;
