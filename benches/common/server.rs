//! A `qrscene` server as a child process, configured through its environment the way it
//! runs in production, so that the load comes from outside it.

use std::fs::File;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take to answer `/healthz` after it was started.
const START_DEADLINE: Duration = Duration::from_secs(60);
/// How long a server may take to stop after SIGTERM before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// Prefixes of the variables the server reads: the caller's own are not passed on.
const SERVER_VARS: &[&str] = &[
    "QRSCENE_",
    "WECHAT_",
    "DATABASE_URL",
    "REDIS_URL",
    "RUST_LOG",
];

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
}

/// A free port on the loopback interface (free when asked; the server binds it next).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Runs `binary args...` with only `env` of the server's variables, to completion, its
/// output appended to `log`.
///
/// # Errors
/// The program cannot be started or exits unsuccessfully.
pub fn run(binary: &Path, args: &[&str], env: &[(&str, String)], log: &Path) -> anyhow::Result<()> {
    let out = File::options().create(true).append(true).open(log)?;
    let status = command(binary, env)
        .args(args)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()?;
    anyhow::ensure!(
        status.success(),
        "{} {args:?}: {status}; see {}",
        binary.display(),
        log.display()
    );
    Ok(())
}

/// Runs `binary args` to completion with `input` on its standard input.
///
/// # Errors
/// It could not be started or did not succeed.
#[allow(dead_code)]
pub fn run_with_stdin(
    binary: &Path,
    args: &[&str],
    env: &[(&str, String)],
    log: &Path,
    input: &str,
) -> anyhow::Result<()> {
    use std::io::Write;
    let out = File::options().create(true).append(true).open(log)?;
    let mut child = command(binary, env)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?
        .write_all(input.as_bytes())?;
    let status = child.wait()?;
    anyhow::ensure!(
        status.success(),
        "{} {args:?}: {status}; see {}",
        binary.display(),
        log.display()
    );
    Ok(())
}

fn command(binary: &Path, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(binary);
    for (key, _) in std::env::vars() {
        if SERVER_VARS.iter().any(|p| key.starts_with(p)) {
            command.env_remove(key);
        }
    }
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}

/// CPU time process `pid` has used so far (user + system; zero if it is gone).
pub fn cpu_of(pid: u32) -> Duration {
    // Fields 14 and 15 of /proc/<pid>/stat, after the parenthesised command name, in clock
    // ticks (100 per second on Linux).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    let ticks = stat.ok().and_then(|s| {
        let rest = s.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
    });
    Duration::from_millis(ticks.unwrap_or(0) * 10)
}

impl Server {
    /// Starts `binary serve` on a free port with `env`, its output appended to `log`, and
    /// waits until `/healthz` answers.
    ///
    /// # Errors
    /// It cannot be started, exits, or does not answer within [`START_DEADLINE`].
    pub async fn start(binary: &Path, env: &[(&str, String)], log: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut env = env.to_vec();
        env.push(("QRSCENE_LISTEN", format!("127.0.0.1:{port}")));
        let out = File::options().create(true).append(true).open(log)?;
        let child = command(binary, &env)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("the server exited ({status}); see {}", log.display());
            }
            let health = http.get(format!("{}/healthz", server.base)).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            anyhow::ensure!(
                started.elapsed() < START_DEADLINE,
                "the server did not answer /healthz within {START_DEADLINE:?}; see {}",
                log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now and at its peak, in KiB (`VmRSS`, `VmHWM`).
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()));
        let field = |name: &str| {
            status.as_deref().ok().and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
        };
        (field("VmRSS:").unwrap_or(0), field("VmHWM:").unwrap_or(0))
    }

    /// CPU time the server has used so far (user + system).
    pub fn cpu(&self) -> Duration {
        cpu_of(self.child.id())
    }

    /// Stops the server with SIGTERM (graceful shutdown), killing it after [`STOP_DEADLINE`].
    pub async fn stop(mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        while started.elapsed() < STOP_DEADLINE {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("the server did not stop within {STOP_DEADLINE:?}; killing it");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
