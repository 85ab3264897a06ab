//! Load from another process: `wrk` (Debian's package) replaying prepared requests through
//! `benches/callback.lua`, and its figures.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The Lua script that replays a requests file.
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/callback.lua");

/// What one wrk run measured.
pub struct Run {
    /// Completed responses, errors included.
    pub requests: u64,
    pub elapsed: Duration,
    /// Connection, read, write and timeout errors, and non-2xx answers.
    pub errors: u64,
    pub status_errors: u64,
    pub timeouts: u64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// Requests sent again after a thread ran out of prepared ones.
    pub repeated: u64,
}

impl Run {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// The load's shape.
#[derive(Clone, Copy)]
pub struct Load {
    pub threads: usize,
    pub connections: usize,
    pub duration: Duration,
}

/// Runs wrk against `base` with the requests of `file` (lines `path?query\tbody`).
///
/// # Errors
/// wrk is missing or fails, or prints no `RESULT` line.
pub fn run(base: &str, file: &Path, load: Load) -> anyhow::Result<Run> {
    let output = Command::new("wrk")
        .arg(format!("-t{}", load.threads))
        .arg(format!("-c{}", load.connections))
        .arg(format!("-d{}s", load.duration.as_secs().max(1)))
        .args(["--timeout", "10s", "-s", SCRIPT, base, "--"])
        .arg(file)
        .arg(load.threads.to_string())
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run wrk (apt-get install wrk): {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(
        output.status.success(),
        "wrk failed ({}): {stdout}{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .ok_or_else(|| anyhow::anyhow!("no RESULT line from wrk: {stdout}"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .ok_or_else(|| anyhow::anyhow!("no {name} in {line}"))?
            .parse()
            .map_err(|e| anyhow::anyhow!("{name} in {line}: {e}"))
    };
    let micros = |name: &str| field(name).map(Duration::from_micros);
    Ok(Run {
        requests: field("requests")?,
        elapsed: micros("duration_us")?,
        errors: field("errors")?,
        status_errors: field("status_errors")?,
        timeouts: field("timeouts")?,
        p50: micros("p50_us")?,
        p90: micros("p90_us")?,
        p99: micros("p99_us")?,
        max: micros("max_us")?,
        repeated: field("repeated")?,
    })
}
