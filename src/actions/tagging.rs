//! Tagging followers: the `tag` jobs of the outbox, batched per tag.
//!
//! One run takes every tag job due (and those written within the gathering window after
//! it), groups them by account and tag, makes sure each tag exists at WeChat (`tags/create`,
//! or the existing tag after 45157), and tags up to 50 followers a call
//! (`tags/members/batchtagging`). Taggings already made (mirrored in `follower_tag`) are
//! skipped, so a retried job never repeats a call that succeeded. WeChat's limits end a job
//! with a recorded error: 45056 (100 tags), 45158 (name too long) and 45059 (the follower
//! already has 20 tags: found by tagging the call's followers one by one) are dead; 45009
//! (quota) waits for WeChat's next day (Asia/Shanghai).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Duration as Days, TimeZone, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, Statement, Value};

use super::spec::Actions;
use crate::accounts::Accounts;
use crate::outbox::{Job, Outcome, Policy, Ran, Runner, kind, now_ms};
use crate::wechat::WeChat;
use crate::wechat::error::WeChatError;
use crate::wechat::tags::BATCH_TAGGING_MAX;

/// How one (follower, tag) pair ended.
#[derive(Debug, Clone)]
enum Pair {
    Tagged,
    /// Will not work: recorded, never retried.
    Refused(i64, String),
    /// WeChat's daily quota is spent.
    Quota(String),
    /// May work later.
    Failed(Option<i64>, String),
    /// The tag no longer exists at WeChat (45159): forgotten, created again next time.
    Stale(String),
}

fn classify(e: &WeChatError) -> Pair {
    use crate::wechat::error::*;
    match e.errcode() {
        Some(ERR_QUOTA) => Pair::Quota(e.to_string()),
        // The tag was deleted at WeChat: the mirror forgets it, the job is tried again.
        Some(ERR_INVALID_TAG_ID) => Pair::Stale(e.to_string()),
        Some(
            c @ (ERR_TOO_MANY_TAGS
            | ERR_TAG_NAME_TOO_LONG
            | ERR_USER_TAG_LIMIT
            | ERR_INVALID_OPENID),
        ) => Pair::Refused(c, e.to_string()),
        code => Pair::Failed(code, e.to_string()),
    }
}

/// The runner of `tag` jobs.
pub struct Tagging {
    db: DatabaseConnection,
    accounts: Arc<Accounts>,
    policy: Policy,
}

impl Tagging {
    /// Tags through the accounts' WeChat, gathering jobs for `gather`.
    pub fn new(
        db: DatabaseConnection,
        accounts: Arc<Accounts>,
        gather: std::time::Duration,
    ) -> Self {
        Self {
            db,
            accounts,
            policy: Policy {
                max_attempts: 10,
                max_backoff: std::time::Duration::from_secs(3600),
                batch: 2_000,
                concurrency: 1,
                timeout: std::time::Duration::from_secs(120),
                gather,
            },
        }
    }
}

impl Runner for Tagging {
    fn kind(&self) -> &'static str {
        kind::TAG
    }

    fn policy(&self) -> Policy {
        self.policy
    }

    fn run(&self, jobs: Vec<Job>) -> BoxFuture<'_, Vec<Ran>> {
        Box::pin(async move {
            let mut by_account: BTreeMap<i64, Vec<Job>> = BTreeMap::new();
            for job in jobs {
                by_account.entry(job.account_id).or_default().push(job);
            }
            let mut ran = Vec::new();
            for (account_id, jobs) in by_account {
                ran.extend(self.run_account(account_id, jobs).await);
            }
            ran
        })
    }
}

/// A job's tags, from its actions snapshot.
fn tags_of(job: &Job) -> Result<Vec<String>, String> {
    let payload = job.payload.as_deref().ok_or("the job carries no actions")?;
    let actions: Actions = serde_json::from_str(payload)
        .map_err(|e| format!("the job's actions cannot be read: {e}"))?;
    Ok(actions.tags)
}

impl Tagging {
    async fn run_account(&self, account_id: i64, jobs: Vec<Job>) -> Vec<Ran> {
        let everyone = |outcome: Outcome| -> Vec<Ran> {
            jobs.iter()
                .map(|j| Ran::new(j.id, outcome.clone()))
                .collect()
        };
        let Some(account) = self.accounts.by_id(account_id) else {
            return everyone(Outcome::Dead {
                error: format!("account {account_id} is not known"),
                code: None,
            });
        };
        if !account.enabled {
            return everyone(Outcome::Dead {
                error: format!("account {} is disabled", account.appid),
                code: None,
            });
        }
        let wechat = match account.wechat() {
            Ok(wechat) => wechat.clone(),
            Err(e) => {
                return everyone(Outcome::Retry {
                    error: e.to_string(),
                    code: None,
                });
            }
        };
        // What each job asks: (openid, tag names).
        let mut ran = Vec::new();
        let mut asks: Vec<(&Job, &str, Vec<String>)> = Vec::new();
        for job in &jobs {
            match (tags_of(job), job.openid.as_deref()) {
                (Ok(tags), Some(openid)) => asks.push((job, openid, tags)),
                (Err(error), _) => ran.push(Ran::new(job.id, Outcome::Dead { error, code: None })),
                (_, None) => ran.push(Ran::new(
                    job.id,
                    Outcome::Dead {
                        error: "the job has no follower".into(),
                        code: None,
                    },
                )),
            }
        }
        let names: BTreeSet<&str> = asks
            .iter()
            .flat_map(|(_, _, tags)| tags.iter().map(String::as_str))
            .collect();
        let ids = match self.ensure_tags(account_id, &wechat, &names).await {
            Ok(ids) => ids,
            Err(e) => {
                ran.extend(asks.iter().map(|(job, ..)| {
                    Ran::new(
                        job.id,
                        Outcome::Retry {
                            error: format!("the tags could not be read or written: {e}"),
                            code: None,
                        },
                    )
                }));
                return ran;
            }
        };
        let openids: BTreeSet<&str> = asks.iter().map(|(_, o, _)| *o).collect();
        let done = match self.already_tagged(account_id, &openids).await {
            Ok(done) => done,
            Err(e) => {
                ran.extend(asks.iter().map(|(job, ..)| {
                    Ran::new(
                        job.id,
                        Outcome::Retry {
                            error: format!("the tagged followers could not be read: {e}"),
                            code: None,
                        },
                    )
                }));
                return ran;
            }
        };
        // Per tag id, the followers still to tag (and a job that asked for each, for the mirror).
        let mut pairs: HashMap<(String, String), Pair> = HashMap::new();
        let mut to_tag: BTreeMap<i64, BTreeMap<String, i64>> = BTreeMap::new();
        for (job, openid, tags) in &asks {
            for name in tags {
                match ids.get(name.as_str()) {
                    Some(Ok(id)) if done.contains(&(openid.to_string(), *id)) => {
                        pairs.insert((openid.to_string(), name.clone()), Pair::Tagged);
                    }
                    Some(Ok(id)) => {
                        to_tag
                            .entry(*id)
                            .or_default()
                            .entry(openid.to_string())
                            .or_insert(job.id);
                    }
                    Some(Err(pair)) => {
                        pairs.insert((openid.to_string(), name.clone()), pair.clone());
                    }
                    None => {
                        pairs.insert(
                            (openid.to_string(), name.clone()),
                            Pair::Failed(None, format!("tag {name:?} was not created")),
                        );
                    }
                }
            }
        }
        let names_by_id: HashMap<i64, String> = ids
            .iter()
            .filter_map(|(name, id)| id.as_ref().ok().map(|id| (*id, (*name).to_owned())))
            .collect();
        for (tag_id, followers) in to_tag {
            let name = names_by_id.get(&tag_id).cloned().unwrap_or_default();
            let openids: Vec<String> = followers.keys().cloned().collect();
            for chunk in openids.chunks(BATCH_TAGGING_MAX) {
                let outcomes = self.tag_chunk(&wechat, &account.appid, tag_id, chunk).await;
                if outcomes.iter().any(|(_, p)| matches!(p, Pair::Stale(_))) {
                    tracing::warn!(account_id, tag_id, tag = %name, "the tag no longer exists at WeChat; forgetting it");
                    if let Err(e) = self.forget_tag(account_id, tag_id).await {
                        tracing::warn!(error.message = %e, "a deleted tag could not be forgotten");
                    }
                }
                let tagged: Vec<(&str, Option<i64>)> = outcomes
                    .iter()
                    .filter(|(_, p)| matches!(p, Pair::Tagged))
                    .map(|(o, _)| (o.as_str(), followers.get(o).copied()))
                    .collect();
                if let Err(e) = self.mirror_taggings(account_id, tag_id, &tagged).await {
                    tracing::warn!(error.message = %e, "taggings could not be mirrored");
                }
                for (openid, pair) in outcomes {
                    pairs.insert((openid, name.clone()), pair);
                }
            }
        }
        for (job, openid, tags) in &asks {
            let results: Vec<(&String, &Pair)> = tags
                .iter()
                .filter_map(|t| pairs.get(&(openid.to_string(), t.clone())).map(|p| (t, p)))
                .collect();
            ran.push(Ran::new(job.id, job_outcome(&results)));
        }
        ran
    }

    /// Tags `chunk` with `tag_id`; on a refusal of the whole call that one follower may
    /// cause (45059, an invalid openid), each follower is tried alone to find which.
    async fn tag_chunk(
        &self,
        wechat: &WeChat,
        appid: &impl std::fmt::Display,
        tag_id: i64,
        chunk: &[String],
    ) -> Vec<(String, Pair)> {
        let call = |openids: Vec<String>| async move {
            metrics::counter!("qrscene_wechat_batchtagging_calls_total", "appid" => appid.to_string())
                .increment(1);
            match wechat {
                WeChat::Sandbox(_) => Ok(()),
                WeChat::Live(live) => {
                    live.call(|token| {
                        let openids = openids.clone();
                        async move { live.client.batch_tag(&token, tag_id, &openids).await }
                    })
                    .await
                }
            }
        };
        match call(chunk.to_vec()).await {
            Ok(()) => chunk.iter().map(|o| (o.clone(), Pair::Tagged)).collect(),
            Err(e) if chunk.len() > 1 && matches!(classify(&e), Pair::Refused(..)) => {
                tracing::info!(
                    errcode = e.errcode(),
                    followers = chunk.len(),
                    "batch tagging refused; tagging the followers one by one"
                );
                let mut out = Vec::new();
                for openid in chunk {
                    let pair = match call(vec![openid.clone()]).await {
                        Ok(()) => Pair::Tagged,
                        Err(e) => classify(&e),
                    };
                    out.push((openid.clone(), pair));
                }
                out
            }
            Err(e) => {
                let pair = classify(&e);
                chunk.iter().map(|o| (o.clone(), pair.clone())).collect()
            }
        }
    }

    /// The id of each tag `names` (from the mirror, else created at WeChat, else found there
    /// after 45157), or why it has none.
    async fn ensure_tags<'a>(
        &self,
        account_id: i64,
        wechat: &WeChat,
        names: &BTreeSet<&'a str>,
    ) -> Result<BTreeMap<&'a str, Result<i64, Pair>>, DbErr> {
        let mut known = self.mirrored_tags(account_id).await?;
        let mut ids = BTreeMap::new();
        let mut synced = false;
        for name in names {
            if let Some(id) = known.get(*name) {
                ids.insert(*name, Ok(*id));
                continue;
            }
            let created = match wechat {
                WeChat::Sandbox(_) => Ok(crate::wechat::tags::Tag {
                    id: 100 + i64::try_from(known.len()).unwrap_or(0),
                    name: (*name).to_owned(),
                    count: 0,
                }),
                WeChat::Live(live) => {
                    live.call(|token| async move { live.client.create_tag(&token, name).await })
                        .await
                }
            };
            match created {
                Ok(tag) => {
                    tracing::info!(
                        account_id,
                        tag = name,
                        tag_id = tag.id,
                        "tag created at WeChat"
                    );
                    self.mirror_tag(account_id, tag.id, name).await?;
                    known.insert((*name).to_owned(), tag.id);
                    ids.insert(*name, Ok(tag.id));
                }
                Err(e)
                    if e.errcode() == Some(crate::wechat::error::ERR_TAG_NAME_EXISTS)
                        && !synced =>
                {
                    synced = true;
                    let result = match wechat {
                        WeChat::Live(live) => {
                            live.call(|token| async move { live.client.get_tags(&token).await })
                                .await
                        }
                        WeChat::Sandbox(_) => Ok(Vec::new()),
                    };
                    match result {
                        Ok(tags) => {
                            for tag in tags {
                                self.mirror_tag(account_id, tag.id, &tag.name).await?;
                                known.insert(tag.name, tag.id);
                            }
                            ids.insert(
                                *name,
                                known.get(*name).copied().ok_or_else(|| {
                                    Pair::Failed(
                                        Some(45157),
                                        format!("tag {name:?} exists at WeChat but is not listed"),
                                    )
                                }),
                            );
                        }
                        Err(e) => {
                            ids.insert(*name, Err(classify(&e)));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(account_id, tag = name, errcode = e.errcode(), error.message = %e, "tag could not be created");
                    ids.insert(*name, Err(classify(&e)));
                }
            }
        }
        Ok(ids)
    }

    /// Forgets a tag that WeChat no longer has, and the taggings made with it.
    async fn forget_tag(&self, account_id: i64, tag_id: i64) -> Result<(), DbErr> {
        for table in ["follower_tag", "wechat_tag"] {
            self.db
                .execute_raw(Statement::from_sql_and_values(
                    self.db.get_database_backend(),
                    format!("DELETE FROM {table} WHERE account_id = $1 AND tag_id = $2"),
                    [account_id.into(), tag_id.into()],
                ))
                .await?;
        }
        Ok(())
    }

    async fn mirrored_tags(&self, account_id: i64) -> Result<HashMap<String, i64>, DbErr> {
        #[derive(FromQueryResult)]
        struct Row {
            tag_id: i64,
            name: String,
        }
        let rows = Row::find_by_statement(Statement::from_sql_and_values(
            self.db.get_database_backend(),
            "SELECT tag_id, name FROM wechat_tag WHERE account_id = $1",
            [account_id.into()],
        ))
        .all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|r| (r.name, r.tag_id)).collect())
    }

    async fn mirror_tag(&self, account_id: i64, tag_id: i64, name: &str) -> Result<(), DbErr> {
        // A tag renamed at WeChat keeps its id: the name follows it.
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "DELETE FROM wechat_tag WHERE account_id = $1 AND name = $2 AND tag_id <> $3",
                [account_id.into(), name.into(), tag_id.into()],
            ))
            .await?;
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                "INSERT INTO wechat_tag (account_id, tag_id, name, synced_ms) VALUES ($1, $2, $3, $4) \
                ON CONFLICT (account_id, tag_id) DO UPDATE SET name = excluded.name, synced_ms = excluded.synced_ms",
                [account_id.into(), tag_id.into(), name.into(), now_ms().into()],
            ))
            .await?;
        Ok(())
    }

    async fn already_tagged(
        &self,
        account_id: i64,
        openids: &BTreeSet<&str>,
    ) -> Result<BTreeSet<(String, i64)>, DbErr> {
        #[derive(FromQueryResult)]
        struct Row {
            openid: String,
            tag_id: i64,
        }
        if openids.is_empty() {
            return Ok(BTreeSet::new());
        }
        let mut values: Vec<Value> = vec![account_id.into()];
        let placeholders: Vec<String> = openids
            .iter()
            .map(|o| {
                values.push((*o).into());
                format!("${}", values.len())
            })
            .collect();
        let rows = Row::find_by_statement(Statement::from_sql_and_values(
            self.db.get_database_backend(),
            format!(
                "SELECT openid, tag_id FROM follower_tag WHERE account_id = $1 AND openid IN ({})",
                placeholders.join(", ")
            ),
            values,
        ))
        .all(&self.db)
        .await?;
        Ok(rows.into_iter().map(|r| (r.openid, r.tag_id)).collect())
    }

    /// Records the followers `tagged` with `tag_id` (each with the job that asked), in one
    /// statement.
    async fn mirror_taggings(
        &self,
        account_id: i64,
        tag_id: i64,
        tagged: &[(&str, Option<i64>)],
    ) -> Result<(), DbErr> {
        if tagged.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let mut values: Vec<Value> = vec![account_id.into(), tag_id.into(), now.into()];
        let rows: Vec<String> = tagged
            .iter()
            .map(|(openid, job)| {
                values.push((*openid).into());
                values.push((*job).into());
                format!("($1, ${}, $2, ${}, $3)", values.len() - 1, values.len())
            })
            .collect();
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                format!(
                    "INSERT INTO follower_tag (account_id, openid, tag_id, job_id, tagged_ms) \
                    VALUES {} ON CONFLICT (account_id, openid, tag_id) DO NOTHING",
                    rows.join(", ")
                ),
                values,
            ))
            .await?;
        Ok(())
    }
}

/// The epoch milliseconds of WeChat's next day (quotas reset at midnight, Asia/Shanghai).
fn next_wechat_day_ms() -> i64 {
    let tz = chrono_tz::Asia::Shanghai;
    let today = Utc::now().with_timezone(&tz).date_naive();
    let midnight = (today + Days::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| now_ms() + 86_400_000, |t| t.timestamp_millis())
}

/// A job's outcome from the outcomes of its tags: all tagged is done; anything that may
/// pass is retried (the tags already made are skipped then); a spent quota waits for
/// WeChat's next day; otherwise a refusal is recorded and the job is dead.
fn job_outcome(results: &[(&String, &Pair)]) -> Outcome {
    let describe = |name: &str, error: &str| format!("tag {name:?}: {error}");
    if let Some((name, Pair::Failed(code, error))) =
        results.iter().find(|(_, p)| matches!(p, Pair::Failed(..)))
    {
        return Outcome::Retry {
            error: describe(name, error),
            code: *code,
        };
    }
    if let Some((name, Pair::Stale(error))) =
        results.iter().find(|(_, p)| matches!(p, Pair::Stale(_)))
    {
        return Outcome::Retry {
            error: describe(
                name,
                &format!("{error}; the tag is created again on the next attempt"),
            ),
            code: Some(crate::wechat::error::ERR_INVALID_TAG_ID),
        };
    }
    if let Some((name, Pair::Quota(error))) =
        results.iter().find(|(_, p)| matches!(p, Pair::Quota(_)))
    {
        return Outcome::RetryAt {
            error: describe(name, error),
            code: Some(crate::wechat::error::ERR_QUOTA),
            at_ms: next_wechat_day_ms(),
        };
    }
    let refused: Vec<(String, i64)> = results
        .iter()
        .filter_map(|(name, p)| match p {
            Pair::Refused(code, error) => Some((describe(name, error), *code)),
            _ => None,
        })
        .collect();
    match refused.first() {
        Some((_, code)) => Outcome::Dead {
            error: refused
                .iter()
                .map(|(e, _)| e.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            code: Some(*code),
        },
        None => Outcome::Done { code: None },
    }
}
