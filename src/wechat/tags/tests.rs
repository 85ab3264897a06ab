use std::time::Duration;

use qrscene_fake_wechat::{Endpoint, FakeWeChat};

use super::*;
use crate::config::TokenMode;
use crate::wechat::Live;
use crate::wechat::error::{ERR_QUOTA, ERR_TAG_NAME_EXISTS, ERR_USER_TAG_LIMIT};
use crate::wechat::token::TokenProvider;

const APPID: &str = "wx_tags_test";

async fn live(fake: &FakeWeChat) -> Live {
    let client = ApiClient::new(
        fake.base_url(),
        APPID,
        "secret".to_owned().into(),
        TokenMode::Stable,
        Duration::from_secs(5),
    )
    .unwrap();
    Live {
        tokens: TokenProvider::new(client.clone(), None),
        client,
    }
}

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("o{i}")).collect()
}

#[test]
fn tag_names_are_held_to_wechats_rules() {
    assert_eq!(validate_tag_name("渠道-地铁"), Ok(()));
    assert_eq!(validate_tag_name(&"码".repeat(10)), Ok(()));
    let long = validate_tag_name(&format!("{}a", "码".repeat(10))).unwrap_err();
    assert_eq!(long.field, "tags");
    assert!(long.rule.contains("at most 30 bytes"), "{long}");
    assert!(validate_tag_name("").is_err());
    assert!(validate_tag_name("  ").is_err());
    assert!(validate_tag_name("a\nb").is_err());
}

#[test]
fn wechats_tag_answers_decode() {
    let list: TagList = serde_json::from_str(
        r#"{"tags":[{"id":2,"name":"星标组","count":0},{"id":127,"name":"广东","count":5}]}"#,
    )
    .unwrap();
    assert_eq!(
        list.tags[1],
        Tag {
            id: 127,
            name: "广东".into(),
            count: 5
        }
    );
    let created: Created = serde_json::from_str(r#"{"tag":{"id":134,"name":"广东"}}"#).unwrap();
    assert_eq!((created.tag.id, created.tag.count), (134, 0));
    let ids: IdList = serde_json::from_str(r#"{"tagid_list":[134,2]}"#).unwrap();
    assert_eq!(ids.tagid_list, [134, 2]);
}

#[test]
fn batches_wechat_would_refuse_are_not_sent() {
    assert!(check_batch(&users(50)).is_ok());
    let over = check_batch(&users(51)).unwrap_err();
    assert_eq!(over.errcode(), Some(ERR_INVALID_OPENID_LIST));
    assert!(over.is_permanent_tagging());
    assert!(over.errmsg().contains("1 to 50 openids"), "{over}");
    assert_eq!(
        check_batch(&[]).unwrap_err().errcode(),
        Some(ERR_INVALID_OPENID_LIST)
    );
    let empty = check_batch(&[String::new()]).unwrap_err();
    assert_eq!(empty.errcode(), Some(ERR_INVALID_OPENID));
}

#[tokio::test]
async fn tags_are_created_listed_and_given_through_the_fake() {
    let fake = FakeWeChat::start(APPID, "secret").await.unwrap();
    let live = live(&fake).await;
    let api = &live.client;
    let token = live.tokens.get().await.unwrap();
    let tag = api.create_tag(&token, "渠道-地铁").await.unwrap();
    assert_eq!((tag.id, tag.name.as_str()), (100, "渠道-地铁"));
    let exists = api.create_tag(&token, "渠道-地铁").await.unwrap_err();
    assert_eq!(exists.errcode(), Some(ERR_TAG_NAME_EXISTS));
    assert!(exists.is_permanent_tagging());
    let long = api.create_tag(&token, &"a".repeat(31)).await.unwrap_err();
    assert_eq!(long.errcode(), Some(ERR_TAG_NAME_TOO_LONG));
    assert_eq!(
        fake.tag_create_calls(APPID),
        2,
        "the long name was not sent"
    );

    api.batch_tag(&token, tag.id, &users(50)).await.unwrap();
    assert_eq!(api.user_tag_ids(&token, "o7").await.unwrap(), [tag.id]);
    let tags = api.get_tags(&token).await.unwrap();
    assert_eq!(tags.last().map(|t| (t.id, t.count)), Some((100, 50)));
    assert!(api.batch_tag(&token, tag.id, &users(51)).await.is_err());
    assert_eq!(
        fake.batchtagging_calls(APPID).len(),
        1,
        "51 openids were not sent"
    );

    fake.set_user_tag_count(APPID, "full", 20);
    let full = api
        .batch_tag(&token, tag.id, &["full".to_owned()])
        .await
        .unwrap_err();
    assert_eq!(full.errcode(), Some(ERR_USER_TAG_LIMIT));
    assert!(full.is_permanent_tagging());

    fake.set_api_quota(Endpoint::TagsGet, 1);
    let quota = api.get_tags(&token).await.unwrap_err();
    assert!(quota.is_quota() && !quota.is_permanent_tagging());
    assert_eq!(quota.errcode(), Some(ERR_QUOTA));
}

#[tokio::test]
async fn a_call_through_live_retries_once_with_a_fresh_token() {
    let fake = FakeWeChat::start(APPID, "secret").await.unwrap();
    let live = &live(&fake).await;
    let first = live
        .call(|token| async move { live.client.get_tags(&token).await })
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    fake.expire_tokens();
    let fetches = fake.token_fetches_of(APPID);
    let tag = live
        .call(|token| async move { live.client.create_tag(&token, "after").await })
        .await
        .unwrap();
    assert_eq!(tag.name, "after");
    assert_eq!(fake.token_fetches_of(APPID), fetches + 1);
}
