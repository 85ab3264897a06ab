//! Verifying a push before anything is parsed: query parameters, signatures (constant
//! time), clock skew, safe-mode decryption with the current or previous key, plaintext
//! pushes refused where the account requires encryption; then the push's own fields, so
//! that what leaves here can be stored. What the signature of a plaintext push does not
//! cover (its body) is settled by the caller: see `callback::replay`.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::event::IncomingEvent;
use crate::wechat::crypto::{EncodingAesKey, MessageCrypto};
use crate::wechat::ids::{AppId, FieldError};
use crate::wechat::message::{self, EncryptedEnvelope, RawMessage, XmlError};
use crate::wechat::signature;

/// The query string WeChat adds to the callback URL.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    /// sha1 of token, timestamp, nonce.
    pub signature: Option<String>,
    /// Unix seconds, as a string.
    pub timestamp: Option<String>,
    /// Random string.
    pub nonce: Option<String>,
    /// The URL check's challenge.
    pub echostr: Option<String>,
    /// `aes` in safe and compatible mode.
    pub encrypt_type: Option<String>,
    /// sha1 of token, timestamp, nonce and the ciphertext (safe and compatible mode).
    pub msg_signature: Option<String>,
    /// The sender (informational; the body is authoritative).
    pub openid: Option<String>,
}

/// Why a push or URL check was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A query parameter is missing or not a number.
    #[error("query parameter `{0}` is missing or invalid")]
    MissingParam(&'static str),
    /// `signature` or `msg_signature` does not hold.
    #[error("{0} does not match")]
    BadSignature(&'static str),
    /// The timestamp is too far from our clock.
    #[error("timestamp is {0} s away from our clock, more than allowed")]
    Skew(u64),
    /// A field of the push that cannot be stored as sent, or a `CreateTime` further in the
    /// future than the allowed clock skew.
    #[error("malformed push: {0}")]
    Field(#[from] FieldError),
    /// Safe mode push that no configured key decrypts (or of another appid).
    #[error("the encrypted message cannot be decrypted: {0}")]
    Decrypt(String),
    /// A plaintext push to an account that requires encryption: the setting named.
    #[error(
        "plaintext push refused: {0} is on, so this account's pushes must be encrypted \
         (compatible or safe mode)"
    )]
    PlaintextRefused(&'static str),
    /// A safe-mode push arrived but no EncodingAESKey is configured.
    #[error("safe-mode push but WECHAT_ENCODING_AES_KEY is not set")]
    NoAesKey,
    /// The XML is not acceptable.
    #[error(transparent)]
    Xml(#[from] XmlError),
}

/// Whether an account accepts plaintext pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plaintext {
    /// Accepted: their signature does not cover the body, so the callback binds each signed
    /// query to its first body (`callback::replay`).
    Accepted,
    /// Refused because of the setting named (`WECHAT_REQUIRE_ENCRYPTION`, or an account's
    /// `require_encryption`).
    Refused(&'static str),
}

/// How a push arrived, which decides how the reply is sent.
#[derive(Debug, Clone)]
pub enum Mode {
    /// Plaintext.
    Plain,
    /// Safe or compatible mode: the reply is encrypted with this key.
    Aes(MessageCrypto),
}

/// A push whose origin is proven, decrypted, parsed and fit to be stored.
#[derive(Debug)]
pub struct VerifiedPush {
    /// The row to store.
    pub event: IncomingEvent,
    /// What the answer needs.
    pub reply_to: ReplyTo,
}

/// Where and how the answer to a push goes.
#[derive(Debug)]
pub struct ReplyTo {
    /// The sender (`FromUserName`), the reply's recipient.
    pub openid: String,
    /// The account (`ToUserName`), the reply's sender.
    pub account: String,
    /// Plain or encrypted.
    pub mode: Mode,
    /// The request's timestamp (echoed in encrypted replies).
    pub timestamp: i64,
    /// The request's nonce (echoed in encrypted replies).
    pub nonce: String,
}

/// The callback's secrets and tolerance.
pub struct CallbackKeys {
    token: SecretString,
    crypto: Vec<MessageCrypto>,
    max_skew: u64,
}

impl CallbackKeys {
    /// Keys for `appid`: the token and, for safe mode, the current and previous AES keys.
    ///
    /// # Errors
    /// An EncodingAESKey that is not 43 characters of base64.
    pub fn new(
        token: SecretString,
        appid: &AppId,
        aes_keys: [Option<&SecretString>; 2],
        max_skew_secs: u64,
    ) -> Result<Self, crate::wechat::crypto::CryptoError> {
        let mut crypto = Vec::new();
        for key in aes_keys.into_iter().flatten() {
            crypto.push(MessageCrypto::new(
                EncodingAesKey::parse(key.expose_secret())?,
                appid.as_str(),
            ));
        }
        Ok(Self {
            token,
            crypto,
            max_skew: max_skew_secs,
        })
    }

    /// The callback token (to sign sandbox pushes).
    pub fn token(&self) -> &str {
        self.token.expose_secret()
    }

    /// The current AES key, if safe mode is configured.
    pub fn current_crypto(&self) -> Option<&MessageCrypto> {
        self.crypto.first()
    }

    /// Checks `signature`, `timestamp` (skew) and `nonce`; answers `(timestamp, nonce)`.
    fn check_plain(&self, q: &CallbackQuery, now: i64) -> Result<(i64, String), VerifyError> {
        let signature = q
            .signature
            .as_deref()
            .ok_or(VerifyError::MissingParam("signature"))?;
        let timestamp_str = q
            .timestamp
            .as_deref()
            .ok_or(VerifyError::MissingParam("timestamp"))?;
        let nonce = q
            .nonce
            .as_deref()
            .ok_or(VerifyError::MissingParam("nonce"))?;
        let timestamp: i64 = timestamp_str
            .parse()
            .map_err(|_| VerifyError::MissingParam("timestamp"))?;
        if !signature::verify(signature, &[self.token(), timestamp_str, nonce]) {
            return Err(VerifyError::BadSignature("signature"));
        }
        // abs_diff cannot overflow, whatever a signed timestamp says (now - 2^63 included).
        let skew = now.abs_diff(timestamp);
        if skew > self.max_skew {
            return Err(VerifyError::Skew(skew));
        }
        Ok((timestamp, nonce.to_owned()))
    }

    /// The URL check: the `echostr` to answer.
    ///
    /// # Errors
    /// Missing parameters, wrong signature, or a stale timestamp.
    pub fn verify_echo(&self, q: &CallbackQuery, now: i64) -> Result<String, VerifyError> {
        let echostr = q
            .echostr
            .clone()
            .ok_or(VerifyError::MissingParam("echostr"))?;
        self.check_plain(q, now)?;
        Ok(echostr)
    }

    /// Verifies, decrypts and parses a push; a plaintext one only when `plaintext` accepts
    /// it. The plaintext signature does not cover the body: the caller binds the query to
    /// the body before trusting it ([`Mode::Plain`]).
    ///
    /// # Errors
    /// See [`VerifyError`]: every failure is refused before the body is trusted.
    pub fn verify_push(
        &self,
        q: &CallbackQuery,
        body: &[u8],
        now: i64,
        plaintext: Plaintext,
    ) -> Result<VerifiedPush, VerifyError> {
        let (timestamp, nonce) = self.check_plain(q, now)?;
        let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
        if !q
            .encrypt_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("aes"))
        {
            if let Plaintext::Refused(setting) = plaintext {
                return Err(VerifyError::PlaintextRefused(setting));
            }
            let message = message::parse(text)?;
            return self.accept(
                &message,
                text.to_owned(),
                Mode::Plain,
                timestamp,
                nonce,
                now,
            );
        }
        let msg_signature = q
            .msg_signature
            .as_deref()
            .ok_or(VerifyError::MissingParam("msg_signature"))?;
        let envelope = EncryptedEnvelope::parse(text)?;
        let timestamp_str = timestamp.to_string();
        let signed = [
            self.token(),
            q.timestamp.as_deref().unwrap_or(&timestamp_str),
            &nonce,
            &envelope.encrypt,
        ];
        if !signature::verify(msg_signature, &signed) {
            return Err(VerifyError::BadSignature("msg_signature"));
        }
        if self.crypto.is_empty() {
            return Err(VerifyError::NoAesKey);
        }
        let mut last_error = None;
        for crypto in &self.crypto {
            match crypto.decrypt(&envelope.encrypt) {
                Ok(xml) => {
                    let message = message::parse(&xml)?;
                    let mode = Mode::Aes(crypto.clone());
                    return self.accept(&message, xml, mode, timestamp, nonce, now);
                }
                Err(e) => last_error = Some(e),
            }
        }
        Err(VerifyError::Decrypt(
            last_error.map(|e| e.to_string()).unwrap_or_default(),
        ))
    }

    /// The push `message` (plaintext `xml`) as a row to store, unless its CreateTime is
    /// further in the future than the allowed skew or a field cannot be stored.
    fn accept(
        &self,
        message: &RawMessage,
        xml: String,
        mode: Mode,
        timestamp: i64,
        nonce: String,
        now: i64,
    ) -> Result<VerifiedPush, VerifyError> {
        let latest = now.saturating_add_unsigned(self.max_skew);
        if message.create_time > latest {
            return Err(FieldError::new(
                "CreateTime",
                "must not be later than now plus WECHAT_MAX_CLOCK_SKEW_SECS",
            )
            .into());
        }
        let event = IncomingEvent::new(message, xml)?;
        Ok(VerifiedPush {
            reply_to: ReplyTo {
                openid: message.from_user_name.clone(),
                account: message.to_user_name.clone(),
                mode,
                timestamp,
                nonce,
            },
            event,
        })
    }
}
