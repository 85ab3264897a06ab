//! Safe-mode message encryption: the `EncodingAESKey` and WeChat's AES-256-CBC framing
//! (16 random bytes, 4-byte big-endian length, message, appid, PKCS#7 to 32 bytes).

use std::fmt;

use aes::Aes256;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use subtle::ConstantTimeEq;

/// Length of an `EncodingAESKey` as the WeChat console shows it.
const KEY_TEXT_LEN: usize = 43;
/// WeChat pads to this block size, not to the AES block size of 16.
const PAD_BLOCK: usize = 32;
/// Random prefix plus the big-endian length field.
const HEADER_LEN: usize = 20;

/// Many real keys carry non-zero trailing bits in their last character, which a strict
/// decoder rejects; WeChat's own SDKs ignore them.
const LENIENT_KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a key could not be parsed or a message could not be decrypted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The `EncodingAESKey` is not 43 characters long.
    #[error("EncodingAESKey must be 43 characters, got {0}")]
    KeyLength(usize),
    /// The `EncodingAESKey` is not base64.
    #[error("EncodingAESKey is not valid base64")]
    KeyBase64,
    /// The `Encrypt` value is not base64.
    #[error("ciphertext is not valid base64")]
    CiphertextBase64,
    /// The decoded ciphertext is empty or not a whole number of AES blocks.
    #[error("ciphertext length {0} is not a positive multiple of 16")]
    CiphertextLength(usize),
    /// The last byte is 0 or above 32, or the padding bytes differ.
    #[error("plaintext padding is invalid")]
    Padding,
    /// The plaintext is shorter than the 16-byte random prefix and the length field.
    #[error("plaintext is shorter than its 20-byte header")]
    TooShort,
    /// The length field claims more bytes than the plaintext holds.
    #[error("length field {0} exceeds the plaintext")]
    LengthField(u32),
    /// The message bytes are not UTF-8.
    #[error("decrypted message is not UTF-8")]
    NotUtf8,
    /// The trailing appid differs from the configured one.
    #[error("appid in the message is not ours")]
    AppIdMismatch,
}

/// The 32-byte AES key decoded from the console's 43-character `EncodingAESKey`.
#[derive(Clone)]
pub struct EncodingAesKey([u8; 32]);

impl EncodingAesKey {
    /// Decodes the 43-character key as base64 with a `=` appended.
    ///
    /// # Errors
    ///
    /// [`CryptoError::KeyLength`] unless the key is exactly 43 characters,
    /// [`CryptoError::KeyBase64`] if it is not base64.
    pub fn parse(s: &str) -> Result<Self, CryptoError> {
        let chars = s.chars().count();
        if chars != KEY_TEXT_LEN || s.len() != KEY_TEXT_LEN {
            return Err(CryptoError::KeyLength(chars));
        }
        let bytes = LENIENT_KEY_ENGINE
            .decode(format!("{s}="))
            .map_err(|_| CryptoError::KeyBase64)?;
        let key = <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::KeyBase64)?;
        Ok(Self(key))
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.0[..16]);
        iv
    }
}

impl fmt::Debug for EncodingAesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EncodingAesKey(<redacted>)")
    }
}

/// Encrypts replies and decrypts pushes for one account.
#[derive(Clone, Debug)]
pub struct MessageCrypto {
    key: EncodingAesKey,
    appid: String,
}

impl MessageCrypto {
    /// Binds a key to the appid that every decrypted message must carry.
    #[must_use]
    pub fn new(key: EncodingAesKey, appid: &str) -> Self {
        Self {
            key,
            appid: appid.to_owned(),
        }
    }

    /// Encrypts `message` with the given 16-byte random prefix and returns base64.
    ///
    /// Deterministic for a given `random16`; use [`Self::encrypt_random`] in production.
    #[must_use]
    pub fn encrypt(&self, message: &str, random16: [u8; 16]) -> String {
        // A message over 4 GiB cannot be framed; a saturated length makes the result
        // undecryptable instead of silently mis-framed. Callers bound bodies far lower.
        let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
        let body_len = HEADER_LEN + message.len() + self.appid.len();
        let pad = PAD_BLOCK - body_len % PAD_BLOCK;
        let mut plain = Vec::with_capacity(body_len + pad);
        plain.extend_from_slice(&random16);
        plain.extend_from_slice(&len.to_be_bytes());
        plain.extend_from_slice(message.as_bytes());
        plain.extend_from_slice(self.appid.as_bytes());
        // pad is 1..=32, so the cast is lossless.
        plain.resize(body_len + pad, pad as u8);
        let cipher = cbc::Encryptor::<Aes256>::new(&self.key.0.into(), &self.key.iv().into())
            .encrypt_padded_vec::<NoPadding>(&plain);
        STANDARD.encode(cipher)
    }

    /// Encrypts `message` with a fresh random prefix from the thread RNG.
    #[must_use]
    pub fn encrypt_random(&self, message: &str) -> String {
        self.encrypt(message, rand::random())
    }

    /// Decrypts the base64 `Encrypt` value of a push and returns the message XML.
    ///
    /// # Errors
    ///
    /// A distinct [`CryptoError`] for bad base64, a ciphertext length that is not a
    /// positive multiple of 16, bad padding, a header or length field that does not fit,
    /// a message that is not UTF-8, and an appid that is not ours.
    pub fn decrypt(&self, b64: &str) -> Result<String, CryptoError> {
        let cipher = STANDARD
            .decode(b64.trim())
            .map_err(|_| CryptoError::CiphertextBase64)?;
        if cipher.is_empty() || cipher.len() % 16 != 0 {
            return Err(CryptoError::CiphertextLength(cipher.len()));
        }
        let plain = cbc::Decryptor::<Aes256>::new(&self.key.0.into(), &self.key.iv().into())
            .decrypt_padded_vec::<NoPadding>(&cipher)
            .map_err(|_| CryptoError::CiphertextLength(cipher.len()))?;
        let body = unpad(&plain)?;
        if body.len() < HEADER_LEN {
            return Err(CryptoError::TooShort);
        }
        let (header, rest) = body.split_at(HEADER_LEN);
        let len = u32::from_be_bytes([header[16], header[17], header[18], header[19]]);
        let msg_len = usize::try_from(len).map_err(|_| CryptoError::LengthField(len))?;
        if msg_len > rest.len() {
            return Err(CryptoError::LengthField(len));
        }
        let (message, appid) = rest.split_at(msg_len);
        let message = std::str::from_utf8(message).map_err(|_| CryptoError::NotUtf8)?;
        if !bool::from(appid.ct_eq(self.appid.as_bytes())) {
            return Err(CryptoError::AppIdMismatch);
        }
        Ok(message.to_owned())
    }
}

/// Strips WeChat's PKCS#7 padding, whose value may be anything from 1 to 32.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let &pad = plain.last().ok_or(CryptoError::Padding)?;
    let pad = usize::from(pad);
    if pad == 0 || pad > PAD_BLOCK || pad > plain.len() {
        return Err(CryptoError::Padding);
    }
    let (body, padding) = plain.split_at(plain.len() - pad);
    if padding.iter().any(|&b| usize::from(b) != pad) {
        return Err(CryptoError::Padding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests;
