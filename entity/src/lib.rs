//! sea-orm entities of qrscene's tables. Data only; the logic lives in the service.

#![warn(missing_docs)]

pub mod account;
pub mod account_binding;
pub mod api_key;
pub mod qr_generation;
pub mod wechat_event;
pub mod wechat_follower;
