//! [`ExternalUserId`]: the user of the caller's own system that a binding is for.

use serde::Serialize;

use crate::wechat::qrcode::LimitError;

/// Longest external user id, in characters.
pub const MAX_CHARS: usize = 128;

/// A user id of the caller's system: 1 to 128 characters without control characters.
/// Past [`ExternalUserId::parse`] nothing re-checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ExternalUserId(String);

impl ExternalUserId {
    /// Checks `value` as the request's field `field`.
    ///
    /// # Errors
    /// Empty, longer than [`MAX_CHARS`], or with a control character; the error names
    /// `field` and the rule.
    pub fn parse(field: &'static str, value: String) -> Result<Self, LimitError> {
        if value.is_empty()
            || value.chars().count() > MAX_CHARS
            || value.chars().any(char::is_control)
        {
            return Err(LimitError::new(
                field,
                format!("must be 1 to {MAX_CHARS} characters without control characters"),
            ));
        }
        Ok(Self(value))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id, owned.
    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_names_the_field_and_the_rule() {
        assert_eq!(
            ExternalUserId::parse("external_user_id", "crm-42".into())
                .map(ExternalUserId::into_inner),
            Ok("crm-42".to_owned())
        );
        for bad in [
            String::new(),
            "x".repeat(129),
            "a\u{0}b".into(),
            "a\nb".into(),
        ] {
            let err = ExternalUserId::parse("external_user_id", bad).expect_err("refused");
            assert_eq!(err.field, "external_user_id");
            assert!(err.rule.contains("1 to 128 characters"), "{err}");
        }
        assert!(ExternalUserId::parse("f", "用".repeat(128)).is_ok());
    }
}
