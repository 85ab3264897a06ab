//! Generations: creating QR codes through WeChat, logging every attempt, and reading the
//! log back. The HTTP layer only parses requests into [`request`] types and renders
//! [`view`]s.

pub mod error;
pub mod legacy;
pub mod quota;
pub mod request;
pub mod scene_key;
pub mod service;
pub mod view;

pub use error::GenerationError;
pub use service::{Created, Generations};
