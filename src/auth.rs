//! Bearer API keys: who may call the JSON API and the legacy endpoint.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::error::ApiError;

/// The configured keys and whether the API is open without one.
pub struct ApiKeys {
    keys: Vec<(String, SecretString)>,
    open: bool,
    legacy_open: bool,
}

/// Shortest key accepted: 24 characters (a guessable key opens the whole API).
pub const MIN_KEY_LEN: usize = 24;

/// Longest key name: the generation log and the bindings record it in 64 characters.
pub const MAX_NAME_LEN: usize = 64;

/// `QRSCENE_API_KEYS` is not a list of `name:key` pairs with long enough keys.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// An entry is not `name:key`.
    #[error("QRSCENE_API_KEYS: entry {0} is not of the form name:key (both non-empty)")]
    Malformed(usize),
    /// A key's name is longer than the `api_key` columns it is logged in, or holds a
    /// control character.
    #[error(
        "QRSCENE_API_KEYS: the name of entry {0} must be 1 to {MAX_NAME_LEN} characters \
         without control characters"
    )]
    BadName(usize),
    /// A key is too short (the message names the entry, never the key).
    #[error(
        "QRSCENE_API_KEYS: the key of entry {entry} ({name}) has {len} characters; at least \
         {MIN_KEY_LEN} are required (e.g. `openssl rand -hex 24`)"
    )]
    TooShort {
        /// Position of the entry, from 1.
        entry: usize,
        /// Its name.
        name: String,
        /// Its key's length.
        len: usize,
    },
}

impl ApiKeys {
    /// Parses `name:key,name:key`. `open` serves callers without a key (sandbox or
    /// `QRSCENE_ALLOW_ANONYMOUS`); it only applies when no key is configured.
    ///
    /// # Errors
    /// An entry without a name or a key, or a key shorter than [`MIN_KEY_LEN`].
    pub fn parse(
        list: Option<&SecretString>,
        open: bool,
        legacy_open: bool,
    ) -> Result<Self, KeysError> {
        let mut keys = Vec::new();
        if let Some(list) = list {
            for (i, entry) in list.expose_secret().split(',').map(str::trim).enumerate() {
                let (name, key) = match entry.split_once(':') {
                    Some((name, key)) if !name.trim().is_empty() && !key.trim().is_empty() => {
                        (name.trim(), key.trim())
                    }
                    _ => return Err(KeysError::Malformed(i + 1)),
                };
                if name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
                    return Err(KeysError::BadName(i + 1));
                }
                let len = key.chars().count();
                if len < MIN_KEY_LEN {
                    return Err(KeysError::TooShort {
                        entry: i + 1,
                        name: name.to_owned(),
                        len,
                    });
                }
                keys.push((name.to_owned(), SecretString::from(key)));
            }
        }
        let open = open && keys.is_empty();
        Ok(Self {
            keys,
            open,
            legacy_open,
        })
    }

    /// Whether no key is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The name of the key `presented`, compared in constant time against every key.
    fn find(&self, presented: &str) -> Option<&str> {
        let mut found = None;
        for (name, key) in &self.keys {
            if bool::from(key.expose_secret().as_bytes().ct_eq(presented.as_bytes())) {
                found = Some(name.as_str());
            }
        }
        found
    }

    fn authorize(&self, req: &HttpRequest, open: bool) -> Result<Caller, ApiError> {
        let presented = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        match presented.and_then(|key| self.find(key)) {
            Some(name) => Ok(Caller {
                key_name: Some(name.to_owned()),
            }),
            None if open => Ok(Caller { key_name: None }),
            None => Err(ApiError::Unauthorized),
        }
    }
}

/// The credentials of an `Authorization` value of the `Bearer` scheme, whose name is
/// case-insensitive (RFC 7235 section 2.1).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// An authorized caller of the JSON API; `key_name` is logged with what it creates.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Name of the key it presented, `None` when the API is open.
    pub key_name: Option<String>,
}

fn keys(req: &HttpRequest) -> Result<&ApiKeys, ApiError> {
    req.app_data::<web::Data<ApiKeys>>()
        .map(|d| d.get_ref())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ApiKeys not registered")))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(keys(req).and_then(|k| k.authorize(req, k.open)))
    }
}

/// A caller of the legacy endpoint, which `QRSCENE_LEGACY_OPEN` may open to everyone.
#[derive(Debug, Clone)]
pub struct LegacyCaller(pub Caller);

impl FromRequest for LegacyCaller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(
            keys(req)
                .and_then(|k| k.authorize(req, k.open || k.legacy_open))
                .map(LegacyCaller),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1-0123456789abcdef012345";
    const K2: &str = "k2-0123456789abcdef012345";

    #[test]
    fn a_key_name_longer_than_its_column_is_refused() {
        let long = format!("{}:{K1}", "n".repeat(MAX_NAME_LEN + 1));
        let err = ApiKeys::parse(Some(&long.into()), false, false).err();
        assert!(matches!(err, Some(KeysError::BadName(1))), "{err:?}");
        let fits = format!("{}:{K1}", "n".repeat(MAX_NAME_LEN));
        assert!(ApiKeys::parse(Some(&fits.into()), false, false).is_ok());
    }

    #[test]
    fn parses_named_keys_and_rejects_malformed_entries() {
        let list = format!("crm:{K1}, login:{K2}");
        let keys = ApiKeys::parse(Some(&list.as_str().into()), true, false).unwrap();
        assert_eq!(keys.find(K2), Some("login"));
        assert_eq!(keys.find("k3"), None);
        assert!(!keys.open, "configured keys close the API");
        let broken = format!("crm:{K1},broken");
        let err = ApiKeys::parse(Some(&broken.as_str().into()), false, false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("entry 2"));
    }

    #[test]
    fn keys_shorter_than_24_characters_are_refused_without_showing_them() {
        let list = format!("crm:{K1},login:0123456789abcdef0123456");
        let err = ApiKeys::parse(Some(&list.as_str().into()), false, false)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("entry 2 (login) has 23 characters; at least 24"),
            "{err}"
        );
        assert!(!err.contains("0123456789abcdef0123456"), "{err}");
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
    }
}
