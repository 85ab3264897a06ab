//! What issuing and reading codes can fail with, in the generation domain's own terms; the
//! routes map each variant to an HTTP answer.

use crate::wechat::error::WeChatError;
use crate::wechat::qrcode::LimitError;

/// A generation request or a read of the log failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    /// A field broke a rule (WeChat's or ours).
    #[error(transparent)]
    Invalid(#[from] LimitError),
    /// No generation with this id.
    #[error("no QR code generation with id {0}")]
    NotFound(i64),
    /// The generation exists but has no image: it failed or is still pending.
    #[error("generation {0} has no image (it failed or is still pending)")]
    NoImage(i64),
    /// The account's permanent codes are used up (counted locally, WeChat not called).
    #[error("the account has used all {0} permanent QR codes; use temporary codes")]
    PermanentCapReached(u64),
    /// WeChat refused or failed; the attempt is logged as failed generation `generation`
    /// (`None` when even that could not be written).
    #[error("{source}")]
    WeChat {
        /// Why.
        #[source]
        source: WeChatError,
        /// The logged failed generation.
        generation: Option<i64>,
    },
    /// The permanent scene was retired: WeChat never frees it, so it is not made again.
    #[error(
        "permanent scene {scene} was retired at {at}; WeChat never frees a permanent scene: choose another"
    )]
    Retired {
        /// The scene.
        scene: String,
        /// When it was retired.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// Only permanent codes that WeChat made can be retired.
    #[error(
        "generation {0} is not a permanent code that WeChat made: only those are retired (temporary codes expire)"
    )]
    NotRetirable(i64),
    /// The account cannot make codes: its secrets cannot be opened here (no master key),
    /// or it has no AppSecret; the message says which.
    #[error(transparent)]
    AccountUnavailable(#[from] crate::accounts::NoWeChat),
    /// The generation log could not be read or written.
    #[error("the generation log failed")]
    Database(#[from] sea_orm::DbErr),
}
