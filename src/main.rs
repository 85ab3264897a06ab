//! The `qrscene` binary: `serve` (the default), `migrate`, and `fake-wechat` (built with the
//! default-on cargo feature `fake-wechat`, from the `qrscene-fake-wechat` crate).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use qrscene::{
    config::Settings,
    db,
    startup::{Application, Fatal},
    telemetry,
};
use secrecy::ExposeSecret;

#[derive(Parser)]
#[command(version, about = "Parametric WeChat QR codes and their scans")]
struct Cli {
    /// TOML file with settings (the environment overrides it).
    #[arg(long, global = true, env = "QRSCENE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service (default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Official accounts stored in the database (their secrets sealed with
    /// QRSCENE_MASTER_KEY).
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// API keys stored in the database (hashed; a new key is shown once).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Seal every stored account secret again with QRSCENE_MASTER_KEY; the old key goes in
    /// QRSCENE_MASTER_KEY_PREVIOUS for this run.
    RotateMasterKey,
    /// Run a fake of WeChat's API for local development and benchmarks.
    #[cfg(feature = "fake-wechat")]
    FakeWechat {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
        /// The appid it accepts.
        #[arg(long, default_value = "wxfake")]
        appid: String,
        /// The secret it accepts.
        #[arg(long, default_value = "fakesecret")]
        secret: String,
        /// One more app it accepts, as `APPID:SECRET` (repeatable).
        #[arg(long = "app", value_name = "APPID:SECRET")]
        apps: Vec<String>,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
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

#[derive(Subcommand)]
enum KeysCommand {
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

#[tokio::main]
async fn main() -> Result<(), Fatal> {
    qrscene::wechat::client::install_crypto_provider();
    let cli = Cli::parse();
    let settings = Settings::load(cli.config.as_deref()).context("invalid configuration")?;
    telemetry::init(settings.log_json);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await?;
            tracing::info!(port = app.port(), "listening");
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let conn = db::connect(settings.database_url.expose_secret(), 1).await?;
            db::migrate(&conn).await?;
            tracing::info!("migrations applied");
        }
        Command::Accounts(command) => qrscene::cli::accounts(&settings, command.into()).await?,
        Command::Keys(command) => qrscene::cli::keys(&settings, command.into()).await?,
        Command::RotateMasterKey => qrscene::cli::rotate_master_key(&settings).await?,
        #[cfg(feature = "fake-wechat")]
        Command::FakeWechat {
            listen,
            appid,
            secret,
            apps,
        } => {
            let fake = qrscene_fake_wechat::FakeWeChat::start_on(&listen, &appid, &secret).await?;
            for app in &apps {
                let (appid, secret) = app.split_once(':').context("--app takes APPID:SECRET")?;
                fake.add_app(appid, secret);
            }
            tracing::info!(
                base_url = fake.base_url(),
                appids = ?fake.appids(),
                "fake WeChat API running; Ctrl-C stops it"
            );
            tokio::signal::ctrl_c().await?;
        }
    }
    Ok(())
}

impl From<AccountsCommand> for qrscene::cli::AccountsCommand {
    fn from(c: AccountsCommand) -> Self {
        match c {
            AccountsCommand::Add {
                appid,
                name,
                token_mode,
                require_encryption,
                original_id,
                secrets_stdin,
                no_verify,
            } => Self::Add {
                appid,
                name,
                token_mode,
                require_encryption,
                original_id,
                secrets_stdin,
                verify: !no_verify,
            },
            AccountsCommand::List => Self::List,
            AccountsCommand::Disable { appid } => Self::Disable { appid },
        }
    }
}

impl From<KeysCommand> for qrscene::cli::KeysCommand {
    fn from(c: KeysCommand) -> Self {
        match c {
            KeysCommand::Create {
                name,
                role,
                accounts,
                token,
            } => Self::Create {
                name,
                role,
                accounts,
                token,
            },
            KeysCommand::List => Self::List,
            KeysCommand::Revoke { id } => Self::Revoke { id },
        }
    }
}
