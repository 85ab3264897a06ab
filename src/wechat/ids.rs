//! WeChat's identifiers as types: an `OpenId`, a `Ticket` or an `AppId` exists only once its
//! text has passed the rule of its kind, so that nothing past the boundary re-checks them
//! and every one of them fits its column.

use std::fmt;

/// A value that breaks the rule of its field; names both.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {rule}")]
pub struct FieldError {
    /// The field as WeChat or the configuration names it, e.g. `FromUserName`.
    pub field: &'static str,
    /// The rule it breaks, e.g. `must be 1 to 64 characters`.
    pub rule: &'static str,
}

impl FieldError {
    /// `field` breaks `rule`.
    pub fn new(field: &'static str, rule: &'static str) -> Self {
        Self { field, rule }
    }
}

/// Checks that `value` has `1..=max` characters and no control character (NUL included).
fn printable(value: &str, max: usize) -> bool {
    !value.is_empty() && value.chars().count() <= max && !value.chars().any(char::is_control)
}

macro_rules! id {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal, $rule:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// The longest value accepted, in characters (the column's length).
            pub const MAX_CHARS: usize = $max;

            /// Accepts `value` if it keeps the rule.
            ///
            /// # Errors
            #[doc = concat!("`", $field, "` ", $rule, ".")]
            pub fn parse(value: impl Into<String>) -> Result<Self, FieldError> {
                let value = value.into();
                if printable(&value, $max) {
                    Ok(Self(value))
                } else {
                    Err(FieldError::new($field, $rule))
                }
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

id!(
    /// A user's id within one account (`FromUserName` of a push): 1 to 64 characters
    /// (`wechat_event.openid`), no control characters. Real ones are 28 characters.
    OpenId,
    "FromUserName",
    64,
    "must be 1 to 64 characters without control characters"
);

id!(
    /// The ticket of a parametric QR code (`Ticket` of a scan): 1 to 255 characters
    /// (`wechat_event.ticket`), no control characters.
    Ticket,
    "Ticket",
    255,
    "must be 1 to 255 characters without control characters"
);

id!(
    /// An Official Account's appid (`WECHAT_APPID`, and the tail of every safe-mode
    /// plaintext): 1 to 32 characters, no control characters. Real ones are `wx` and 16
    /// hexadecimal digits; the sandbox's is made up.
    AppId,
    "WECHAT_APPID",
    32,
    "must be 1 to 32 characters without control characters"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openid_keeps_its_rule() {
        assert_eq!(
            OpenId::parse("oUser1").map(String::from),
            Ok("oUser1".into())
        );
        assert!(OpenId::parse("o".repeat(64)).is_ok());
        for bad in [String::new(), "o".repeat(65), "o\0".into(), "o\n".into()] {
            let e = OpenId::parse(bad).unwrap_err();
            assert_eq!(e.field, "FromUserName");
            assert!(e.to_string().contains("64 characters"), "{e}");
        }
        // Characters, not bytes: 64 Chinese characters fit.
        assert!(OpenId::parse("微".repeat(64)).is_ok());
    }

    #[test]
    fn ticket_and_appid_keep_theirs() {
        assert!(Ticket::parse("t".repeat(255)).is_ok());
        assert_eq!(Ticket::parse("t".repeat(256)).unwrap_err().field, "Ticket");
        assert_eq!(Ticket::parse("a\0b").unwrap_err().field, "Ticket");
        assert!(AppId::parse("wxba5fad812f8e6fb9").is_ok());
        assert_eq!(AppId::parse("").unwrap_err().field, "WECHAT_APPID");
    }
}
