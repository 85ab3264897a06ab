use super::*;
use crate::wechat::crypto::{EncodingAesKey, MessageCrypto};
use crate::wechat::signature;

#[test]
fn text_reply_has_wechat_layout() {
    let xml = text_reply(OPENID, ACCOUNT, 1_714_036_600, "欢迎关注");
    let expected = "<xml><ToUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></ToUserName>\
        <FromUserName><![CDATA[gh_3c884a361561]]></FromUserName><CreateTime>1714036600</CreateTime>\
        <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[欢迎关注]]></Content></xml>";
    assert_eq!(xml, expected);
}

#[test]
fn text_reply_survives_cdata_terminator_in_content() {
    let content = "a]]>b <c> & ]]>]]>";
    let xml = text_reply(OPENID, ACCOUNT, 1, content);
    assert!(xml.contains("<![CDATA[a]]]]><![CDATA[>b"));
    let raw = parse(&xml).unwrap();
    assert_eq!(
        (raw.content.as_deref(), raw.to_user_name.as_str()),
        (Some(content), OPENID)
    );
    assert_eq!(
        raw.push(),
        Push::Other {
            msg_type: "text".to_owned(),
            event: None
        }
    );
}

#[test]
fn encrypted_reply_has_wechat_layout() {
    let xml = encrypted_reply("QUJD", "1b93", 1_713_424_427, "415670741");
    let expected = "<xml><Encrypt><![CDATA[QUJD]]></Encrypt><MsgSignature><![CDATA[1b93]]></MsgSignature>\
        <TimeStamp>1713424427</TimeStamp><Nonce><![CDATA[415670741]]></Nonce></xml>";
    assert_eq!(xml, expected);
}

#[test]
fn encrypted_reply_round_trips() {
    let key = EncodingAesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").unwrap();
    let crypto = MessageCrypto::new(key, "wxb11529c136998cb6");
    let reply = text_reply(OPENID, ACCOUNT, 1_714_036_600, "扫码成功");
    let encrypt = crypto.encrypt_random(&reply);
    let sig = signature::sign(&["AAAAA", "1714036600", "nonce42", &encrypt]);
    let xml = encrypted_reply(&encrypt, &sig, 1_714_036_600, "nonce42");
    let env = EncryptedEnvelope::parse(&xml).unwrap();
    assert!(signature::verify(
        &sig,
        &["AAAAA", "1714036600", "nonce42", &env.encrypt]
    ));
    let raw = parse(&crypto.decrypt(&env.encrypt).unwrap()).unwrap();
    assert_eq!(raw.content.as_deref(), Some("扫码成功"));
}

/// A passive reply read back with quick-xml, as WeChat reads it.
#[derive(Debug, serde::Deserialize)]
struct ReplyXml {
    #[serde(rename = "ToUserName")]
    to: String,
    #[serde(rename = "FromUserName")]
    from: String,
    #[serde(rename = "CreateTime")]
    create_time: i64,
    #[serde(rename = "MsgType")]
    msg_type: String,
    #[serde(rename = "Content")]
    content: Option<String>,
    #[serde(rename = "Image")]
    image: Option<ImageXml>,
    #[serde(rename = "ArticleCount")]
    article_count: Option<usize>,
    #[serde(rename = "Articles")]
    articles: Option<ArticlesXml>,
}

#[derive(Debug, serde::Deserialize)]
struct ImageXml {
    #[serde(rename = "MediaId")]
    media_id: String,
}

#[derive(Debug, serde::Deserialize)]
struct ArticlesXml {
    item: Vec<ItemXml>,
}

#[derive(Debug, serde::Deserialize, PartialEq)]
struct ItemXml {
    #[serde(rename = "Title")]
    title: String,
    #[serde(rename = "Description")]
    description: String,
    #[serde(rename = "PicUrl")]
    pic_url: String,
    #[serde(rename = "Url")]
    url: String,
}

fn read_back(reply: &PassiveReply) -> ReplyXml {
    let xml = reply.render(OPENID, ACCOUNT, 1_714_036_600);
    reject_doctype(xml.as_bytes()).unwrap();
    let back: ReplyXml = quick_xml::de::from_str(&xml).unwrap();
    assert_eq!(
        (back.to.as_str(), back.from.as_str(), back.create_time),
        (OPENID, ACCOUNT, 1_714_036_600)
    );
    assert_eq!(back.msg_type, reply.msg_type());
    back
}

fn article(title: &str) -> Article {
    Article {
        title: title.to_owned(),
        description: "扫码 ]]> 有礼 <&>".to_owned(),
        url: "https://example.com/a?x=1&y=2".to_owned(),
        picurl: String::new(),
    }
}

#[test]
fn text_replies_read_back_with_chinese_and_cdata_terminators() {
    let content = "欢迎关注 ]]> <a href=\"x\">&amp;</a> ]]>]]>";
    let reply = PassiveReply::Text {
        content: content.to_owned(),
    };
    assert_eq!(read_back(&reply).content.as_deref(), Some(content));
    assert_eq!(
        reply.render(OPENID, ACCOUNT, 1),
        text_reply(OPENID, ACCOUNT, 1, content)
    );
}

#[test]
fn image_replies_have_wechat_layout() {
    let reply = PassiveReply::Image {
        media_id: "MEDIA_ID]]>x".to_owned(),
    };
    let xml = reply.render(OPENID, ACCOUNT, 1);
    assert!(xml.contains(
        "<MsgType><![CDATA[image]]></MsgType><Image><MediaId><![CDATA[MEDIA_ID]]]]><![CDATA[>x]]></MediaId></Image></xml>"
    ));
    assert_eq!(read_back(&reply).image.unwrap().media_id, "MEDIA_ID]]>x");
}

#[test]
fn news_replies_read_back_article_by_article() {
    let articles = vec![article("春季活动"), article("第二篇 ]]>")];
    let reply = PassiveReply::News {
        articles: articles.clone(),
    };
    let back = read_back(&reply);
    assert_eq!(back.article_count, Some(2));
    let items = back.articles.unwrap().item;
    let expected: Vec<ItemXml> = articles
        .into_iter()
        .map(|a| ItemXml {
            title: a.title,
            description: a.description,
            pic_url: a.picurl,
            url: a.url,
        })
        .collect();
    assert_eq!(items, expected);
    let xml = reply.render(OPENID, ACCOUNT, 1);
    assert!(xml.contains("<ArticleCount>2</ArticleCount><Articles><item><Title>"));
}

#[test]
fn passive_replies_have_a_tagged_json_form_and_limits() {
    let text: PassiveReply =
        serde_json::from_value(serde_json::json!({ "type": "text", "content": "hi" })).unwrap();
    assert_eq!(text.msg_type(), "text");
    let image: PassiveReply =
        serde_json::from_value(serde_json::json!({ "type": "image", "media_id": "M" })).unwrap();
    assert_eq!(
        serde_json::to_value(&image).unwrap(),
        serde_json::json!({ "type": "image", "media_id": "M" })
    );
    let news: PassiveReply = serde_json::from_value(serde_json::json!({
        "type": "news", "articles": [{ "title": "T", "url": "https://e.x" }]
    }))
    .unwrap();
    assert!(news.validate().is_ok());
    let none = PassiveReply::News { articles: vec![] };
    assert_eq!(none.validate().unwrap_err().field, "articles");
    let nine = PassiveReply::News {
        articles: vec![article("a"); 9],
    };
    assert!(nine.validate().unwrap_err().rule.contains("1 to 8"));
    let long = PassiveReply::Text {
        content: "a".repeat(MAX_TEXT_BYTES + 1),
    };
    assert_eq!(long.validate().unwrap_err().field, "content");
    let blank = PassiveReply::Image {
        media_id: String::new(),
    };
    assert_eq!(blank.validate().unwrap_err().field, "media_id");
}
