//! A news article, as both passive replies (`Articles/item`) and customer-service messages
//! (`news.articles`) carry it, and the limits qrscene holds it to.
//!
//! WeChat documents no length for these fields. qrscene takes the figures of WeChat's own
//! article editor, so that what it accepts displays whole: a title of at most 64
//! characters, a description of at most 120; links of at most 1024 bytes, `http(s)://`.

use serde::{Deserialize, Serialize};

use crate::wechat::qrcode::LimitError;

/// Longest article title, in characters (chosen: WeChat's editor's limit).
pub const MAX_ARTICLE_TITLE_CHARS: usize = 64;
/// Longest article description, in characters (chosen: the editor's digest limit).
pub const MAX_ARTICLE_DESCRIPTION_CHARS: usize = 120;
/// Longest article or picture link, in bytes (chosen).
pub const MAX_ARTICLE_URL_BYTES: usize = 1024;

/// One article of a news message: a card that opens `url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    /// The card's title; required.
    pub title: String,
    /// The text under the title (shown for a single article).
    #[serde(default)]
    pub description: String,
    /// Where a tap leads; required, `http://` or `https://`.
    pub url: String,
    /// The card's picture (best 640x320 for the first article, 80x80 for others); may
    /// be empty.
    #[serde(default)]
    pub picurl: String,
}

impl Article {
    /// Checks the limits above; the error names the field (`articles.title`, ...).
    ///
    /// # Errors
    /// A blank title, a field over its length, or a link that is not `http(s)://`.
    pub fn validate(&self) -> Result<(), LimitError> {
        if self.title.trim().is_empty() {
            return Err(LimitError::new("articles.title", "must not be empty"));
        }
        if self.title.chars().count() > MAX_ARTICLE_TITLE_CHARS {
            return Err(LimitError::new(
                "articles.title",
                format!("at most {MAX_ARTICLE_TITLE_CHARS} characters"),
            ));
        }
        if self.description.chars().count() > MAX_ARTICLE_DESCRIPTION_CHARS {
            return Err(LimitError::new(
                "articles.description",
                format!("at most {MAX_ARTICLE_DESCRIPTION_CHARS} characters"),
            ));
        }
        check_link("articles.url", &self.url, true)?;
        check_link("articles.picurl", &self.picurl, false)
    }
}

fn check_link(field: &'static str, link: &str, required: bool) -> Result<(), LimitError> {
    if link.is_empty() && !required {
        return Ok(());
    }
    let scheme = link.get(..8).unwrap_or(link).to_ascii_lowercase();
    if !(scheme.starts_with("http://") || scheme.starts_with("https://")) {
        return Err(LimitError::new(
            field,
            "must be an http:// or https:// link",
        ));
    }
    if link.len() > MAX_ARTICLE_URL_BYTES || link.chars().any(char::is_whitespace) {
        return Err(LimitError::new(
            field,
            format!("at most {MAX_ARTICLE_URL_BYTES} bytes, without spaces"),
        ));
    }
    Ok(())
}
