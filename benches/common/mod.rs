//! What the benchmark programs share: a scratch database, concurrent load, and figures;
//! a server as a child process and load from wrk, for the callback benchmark.

#![allow(dead_code)]

pub mod server;
pub mod wrk;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

/// A database made for one run: a fresh Postgres database next to `base`, or a SQLite file.
pub struct Scratch {
    pub url: String,
    admin: Option<(DatabaseConnection, String)>,
}

impl Scratch {
    pub async fn new(base: Option<&str>) -> anyhow::Result<Self> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let Some(base) = base else {
            let path = std::env::temp_dir().join(format!("qrscene-bench-{id}.db"));
            return Ok(Self {
                url: format!("sqlite://{}?mode=rwc", path.display()),
                admin: None,
            });
        };
        let name = format!("qrscene_bench_{id}");
        let admin = Database::connect(base).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        let (prefix, _) = base
            .rsplit_once('/')
            .ok_or_else(|| anyhow::anyhow!("no database in URL"))?;
        Ok(Self {
            url: format!("{prefix}/{name}"),
            admin: Some((admin, name)),
        })
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        if let Some((admin, name)) = self.admin {
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await?;
        }
        Ok(())
    }
}

/// Latencies of one phase and how long it took.
pub struct Figures {
    pub latencies: Vec<Duration>,
    pub errors: usize,
    pub elapsed: Duration,
    pub peak_rss_kib: u64,
}

impl Figures {
    pub fn rps(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn pct(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        self.latencies[((n as f64 * p) as usize).min(n - 1)]
    }

    pub fn print(&self, label: &str) {
        println!(
            "  {label:<28} {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>7.2} ms  errors {}  peak RSS {} MiB",
            self.rps(),
            ms(self.pct(0.50)),
            ms(self.pct(0.99)),
            ms(self.pct(1.0)),
            self.errors,
            self.peak_rss_kib / 1024,
        );
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `total` calls of `request(i)` over `clients` concurrent tasks; a call counts when
/// `request` answers `true`.
pub async fn load<F, Fut>(clients: usize, total: usize, request: F) -> Figures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    reset_peak_rss();
    let request = Arc::new(request);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (request, next) = (request.clone(), next.clone());
            tokio::spawn(async move {
                let (mut latencies, mut errors) = (Vec::new(), 0);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    let t = Instant::now();
                    if request(i).await {
                        latencies.push(t.elapsed());
                    } else {
                        errors += 1;
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    let mut figures = Figures {
        latencies: Vec::with_capacity(total),
        errors: 0,
        elapsed: Duration::ZERO,
        peak_rss_kib: 0,
    };
    for task in tasks {
        if let Ok((l, e)) = task.await {
            figures.latencies.extend(l);
            figures.errors += e;
        }
    }
    figures.elapsed = started.elapsed();
    figures.latencies.sort_unstable();
    figures.peak_rss_kib = peak_rss_kib();
    figures
}

/// VmHWM of this process in KiB (0 where unavailable).
pub fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Resets VmHWM so that each phase reports its own peak (Linux 4.0+; ignored elsewhere).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
