//! The simulated WeChat used when no credentials are set: same answers, made locally.
//!
//! Requests reach it already validated ([`QrSpec`] cannot hold a value WeChat refuses), so
//! it only has to mint tickets and urls of WeChat's shape.

use base64::Engine;
use rand::RngExt;

use super::qrcode::{QrSpec, QrTicket};

/// Mints tickets and urls in WeChat's format.
#[derive(Debug, Clone, Default)]
pub struct Sandbox;

impl Sandbox {
    /// What `qrcode/create` would answer for `spec`.
    pub fn create_qrcode(&self, spec: &QrSpec) -> QrTicket {
        QrTicket {
            ticket: new_ticket(),
            expire_seconds: spec.expire.map(|e| e.get()),
            url: new_url(),
        }
    }
}

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
