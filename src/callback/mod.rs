//! The callback: WeChat's pushes verified ([`verify`]) and admitted to their account
//! ([`admit`]: its original id, and a plaintext body bound to its signed query by
//! [`replay`]), classified ([`event`]), stored
//! exactly once in group commits ([`store`]) with their scans tied to generations
//! ([`link`]) and followers kept up to date ([`followers`]) by rules written once in SQL
//! that both backends run over the batch's rows ([`rows`]), then answered ([`reply`]).

pub mod admit;
pub mod batch_generic;
pub mod batch_postgres;
mod db_error;
pub mod event;
pub mod followers;
pub mod jobs;
pub mod link;
pub mod replay;
pub mod reply;
pub mod rows;
pub mod sandbox;
pub mod store;
pub mod verify;
