//! Telling waiters that a code was scanned: in-process, or across instances through Redis
//! pub/sub. A message carries only the code's id; waiters read the scan from the database,
//! which stays the source of truth (and their fallback when a message is lost).

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::broadcast;

/// The Redis channel scans are announced on.
pub const CHANNEL: &str = "qrscene:scans";
/// Messages a slow waiter may fall behind before it re-reads the database.
const CAPACITY: usize = 4096;
/// Pause before reconnecting a lost subscription.
const RECONNECT: Duration = Duration::from_millis(500);

/// Where scans are announced.
#[derive(Clone)]
pub enum ScanBus {
    /// This process only.
    Local(broadcast::Sender<i64>),
    /// Every instance: published to Redis, and received from it by a task per instance.
    Redis {
        /// Local delivery, fed by the subscription.
        local: broadcast::Sender<i64>,
        /// For PUBLISH.
        conn: ConnectionManager,
    },
}

impl ScanBus {
    /// An in-process bus.
    pub fn local() -> Self {
        Self::Local(broadcast::channel(CAPACITY).0)
    }

    /// A bus over Redis at `url`; a task keeps its subscription alive, reconnecting.
    ///
    /// # Errors
    /// The URL is invalid.
    pub fn redis(url: &str, conn: ConnectionManager) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let local = broadcast::channel(CAPACITY).0;
        tokio::spawn(subscribe_forever(client, local.clone()));
        Ok(Self::Redis { local, conn })
    }

    /// Announces that codes were scanned. A failure is logged: waiters fall back to polling.
    pub async fn publish(&self, generations: &[i64]) {
        if generations.is_empty() {
            return;
        }
        match self {
            Self::Local(local) => {
                for id in generations {
                    let _ = local.send(*id);
                }
            }
            Self::Redis { local, conn } => {
                let mut pipe = redis::pipe();
                for id in generations {
                    pipe.cmd("PUBLISH").arg(CHANNEL).arg(*id).ignore();
                }
                let mut conn = conn.clone();
                if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                    tracing::warn!(error.message = %e, "could not publish scans to Redis; delivering locally");
                    for id in generations {
                        let _ = local.send(*id);
                    }
                }
            }
        }
    }

    /// A receiver of every announcement from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<i64> {
        match self {
            Self::Local(local) | Self::Redis { local, .. } => local.subscribe(),
        }
    }
}

async fn subscribe_forever(client: redis::Client, local: broadcast::Sender<i64>) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                Ok(()) => {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        if let Ok(id) = message.get_payload::<i64>() {
                            let _ = local.send(id);
                        }
                    }
                    tracing::warn!("Redis scan subscription ended; reconnecting");
                }
                Err(e) => tracing::warn!(error.message = %e, "cannot subscribe to Redis scans"),
            },
            Err(e) => tracing::warn!(error.message = %e, "cannot connect to Redis for scans"),
        }
        tokio::time::sleep(RECONNECT).await;
    }
}
