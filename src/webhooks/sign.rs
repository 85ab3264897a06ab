//! Standard Webhooks signatures: `webhook-signature: v1,<base64 of HMAC-SHA256(secret,
//! "{webhook-id}.{webhook-timestamp}.{body}")>`, the secret being the base64-decoding of what
//! follows `whsec_`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What a signing secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a stored secret cannot sign.
#[derive(Debug, thiserror::Error)]
#[error("the webhook's secret is not `whsec_` and base64")]
pub struct BadSecret;

/// The key bytes of secret `whsec_...`.
///
/// # Errors
/// The secret is not `whsec_` followed by base64.
pub fn secret_bytes(secret: &str) -> Result<Vec<u8>, BadSecret> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    let bytes = STANDARD.decode(encoded).map_err(|_| BadSecret)?;
    if bytes.is_empty() {
        return Err(BadSecret);
    }
    Ok(bytes)
}

/// The `webhook-signature` header of message `id` sent at `timestamp` (Unix seconds) with
/// `body`, under `key` (see [`secret_bytes`]).
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The `webhook-id` of the delivery that is outbox job `job_id`: the same on every attempt.
pub fn message_id(job_id: i64) -> String {
    format!("msg_{job_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks specification (and of its reference
    /// libraries), not computed here.
    #[test]
    fn signs_the_specifications_test_vector() {
        let key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        // Any change of id, time or body changes it.
        assert_ne!(
            signature(
                &key,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_331,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_must_be_base64() {
        assert!(secret_bytes("whsec_not base64!").is_err());
        assert!(secret_bytes("whsec_").is_err());
        assert_eq!(message_id(42), "msg_42");
    }
}
