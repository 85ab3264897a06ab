//! Short scene keys that qrscene assigns when a caller gives no scene (and to every legacy
//! code), so that each code can be tied back to its generation.

use rand::RngExt;

/// Prefix of assigned keys, so they are told apart from callers' scenes in the log.
pub const PREFIX: &str = "qs";
/// Random characters after the prefix: 62^12, about 71 bits.
const RANDOM_CHARS: usize = 12;

/// A new key, e.g. `qs7fK2mZp0QaXe`.
pub fn new_key() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rng();
    let mut key = String::with_capacity(PREFIX.len() + RANDOM_CHARS);
    key.push_str(PREFIX);
    key.extend((0..RANDOM_CHARS).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char));
    key
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_are_short_valid_scenes_and_distinct() {
        let a = super::new_key();
        assert_eq!(a.len(), 14);
        assert!(crate::wechat::qrcode::SceneStr::parse(&a).is_ok());
        assert_ne!(a, super::new_key());
    }
}
