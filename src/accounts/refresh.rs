//! Reloading accounts and API keys that another instance (or the command line) changed.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Accounts;
use crate::auth::ApiKeys;

/// Reloads the accounts and the keys every `every` until `stop`. A failure is logged and
/// counted (`qrscene_accounts_reload_failures_total`); what was loaded stays in force.
pub fn spawn(
    accounts: Arc<Accounts>,
    keys: Arc<ApiKeys>,
    every: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                _ = ticks.tick() => {}
            }
            if let Err(e) = reload(&accounts, &keys).await {
                metrics::counter!("qrscene_accounts_reload_failures_total").increment(1);
                tracing::warn!(error.message = %e, "cannot reload accounts and API keys; keeping what was loaded");
            }
        }
        tracing::debug!("accounts reloader stopped");
    })
}

/// Reloads the accounts and the keys once.
///
/// # Errors
/// The database failed.
pub async fn reload(accounts: &Accounts, keys: &ApiKeys) -> Result<(), super::AccountError> {
    accounts.reload().await?;
    keys.set_db_keys(super::keys::in_force(accounts.db()).await?);
    Ok(())
}
