use super::*;

fn event(xml: &str, create_time: i64, name: &str) -> RawMessage {
    let raw = load(xml, create_time, "event");
    assert_eq!(raw.event.as_deref(), Some(name));
    assert_eq!(raw.msg_id, None);
    raw
}

#[test]
fn subscribe_plain() {
    let raw = event(
        include_str!("../../../../tests/fixtures/subscribe_plain.xml"),
        1_714_036_504,
        "subscribe",
    );
    assert_eq!(
        (raw.event_key.as_deref(), raw.ticket.as_deref()),
        (None, None)
    );
    assert_eq!(
        raw.push(),
        Push::Subscribe {
            scene: None,
            ticket: None
        }
    );
}

#[test]
fn subscribe_scene() {
    let raw = event(
        include_str!("../../../../tests/fixtures/subscribe_scene.xml"),
        1_714_036_505,
        "subscribe",
    );
    assert_eq!(raw.event_key.as_deref(), Some("qrscene_123123"));
    assert_eq!(raw.ticket.as_deref(), Some(TICKET));
    let scene = Some("123123".to_owned());
    assert_eq!(
        raw.push(),
        Push::Subscribe {
            scene,
            ticket: Some(TICKET.to_owned())
        }
    );
}

#[test]
fn subscribe_scene_empty_eventkey() {
    let xml = include_str!("../../../../tests/fixtures/subscribe_scene_empty_eventkey.xml");
    let raw = event(xml, 1_714_036_506, "subscribe");
    assert!(raw.event_key.as_deref().is_none_or(str::is_empty));
    assert_eq!(
        raw.push(),
        Push::Subscribe {
            scene: None,
            ticket: None
        }
    );
}

#[test]
fn subscribe_with_bare_prefix_has_no_scene() {
    let xml = include_str!("../../../../tests/fixtures/subscribe_scene.xml")
        .replace("qrscene_123123", "qrscene_");
    assert!(matches!(
        parse(&xml).unwrap().push(),
        Push::Subscribe { scene: None, .. }
    ));
}

#[test]
fn scan() {
    let raw = event(
        include_str!("../../../../tests/fixtures/scan.xml"),
        1_714_036_507,
        "SCAN",
    );
    assert_eq!(raw.event_key.as_deref(), Some("123123"));
    let push = Push::Scan {
        scene: "123123".to_owned(),
        ticket: Some(TICKET.to_owned()),
    };
    assert_eq!(raw.push(), push);
}

#[test]
fn event_names_compare_case_insensitively() {
    let xml = include_str!("../../../../tests/fixtures/scan.xml").replace("SCAN", "scan");
    assert!(matches!(parse(&xml).unwrap().push(), Push::Scan { .. }));
}

#[test]
fn unsubscribe() {
    let raw = event(
        include_str!("../../../../tests/fixtures/unsubscribe.xml"),
        1_714_036_508,
        "unsubscribe",
    );
    assert_eq!(raw.push(), Push::Unsubscribe);
}

#[test]
fn click() {
    let raw = event(
        include_str!("../../../../tests/fixtures/click.xml"),
        1_714_036_509,
        "CLICK",
    );
    assert_eq!(raw.event_key.as_deref(), Some("V1001_TODAY_MUSIC"));
    assert_eq!(
        raw.push(),
        Push::Click {
            key: "V1001_TODAY_MUSIC".to_owned()
        }
    );
}

#[test]
fn view() {
    let raw = event(
        include_str!("../../../../tests/fixtures/view.xml"),
        1_714_036_510,
        "VIEW",
    );
    assert_eq!(
        raw.push(),
        Push::View {
            url: "https://www.qq.com/".to_owned()
        }
    );
}

#[test]
fn location_event() {
    let raw = event(
        include_str!("../../../../tests/fixtures/location_event.xml"),
        1_714_036_511,
        "LOCATION",
    );
    let expected = Push::Location {
        latitude: 23.137_466,
        longitude: 113.352_425,
        precision: 119.385_04,
    };
    assert_eq!(raw.push(), expected);
}

#[test]
fn templatesendjobfinish() {
    let xml = include_str!("../../../../tests/fixtures/templatesendjobfinish.xml");
    let raw = event(xml, 1_395_658_920, "TEMPLATESENDJOBFINISH");
    assert_eq!(raw.template_msg_id, Some(200_163_836));
    let push = Push::TemplateSendJobFinish {
        msg_id: 200_163_836,
        status: "success".to_owned(),
    };
    assert_eq!(raw.push(), push);
}

#[test]
fn unknown_event_is_other() {
    let raw = event(
        include_str!("../../../../tests/fixtures/unknown_event.xml"),
        1_714_036_517,
        "user_get_card",
    );
    let push = Push::Other {
        msg_type: "event".to_owned(),
        event: Some("user_get_card".to_owned()),
    };
    assert_eq!(raw.push(), push);
}
