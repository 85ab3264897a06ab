//! Stopping (as on SIGTERM) under load: the listener closes, every push answered `success`
//! is stored, and `run_until_stopped` returns once the committers are joined, within its
//! bound.

use std::time::{Duration, Instant};

use crate::helpers::{TestApp, TestDb};
use crate::push::{Push, now, unsubscribe};
use crate::support::{spawn, stored};

/// Concurrent senders while the app stops.
const SENDERS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_answers_received_pushes_after_their_commit_and_joins_the_tasks() {
    let running = spawn(TestDb::new().await, None, None).await;
    let app = running.app.clone();
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let app = app.clone();
            tokio::spawn(async move { send_until_refused(&app, sender).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = Instant::now();
    running.stop.stop(true).await;
    let served = tokio::time::timeout(Duration::from_secs(15), running.served)
        .await
        .expect("run_until_stopped returns within its bound")
        .expect("the server task");
    let stopped_after = stopping.elapsed();
    assert!(served.is_ok(), "{served:?}");

    let (mut answered, mut refused_after_receipt) = (0, 0);
    for sender in senders {
        let (ok, ended) = sender.await.expect("sender");
        answered += ok;
        if let Ended::Status(status) = ended {
            eprintln!("a push received during shutdown was answered {status}");
            refused_after_receipt += 1;
        }
    }
    eprintln!(
        "shutdown: {answered} pushes answered `success`, stopped {stopped_after:?} after the stop"
    );
    assert!(answered > 0, "no push went through before the stop");
    // The committers outlive the HTTP server: a push it took in is stored and answered.
    assert_eq!(refused_after_receipt, 0);
    // `success` was only ever sent for a stored push, including the ones in flight.
    assert_eq!(stored(&app).await, answered);
    let refused = app
        .http
        .post(format!("{}/wechat/callback", app.address))
        .send()
        .await;
    assert!(refused.is_err(), "the listener is closed after shutdown");
}

/// How a sender's run ended.
enum Ended {
    /// The connection was refused or closed: the push was never taken in.
    Closed,
    /// The push was answered with something else than `success`.
    Status(u16),
}

/// Sends pushes one after the other until the app stops taking them; answers how many were
/// answered `success`, and how the run ended.
async fn send_until_refused(app: &TestApp, sender: usize) -> (usize, Ended) {
    let mut answered = 0;
    for n in 0.. {
        let push = Push::plain(&unsubscribe(&format!("oStop{sender}x{n}"), now()));
        let response = app
            .http
            .post(format!("{}/wechat/callback", app.address))
            .query(&push.query)
            .body(push.body.clone())
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(_) => return (answered, Ended::Closed),
        };
        let status = response.status().as_u16();
        match response.text().await {
            Ok(body) if status == 200 && body == "success" => answered += 1,
            Ok(_) => return (answered, Ended::Status(status)),
            Err(_) => return (answered, Ended::Closed),
        }
    }
    (answered, Ended::Closed)
}
