//! Tickets and urls of WeChat's shape. The service's sandbox mints its own: the fake shares
//! no code with the service it stands in front of.

use base64::Engine;
use rand::RngExt;

/// A ticket like WeChat's: base64 with `+`, `/` and `=` in it.
pub fn new_ticket() -> String {
    let mut bytes = [0u8; 46];
    rand::rng().fill(&mut bytes[..]);
    format!(
        "gQ{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A `http://weixin.qq.com/q/...` url, the content of the QR image.
pub fn new_url() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-";
    let mut rng = rand::rng();
    let code: String = (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!("http://weixin.qq.com/q/{code}")
}
