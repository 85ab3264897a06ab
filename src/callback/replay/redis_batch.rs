//! The Redis bindings of concurrent pushes sent together: one task takes every binding
//! waiting when it is free and sends them in one pipeline (one round trip for all, the
//! script once per binding), so that a push costs no Redis round trip of its own. A batch
//! has [`REDIS_DEADLINE`]; a caller waits at most that long for its answer.

use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::{mpsc, oneshot};

use super::BIND;
use crate::wechat::token::REDIS_DEADLINE;

/// Bindings sent in one pipeline at most.
const MAX_BATCH: usize = 256;
/// Bindings waiting for the task at most; more fall back to the database.
const QUEUE: usize = 4096;

type Answer = Result<i64, redis::RedisError>;

/// One binding waiting for its batch.
struct Pending {
    key: String,
    body_hash: String,
    done: oneshot::Sender<Answer>,
}

/// The handle of the batching task (cheap to clone).
#[derive(Clone)]
pub(super) struct RedisBindings {
    queue: mpsc::Sender<Pending>,
}

fn failed(why: &'static str) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, why, format!("{REDIS_DEADLINE:?}")))
}

impl RedisBindings {
    /// Starts the task over `conn`; bindings live `ttl_ms`. It ends when the last handle is
    /// dropped.
    pub(super) fn start(conn: ConnectionManager, ttl_ms: u64) -> Self {
        let (queue, mut waiting) = mpsc::channel::<Pending>(QUEUE);
        tokio::spawn(async move {
            let script = redis::Script::new(BIND);
            let mut batch = Vec::with_capacity(MAX_BATCH);
            while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
                let mut conn = conn.clone();
                let answers =
                    tokio::time::timeout(REDIS_DEADLINE, send(&mut conn, &script, &batch, ttl_ms))
                        .await
                        .unwrap_or_else(|_| Err(failed("no answer within the deadline")));
                match answers {
                    Ok(answers) => {
                        for (pending, answer) in batch.drain(..).zip(answers) {
                            let _ = pending.done.send(Ok(answer));
                        }
                    }
                    Err(e) => {
                        for pending in batch.drain(..) {
                            let _ = pending.done.send(Err(e.clone()));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// Binds `key` to `body_hash`: 1 when set now, 2 when the same body was bound, 0 when
    /// another one was.
    ///
    /// # Errors
    /// Redis failed, or did not answer within [`REDIS_DEADLINE`], or too many bindings wait.
    pub(super) async fn bind(&self, key: String, body_hash: String) -> Answer {
        let (done, answer) = oneshot::channel();
        self.queue
            .try_send(Pending {
                key,
                body_hash,
                done,
            })
            .map_err(|_| failed("too many bindings waiting for Redis"))?;
        match tokio::time::timeout(REDIS_DEADLINE + Duration::from_millis(50), answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(failed("the Redis binding task ended")),
            Err(_) => Err(failed("no answer within the deadline")),
        }
    }
}

/// One pipeline of the script over `batch`; loads the script once when Redis lost it.
async fn send(
    conn: &mut ConnectionManager,
    script: &redis::Script,
    batch: &[Pending],
    ttl_ms: u64,
) -> Result<Vec<i64>, redis::RedisError> {
    let pipeline = || {
        let mut pipe = redis::pipe();
        for pending in batch {
            pipe.cmd("EVALSHA")
                .arg(script.get_hash())
                .arg(1)
                .arg(&pending.key)
                .arg(&pending.body_hash)
                .arg(ttl_ms);
        }
        pipe
    };
    match pipeline().query_async(conn).await {
        Err(e) if e.code() == Some("NOSCRIPT") => {
            redis::cmd("SCRIPT")
                .arg("LOAD")
                .arg(BIND)
                .query_async::<String>(conn)
                .await?;
            pipeline().query_async(conn).await
        }
        answers => answers,
    }
}
