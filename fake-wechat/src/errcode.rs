//! The `errcode`s the fake answers, as WeChat documents them.

/// Invalid credential / not the latest token.
pub const ERR_INVALID_CREDENTIAL: i64 = 40001;
/// Invalid appid.
pub const ERR_INVALID_APPID: i64 = 40013;
/// Invalid access_token.
pub const ERR_INVALID_TOKEN: i64 = 40014;
/// A request without `access_token`.
pub const ERR_TOKEN_MISSING: i64 = 41001;
/// access_token expired.
pub const ERR_TOKEN_EXPIRED: i64 = 42001;
/// Daily API quota reached (also: more forced refreshes of the stable token than a day allows).
pub const ERR_QUOTA: i64 = 45009;
/// Too many permanent QR codes.
pub const ERR_PERMANENT_LIMIT: i64 = 45029;
/// A `qrcode/create` body WeChat refuses (action, scene or expiry out of range).
pub const ERR_INVALID_ARGS: i64 = 40097;
/// Invalid appsecret.
pub const ERR_INVALID_SECRET: i64 = 40125;
/// The caller's IP is not on the account's whitelist (a console setting).
pub const ERR_IP_NOT_WHITELISTED: i64 = 40164;
