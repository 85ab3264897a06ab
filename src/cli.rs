//! The operator's commands (`qrscene accounts|keys|rotate-master-key`): the admin API's
//! account and key management, run against the database directly with the service's
//! settings (`DATABASE_URL`, `QRSCENE_MASTER_KEY`, `WECHAT_API_BASE`...). Running instances
//! see the changes within `QRSCENE_ACCOUNTS_REFRESH_MS`.

use std::io::{BufRead, Write};
use std::time::Duration;

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;

use crate::accounts::admin::{CreateAccount, verify_credentials};
use crate::accounts::keys::{self, NewKey, Role, Scope};
use crate::accounts::seal::Sealer;
use crate::accounts::{Wiring, store};
use crate::config::{Settings, TokenMode};
use crate::db;

/// `qrscene accounts ...`.
#[derive(clap::Subcommand)]
pub enum AccountsCommand {
    /// Add an account. Secrets are read from standard input as `name=value` lines
    /// (`secret`, `callback_token`, `encoding_aes_key`, `encoding_aes_key_previous`) with
    /// --secrets-stdin, never from the command line, which other users can see.
    Add {
        /// WeChat's appid.
        #[arg(long)]
        appid: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
        /// `stable` or `classic`.
        #[arg(long, default_value = "stable")]
        token_mode: String,
        /// Refuse plaintext pushes (needs an EncodingAESKey).
        #[arg(long)]
        require_encryption: bool,
        /// The original id (`gh_...`).
        #[arg(long)]
        original_id: Option<String>,
        /// Read the secrets from standard input.
        #[arg(long)]
        secrets_stdin: bool,
        /// Do not check the credentials with a token fetch.
        #[arg(long)]
        no_verify: bool,
    },
    /// List the accounts (never their secrets).
    List,
    /// Disable an account: it serves nothing more; its data is kept.
    Disable {
        /// The account's appid.
        appid: String,
    },
}

/// `qrscene keys ...`.
#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create a key and print it (once: only its hash is stored).
    Create {
        /// A name for logs and listings.
        #[arg(long)]
        name: String,
        /// `admin` or `client`.
        #[arg(long, default_value = "client")]
        role: String,
        /// An appid it may use (repeat for several); every account when left out.
        #[arg(long = "account")]
        accounts: Vec<String>,
        /// It may read the access tokens of its accounts.
        #[arg(long)]
        token: bool,
    },
    /// List the keys (never the keys themselves).
    List,
    /// Revoke a key.
    Revoke {
        /// The key's id.
        id: i64,
    },
}

async fn database(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let conn = db::connect(settings.database_url.expose_secret(), 2)
        .await
        .context("cannot open the database (DATABASE_URL)")?;
    db::migrate(&conn)
        .await
        .context("database migrations failed")?;
    Ok(conn)
}

fn sealer(settings: &Settings) -> anyhow::Result<Option<Sealer>> {
    Ok(Sealer::from_settings(
        settings.master_key.as_ref(),
        settings.master_key_previous.as_ref(),
    )?)
}

/// The `name=value` lines of `input`: the secrets of an account.
///
/// # Errors
/// A line that is not `name=value` with a known name.
pub fn read_secrets(input: impl BufRead) -> anyhow::Result<[Option<String>; 4]> {
    let mut out: [Option<String>; 4] = Default::default();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            bail!("standard input line {}: expected name=value", i + 1);
        };
        let slot = match name.trim() {
            "secret" => 0,
            "callback_token" => 1,
            "encoding_aes_key" => 2,
            "encoding_aes_key_previous" => 3,
            other => bail!(
                "standard input line {}: unknown secret {other:?} (secret, callback_token, \
                 encoding_aes_key, encoding_aes_key_previous)",
                i + 1
            ),
        };
        out[slot] = Some(value.to_owned());
    }
    Ok(out)
}

/// Runs `qrscene accounts ...`, printing to standard output.
///
/// # Errors
/// A refused value, WeChat refusing the credentials, no master key for secrets, or the
/// database failing.
pub async fn accounts(settings: &Settings, command: AccountsCommand) -> anyhow::Result<()> {
    let conn = database(settings).await?;
    let mut out = std::io::stdout().lock();
    match command {
        AccountsCommand::Add {
            appid,
            name,
            token_mode,
            require_encryption,
            original_id,
            secrets_stdin,
            no_verify,
        } => {
            let verify = !no_verify;
            let [
                secret,
                callback_token,
                encoding_aes_key,
                encoding_aes_key_previous,
            ] = if secrets_stdin {
                read_secrets(std::io::stdin().lock())?
            } else {
                Default::default()
            };
            let token_mode = match token_mode.as_str() {
                "stable" => TokenMode::Stable,
                "classic" => TokenMode::Classic,
                other => bail!("--token-mode must be stable or classic, not {other:?}"),
            };
            let (new, _) = CreateAccount {
                appid,
                name,
                secret,
                callback_token,
                encoding_aes_key,
                encoding_aes_key_previous,
                token_mode: Some(token_mode),
                require_encryption: Some(require_encryption),
                original_id,
                verify: Some(verify),
            }
            .checked()?;
            let sealer = sealer(settings)?;
            let has_secrets = new.secrets.secret.is_some()
                || new.secrets.callback_token.is_some()
                || new.secrets.aes_key.is_some();
            if has_secrets && sealer.is_none() {
                bail!(crate::accounts::seal::SealError::NoKey);
            }
            if let (true, Some(secret)) = (verify, &new.secrets.secret) {
                let wiring = Wiring {
                    api_base: settings.wechat_api_base.clone(),
                    timeout: Duration::from_millis(settings.wechat_timeout_ms),
                    max_skew_secs: settings.wechat_max_clock_skew_secs,
                    redis: None,
                };
                verify_credentials(&wiring, &new.appid, secret, new.token_mode).await?;
            }
            let row = store::create(&conn, sealer.as_ref(), new).await?;
            writeln!(
                out,
                "added account {} ({}); its callback URL path is /wechat/callback/{}",
                row.appid, row.name, row.appid
            )?;
        }
        AccountsCommand::List => {
            writeln!(
                out,
                "{:<32} {:<6} {:<8} {:<8} {:<24} name",
                "appid", "source", "enabled", "secrets", "original_id"
            )?;
            for row in store::all(&conn).await? {
                let secrets = [
                    (row.secret.is_some(), 's'),
                    (row.callback_token.is_some(), 't'),
                    (row.aes_key.is_some(), 'k'),
                    (row.aes_key_previous.is_some(), 'p'),
                ]
                .iter()
                .map(|(set, c)| if *set { *c } else { '-' })
                .collect::<String>();
                writeln!(
                    out,
                    "{:<32} {:<6} {:<8} {:<8} {:<24} {}",
                    row.appid,
                    row.source,
                    row.enabled,
                    secrets,
                    row.original_id.as_deref().unwrap_or("-"),
                    row.name
                )?;
            }
        }
        AccountsCommand::Disable { appid } => {
            let row = store::all(&conn)
                .await?
                .into_iter()
                .find(|r| r.appid == appid)
                .with_context(|| format!("no account has appid {appid}"))?;
            if row.source == "env" {
                bail!(
                    "account {appid} is configured by environment: remove WECHAT_APPID to stop \
                     serving it"
                );
            }
            let patch = store::AccountPatch {
                enabled: Some(false),
                ..Default::default()
            };
            store::update(&conn, None, &appid, patch).await?;
            writeln!(out, "disabled account {appid}; its data is kept")?;
        }
    }
    Ok(())
}

/// Runs `qrscene keys ...`, printing to standard output.
///
/// # Errors
/// A refused value or the database failing.
pub async fn keys(settings: &Settings, command: KeysCommand) -> anyhow::Result<()> {
    let conn = database(settings).await?;
    let mut out = std::io::stdout().lock();
    match command {
        KeysCommand::Create {
            name,
            role,
            accounts,
            token,
        } => {
            let role = match role.as_str() {
                "admin" => Role::Admin,
                "client" => Role::Client,
                other => bail!("--role must be admin or client, not {other:?}"),
            };
            if name.trim().is_empty() || name.chars().count() > crate::auth::MAX_NAME_LEN {
                bail!(
                    "--name must be 1 to {} characters",
                    crate::auth::MAX_NAME_LEN
                );
            }
            let known: Vec<String> = store::all(&conn)
                .await?
                .into_iter()
                .map(|r| r.appid)
                .collect();
            if let Some(unknown) = accounts.iter().find(|a| !known.contains(a)) {
                bail!("--account {unknown}: no account has this appid");
            }
            let scope = if accounts.is_empty() {
                Scope::All
            } else {
                Scope::Only(accounts)
            };
            let (key, view) = keys::create(
                &conn,
                NewKey {
                    name,
                    role,
                    scope,
                    can_read_token: token,
                },
            )
            .await?;
            writeln!(
                out,
                "created key {} ({}, id {}); it is shown once, only its hash is stored:\n{key}",
                view.name,
                view.role.as_str(),
                view.id
            )?;
        }
        KeysCommand::List => {
            writeln!(
                out,
                "{:<6} {:<8} {:<7} {:<9} {:<8} {:<32} name",
                "id", "prefix", "role", "revoked", "token", "accounts"
            )?;
            for key in keys::list(&conn).await? {
                writeln!(
                    out,
                    "{:<6} {:<8} {:<7} {:<9} {:<8} {:<32} {}",
                    key.id,
                    key.prefix,
                    key.role.as_str(),
                    key.revoked_at.is_some(),
                    key.permissions.contains(&"token".to_owned()),
                    key.accounts.map_or("all".to_owned(), |a| a.join(",")),
                    key.name
                )?;
            }
        }
        KeysCommand::Revoke { id } => match keys::revoke(&conn, id).await? {
            Some(view) => writeln!(out, "revoked key {} ({})", view.id, view.name)?,
            None => bail!("no API key with id {id}"),
        },
    }
    Ok(())
}

/// Runs `qrscene rotate-master-key`.
///
/// # Errors
/// No master key, a value sealed with a key that is neither the master key nor a previous
/// one, or the database failing (nothing is changed then).
pub async fn rotate_master_key(settings: &Settings) -> anyhow::Result<()> {
    let conn = database(settings).await?;
    let sealer = sealer(settings)?.ok_or(crate::accounts::seal::SealError::NoKey)?;
    let resealed = store::reseal_all(&conn, &sealer).await?;
    writeln!(
        std::io::stdout().lock(),
        "sealed {resealed} secret(s) again with master key {}; QRSCENE_MASTER_KEY_PREVIOUS can \
         be removed once every instance runs with the new key",
        sealer.key_id()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_read_as_name_value_lines() {
        let input = "secret=s3cr=t\n\ncallback_token=tok\r\n";
        let [secret, token, aes, previous] = read_secrets(input.as_bytes()).unwrap();
        assert_eq!(secret.as_deref(), Some("s3cr=t"));
        assert_eq!(token.as_deref(), Some("tok"));
        assert!(aes.is_none() && previous.is_none());
        let err = read_secrets("sekret=x\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("sekret"), "{err}");
    }
}
