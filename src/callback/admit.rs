//! Admitting a verified push to an account: it must be addressed to the account (its
//! `ToUserName` the account's original id, learnt from the first admitted push when not
//! given), and a plaintext push's body must be the first its signed query arrived with
//! ([`super::replay`]). Nothing is stored before a push is admitted.

use crate::accounts::{Account, Accounts, Source};

use super::replay::{ReplayError, ReplayGuard, SignedQuery};
use super::verify::{CallbackQuery, Mode, Plaintext, VerifiedPush};

/// Why a verified push was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The push is addressed to another account than the one of its URL.
    #[error(
        "the push is addressed to {to:?}, but account {appid} is {expected:?}: a push for \
         another account is refused"
    )]
    OtherAccount {
        /// The push's `ToUserName`.
        to: String,
        /// The account of the URL.
        appid: String,
        /// Its original id.
        expected: String,
    },
    /// The replay guard refused the push, or could not record it.
    #[error(transparent)]
    Replay(#[from] ReplayError),
}

/// Whether `account` accepts plaintext pushes, and the setting that says no.
pub fn plaintext(account: &Account) -> Plaintext {
    match (account.require_encryption, account.source) {
        (false, _) => Plaintext::Accepted,
        (true, Source::Env) => Plaintext::Refused("WECHAT_REQUIRE_ENCRYPTION"),
        (true, Source::Db) => Plaintext::Refused("the account's require_encryption"),
    }
}

/// Admits `push`, verified with `account`'s keys from `query` and `body`: checks its
/// addressee, binds a plaintext push's query to its body, and learns the account's
/// original id from it when none is known (only now: a push refused above teaches nothing).
///
/// # Errors
/// See [`AdmitError`]; nothing is stored then.
pub async fn admit(
    accounts: &Accounts,
    guard: &ReplayGuard,
    account: &Account,
    (query, body): (&CallbackQuery, &[u8]),
    push: &VerifiedPush,
) -> Result<(), AdmitError> {
    let to = push.reply_to.account.as_str();
    let other = |expected: &str| AdmitError::OtherAccount {
        to: to.to_owned(),
        appid: account.appid.to_string(),
        expected: expected.to_owned(),
    };
    if let Some(expected) = account.original_id.as_deref().filter(|e| *e != to) {
        return Err(other(expected));
    }
    if matches!(push.reply_to.mode, Mode::Plain) {
        let signed = SignedQuery {
            signature: query.signature.as_deref().unwrap_or_default(),
            timestamp: query.timestamp.as_deref().unwrap_or_default(),
            nonce: query.nonce.as_deref().unwrap_or_default(),
        };
        guard.bind(account.id, signed, body).await?;
    }
    if account.original_id.is_none() {
        match accounts.learn_original_id(account, to).await {
            // Another push (here or on another instance) may have taught another id first.
            Ok(()) => match accounts
                .by_id(account.id)
                .and_then(|a| a.original_id.clone())
            {
                Some(learnt) if learnt != to => return Err(other(&learnt)),
                _ => {}
            },
            Err(e) => {
                tracing::warn!(error.message = %e, appid = %account.appid, "cannot record the account's original id; the push is stored all the same");
            }
        }
    }
    Ok(())
}
