use super::*;

fn message(
    xml: &str,
    create_time: i64,
    msg_type: &str,
    kind: MessageKind,
    msg_id: i64,
) -> RawMessage {
    let raw = load(xml, create_time, msg_type);
    assert_eq!((raw.event.as_deref(), raw.msg_id), (None, Some(msg_id)));
    assert_eq!(raw.push(), Push::Message { kind, msg_id });
    raw
}

#[test]
fn text_keeps_cdata_verbatim_and_the_64_bit_msg_id() {
    let xml = include_str!("../../../../tests/fixtures/text.xml");
    let raw = message(
        xml,
        1_714_036_512,
        "text",
        MessageKind::Text,
        24_602_526_587_143_237,
    );
    assert_eq!(raw.content.as_deref(), Some("你好 & <welcome>"));
}

#[test]
fn image() {
    let xml = include_str!("../../../../tests/fixtures/image.xml");
    let raw = message(
        xml,
        1_714_036_513,
        "image",
        MessageKind::Image,
        24_602_526_587_143_238,
    );
    assert_eq!(
        raw.pic_url.as_deref(),
        Some("http://mmbiz.qpic.cn/mmbiz_jpg/abc/0")
    );
    assert_eq!(
        raw.media_id.as_deref(),
        Some("0hJ5bQ8aN2c4Xz1v_image_media")
    );
}

#[test]
fn voice() {
    let xml = include_str!("../../../../tests/fixtures/voice.xml");
    let raw = message(
        xml,
        1_714_036_514,
        "voice",
        MessageKind::Voice,
        24_602_526_587_143_239,
    );
    assert_eq!(
        raw.media_id.as_deref(),
        Some("0hJ5bQ8aN2c4Xz1v_voice_media")
    );
    assert_eq!(raw.format.as_deref(), Some("amr"));
    assert_eq!(raw.recognition.as_deref(), Some("腾讯微信团队"));
}

#[test]
fn video_and_shortvideo() {
    let xml = include_str!("../../../../tests/fixtures/video.xml");
    let raw = message(
        xml,
        1_714_036_515,
        "video",
        MessageKind::Video,
        24_602_526_587_143_240,
    );
    assert_eq!(
        raw.media_id.as_deref(),
        Some("0hJ5bQ8aN2c4Xz1v_video_media")
    );
    assert_eq!(
        raw.thumb_media_id.as_deref(),
        Some("0hJ5bQ8aN2c4Xz1v_video_thumb")
    );
    let xml = include_str!("../../../../tests/fixtures/shortvideo.xml");
    let kind = MessageKind::ShortVideo;
    let raw = message(
        xml,
        1_714_036_516,
        "shortvideo",
        kind,
        24_602_526_587_143_241,
    );
    assert_eq!(
        raw.media_id.as_deref(),
        Some("0hJ5bQ8aN2c4Xz1v_short_media")
    );
    assert_eq!(
        raw.thumb_media_id.as_deref(),
        Some("0hJ5bQ8aN2c4Xz1v_short_thumb")
    );
}

#[test]
fn location() {
    let xml = include_str!("../../../../tests/fixtures/location.xml");
    let raw = message(
        xml,
        1_351_776_360,
        "location",
        MessageKind::Location,
        24_602_526_587_143_242,
    );
    assert_eq!(
        (raw.location_x, raw.location_y),
        (Some(23.134_521), Some(113.358_803))
    );
    assert_eq!(
        (raw.scale, raw.label.as_deref()),
        (Some(20), Some("位置信息"))
    );
}

#[test]
fn link() {
    let xml = include_str!("../../../../tests/fixtures/link.xml");
    let raw = message(
        xml,
        1_351_776_361,
        "link",
        MessageKind::Link,
        24_602_526_587_143_243,
    );
    assert_eq!(raw.title.as_deref(), Some("公众平台官网链接"));
    assert_eq!(raw.description.as_deref(), Some("公众平台官网链接"));
    assert_eq!(raw.url.as_deref(), Some("https://mp.weixin.qq.com/"));
}

#[test]
fn unknown_msgtype_is_other() {
    let raw = load(
        include_str!("../../../../tests/fixtures/unknown_msgtype.xml"),
        1_714_036_518,
        "miniprogrampage",
    );
    assert_eq!(
        (raw.msg_id, raw.title.as_deref()),
        (Some(24_602_526_587_143_244), Some("小程序卡片"))
    );
    assert_eq!(
        raw.push(),
        Push::Other {
            msg_type: "miniprogrampage".to_owned(),
            event: None
        }
    );
}

#[test]
fn known_kind_without_its_data_is_other() {
    let xml = include_str!("../../../../tests/fixtures/text.xml")
        .replace("<MsgId>24602526587143237</MsgId>", "");
    assert!(matches!(
        parse(&xml).unwrap().push(),
        Push::Other { event: None, .. }
    ));
    let xml = include_str!("../../../../tests/fixtures/click.xml").replace("V1001_TODAY_MUSIC", "");
    assert!(matches!(parse(&xml).unwrap().push(), Push::Other { .. }));
}

#[test]
fn plain_text_values_parse_like_cdata() {
    let xml = "<xml><ToUserName>gh_1</ToUserName><FromUserName>o_1</FromUserName>\
               <CreateTime>1</CreateTime><MsgType>text</MsgType><Content>a &amp; b</Content>\
               <MsgId>9223372036854775807</MsgId></xml>";
    let raw = parse(xml).unwrap();
    assert_eq!(
        (raw.to_user_name.as_str(), raw.msg_type.as_str()),
        ("gh_1", "text")
    );
    assert_eq!(
        (raw.content.as_deref(), raw.msg_id),
        (Some("a & b"), Some(i64::MAX))
    );
}
