//! The transactional outbox: side effects of stored events (taggings, kefu messages, webhook
//! deliveries) as durable jobs.
//!
//! A job is written in the transaction that stores the event causing it (see
//! `callback::jobs`), so it exists if and only if its event does. Workers on every instance
//! claim due jobs of one kind ([`claim`]: `FOR UPDATE SKIP LOCKED` on Postgres, SQLite's
//! single writer elsewhere), hold them for a lease, hand them to the kind's [`Runner`] with a
//! timeout, and record each [`Outcome`]: done, retried later with exponential backoff and
//! jitter up to the kind's [`Policy`], dead with its last error, or dropped on purpose. A job
//! whose worker died (SIGKILL, a lost instance) is due again when its lease runs out; a worker
//! whose lease ran out cannot record an outcome over the next claim (each claim has its own
//! token), and a job claimed more often than its kind's attempts (its runs keep dying) is dead.

pub mod claim;
pub mod policy;
pub mod store;
pub mod worker;

use futures_util::future::BoxFuture;

pub use policy::Policy;
pub use worker::{Outbox, OutboxSettings};

/// Kinds of job.
pub mod kind {
    /// Give a follower the tags of the code they scanned (batched per tag).
    pub const TAG: &str = "tag";
    /// Send the code's welcome as a customer-service message.
    pub const KEFU: &str = "kefu";
    /// Deliver an event to a webhook.
    pub const WEBHOOK: &str = "webhook";
}

/// Where a job stands.
pub mod state {
    /// Waiting for its time (`run_after_ms`).
    pub const PENDING: &str = "pending";
    /// Claimed by a worker until its lease runs out.
    pub const RUNNING: &str = "running";
    /// Carried out.
    pub const DONE: &str = "done";
    /// Failed for good (a permanent error, or its attempts spent); retried only by hand.
    pub const DEAD: &str = "dead";
    /// Not carried out on purpose (e.g. a kefu message past its minute).
    pub const DROPPED: &str = "dropped";
    /// Every state, for listings and metrics.
    pub const ALL: [&str; 5] = [PENDING, RUNNING, DONE, DEAD, DROPPED];
}

/// A claimed job, as a runner sees it.
#[derive(Debug, Clone)]
pub struct Job {
    /// The job's id.
    pub id: i64,
    /// Its account (`account.id`).
    pub account_id: i64,
    /// Its kind ([`kind`]).
    pub kind: String,
    /// The event that caused it, if any.
    pub event_id: Option<i64>,
    /// The webhook (webhook jobs) or the generation (tag and kefu jobs).
    pub subject_id: Option<i64>,
    /// The follower it concerns.
    pub openid: Option<String>,
    /// What the job carries (JSON): the actions snapshot, or a webhook's body once built.
    pub payload: Option<String>,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// When it was written.
    pub created_ms: i64,
    /// After this it must not be carried out any more (kefu messages).
    pub expires_ms: Option<i64>,
    /// The claim that handed it out (fences the recording of its outcome).
    pub claim: String,
}

/// What became of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Carried out; `code` is the answer's status or errcode, if any.
    Done {
        /// HTTP status or WeChat errcode.
        code: Option<i64>,
    },
    /// Failed for a reason that may pass: tried again after the kind's backoff, or dead once
    /// its attempts are spent.
    Retry {
        /// What went wrong.
        error: String,
        /// HTTP status or WeChat errcode.
        code: Option<i64>,
    },
    /// As [`Outcome::Retry`], at a known time (a quota that resets, a `Retry-After`).
    RetryAt {
        /// What went wrong.
        error: String,
        /// HTTP status or WeChat errcode.
        code: Option<i64>,
        /// Epoch milliseconds of the next attempt.
        at_ms: i64,
    },
    /// Failed for good: never tried again by itself.
    Dead {
        /// What went wrong.
        error: String,
        /// HTTP status or WeChat errcode.
        code: Option<i64>,
    },
    /// Not carried out, on purpose.
    Dropped {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    /// The label of the outcome in metrics.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Done { .. } => "done",
            Self::Retry { .. } | Self::RetryAt { .. } => "retry",
            Self::Dead { .. } => "dead",
            Self::Dropped { .. } => "dropped",
        }
    }
}

/// The outcome of one job of a run.
#[derive(Debug, Clone)]
pub struct Ran {
    /// The job.
    pub id: i64,
    /// What became of it.
    pub outcome: Outcome,
    /// A payload to keep for the next attempts (e.g. the body a webhook delivery built on
    /// its first attempt, so that every attempt sends the same bytes).
    pub payload: Option<String>,
}

impl Ran {
    /// `outcome` for the job `id`, its payload unchanged.
    pub fn new(id: i64, outcome: Outcome) -> Self {
        Self {
            id,
            outcome,
            payload: None,
        }
    }
}

/// Carries out the jobs of one kind.
pub trait Runner: Send + Sync + 'static {
    /// The kind it runs ([`kind`]).
    fn kind(&self) -> &'static str;

    /// How often and how long its jobs are tried.
    fn policy(&self) -> Policy;

    /// Carries out `jobs` (claimed together; a runner may batch them) and answers one
    /// [`Ran`] per job. A job left out of the answer is retried as if it had failed.
    fn run(&self, jobs: Vec<Job>) -> BoxFuture<'_, Vec<Ran>>;
}

/// Epoch milliseconds as a time (the API shows the outbox's times this way).
pub fn at(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
