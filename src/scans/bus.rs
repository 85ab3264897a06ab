//! Telling waiters that a code was scanned: in-process, or across instances through Redis
//! pub/sub. A message carries only the code's id; waiters read the scan from the database,
//! which stays the source of truth (and their fallback when a message is lost).
//!
//! Announcing never makes a caller wait on Redis: [`ScanBus::announce`] hands the ids to a
//! background announcer, which publishes with a short deadline and, when Redis is down,
//! slow or hung, delivers in this process instead (other instances' waiters then find the
//! scan in the database within a second).

use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::tasks::Tasks;

/// The Redis channel scans are announced on.
pub const CHANNEL: &str = "qrscene:scans";
/// Messages a slow waiter may fall behind before it re-reads the database.
const CAPACITY: usize = 4096;
/// Batches of announcements queued for the announcer; beyond this they are delivered
/// locally at once rather than queued (Redis is not keeping up).
const OUTBOX: usize = 1024;
/// How long one PUBLISH round trip may take before the announcer gives up on it.
pub const PUBLISH_DEADLINE: Duration = Duration::from_millis(500);
/// How long connecting and subscribing may take before the subscriber tries again.
const SUBSCRIBE_DEADLINE: Duration = Duration::from_secs(2);
/// Pause before reconnecting a lost subscription.
const RECONNECT: Duration = Duration::from_millis(500);

/// Where scans are announced.
#[derive(Clone)]
pub enum ScanBus {
    /// This process only.
    Local(broadcast::Sender<i64>),
    /// Every instance: published to Redis by a background announcer, and received from it
    /// by a subscriber task per instance.
    Redis {
        /// Local delivery, fed by the subscription (and by the announcer when Redis fails).
        local: broadcast::Sender<i64>,
        /// Ids for the announcer.
        outbox: mpsc::Sender<Vec<i64>>,
    },
}

impl ScanBus {
    /// An in-process bus.
    pub fn local() -> Self {
        Self::Local(broadcast::channel(CAPACITY).0)
    }

    /// A bus over Redis at `url`: spawns, owned by `tasks`, the announcer (publishing over
    /// `conn`) and the subscriber (its own connection, reconnecting); both stop on the
    /// tasks' token.
    ///
    /// # Errors
    /// The URL is invalid.
    pub fn redis(
        url: &str,
        conn: ConnectionManager,
        tasks: &mut Tasks,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let local = broadcast::channel(CAPACITY).0;
        let (outbox, queued) = mpsc::channel(OUTBOX);
        tasks.spawn(
            "scan subscriber",
            subscribe_until(client, local.clone(), tasks.token()),
        );
        tasks.spawn(
            "scan announcer",
            announce_until(conn, queued, local.clone(), tasks.token()),
        );
        Ok(Self::Redis { local, outbox })
    }

    /// Announces that codes were scanned, without waiting: the ids are queued for the
    /// announcer (or, if its queue is full, delivered in this process at once).
    pub fn announce(&self, generations: Vec<i64>) {
        if generations.is_empty() {
            return;
        }
        match self {
            Self::Local(local) => deliver(local, &generations),
            Self::Redis { local, outbox } => {
                if let Err(e) = outbox.try_send(generations) {
                    // Redis is not keeping up (full), or shutdown ended the announcer (closed).
                    let (op, generations) = match e {
                        mpsc::error::TrySendError::Full(g) => ("announce_queue_full", g),
                        mpsc::error::TrySendError::Closed(g) => ("announce_closed", g),
                    };
                    degraded(op);
                    deliver(local, &generations);
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

fn deliver(local: &broadcast::Sender<i64>, generations: &[i64]) {
    for id in generations {
        let _ = local.send(*id);
    }
}

/// Counts a Redis operation that was given up on (`qrscene_redis_degraded_total{op}`).
pub(crate) fn degraded(op: &'static str) {
    metrics::counter!("qrscene_redis_degraded_total", "op" => op).increment(1);
}

/// Publishes what is queued, everything queued at once in one pipeline, until cancelled;
/// then publishes what is left once, under the same deadline.
async fn announce_until(
    conn: ConnectionManager,
    mut queued: mpsc::Receiver<Vec<i64>>,
    local: broadcast::Sender<i64>,
    token: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            biased;
            next = queued.recv() => next,
            () = token.cancelled() => {
                queued.close();
                queued.recv().await
            }
        };
        let Some(mut ids) = first else { return };
        while let Ok(more) = queued.try_recv() {
            ids.extend(more);
        }
        ids.sort_unstable();
        ids.dedup();
        publish(&conn, &local, &ids).await;
    }
}

async fn publish(conn: &ConnectionManager, local: &broadcast::Sender<i64>, ids: &[i64]) {
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("PUBLISH").arg(CHANNEL).arg(*id).ignore();
    }
    let mut conn = conn.clone();
    let failure =
        match tokio::time::timeout(PUBLISH_DEADLINE, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {PUBLISH_DEADLINE:?}"),
        };
    tracing::warn!(error.message = %failure, scans = ids.len(), "could not publish scans to Redis; delivering locally");
    degraded("publish");
    deliver(local, ids);
}

/// Keeps a subscription to [`CHANNEL`] alive until cancelled, reconnecting.
async fn subscribe_until(
    client: redis::Client,
    local: broadcast::Sender<i64>,
    token: CancellationToken,
) {
    while !token.is_cancelled() {
        tokio::select! {
            () = token.cancelled() => return,
            () = subscribe_once(&client, &local) => {}
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(RECONNECT) => {}
        }
    }
}

/// One subscription, until it ends or fails.
async fn subscribe_once(client: &redis::Client, local: &broadcast::Sender<i64>) {
    let subscribed = tokio::time::timeout(SUBSCRIBE_DEADLINE, async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(CHANNEL).await?;
        Ok::<_, redis::RedisError>(pubsub)
    })
    .await;
    let mut pubsub = match subscribed {
        Ok(Ok(pubsub)) => pubsub,
        Ok(Err(e)) => {
            tracing::warn!(error.message = %e, "cannot subscribe to Redis scans");
            degraded("subscribe");
            return;
        }
        Err(_) => {
            tracing::warn!(deadline = ?SUBSCRIBE_DEADLINE, "Redis did not accept the scan subscription in time");
            degraded("subscribe");
            return;
        }
    };
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        if let Ok(id) = message.get_payload::<i64>() {
            let _ = local.send(id);
        }
    }
    tracing::warn!("Redis scan subscription ended; reconnecting");
}
