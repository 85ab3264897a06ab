use super::*;

#[test]
fn doctype_entity_is_refused_before_expansion() {
    let bytes = include_bytes!("../../../../tests/fixtures/doctype_entity.xml");
    assert_eq!(reject_doctype(bytes), Err(XmlError::Doctype));
    assert_eq!(
        parse(include_str!(
            "../../../../tests/fixtures/doctype_entity.xml"
        ))
        .unwrap_err(),
        XmlError::Doctype
    );
}

#[test]
fn every_spelling_of_a_dtd_is_refused() {
    for xml in [
        "<!doctype xml><xml/>",
        "<?xml version=\"1.0\"?><!DOCTYPE xml SYSTEM \"http://example.com/x.dtd\"><xml/>",
        "<xml/><!DOCTYPE xml>",
    ] {
        assert_eq!(
            reject_doctype(xml.as_bytes()),
            Err(XmlError::Doctype),
            "{xml}"
        );
    }
    let bare_entity = reject_doctype(b"<!ENTITY e \"x\"><xml>&e;</xml>");
    assert!(
        matches!(bare_entity, Err(XmlError::Malformed(_))),
        "{bare_entity:?}"
    );
}

#[test]
fn declaration_comments_and_references_are_allowed() {
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- c --><xml><A>&lt;&#x4e2d;&#25991;</A></xml>\n";
    assert_eq!(reject_doctype(xml.as_bytes()), Ok(()));
    assert!(matches!(
        reject_doctype(b"<xml>&#0;</xml>"),
        Err(XmlError::Malformed(_))
    ));
}

#[test]
fn undefined_entity_reference_is_refused() {
    let text = include_str!("../../../../tests/fixtures/text.xml");
    let xml = text.replace("<![CDATA[你好 & <welcome>]]>", "&xxe;");
    assert_eq!(
        parse(&xml).unwrap_err(),
        XmlError::UndefinedEntity("xxe".to_owned())
    );
    // Inside CDATA the same characters are literal text, not a reference.
    let raw = parse(&text.replace("你好", "&xxe;")).unwrap();
    assert_eq!(raw.content.as_deref(), Some("&xxe; & <welcome>"));
}

#[test]
fn malformed_and_non_utf8_are_refused() {
    assert!(matches!(
        reject_doctype(include_bytes!("../../../../tests/fixtures/malformed.xml")),
        Err(XmlError::Malformed(_))
    ));
    for xml in [
        "<xml><A>1</A>",
        "",
        "text",
        "<xml/><xml/>",
        "<xml></xml>tail",
        "<xml><![CDATA[x]]",
    ] {
        assert!(
            matches!(reject_doctype(xml.as_bytes()), Err(XmlError::Malformed(_))),
            "{xml}"
        );
    }
    assert_eq!(
        reject_doctype(b"<xml>\xff\xfe</xml>"),
        Err(XmlError::NotUtf8)
    );
}

#[test]
fn missing_required_fields_are_named() {
    let xml = include_str!("../../../../tests/fixtures/text.xml");
    for (field, element) in [
        (
            "ToUserName",
            "  <ToUserName><![CDATA[gh_3c884a361561]]></ToUserName>",
        ),
        (
            "FromUserName",
            "  <FromUserName><![CDATA[oUpF8uMuAJO_M2pxb1Q9zNjWeS6o]]></FromUserName>",
        ),
        ("CreateTime", "  <CreateTime>1714036512</CreateTime>"),
        ("MsgType", "  <MsgType><![CDATA[text]]></MsgType>"),
    ] {
        assert!(xml.contains(element), "{element}");
        let err = parse(&xml.replace(element, "")).unwrap_err();
        assert_eq!(err, XmlError::MissingField(field));
        assert!(err.to_string().contains(field));
    }
}

#[test]
fn non_numeric_create_time_is_a_schema_error() {
    let xml =
        include_str!("../../../../tests/fixtures/text.xml").replace("1714036512", "yesterday");
    assert!(matches!(parse(&xml), Err(XmlError::Schema(_))));
}
