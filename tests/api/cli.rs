//! The operator's commands against a real server process: `qrscene accounts`, `qrscene keys`
//! and `qrscene rotate-master-key`, with the server's debug log checked for every secret.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use crate::helpers::TestDb;

const BIN: &str = env!("CARGO_BIN_EXE_qrscene");
const OLD_MASTER: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const NEW_MASTER: &str = "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";
const ADMIN_KEY: &str = "cli-admin-key-0123456789abcdef";
const SECRET: &str = "cli-app-secret-NEVER-LOGGED-42";
const TOKEN: &str = "cli-callback-token-NEVER-LOGGED";

/// The command with only our settings (none inherited from the test's environment).
fn qrscene(db: &str, master: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("QRSCENE_") || key.starts_with("WECHAT_") || key == "DATABASE_URL" {
            command.env_remove(key);
        }
    }
    command
        .env("DATABASE_URL", db)
        .env("RUST_LOG", "debug")
        .envs(master.iter().copied());
    command
}

fn run(mut command: Command, args: &[&str], stdin: &str) -> Output {
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run qrscene");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().expect("qrscene output")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    async fn start(db: &str, master: &[(&str, &str)], dir: &Path, name: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut child = qrscene(db, master)
            .env("QRSCENE_LISTEN", format!("127.0.0.1:{port}"))
            .env("QRSCENE_API_KEYS", format!("admin:{ADMIN_KEY}"))
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start the server");
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..200 {
            if reqwest::get(format!("{base}/healthz")).await.is_ok() {
                return Self { child, base, log };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the server did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    async fn get(&self, path: &str, key: &str) -> (u16, serde_json::Value) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (
            response.status().as_u16(),
            response.json().await.unwrap_or_default(),
        )
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

fn no_secret(what: &str, text: &str, key: &str) {
    for secret in [SECRET, TOKEN, OLD_MASTER, NEW_MASTER, ADMIN_KEY, key] {
        assert!(
            !text.contains(secret),
            "{what} shows a secret ({secret}):\n{text}"
        );
    }
}

#[tokio::test]
async fn operators_add_accounts_and_keys_and_rotate_the_master_key_without_a_secret_in_any_output()
{
    qrscene::wechat::client::install_crypto_provider();
    let database = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let db = database.url.as_str();
    let old = [("QRSCENE_MASTER_KEY", OLD_MASTER)];
    let appid = crate::helpers::new_appid();

    let added = run(
        qrscene(db, &old),
        &[
            "accounts",
            "add",
            "--appid",
            &appid,
            "--name",
            "CLI",
            "--secrets-stdin",
            "--no-verify",
        ],
        &format!("secret={SECRET}\ncallback_token={TOKEN}\n"),
    );
    assert!(added.status.success(), "{}", text(&added));
    assert!(
        text(&added).contains(&format!("/wechat/callback/{appid}")),
        "{}",
        text(&added)
    );
    let without_key = run(
        qrscene(db, &[]),
        &[
            "accounts",
            "add",
            "--appid",
            &crate::helpers::new_appid(),
            "--secrets-stdin",
            "--no-verify",
        ],
        &format!("secret={SECRET}\n"),
    );
    assert!(!without_key.status.success());
    assert!(
        text(&without_key).contains("QRSCENE_MASTER_KEY"),
        "{}",
        text(&without_key)
    );

    let listed = run(qrscene(db, &old), &["accounts", "list"], "");
    assert!(
        listed.status.success() && text(&listed).contains(&appid),
        "{}",
        text(&listed)
    );
    let created = run(
        qrscene(db, &old),
        &[
            "keys",
            "create",
            "--name",
            "erp",
            "--role",
            "client",
            "--account",
            &appid,
            "--token",
        ],
        "",
    );
    assert!(created.status.success(), "{}", text(&created));
    let key = String::from_utf8_lossy(&created.stdout)
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_owned();
    assert!(key.starts_with("qsk_"), "{key}");
    let refused = run(
        qrscene(db, &old),
        &[
            "keys",
            "create",
            "--name",
            "x",
            "--account",
            "wxnosuchaccount",
        ],
        "",
    );
    assert!(!refused.status.success() && text(&refused).contains("wxnosuchaccount"));

    // A server started with the old master key serves the account; the key made on the
    // command line works at once and sees only its account.
    let server = Server::start(db, &old, dir.path(), "before").await;
    let (status, accounts) = server.get("/api/v1/accounts", &key).await;
    assert_eq!(status, 200, "{accounts}");
    let items = accounts["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{accounts}");
    assert_eq!(
        (items[0]["appid"].as_str(), items[0]["problem"].as_str()),
        (Some(appid.as_str()), None)
    );
    let log_before = server.stop();

    // Rotation: the new key seals, the old one only opens.
    let both = [
        ("QRSCENE_MASTER_KEY", NEW_MASTER),
        ("QRSCENE_MASTER_KEY_PREVIOUS", OLD_MASTER),
    ];
    let rotated = run(qrscene(db, &both), &["rotate-master-key"], "");
    assert!(rotated.status.success(), "{}", text(&rotated));
    assert!(
        text(&rotated).contains("sealed 2 secret(s) again"),
        "{}",
        text(&rotated)
    );
    let again = run(qrscene(db, &both), &["rotate-master-key"], "");
    assert!(
        text(&again).contains("sealed 0 secret(s) again"),
        "{}",
        text(&again)
    );
    let new_only = [("QRSCENE_MASTER_KEY", NEW_MASTER)];
    let server = Server::start(db, &new_only, dir.path(), "after").await;
    let (_, account) = server
        .get(&format!("/api/v1/accounts/{appid}"), ADMIN_KEY)
        .await;
    assert!(
        account["problem"].is_null(),
        "the new key alone opens every secret: {account}"
    );
    let log_after = server.stop();
    // With the old key alone, the account says why it cannot be served.
    let server = Server::start(db, &old, dir.path(), "stale").await;
    let (_, account) = server
        .get(&format!("/api/v1/accounts/{appid}"), ADMIN_KEY)
        .await;
    assert!(
        account["problem"]
            .as_str()
            .is_some_and(|p| p.contains("QRSCENE_MASTER_KEY_PREVIOUS")),
        "{account}"
    );
    let log_stale = server.stop();

    assert!(
        log_before.contains("qrscene starting") && log_before.contains("DEBUG"),
        "the debug log was captured: {log_before}"
    );
    for (what, output) in [
        ("accounts add", text(&added)),
        ("accounts list", text(&listed)),
        ("rotate-master-key", text(&rotated)),
        ("the server's debug log", log_before),
        ("the server's debug log after rotation", log_after),
        ("the server's debug log with a stale key", log_stale),
    ] {
        no_secret(what, &output, &key);
    }
}
