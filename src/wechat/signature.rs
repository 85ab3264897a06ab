//! Callback signatures: the SHA-1 of sorted, concatenated strings that WeChat puts in
//! `signature` (token, timestamp, nonce) and `msg_signature` (the same plus `Encrypt`).

use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// Sorts `parts` lexicographically, concatenates them and returns the lowercase hex
/// SHA-1 of the result.
#[must_use]
pub fn sign(parts: &[&str]) -> String {
    let mut sorted = parts.to_vec();
    sorted.sort_unstable();
    let mut hasher = Sha1::new();
    for part in sorted {
        hasher.update(part.as_bytes());
    }
    hex::encode(hasher.finalize())
}

/// Returns whether `expected_hex` (any letter case) is the signature of `parts`.
///
/// The comparison runs in constant time so that a caller cannot learn a valid
/// signature byte by byte from response timings.
#[must_use]
pub fn verify(expected_hex: &str, parts: &[&str]) -> bool {
    let expected = expected_hex.to_ascii_lowercase();
    let actual = sign(parts);
    expected.as_bytes().ct_eq(actual.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENCRYPT: &str =
        "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ==";

    #[test]
    fn url_signature_vector() {
        let parts = ["AAAAA", "1714036504", "1514711492"];
        assert_eq!(sign(&parts), "f464b24fc39322e44b38aa78f5edd27bd1441696");
    }

    #[test]
    fn msg_signature_vector() {
        let parts = ["AAAAA", "1713424427", "415670741", ENCRYPT];
        assert_eq!(sign(&parts), "1b9339964ed2e271e7c7b6ff2b0ef902fc94dea1");
    }

    #[test]
    fn order_of_parts_does_not_matter() {
        let a = sign(&["1514711492", "AAAAA", "1714036504"]);
        assert_eq!(a, sign(&["AAAAA", "1714036504", "1514711492"]));
    }

    #[test]
    fn verify_accepts_the_right_signature_in_any_case() {
        let parts = ["AAAAA", "1714036504", "1514711492"];
        assert!(verify("f464b24fc39322e44b38aa78f5edd27bd1441696", &parts));
        assert!(verify("F464B24FC39322E44B38AA78F5EDD27BD1441696", &parts));
    }

    #[test]
    fn verify_rejects_wrong_truncated_and_empty_signatures() {
        let parts = ["AAAAA", "1714036504", "1514711492"];
        assert!(!verify("f464b24fc39322e44b38aa78f5edd27bd1441697", &parts));
        assert!(!verify("f464b24fc39322e44b38aa78f5edd27bd144169", &parts));
        assert!(!verify("", &parts));
        assert!(!verify(
            "f464b24fc39322e44b38aa78f5edd27bd1441696",
            &["AAAAB", "1714036504", "1514711492"]
        ));
    }
}
