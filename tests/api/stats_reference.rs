//! The statistics as the README and the API define them, folded in plain Rust over the
//! stored rows: the reference both query paths (events-only and rollups) are checked
//! against. It shares no SQL with them: it reads the events, followers and codes as rows,
//! and keeps those of one account.
//!
//! - scans: subscribe and SCAN events tied to a code; unique scanners: their distinct
//!   openids; new followers: those subscribes; returning scans: those SCANs;
//! - unsubscribes: of followers a code first brought, at or after that first follow,
//!   counted for that code on the day they leave; net new followers = new - unsubscribes;
//! - groups: the code's activity, the code, or the local day in `tz` (every day of the
//!   period present, ascending); others ranked by new followers, then scans, then key;
//! - accounts: everything is the account's own. Its events, its followers (an openid of
//!   another account is another person) and its codes (a code of another account counts
//!   for nothing, even under the same scene or activity).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use entity::{qr_generation, wechat_event, wechat_follower};
use qrscene::stats::{GroupBy, StatsQuery};
use sea_orm::{DatabaseConnection, EntityTrait};
use serde_json::{Value, json};

/// The stored rows the statistics of one account are made of.
pub struct Stored {
    account_id: i64,
    events: Vec<wechat_event::Model>,
    /// First follow of each follower: the code and when.
    first_follow: HashMap<String, (i64, DateTime<Utc>)>,
    /// Activity of each code.
    activities: HashMap<i64, Option<String>>,
}

/// One group's tally.
#[derive(Default)]
struct Tally {
    scans: i64,
    scanners: BTreeSet<String>,
    new_followers: i64,
    returning_scans: i64,
    unsubscribes: i64,
}

impl Tally {
    fn add(&mut self, kind: &str, openid: &str) {
        match kind {
            "subscribe" => self.new_followers += 1,
            "scan" => self.returning_scans += 1,
            _ => {
                self.unsubscribes += 1;
                return;
            }
        }
        self.scans += 1;
        self.scanners.insert(openid.to_owned());
    }

    fn figures(&self) -> [(&'static str, i64); 6] {
        [
            ("scans", self.scans),
            ("unique_scanners", self.scanners.len() as i64),
            ("new_followers", self.new_followers),
            ("returning_scans", self.returning_scans),
            ("unsubscribes", self.unsubscribes),
            ("net_new_followers", self.new_followers - self.unsubscribes),
        ]
    }
}

/// A group's key, code and activity, as the API answers them.
type GroupKey = (Option<String>, Option<i64>, Option<String>);

impl Stored {
    /// The rows of account `account_id`: every row is read, those of others dropped here.
    pub async fn read(db: &DatabaseConnection, account_id: i64) -> Self {
        let events = wechat_event::Entity::find()
            .all(db)
            .await
            .expect("read events")
            .into_iter()
            .filter(|e| e.account_id == account_id)
            .collect();
        let first_follow = wechat_follower::Entity::find()
            .all(db)
            .await
            .expect("read followers")
            .into_iter()
            .filter(|f| f.account_id == account_id)
            .filter_map(|f| Some((f.openid, (f.first_generation_id?, f.first_followed_at?))))
            .collect();
        let activities = qr_generation::Entity::find()
            .all(db)
            .await
            .expect("read codes")
            .into_iter()
            .filter(|g| g.account_id == account_id)
            .map(|g| (g.id, g.activity_id))
            .collect();
        Self {
            account_id,
            events,
            first_follow,
            activities,
        }
    }

    /// `{"groups": [...], "totals": {...}}` of `q` (a query of this account).
    pub fn stats(&self, q: &StatsQuery) -> Value {
        assert_eq!(q.account_id, self.account_id, "a query of another account");
        let mut groups: BTreeMap<GroupKey, Tally> = BTreeMap::new();
        let mut totals = Tally::default();
        for e in &self.events {
            if e.occurred_at < q.from || e.occurred_at >= q.to {
                continue;
            }
            let code = match (e.kind.as_str(), e.generation_id) {
                ("subscribe" | "scan", Some(code)) => code,
                ("unsubscribe", _) => match self.first_follow.get(&e.openid) {
                    Some(&(code, first)) if e.occurred_at >= first => code,
                    _ => continue,
                },
                _ => continue,
            };
            let Some(activity) = self.activities.get(&code) else {
                continue;
            };
            if q.activity_id.is_some() && activity != &q.activity_id {
                continue;
            }
            let key = match q.group_by {
                GroupBy::Activity => (activity.clone(), None, None),
                GroupBy::Qrcode => (Some(code.to_string()), Some(code), activity.clone()),
                GroupBy::Day => (Some(day_label(e.occurred_at, q)), None, None),
            };
            groups
                .entry(key)
                .or_default()
                .add(e.kind.as_str(), &e.openid);
            totals.add(e.kind.as_str(), &e.openid);
        }
        let mut rows: Vec<(GroupKey, Tally)> = groups.into_iter().collect();
        if q.group_by == GroupBy::Day {
            let mut by_day: HashMap<GroupKey, Tally> = rows.into_iter().collect();
            rows = local_days(q)
                .map(|day| {
                    let key = (Some(day), None, None);
                    let tally = by_day.remove(&key).unwrap_or_default();
                    (key, tally)
                })
                .collect();
            assert!(by_day.is_empty(), "events outside the period's days");
        } else {
            rows.sort_by(|(a_key, a), (b_key, b)| {
                b.new_followers
                    .cmp(&a.new_followers)
                    .then(b.scans.cmp(&a.scans))
                    .then(a_key.0.cmp(&b_key.0))
            });
        }
        let groups: Vec<Value> = rows
            .iter()
            .map(|((key, code, activity), tally)| {
                let mut group = figures_json(tally);
                group["key"] = json!(key);
                if let Some(code) = code {
                    group["qrcode_id"] = json!(code);
                }
                if let Some(activity) = activity {
                    group["activity_id"] = json!(activity);
                }
                group
            })
            .collect();
        json!({ "groups": groups, "totals": figures_json(&totals) })
    }
}

fn figures_json(tally: &Tally) -> Value {
    Value::Object(
        tally
            .figures()
            .into_iter()
            .map(|(name, n)| (name.to_owned(), json!(n)))
            .collect(),
    )
}

fn day_label(at: DateTime<Utc>, q: &StatsQuery) -> String {
    at.with_timezone(&q.tz)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string()
}

/// The local days of `[from, to)`: from the day of `from` to the day of its last instant.
fn local_days(q: &StatsQuery) -> impl Iterator<Item = String> {
    let day = |t: DateTime<Utc>| t.with_timezone(&q.tz).date_naive();
    let (first, last) = (day(q.from), day(q.to - Duration::nanoseconds(1)));
    first
        .iter_days()
        .take_while(move |d: &NaiveDate| *d <= last)
        .map(|d| d.format("%Y-%m-%d").to_string())
}
