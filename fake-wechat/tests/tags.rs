//! The fake's user tag APIs: success and each errcode WeChat documents.

mod common;

use common::{APPID, Api, errcode, openids};
use qrscene_fake_wechat::*;
use serde_json::{Value, json};

async fn create(api: &Api, name: &str) -> Value {
    api.post("/cgi-bin/tags/create", json!({ "tag": { "name": name } }))
        .await
}

async fn tag(api: &Api, tagid: i64, openids: &[String]) -> Value {
    api.post(
        "/cgi-bin/tags/members/batchtagging",
        json!({ "openid_list": openids, "tagid": tagid }),
    )
    .await
}

#[tokio::test]
async fn tags_get_lists_wechats_own_tags_then_created_ones_with_counts() {
    let api = Api::start().await;
    let answer = api.get("/cgi-bin/tags/get").await;
    let ids: Vec<i64> = answer["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [0, 1, 2]);
    assert_eq!(
        answer["tags"][2],
        json!({ "id": 2, "name": "星标组", "count": 0 })
    );

    let created = create(&api, "渠道-地铁").await;
    assert_eq!(
        created,
        json!({ "tag": { "id": 100, "name": "渠道-地铁" } })
    );
    assert_eq!(create(&api, "渠道-公交").await["tag"]["id"], 101);
    assert_eq!(errcode(&tag(&api, 100, &openids("o", 3)).await), 0);
    let answer = api.get("/cgi-bin/tags/get").await;
    assert_eq!(
        answer["tags"][3],
        json!({ "id": 100, "name": "渠道-地铁", "count": 3 })
    );
    assert_eq!(answer["tags"][4]["count"], 0);
    assert_eq!(api.fake.tags(APPID)[3].count, 3);
    assert_eq!(api.fake.tag_create_calls(APPID), 2);
}

#[tokio::test]
async fn tags_create_refuses_existing_long_empty_and_malformed_names() {
    let api = Api::start().await;
    assert_eq!(errcode(&create(&api, "a").await), 0);
    assert_eq!(errcode(&create(&api, "a").await), ERR_TAG_NAME_EXISTS);
    assert_eq!(errcode(&create(&api, "星标组").await), ERR_TAG_NAME_EXISTS);
    // 10 Chinese characters are 30 bytes; one byte more is too long.
    assert_eq!(errcode(&create(&api, &"码".repeat(10)).await), 0);
    assert_eq!(
        errcode(&create(&api, &format!("{}x", "码".repeat(10))).await),
        ERR_TAG_NAME_TOO_LONG
    );
    assert_eq!(errcode(&create(&api, "").await), ERR_INVALID_ARGS);
    let path = "/cgi-bin/tags/create";
    assert_eq!(
        errcode(&api.post(path, json!({ "tag": {} })).await),
        ERR_DATA_FORMAT
    );
    assert_eq!(
        errcode(&api.post_raw_with(&api.token, path, "").await),
        ERR_EMPTY_POST_DATA
    );
    assert_eq!(
        errcode(&api.post_raw_with(&api.token, path, "{").await),
        ERR_DATA_FORMAT
    );
    assert_eq!(api.fake.tags(APPID).len(), 5);
    assert_eq!(api.fake.tag_create_calls(APPID), 9);
}

#[tokio::test]
async fn tags_create_stops_at_an_accounts_hundredth_own_tag() {
    let api = Api::start().await;
    for i in 0..100 {
        assert_eq!(errcode(&create(&api, &format!("t{i}")).await), 0);
    }
    assert_eq!(errcode(&create(&api, "one more").await), ERR_TOO_MANY_TAGS);
    assert_eq!(api.fake.tags(APPID).len(), 103);
}

#[tokio::test]
async fn batchtagging_tags_every_openid_once_and_is_recorded() {
    let api = Api::start().await;
    let id = create(&api, "t").await["tag"]["id"].as_i64().unwrap();
    let users = openids("o", 50);
    assert_eq!(
        tag(&api, id, &users).await,
        json!({ "errcode": 0, "errmsg": "ok" })
    );
    // Again: a no-op success.
    assert_eq!(errcode(&tag(&api, id, &users[..2]).await), 0);
    assert_eq!(api.fake.user_tags(APPID, "o0"), [id]);
    let answer = api
        .post("/cgi-bin/tags/getidlist", json!({ "openid": "o0" }))
        .await;
    assert_eq!(answer, json!({ "tagid_list": [id] }));
    let answer = api
        .post("/cgi-bin/tags/getidlist", json!({ "openid": "new" }))
        .await;
    assert_eq!(answer, json!({ "tagid_list": [] }));
    let calls = api.fake.batchtagging_calls(APPID);
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[0].tagid, calls[0].openids.len(), calls[0].errcode),
        (id, 50, 0)
    );
    assert_eq!(api.fake.tags(APPID)[3].count, 50);
}

#[tokio::test]
async fn batchtagging_refuses_bad_lists_unknown_tags_and_strangers() {
    let api = Api::start().await;
    let id = create(&api, "t").await["tag"]["id"].as_i64().unwrap();
    assert_eq!(
        errcode(&tag(&api, id, &openids("o", 51)).await),
        ERR_INVALID_OPENID_LIST
    );
    assert_eq!(errcode(&tag(&api, id, &[]).await), ERR_INVALID_OPENID_LIST);
    assert_eq!(
        errcode(&tag(&api, 999, &openids("o", 1)).await),
        ERR_INVALID_TAG_ID
    );
    assert_eq!(
        errcode(&tag(&api, id, &[String::new()]).await),
        ERR_INVALID_OPENID
    );
    let path = "/cgi-bin/tags/members/batchtagging";
    assert_eq!(
        errcode(&api.post(path, json!({ "tagid": id })).await),
        ERR_DATA_FORMAT
    );

    api.fake.declare_followers(APPID, &["o0", "o1"]);
    assert_eq!(
        errcode(&tag(&api, id, &openids("o", 3)).await),
        ERR_INVALID_OPENID
    );
    assert_eq!(errcode(&tag(&api, id, &openids("o", 2)).await), 0);
    let answer = api
        .post("/cgi-bin/tags/getidlist", json!({ "openid": "o2" }))
        .await;
    assert_eq!(errcode(&answer), ERR_INVALID_OPENID);

    let codes: Vec<i64> = api
        .fake
        .batchtagging_calls(APPID)
        .iter()
        .map(|c| c.errcode)
        .collect();
    assert_eq!(
        codes,
        [
            ERR_INVALID_OPENID_LIST,
            ERR_INVALID_OPENID_LIST,
            ERR_INVALID_TAG_ID,
            ERR_INVALID_OPENID,
            ERR_INVALID_OPENID,
            0
        ]
    );
    assert!(api.fake.user_tags(APPID, "o2").is_empty());
}

#[tokio::test]
async fn batchtagging_fails_whole_when_a_user_would_have_more_than_twenty_tags() {
    let api = Api::start().await;
    let first = create(&api, "first").await["tag"]["id"].as_i64().unwrap();
    let second = create(&api, "second").await["tag"]["id"].as_i64().unwrap();
    api.fake.set_user_tag_count(APPID, "full", 19);
    assert_eq!(errcode(&tag(&api, first, &["full".into()]).await), 0);
    // 20 now: one more refuses the whole call, "fresh" untagged too.
    let both = vec!["fresh".to_owned(), "full".to_owned()];
    assert_eq!(errcode(&tag(&api, second, &both).await), ERR_USER_TAG_LIMIT);
    assert!(api.fake.user_tags(APPID, "fresh").is_empty());
    // A tag the user has already is no new tag.
    assert_eq!(errcode(&tag(&api, first, &both).await), 0);
    assert_eq!(api.fake.user_tags(APPID, "fresh"), [first]);
}

#[tokio::test]
async fn tag_apis_check_the_token_quota_and_faults_per_app() {
    let api = Api::start().await;
    api.fake.add_app("wx_other", "s2");
    let other = Api::token_of(&api.fake, &api.http, "wx_other", "s2").await;
    let body = json!({ "tag": { "name": "mine" } });
    assert_eq!(
        errcode(
            &api.post_with(&other, "/cgi-bin/tags/create", body.clone())
                .await
        ),
        0
    );
    // Apps have their own tags: the same name is new to the first app.
    assert_eq!(errcode(&create(&api, "mine").await), 0);
    assert_eq!(api.fake.tags("wx_other").len(), 4);

    let answer = api
        .post_with("nope", "/cgi-bin/tags/create", body.clone())
        .await;
    assert_eq!(errcode(&answer), ERR_INVALID_TOKEN);
    api.fake.fail_next(Endpoint::BatchTagging, -1, 1);
    assert_eq!(errcode(&tag(&api, 100, &openids("o", 1)).await), -1);
    assert_eq!(errcode(&tag(&api, 100, &openids("o", 1)).await), 0);

    api.fake.set_api_quota(Endpoint::TagsGet, 1);
    assert_eq!(errcode(&api.get("/cgi-bin/tags/get").await), 0);
    assert_eq!(errcode(&api.get("/cgi-bin/tags/get").await), ERR_QUOTA);
    assert_eq!(
        errcode(
            &api.post("/cgi-bin/tags/getidlist", json!({ "openid": "o0" }))
                .await
        ),
        0
    );

    api.fake.expire_tokens();
    assert_eq!(
        errcode(&api.get("/cgi-bin/tags/get").await),
        ERR_TOKEN_EXPIRED
    );
    assert_eq!(errcode(&create(&api, "late").await), ERR_TOKEN_EXPIRED);
}
