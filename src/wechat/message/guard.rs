//! The pre-parse guard: push XML is scanned event by event, and any DTD, undefined
//! entity or structural fault stops it before serde sees it. Entities are never expanded.

use quick_xml::Reader;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, Event};

use super::XmlError;

/// Refuses XML that is not UTF-8, not well-formed, or that declares a DOCTYPE.
///
/// A DOCTYPE is the only place ENTITY declarations can live, so refusing it rules out
/// billion-laughs and external-entity attacks; references to anything but the five
/// predefined entities and character references are refused as well.
///
/// # Errors
///
/// [`XmlError::NotUtf8`], [`XmlError::Doctype`], [`XmlError::UndefinedEntity`], or
/// [`XmlError::Malformed`] for a syntax error, mismatched or unclosed tags, or anything
/// but whitespace, comments and processing instructions outside a single root element.
pub fn reject_doctype(xml: &[u8]) -> Result<(), XmlError> {
    let text = std::str::from_utf8(xml).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let mut depth = 0usize;
    let mut seen_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::GeneralRef(reference) => check_reference(&reference)?,
            Event::Start(_) | Event::Empty(_) if depth == 0 && seen_root => {
                return Err(malformed("more than one root element"));
            }
            Event::Start(_) => {
                depth += 1;
                seen_root = true;
            }
            Event::Empty(_) => seen_root = true,
            // The reader itself refuses an end tag that matches no open element.
            Event::End(_) => depth = depth.saturating_sub(1),
            Event::Text(t) if depth == 0 && !t.xml10_content().trim().is_empty() => {
                return Err(malformed("text outside the root element"));
            }
            Event::CData(_) if depth == 0 => {
                return Err(malformed("CDATA outside the root element"));
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err(malformed("unclosed element"));
    }
    if !seen_root {
        return Err(malformed("no root element"));
    }
    Ok(())
}

fn check_reference(reference: &BytesRef<'_>) -> Result<(), XmlError> {
    let name = reference.xml10_content();
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(_)) => Ok(()),
            _ => Err(XmlError::Malformed(format!(
                "invalid character reference &{name};"
            ))),
        };
    }
    match resolve_predefined_entity(&name) {
        Some(_) => Ok(()),
        None => Err(XmlError::UndefinedEntity(name.into_owned())),
    }
}

fn malformed(what: &str) -> XmlError {
    XmlError::Malformed(what.to_owned())
}
