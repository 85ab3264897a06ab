//! Keyset paging, newest first: a page is the rows below a cursor id; the cursor of the next
//! page is the last id of this one.

use crate::wechat::qrcode::LimitError;

/// Largest page.
pub const MAX_PAGE: u64 = 200;
/// Page size when the caller gives none.
pub const DEFAULT_PAGE: u64 = 50;

/// A validated page request.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Only ids below this one.
    pub before: Option<i64>,
    /// Rows per page, 1..=200.
    pub limit: u64,
}

impl Default for PageRequest {
    /// The first page of the default size.
    fn default() -> Self {
        Self {
            before: None,
            limit: DEFAULT_PAGE,
        }
    }
}

impl PageRequest {
    /// Parses `cursor` and `limit` from a query string.
    ///
    /// # Errors
    /// A cursor that is not a `next_cursor`, or a limit outside 1..=200.
    pub fn parse(cursor: Option<&str>, limit: Option<u64>) -> Result<Self, LimitError> {
        let before = cursor
            .map(|c| c.parse::<i64>())
            .transpose()
            .map_err(|_| LimitError::new("cursor", "must be a next_cursor from a previous page"))?;
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(LimitError::new(
                "limit",
                format!("must be between 1 and {MAX_PAGE}"),
            ));
        }
        Ok(Self { before, limit })
    }

    /// Keeps the page of `rows` (fetched with `limit + 1`, newest first) and answers the
    /// cursor of the next page, if there is one.
    pub fn cut<T>(&self, rows: &mut Vec<T>, id: impl Fn(&T) -> i64) -> Option<i64> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(id)
        } else {
            None
        }
    }
}
