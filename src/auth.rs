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

/// `QRSCENE_API_KEYS` is not a list of `name:key` pairs.
#[derive(Debug, thiserror::Error)]
#[error("QRSCENE_API_KEYS: entry {0} is not of the form name:key (both non-empty)")]
pub struct KeysError(usize);

impl ApiKeys {
    /// Parses `name:key,name:key`. `open` serves callers without a key (sandbox or
    /// `QRSCENE_ALLOW_ANONYMOUS`); it only applies when no key is configured.
    ///
    /// # Errors
    /// An entry without a name or a key.
    pub fn parse(
        list: Option<&SecretString>,
        open: bool,
        legacy_open: bool,
    ) -> Result<Self, KeysError> {
        let mut keys = Vec::new();
        if let Some(list) = list {
            for (i, entry) in list.expose_secret().split(',').map(str::trim).enumerate() {
                match entry.split_once(':') {
                    Some((name, key)) if !name.trim().is_empty() && !key.trim().is_empty() => {
                        keys.push((name.trim().to_owned(), SecretString::from(key.trim())));
                    }
                    _ => return Err(KeysError(i + 1)),
                }
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
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        match presented.and_then(|key| self.find(key)) {
            Some(name) => Ok(Caller {
                key_name: Some(name.to_owned()),
            }),
            None if open => Ok(Caller { key_name: None }),
            None => Err(ApiError::Unauthorized),
        }
    }
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

    #[test]
    fn parses_named_keys_and_rejects_malformed_entries() {
        let keys = ApiKeys::parse(Some(&"crm:k1, login:k2".into()), true, false).unwrap();
        assert_eq!(keys.find("k2"), Some("login"));
        assert_eq!(keys.find("k3"), None);
        assert!(!keys.open, "configured keys close the API");
        let err = ApiKeys::parse(Some(&"crm:k1,broken".into()), false, false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("entry 2"));
    }
}
