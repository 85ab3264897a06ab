//! Bearer API keys: who may call the JSON API and the legacy endpoint, in which role and
//! for which accounts.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use futures_util::future::LocalBoxFuture;
use sea_orm::DatabaseConnection;
use secrecy::{ExposeSecret, SecretString};

use crate::accounts::keys::{self, Grant, Role, Scope};
use crate::error::ApiError;

/// The keys that open the API: `QRSCENE_API_KEYS` (admin keys for every account) and the
/// keys stored in the database (hashed, reloaded with the accounts), and whether the API is
/// open without one.
pub struct ApiKeys {
    env: HashMap<String, Grant>,
    db: RwLock<HashMap<String, Grant>>,
    /// The database, where a key made on another instance since the last reload is looked
    /// up on its first use here.
    store: OnceLock<DatabaseConnection>,
    open: Option<Role>,
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
    /// Parses `name:key,name:key` (admin keys for every account). `open` serves callers
    /// without a key in that role (sandbox: admin; `QRSCENE_ALLOW_ANONYMOUS`: client); it
    /// only applies while no key is configured, here or in the database.
    ///
    /// # Errors
    /// An entry without a name or a key, or a key shorter than [`MIN_KEY_LEN`].
    pub fn parse(
        list: Option<&SecretString>,
        open: Option<Role>,
        legacy_open: bool,
    ) -> Result<Self, KeysError> {
        let mut env = HashMap::new();
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
                env.insert(
                    keys::hash(key),
                    Grant {
                        name: name.to_owned(),
                        role: Role::Admin,
                        scope: Scope::All,
                        can_read_token: true,
                    },
                );
            }
        }
        Ok(Self {
            env,
            db: RwLock::new(HashMap::new()),
            store: OnceLock::new(),
            open,
            legacy_open,
        })
    }

    /// Whether no key is configured, in the environment or the database.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty() && self.db.read().expect("poisoned").is_empty()
    }

    /// Where keys unknown here are looked up (keys made on another instance).
    pub fn attach(&self, db: DatabaseConnection) {
        let _ = self.store.set(db);
    }

    /// Replaces the database's keys (by hash) with `keys`.
    pub fn set_db_keys(&self, keys: Vec<(String, Grant)>) {
        *self.db.write().expect("poisoned") = keys.into_iter().collect();
    }

    /// The grant of the key `presented`, looked up by its SHA-256 (comparing hashes, not
    /// keys, leaks nothing of a key through timing).
    fn find(&self, presented: &str) -> Option<Grant> {
        let hash = keys::hash(presented);
        if let Some(grant) = self.env.get(&hash) {
            return Some(grant.clone());
        }
        self.db.read().expect("poisoned").get(&hash).cloned()
    }

    /// A key made by `POST /api/v1/keys` (`qsk_...`) that this instance has not loaded
    /// yet: looked up in the database, and kept when found.
    async fn find_stored(&self, presented: &str) -> Result<Option<Grant>, ApiError> {
        let Some(db) = self.store.get() else {
            return Ok(None);
        };
        if !presented.starts_with(keys::PREFIX) {
            return Ok(None);
        }
        let hash = keys::hash(presented);
        let found = keys::find_in_force(db, &hash).await?;
        if let Some(grant) = &found {
            self.db
                .write()
                .expect("poisoned")
                .insert(hash, grant.clone());
        }
        Ok(found)
    }

    /// The caller presenting a key, or an anonymous one in role `open` while no key is
    /// configured (or always, with `always_open`).
    async fn authorize(
        &self,
        presented: Option<String>,
        open: Option<Role>,
        always_open: bool,
    ) -> Result<Caller, ApiError> {
        let mut grant = presented.as_deref().and_then(|key| self.find(key));
        if grant.is_none()
            && let Some(key) = presented.as_deref()
        {
            grant = self.find_stored(key).await?;
        }
        match (grant, open) {
            (Some(grant), _) => Ok(Caller {
                key_name: Some(grant.name.clone()),
                grant: Some(grant),
                anonymous_role: None,
            }),
            (None, Some(role)) if always_open || self.is_empty() => Ok(Caller {
                key_name: None,
                grant: None,
                anonymous_role: Some(role),
            }),
            _ => Err(ApiError::Unauthorized),
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
    /// What its key grants; `None` without a key.
    grant: Option<Grant>,
    /// The role of a caller without a key, while the API is open.
    anonymous_role: Option<Role>,
}

impl Caller {
    /// A caller with every right (the command line, tests).
    pub fn admin(name: &str) -> Self {
        Self {
            key_name: Some(name.to_owned()),
            grant: Some(Grant {
                name: name.to_owned(),
                role: Role::Admin,
                scope: Scope::All,
                can_read_token: true,
            }),
            anonymous_role: None,
        }
    }

    /// Its role.
    pub fn role(&self) -> Role {
        self.grant
            .as_ref()
            .map(|g| g.role)
            .or(self.anonymous_role)
            .unwrap_or(Role::Client)
    }

    /// Whether it is an admin.
    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }

    /// Whether it may use the account `appid`.
    pub fn may_use(&self, appid: &str) -> bool {
        self.grant.as_ref().is_none_or(|g| g.scope.allows(appid))
    }

    /// Whether it may read the access tokens of `appid`.
    pub fn may_read_token(&self, appid: &str) -> bool {
        self.is_admin()
            || self
                .grant
                .as_ref()
                .is_some_and(|g| g.can_read_token && g.scope.allows(appid))
    }
}

fn keys(req: &HttpRequest) -> Result<web::Data<ApiKeys>, ApiError> {
    req.app_data::<web::Data<ApiKeys>>()
        .cloned()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("ApiKeys not registered")))
}

fn presented(req: &HttpRequest) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
        .map(str::to_owned)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let keys = keys(req);
        let presented = presented(req);
        Box::pin(async move {
            let keys = keys?;
            keys.authorize(presented, keys.open, false).await
        })
    }
}

/// A caller of the legacy endpoint, which `QRSCENE_LEGACY_OPEN` may open to everyone.
#[derive(Debug, Clone)]
pub struct LegacyCaller(pub Caller);

impl FromRequest for LegacyCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let keys = keys(req);
        let presented = presented(req);
        Box::pin(async move {
            let k = keys?;
            let caller = if k.legacy_open {
                k.authorize(presented, Some(k.open.unwrap_or(Role::Client)), true)
                    .await
            } else {
                k.authorize(presented, k.open, false).await
            };
            caller.map(LegacyCaller)
        })
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
        let err = ApiKeys::parse(Some(&long.into()), None, false).err();
        assert!(matches!(err, Some(KeysError::BadName(1))), "{err:?}");
        let fits = format!("{}:{K1}", "n".repeat(MAX_NAME_LEN));
        assert!(ApiKeys::parse(Some(&fits.into()), None, false).is_ok());
    }

    #[test]
    fn parses_named_keys_and_rejects_malformed_entries() {
        let list = format!("crm:{K1}, login:{K2}");
        let keys = ApiKeys::parse(Some(&list.as_str().into()), Some(Role::Admin), false).unwrap();
        assert_eq!(keys.find(K2).map(|g| g.name), Some("login".to_owned()));
        assert!(keys.find("k3").is_none());
        assert!(!keys.is_empty(), "configured keys close the API");
        let broken = format!("crm:{K1},broken");
        let err = ApiKeys::parse(Some(&broken.as_str().into()), None, false)
            .err()
            .unwrap();
        assert!(err.to_string().contains("entry 2"));
    }

    #[test]
    fn keys_shorter_than_24_characters_are_refused_without_showing_them() {
        let list = format!("crm:{K1},login:0123456789abcdef0123456");
        let err = ApiKeys::parse(Some(&list.as_str().into()), None, false)
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
