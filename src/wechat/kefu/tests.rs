use std::time::{Duration, SystemTime};

use qrscene_fake_wechat::FakeWeChat;
use serde_json::json;

use super::*;
use crate::config::TokenMode;
use crate::wechat::error::{ERR_REPLY_COUNT_LIMIT, ERR_REPLY_TIME_LIMIT};

const APPID: &str = "wx_kefu_test";

fn article() -> Article {
    Article {
        title: "春季活动".into(),
        description: "扫码有礼".into(),
        url: "https://example.com/a?x=1".into(),
        picurl: "https://example.com/p.jpg".into(),
    }
}

fn mini() -> KefuMessage {
    KefuMessage::MiniProgramPage {
        title: "领取".into(),
        appid: "wxmini".into(),
        pagepath: "pages/index/index?from=qr".into(),
        thumb_media_id: "THUMB".into(),
    }
}

#[test]
fn request_bodies_have_wechats_shape() {
    let text = KefuMessage::Text {
        content: "欢迎".into(),
    };
    assert_eq!(
        text.to_request_body("o1"),
        json!({ "touser": "o1", "msgtype": "text", "text": { "content": "欢迎" } })
    );
    let image = KefuMessage::Image {
        media_id: "M".into(),
    };
    assert_eq!(
        image.to_request_body("o1")["image"],
        json!({ "media_id": "M" })
    );
    let news = KefuMessage::News { article: article() };
    assert_eq!(
        news.to_request_body("o1")["news"],
        json!({ "articles": [{ "title": "春季活动", "description": "扫码有礼",
            "url": "https://example.com/a?x=1", "picurl": "https://example.com/p.jpg" }] })
    );
    assert_eq!(
        mini().to_request_body("o1"),
        json!({ "touser": "o1", "msgtype": "miniprogrampage", "miniprogrampage": {
            "title": "领取", "appid": "wxmini", "pagepath": "pages/index/index?from=qr",
            "thumb_media_id": "THUMB" } })
    );
}

#[test]
fn messages_round_trip_through_their_stored_json() {
    let stored = json!({ "type": "miniprogrampage", "title": "领取", "appid": "wxmini",
        "pagepath": "pages/index/index?from=qr", "thumb_media_id": "THUMB" });
    assert_eq!(
        serde_json::from_value::<KefuMessage>(stored.clone()).unwrap(),
        mini()
    );
    assert_eq!(serde_json::to_value(mini()).unwrap(), stored);
    let news: KefuMessage = serde_json::from_value(
        json!({ "type": "news", "article": { "title": "T", "url": "https://e.x" } }),
    )
    .unwrap();
    assert_eq!(news.msgtype(), "news");
    assert!(serde_json::from_value::<KefuMessage>(json!({ "type": "voice" })).is_err());
}

#[test]
fn limits_name_the_field_and_the_errcode_wechat_would_answer() {
    let text = |s: &str| KefuMessage::Text { content: s.into() };
    assert!(text(&"字".repeat(682)).validate().is_ok()); // 2046 bytes
    let long = text(&"字".repeat(683)).check().unwrap_err();
    assert_eq!((long.0, long.1.field), (ERR_CONTENT_TOO_LONG, "content"));
    assert_eq!(text("").validate().unwrap_err().field, "content");
    let image = KefuMessage::Image {
        media_id: String::new(),
    };
    assert_eq!(image.check().unwrap_err().0, ERR_INVALID_MEDIA_ID);
    let mut bad = article();
    bad.url = "javascript:alert(1)".into();
    let news = KefuMessage::News { article: bad };
    assert_eq!(news.validate().unwrap_err().field, "articles.url");
    let mut untitled = article();
    untitled.title = " ".into();
    let news = KefuMessage::News { article: untitled };
    assert_eq!(news.validate().unwrap_err().field, "articles.title");
    let KefuMessage::MiniProgramPage { title, appid, .. } = mini() else {
        unreachable!()
    };
    let no_path = KefuMessage::MiniProgramPage {
        title,
        appid,
        pagepath: String::new(),
        thumb_media_id: "T".into(),
    };
    assert_eq!(
        no_path.validate().unwrap_err().field,
        "miniprogram.pagepath"
    );
}

#[tokio::test]
async fn messages_go_out_through_the_fake_within_wechats_window() {
    let fake = FakeWeChat::start(APPID, "secret").await.unwrap();
    let client = ApiClient::new(
        fake.base_url(),
        APPID,
        "secret".to_owned().into(),
        TokenMode::Classic,
        Duration::from_secs(5),
    )
    .unwrap();
    let token = client.fetch_token().await.unwrap().access_token;
    let messages = [
        KefuMessage::Text {
            content: "欢迎 ]]> <b>".into(),
        },
        KefuMessage::News { article: article() },
        mini(),
    ];
    fake.declare_interaction(APPID, "o1", SystemTime::now());
    for message in &messages {
        client.send_custom(&token, "o1", message).await.unwrap();
    }
    let spent = client
        .send_custom(&token, "o1", &messages[0])
        .await
        .unwrap_err();
    assert_eq!(spent.errcode(), Some(ERR_REPLY_COUNT_LIMIT));
    assert!(spent.is_reply_window_closed() && spent.is_permanent_kefu());
    let sent = fake.kefu_messages(APPID);
    assert_eq!(sent.len(), 3);
    assert_eq!(sent[0].body, messages[0].to_request_body("o1"));

    fake.declare_interaction(APPID, "o2", SystemTime::now() - Duration::from_secs(61));
    let late = client
        .send_custom(&token, "o2", &messages[0])
        .await
        .unwrap_err();
    assert_eq!(late.errcode(), Some(ERR_REPLY_TIME_LIMIT));

    let unsent = client
        .send_custom(&token, "", &messages[0])
        .await
        .unwrap_err();
    assert_eq!(unsent.errcode(), Some(ERR_INVALID_OPENID));
    assert!(
        unsent.errmsg().starts_with("not sent to WeChat"),
        "{unsent}"
    );
    assert_eq!(fake.kefu_calls(APPID), 5, "the empty openid was not sent");
}
