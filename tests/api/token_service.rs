//! The token service at the library level: `TokenProvider::current` and
//! `invalidate_if_current` for two accounts, with three providers per account sharing Redis
//! (three instances), or one provider on its own; against the fake WeChat serving both apps.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use qrscene::config::TokenMode;
use qrscene::wechat::client::ApiClient;
use qrscene::wechat::error::WeChatError;
use qrscene::wechat::qrcode::{ExpireSeconds, QrSpec, Scene, SceneStr};
use qrscene::wechat::token::{Invalidated, InvalidationOutcome, TokenInfo, TokenProvider};
use qrscene_fake_wechat::FakeWeChat;

use crate::helpers::{SECRET, new_appid, redis_url};

const INSTANCES: usize = 3;

/// One account and its providers (one per instance).
struct Account {
    appid: String,
    providers: Vec<Arc<TokenProvider>>,
}

fn client(fake: &FakeWeChat, appid: &str, secret: &str, mode: TokenMode) -> ApiClient {
    ApiClient::new(
        fake.base_url(),
        appid,
        secret.to_owned().into(),
        mode,
        Duration::from_secs(5),
    )
    .expect("client")
}

/// A fake WeChat with two apps, and `instances` providers for each (sharing `redis` if given:
/// each instance has its own connection).
async fn two_accounts(
    mode: TokenMode,
    redis: Option<&str>,
    instances: usize,
) -> (FakeWeChat, Vec<Account>) {
    let (a, b) = (new_appid(), new_appid());
    let fake = FakeWeChat::start(&a, SECRET).await.expect("fake WeChat");
    fake.add_app(&b, "second-secret");
    let mut accounts = Vec::new();
    for (appid, secret) in [(a, SECRET), (b, "second-secret")] {
        let mut providers = Vec::new();
        for _ in 0..instances {
            let conn = match redis {
                Some(url) => Some(
                    redis::Client::open(url)
                        .expect("Redis URL")
                        .get_connection_manager()
                        .await
                        .expect("the test Redis is unreachable"),
                ),
                None => None,
            };
            let provider = TokenProvider::new(client(&fake, &appid, secret, mode), conn);
            providers.push(Arc::new(provider));
        }
        accounts.push(Account { appid, providers });
    }
    (fake, accounts)
}

/// `n` concurrent `current()` per account, spread over its providers.
async fn read_concurrently(accounts: &[Account], n: usize) -> Vec<Vec<TokenInfo>> {
    let mut tasks = Vec::new();
    for account in accounts {
        let calls: Vec<_> = (0..n)
            .map(|i| {
                let provider = account.providers[i % account.providers.len()].clone();
                tokio::spawn(async move { provider.current().await })
            })
            .collect();
        tasks.push(calls);
    }
    let mut answers = Vec::new();
    for calls in tasks {
        let mut tokens = Vec::new();
        for call in calls {
            tokens.push(call.await.expect("task").expect("current token"));
        }
        answers.push(tokens);
    }
    answers
}

/// `n` concurrent reports per account of that account's `stale[i]`, spread over its providers.
async fn report_concurrently(
    accounts: &[Account],
    stale: &[Arc<str>],
    n: usize,
) -> Vec<Vec<Invalidated>> {
    let mut tasks = Vec::new();
    for (account, stale) in accounts.iter().zip(stale) {
        let calls: Vec<_> = (0..n)
            .map(|i| {
                let provider = account.providers[i % account.providers.len()].clone();
                let stale = stale.clone();
                tokio::spawn(async move { provider.invalidate_if_current(&stale).await })
            })
            .collect();
        tasks.push(calls);
    }
    let mut answers = Vec::new();
    for calls in tasks {
        let mut reports = Vec::new();
        for call in calls {
            reports.push(call.await.expect("task").expect("report answered"));
        }
        answers.push(reports);
    }
    answers
}

fn count(reports: &[Invalidated], outcome: InvalidationOutcome) -> usize {
    reports.iter().filter(|r| r.outcome == outcome).count()
}

/// Every provider reads once; returns each account's token.
async fn warm_up(fake: &FakeWeChat, accounts: &[Account]) -> Vec<Arc<str>> {
    let answers = read_concurrently(accounts, INSTANCES).await;
    for account in accounts {
        assert_eq!(
            fake.token_fetches_of(&account.appid),
            1,
            "{}",
            account.appid
        );
    }
    answers.iter().map(|a| a[0].access_token.clone()).collect()
}

async fn reads_after_expiry_fetch_once_per_account(redis: Option<&str>, instances: usize) {
    for mode in [TokenMode::Classic, TokenMode::Stable] {
        let (fake, accounts) = two_accounts(mode, redis, instances).await;
        fake.set_token_life(Duration::from_secs(2));
        let first = warm_up(&fake, &accounts).await;
        assert_ne!(first[0], first[1], "two accounts never share a token");

        // Past the cache's refresh time (half of 2 s) and WeChat's expiry; the next token
        // lives long enough for the whole burst.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        fake.set_token_life(Duration::from_secs(600));
        let started = Utc::now();
        let answers = read_concurrently(&accounts, 100).await;
        for (account, tokens) in accounts.iter().zip(&answers) {
            assert_eq!(
                fake.token_fetches_of(&account.appid),
                2,
                "{mode:?}: exactly one fetch after expiry for {}",
                account.appid
            );
            assert!(
                tokens.iter().all(|t| *t == tokens[0]),
                "{mode:?}: one token"
            );
            assert_ne!(tokens[0].access_token, first[0]);
            assert_ne!(tokens[0].access_token, first[1]);
            assert!(tokens[0].fetched_at >= started - chrono::TimeDelta::milliseconds(5));
            let life = tokens[0].expires_at - tokens[0].fetched_at;
            assert!((599..=600).contains(&life.num_seconds()), "{life}");
        }
    }
}

async fn reports_of_one_stale_token_fetch_once_per_account(redis: Option<&str>, instances: usize) {
    for mode in [TokenMode::Classic, TokenMode::Stable] {
        let (fake, accounts) = two_accounts(mode, redis, instances).await;
        let stale = warm_up(&fake, &accounts).await;
        let answers = report_concurrently(&accounts, &stale, 50).await;
        for ((account, reports), stale) in accounts.iter().zip(&answers).zip(&stale) {
            let appid = &account.appid;
            assert_eq!(
                fake.token_fetches_of(appid),
                2,
                "{mode:?}: one fetch for 50 reports"
            );
            let forced = usize::from(mode == TokenMode::Stable);
            assert_eq!(fake.forced_refreshes_of(appid), forced, "{mode:?}");
            assert_eq!(
                count(reports, InvalidationOutcome::Refreshed),
                1,
                "{mode:?}"
            );
            assert_eq!(
                count(reports, InvalidationOutcome::AlreadyReplaced),
                49,
                "{mode:?}"
            );
            let fresh = &reports[0].token;
            assert_ne!(&fresh.access_token, stale);
            assert!(reports.iter().all(|r| r.token == *fresh), "{mode:?}");
            // Every instance serves the fresh token from now on.
            for provider in &account.providers {
                assert_eq!(provider.current().await.expect("current"), *fresh);
            }
        }
    }
}

async fn a_second_forced_refresh_within_30_s_is_throttled(redis: Option<&str>) {
    let (fake, accounts) = two_accounts(TokenMode::Stable, redis, INSTANCES).await;
    let first = warm_up(&fake, &accounts).await;
    let account = &accounts[0];
    let appid = &account.appid;
    let last = account.providers.len() - 1;
    let refreshed = account.providers[0]
        .invalidate_if_current(&first[0])
        .await
        .expect("first report");
    assert_eq!(refreshed.outcome, InvalidationOutcome::Refreshed);
    assert_eq!(fake.forced_refreshes_of(appid), 1);

    // The new token reported too, on another instance, within 30 s: no forced refresh.
    let throttled = account.providers[last]
        .invalidate_if_current(&refreshed.token.access_token)
        .await
        .expect("second report");
    assert_eq!(throttled.outcome, InvalidationOutcome::Throttled);
    assert_eq!(throttled.token, refreshed.token, "the current token back");
    assert_eq!(fake.token_fetches_of(appid), 2, "no fetch");
    assert_eq!(fake.forced_refreshes_of(appid), 1);

    // A late report of the first token: replaced already.
    let late = account.providers[last]
        .invalidate_if_current(&first[0])
        .await
        .expect("late report");
    assert_eq!(late.outcome, InvalidationOutcome::AlreadyReplaced);
    assert_eq!(late.token, refreshed.token);

    // The other account's limit is its own.
    let other = accounts[1].providers[last]
        .invalidate_if_current(&first[1])
        .await
        .expect("other account's report");
    assert_eq!(other.outcome, InvalidationOutcome::Refreshed);
    assert_eq!(fake.forced_refreshes_of(&accounts[1].appid), 1);
    assert_eq!(fake.token_fetches_of(appid), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_read_after_expiry_with_one_fetch_per_account() {
    let Some(redis) = redis_url() else { return };
    reads_after_expiry_fetch_once_per_account(Some(&redis), INSTANCES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_fetch_once_per_account_for_fifty_reports_of_one_stale_token() {
    let Some(redis) = redis_url() else { return };
    reports_of_one_stale_token_fetch_once_per_account(Some(&redis), INSTANCES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn across_instances_a_second_forced_refresh_within_30_s_is_throttled() {
    let Some(redis) = redis_url() else { return };
    a_second_forced_refresh_within_30_s_is_throttled(Some(&redis)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_instance_without_redis_reads_after_expiry_with_one_fetch_per_account() {
    reads_after_expiry_fetch_once_per_account(None, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_instance_without_redis_fetches_once_for_fifty_reports_of_one_stale_token() {
    reports_of_one_stale_token_fetch_once_per_account(None, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_instance_without_redis_throttles_a_second_forced_refresh_within_30_s() {
    let (fake, accounts) = two_accounts(TokenMode::Stable, None, 1).await;
    let provider = &accounts[0].providers[0];
    let first = provider.current().await.expect("token").access_token;
    let refreshed = provider
        .invalidate_if_current(&first)
        .await
        .expect("report");
    assert_eq!(refreshed.outcome, InvalidationOutcome::Refreshed);
    let again = provider
        .invalidate_if_current(&refreshed.token.access_token)
        .await
        .expect("second report");
    assert_eq!(again.outcome, InvalidationOutcome::Throttled);
    assert_eq!(again.token, refreshed.token);
    assert_eq!(fake.token_fetches_of(&accounts[0].appid), 2);
}

#[tokio::test]
async fn instances_see_the_same_fetch_and_expiry_times() {
    let Some(redis) = redis_url() else { return };
    let (fake, accounts) = two_accounts(TokenMode::Classic, Some(&redis), INSTANCES).await;
    let providers = &accounts[0].providers;
    let first = providers[0].current().await.expect("token");
    for provider in &providers[1..] {
        let seen = provider.current().await.expect("token");
        assert_eq!(seen, first, "times to the millisecond, through Redis");
    }
    assert_eq!(fake.token_fetches_of(&accounts[0].appid), 1);
    assert_eq!(fake.token_fetches_of(&accounts[1].appid), 0);
}

#[tokio::test]
async fn after_a_forced_refresh_elsewhere_an_instance_serves_the_new_token_within_the_recheck() {
    let Some(redis) = redis_url() else { return };
    let (_fake, accounts) = two_accounts(TokenMode::Stable, Some(&redis), 2).await;
    let providers = &accounts[0].providers;
    let first = providers[0].current().await.expect("token");
    assert_eq!(providers[1].current().await.expect("token"), first);
    let fresh = providers[0]
        .invalidate_if_current(&first.access_token)
        .await
        .expect("report")
        .token;
    tokio::time::sleep(qrscene::wechat::token::LOCAL_RECHECK + Duration::from_millis(100)).await;
    assert_eq!(providers[1].current().await.expect("token"), fresh);
}

fn temporary_code() -> QrSpec {
    let scene = Scene::Str(SceneStr::parse("token-service").expect("scene"));
    QrSpec::temporary(scene, ExpireSeconds::parse("expire", 60).expect("expiry"))
}

fn errcode(result: Result<impl Sized, WeChatError>) -> Option<i64> {
    result.err().and_then(|e| e.errcode())
}

#[tokio::test]
async fn the_fake_refuses_unknown_apps_wrong_secrets_and_ips_off_the_whitelist() {
    let (fake, accounts) = two_accounts(TokenMode::Stable, None, 1).await;
    let b = &accounts[1].appid;
    for mode in [TokenMode::Stable, TokenMode::Classic] {
        let unknown = client(&fake, "wxunknown", SECRET, mode).fetch_token().await;
        assert_eq!(errcode(unknown), Some(40013));
        let wrong = client(&fake, b, SECRET, mode).fetch_token().await;
        let wrong = wrong.expect_err("the first app's secret is not the second's");
        assert!(wrong.is_configuration());
        assert_eq!(wrong.errcode(), Some(40125));

        fake.set_ip_whitelisted(b, false);
        let refused = client(&fake, b, "second-secret", mode).fetch_token().await;
        let refused = refused.expect_err("not whitelisted");
        assert_eq!(refused.errcode(), Some(40164));
        assert!(refused.errmsg().contains("not in whitelist"), "{refused}");
        // The other app is not concerned.
        let a = &accounts[0].appid;
        assert!(client(&fake, a, SECRET, mode).fetch_token().await.is_ok());
        fake.set_ip_whitelisted(b, true);
        assert!(
            client(&fake, b, "second-secret", mode)
                .fetch_token()
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn the_fake_creates_codes_for_a_known_apps_token_only() {
    let (fake, accounts) = two_accounts(TokenMode::Classic, None, 1).await;
    let b = client(
        &fake,
        &accounts[1].appid,
        "second-secret",
        TokenMode::Classic,
    );
    let token = b.fetch_token().await.expect("token").access_token;
    assert!(b.create_qrcode(&token, &temporary_code()).await.is_ok());
    let made_up = b.create_qrcode("FAKE_unknown", &temporary_code()).await;
    assert_eq!(errcode(made_up), Some(40014));

    // Classic: a new token replaces the previous one, which keeps working for 5 minutes.
    let next = b.fetch_token().await.expect("token").access_token;
    assert_ne!(next, token);
    assert!(b.create_qrcode(&token, &temporary_code()).await.is_ok());
    assert!(b.create_qrcode(&next, &temporary_code()).await.is_ok());
}

#[tokio::test]
async fn the_fakes_stable_token_is_retired_at_once_by_a_forced_refresh_30_s_apart() {
    let (fake, accounts) = two_accounts(TokenMode::Stable, None, 1).await;
    let appid = &accounts[0].appid;
    let a = client(&fake, appid, SECRET, TokenMode::Stable);
    let token = a.fetch_token().await.expect("token").access_token;
    assert_eq!(a.fetch_token().await.expect("token").access_token, token);
    let forced = a.refresh_token().await.expect("forced").access_token;
    assert_ne!(forced, token);
    assert_eq!(
        fake.stable_token_of(appid).as_deref(),
        Some(forced.as_str())
    );
    let retired = a.create_qrcode(&token, &temporary_code()).await;
    assert_eq!(errcode(retired), Some(40001));
    // Within 30 s, a forced refresh refreshes nothing.
    let again = a.refresh_token().await.expect("forced again").access_token;
    assert_eq!(again, forced);
    assert_eq!(fake.forced_refreshes_of(appid), 1);
    assert_eq!(fake.token_fetches_of(appid), 4);
    // The other app's stable token is its own.
    assert_eq!(fake.stable_token_of(&accounts[1].appid), None);
}

/// The value of the series named `name` whose labels include every one of `labels`.
fn series(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(&format!("{name}{{")))
        .filter(|line| labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn token_metrics_are_counted_per_account() {
    let Some(handle) = qrscene::metrics::install() else {
        panic!("no metrics recorder")
    };
    let (_fake, accounts) = two_accounts(TokenMode::Stable, None, 1).await;
    let (a, b) = (&accounts[0].providers[0], &accounts[1].providers[0]);
    for _ in 0..3 {
        a.current().await.expect("token");
    }
    let first = b.current().await.expect("token").access_token;
    b.invalidate_if_current(&first).await.expect("report");
    let fresh = b.invalidate_if_current(&first).await.expect("late report");
    b.invalidate_if_current(&fresh.token.access_token)
        .await
        .expect("throttled report");

    let text = handle.render();
    let (la, lb) = (
        format!(r#"appid="{}""#, accounts[0].appid),
        format!(r#"appid="{}""#, accounts[1].appid),
    );
    let of = |name, labels: &[&str]| series(&text, name, labels);
    assert_eq!(of("qrscene_tokens_served_total", &[&la]), 3.0, "{text}");
    assert_eq!(of("qrscene_tokens_served_total", &[&lb]), 1.0);
    assert_eq!(of("qrscene_token_fetches_total", &[&la]), 1.0);
    assert_eq!(of("qrscene_token_fetches_total", &[&lb]), 2.0);
    assert_eq!(of("qrscene_token_forced_refreshes_total", &[&la]), 0.0);
    assert_eq!(of("qrscene_token_forced_refreshes_total", &[&lb]), 1.0);
    let reports = |outcome: &str| {
        let outcome = format!(r#"outcome="{outcome}""#);
        of("qrscene_token_invalidations_total", &[&lb, &outcome])
    };
    assert_eq!(reports("refreshed"), 1.0);
    assert_eq!(reports("already_replaced"), 1.0);
    assert_eq!(reports("throttled"), 1.0);
    assert_eq!(of("qrscene_token_invalidations_total", &[&la]), 0.0);
}
