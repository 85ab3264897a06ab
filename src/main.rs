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
    Accounts(qrscene::cli::AccountsCommand),
    /// API keys stored in the database (hashed; a new key is shown once).
    #[command(subcommand)]
    Keys(qrscene::cli::KeysCommand),
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
        Command::Accounts(command) => qrscene::cli::accounts(&settings, command).await?,
        Command::Keys(command) => qrscene::cli::keys(&settings, command).await?,
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
