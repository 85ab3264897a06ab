//! Which account a request is for, and whether its caller may use it: a request names its
//! account with `account` (appid), or leaves it out when its key (or the deployment) has
//! exactly one. Another account's data is a 404, never a 403: a key learns nothing of the
//! accounts it may not use, but it is told plainly when it names one of them.

use std::sync::Arc;

use super::{Account, Accounts};
use crate::auth::Caller;
use crate::error::ApiError;

impl Accounts {
    /// The account a request of `caller` is for: `requested` (an appid), or the only one
    /// it may use.
    ///
    /// # Errors
    /// - 404 `not_found`: no enabled account has that appid;
    /// - 403 `forbidden`: the key may not use it;
    /// - 400 `account_required`: it named none and may use several.
    pub async fn resolve(
        &self,
        caller: &Caller,
        requested: Option<&str>,
    ) -> Result<Arc<Account>, ApiError> {
        match requested.map(str::trim).filter(|a| !a.is_empty()) {
            Some(appid) => {
                let account = self
                    .find(appid)
                    .await
                    .filter(|a| a.enabled)
                    .ok_or_else(|| ApiError::NotFound(format!("no account has appid {appid}")))?;
                if !caller.may_use(appid) {
                    return Err(ApiError::Forbidden(format!(
                        "this API key may not use account {appid}"
                    )));
                }
                Ok(account)
            }
            None => {
                let mine: Vec<Arc<Account>> = self
                    .enabled()
                    .into_iter()
                    .filter(|a| caller.may_use(a.appid.as_str()))
                    .collect();
                match mine.as_slice() {
                    [only] => Ok(only.clone()),
                    [] => Err(ApiError::Forbidden(
                        "this API key may use no enabled account".to_owned(),
                    )),
                    several => Err(ApiError::AccountRequired(format!(
                        "name the account with `account` (an appid): this key may use {} \
                         accounts ({})",
                        several.len(),
                        several
                            .iter()
                            .map(|a| a.appid.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))),
                }
            }
        }
    }

    /// Whether `caller` may see the data of account `account_id` (lookups by id: a row of
    /// another account is answered as not found).
    pub fn visible(&self, caller: &Caller, account_id: i64) -> bool {
        self.by_id(account_id)
            .is_some_and(|a| caller.may_use(a.appid.as_str()))
    }

    /// The account for the legacy endpoint: `requested`, or the environment's.
    ///
    /// # Errors
    /// As [`Self::resolve`] for a named account.
    pub async fn resolve_legacy(
        &self,
        caller: &Caller,
        requested: Option<&str>,
    ) -> Result<Arc<Account>, ApiError> {
        match requested.map(str::trim).filter(|a| !a.is_empty()) {
            Some(_) => self.resolve(caller, requested).await,
            None => match self.default_account() {
                Some(account) if caller.may_use(account.appid.as_str()) => Ok(account),
                _ => self.resolve(caller, None).await,
            },
        }
    }
}

/// Refuses callers that are not admins.
///
/// # Errors
/// 403 `forbidden`.
pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "this route needs an admin key".to_owned(),
        ))
    }
}
