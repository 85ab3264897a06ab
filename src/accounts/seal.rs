//! Account secrets sealed at rest with AES-256-GCM under the master key
//! (`QRSCENE_MASTER_KEY`, 32 random bytes in base64, as `openssl rand -base64 32` prints).
//!
//! A sealed value reads `v1:<key id>:<base64 of nonce and ciphertext>`: the key id (the first
//! 8 hex digits of the key's SHA-256) says which master key opens it, so that the master key
//! can be rotated: the new key goes in `QRSCENE_MASTER_KEY`, the old one in
//! `QRSCENE_MASTER_KEY_PREVIOUS`, and `qrscene rotate-master-key` seals every value again
//! with the new one. Each value is bound (as associated data) to its account and field, so a
//! sealed value copied into another row or column does not open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// What a sealed value starts with.
const VERSION: &str = "v1";
/// Length of an AES-GCM nonce.
const NONCE_LEN: usize = 12;

/// A secret field of an account: the associated data of its sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The AppSecret.
    Secret,
    /// The callback token.
    CallbackToken,
    /// The EncodingAESKey.
    AesKey,
    /// The previous EncodingAESKey.
    AesKeyPrevious,
    /// The signing secret of one of the account's webhooks (`whsec_...`).
    WebhookSecret,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::CallbackToken => "callback_token",
            Self::AesKey => "aes_key",
            Self::AesKeyPrevious => "aes_key_previous",
            Self::WebhookSecret => "webhook_secret",
        }
    }
}

/// Why a master key or a sealed value was refused. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The master key is not 32 bytes in base64.
    #[error("{0} must be 32 random bytes in base64 (`openssl rand -base64 32`)")]
    BadKey(&'static str),
    /// No master key is configured.
    #[error(
        "QRSCENE_MASTER_KEY is not set: account secrets cannot be stored or read without it \
         (`openssl rand -base64 32`)"
    )]
    NoKey,
    /// The value was sealed with a key that is configured neither as the master key nor as
    /// a previous one.
    #[error(
        "a secret was sealed with master key {0}, which is neither QRSCENE_MASTER_KEY nor in \
         QRSCENE_MASTER_KEY_PREVIOUS"
    )]
    UnknownKey(String),
    /// The value is not a sealed value, or does not open (altered, or moved to another
    /// account or field).
    #[error("a sealed secret is damaged or belongs to another account or field")]
    Damaged,
}

/// One master key and its id.
struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn parse(encoded: &str, setting: &'static str) -> Result<Self, SealError> {
        let bytes = STANDARD
            .decode(encoded.trim())
            .map_err(|_| SealError::BadKey(setting))?;
        if bytes.len() != 32 {
            return Err(SealError::BadKey(setting));
        }
        let id = hex::encode(&Sha256::digest(&bytes)[..4]);
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| SealError::BadKey(setting))?;
        Ok(Self { id, cipher })
    }
}

/// The master key that seals, and the previous ones that still open.
pub struct Sealer {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("key_id", &self.current.id)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// The sealer of `QRSCENE_MASTER_KEY` and `QRSCENE_MASTER_KEY_PREVIOUS` (comma-separated
    /// keys), or `None` when no master key is set.
    ///
    /// # Errors
    /// A key that is not 32 bytes in base64.
    pub fn from_settings(
        current: Option<&SecretString>,
        previous: Option<&SecretString>,
    ) -> Result<Option<Self>, SealError> {
        let Some(current) = current.filter(|k| !k.expose_secret().trim().is_empty()) else {
            return Ok(None);
        };
        let current = MasterKey::parse(current.expose_secret(), "QRSCENE_MASTER_KEY")?;
        let mut keys = Vec::new();
        if let Some(previous) = previous {
            for key in previous
                .expose_secret()
                .split(',')
                .filter(|k| !k.trim().is_empty())
            {
                keys.push(MasterKey::parse(key, "QRSCENE_MASTER_KEY_PREVIOUS")?);
            }
        }
        Ok(Some(Self {
            current,
            previous: keys,
        }))
    }

    /// The id of the key that seals.
    pub fn key_id(&self) -> &str {
        &self.current.id
    }

    /// Seals `plain`, the `field` of account `appid`.
    pub fn seal(&self, appid: &str, field: Field, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let aad = aad(appid, field);
        let sealed = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM seals any value shorter than 64 GiB");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        format!("{VERSION}:{}:{}", self.current.id, STANDARD.encode(out))
    }

    /// Opens a value sealed by [`Self::seal`] with the current or a previous key.
    ///
    /// # Errors
    /// The key that sealed it is not configured, or the value is damaged or was sealed for
    /// another account or field.
    pub fn open(&self, appid: &str, field: Field, sealed: &str) -> Result<SecretString, SealError> {
        let key_id = sealed_key_id(sealed).ok_or(SealError::Damaged)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.to_owned()))?;
        let body = sealed.rsplit(':').next().ok_or(SealError::Damaged)?;
        let bytes = STANDARD.decode(body).map_err(|_| SealError::Damaged)?;
        if bytes.len() <= NONCE_LEN {
            return Err(SealError::Damaged);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| SealError::Damaged)?;
        let aad = aad(appid, field);
        let plain = key
            .cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Damaged)?;
        String::from_utf8(plain)
            .map(SecretString::from)
            .map_err(|_| SealError::Damaged)
    }

    /// Whether `sealed` was sealed with the current key (rotation skips those).
    pub fn is_current(&self, sealed: &str) -> bool {
        sealed_key_id(sealed) == Some(self.current.id.as_str())
    }
}

/// The key id of a sealed value.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, ':');
    (parts.next()? == VERSION).then_some(())?;
    let id = parts.next()?;
    parts.next()?;
    Some(id)
}

fn aad(appid: &str, field: Field) -> String {
    format!("qrscene/{appid}/{}", field.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4=";

    fn sealer(current: &str, previous: Option<&str>) -> Sealer {
        Sealer::from_settings(
            Some(&SecretString::from(current)),
            previous.map(SecretString::from).as_ref(),
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn seals_and_opens_without_the_secret_in_clear() {
        let s = sealer(K1, None);
        let sealed = s.seal("wx1", Field::Secret, "app-secret-value");
        assert!(sealed.starts_with(&format!("v1:{}:", s.key_id())));
        assert!(!sealed.contains("app-secret-value"));
        let open = s.open("wx1", Field::Secret, &sealed).unwrap();
        assert_eq!(open.expose_secret(), "app-secret-value");
        // A fresh nonce each time.
        assert_ne!(sealed, s.seal("wx1", Field::Secret, "app-secret-value"));
    }

    #[test]
    fn a_value_moved_to_another_account_or_field_does_not_open() {
        let s = sealer(K1, None);
        let sealed = s.seal("wx1", Field::Secret, "x");
        assert!(matches!(
            s.open("wx2", Field::Secret, &sealed),
            Err(SealError::Damaged)
        ));
        assert!(matches!(
            s.open("wx1", Field::CallbackToken, &sealed),
            Err(SealError::Damaged)
        ));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push('A');
        assert!(s.open("wx1", Field::Secret, &altered).is_err());
    }

    #[test]
    fn rotation_opens_old_values_and_seals_with_the_new_key() {
        let old = sealer(K1, None);
        let sealed = old.seal("wx1", Field::AesKey, "k");
        let new = sealer(K2, Some(K1));
        assert!(!new.is_current(&sealed));
        assert_eq!(
            new.open("wx1", Field::AesKey, &sealed)
                .unwrap()
                .expose_secret(),
            "k"
        );
        let resealed = new.seal("wx1", Field::AesKey, "k");
        assert!(new.is_current(&resealed));
        let without_old = sealer(K2, None);
        let err = without_old.open("wx1", Field::AesKey, &sealed).unwrap_err();
        assert!(matches!(err, SealError::UnknownKey(_)), "{err}");
    }

    #[test]
    fn a_master_key_must_be_32_bytes_of_base64() {
        for bad in ["", "short", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"] {
            let r = Sealer::from_settings(Some(&SecretString::from(bad)), None);
            assert!(bad.is_empty() || r.is_err(), "{bad}");
        }
        assert!(
            Sealer::from_settings(None, None).unwrap().is_none(),
            "no key, no sealer"
        );
    }
}
