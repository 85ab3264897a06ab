use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};

use super::lease::{Lease, cache_ttl, encode_meta, parse_meta};
use super::{InvalidationOutcome, TokenInfo};
use crate::wechat::client::AccessToken;

#[test]
fn tokens_are_refreshed_ahead_of_expiry() {
    let t = |s| AccessToken {
        access_token: String::new(),
        expires_in: s,
    };
    assert_eq!(cache_ttl(&t(7200)), Duration::from_secs(6900));
    assert_eq!(cache_ttl(&t(60)), Duration::from_secs(30));
    assert_eq!(cache_ttl(&t(0)), Duration::from_millis(500));
}

fn info(token: &str) -> TokenInfo {
    TokenInfo {
        access_token: Arc::from(token),
        fetched_at: Utc.timestamp_millis_opt(1_700_000_000_123).unwrap(),
        expires_at: Utc.timestamp_millis_opt(1_700_007_200_123).unwrap(),
    }
}

#[test]
fn the_times_stored_beside_a_token_read_back() {
    let stored = encode_meta(&info("AB:C_d-1"));
    assert_eq!(stored, "1700000000123:1700007200123:AB:C_d-1");
    let (fetched, expires, token) = parse_meta(&stored).unwrap();
    assert_eq!((fetched, expires, token), {
        let i = info("x");
        (i.fetched_at, i.expires_at, "AB:C_d-1")
    });
    for bad in ["", "1:2", "x:2:T", "1:y:T", "T"] {
        assert!(parse_meta(bad).is_none(), "{bad}");
    }
}

#[test]
fn a_shared_token_takes_its_times_only_from_its_own_meta() {
    let ours = encode_meta(&info("T1"));
    let lease = Lease::shared("T1", Duration::from_secs(60), Some(&ours));
    assert_eq!(lease.info, info("T1"));

    // Meta of another token (stored by an older instance, or racing): times estimated.
    let before = Utc::now();
    let lease = Lease::shared("T2", Duration::from_secs(60), Some(&ours));
    assert_eq!(&*lease.info.access_token, "T2");
    assert!(lease.info.fetched_at >= before);
    let left = lease.info.expires_at - lease.info.fetched_at;
    assert!((119..=120).contains(&left.num_seconds()), "{left}");
    assert!(lease.expires_in >= Duration::from_secs(119));
    assert_eq!(lease.refresh_in, Duration::from_secs(60));
}

#[test]
fn a_fresh_lease_expires_with_wechats_expires_in() {
    let lease = Lease::fetched(&AccessToken {
        access_token: "T".into(),
        expires_in: 7200,
    });
    assert_eq!(
        (lease.info.expires_at - lease.info.fetched_at).num_seconds(),
        7200
    );
    assert_eq!(lease.refresh_in, Duration::from_secs(6900));
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let shown = format!("{:?}", info("SECRET_TOKEN"));
    assert!(!shown.contains("SECRET_TOKEN"), "{shown}");
    assert_eq!(
        InvalidationOutcome::AlreadyReplaced.as_str(),
        "already_replaced"
    );
}
