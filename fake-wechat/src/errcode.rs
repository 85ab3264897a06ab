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
/// Invalid openid (empty, or not a follower of the account).
pub const ERR_INVALID_OPENID: i64 = 40003;
/// Invalid message type (`msgtype` of `message/custom/send`).
pub const ERR_INVALID_MSGTYPE: i64 = 40008;
/// Invalid openid list: empty, or more than 50 openids in one `batchtagging` call.
pub const ERR_INVALID_OPENID_LIST: i64 = 40032;
/// A request without a body.
pub const ERR_EMPTY_POST_DATA: i64 = 44002;
/// Message content too long (text over 2048 bytes).
pub const ERR_CONTENT_TOO_LONG: i64 = 45002;
/// A news message with more articles than allowed (one since October 2018).
pub const ERR_ARTICLE_COUNT: i64 = 45008;
/// The customer-service window after the user's interaction has passed.
pub const ERR_REPLY_TIME_LIMIT: i64 = 45015;
/// More customer-service messages than the window after the user's interaction allows.
pub const ERR_REPLY_COUNT_LIMIT: i64 = 45047;
/// The account has its 100 tags already.
pub const ERR_TOO_MANY_TAGS: i64 = 45056;
/// A user would have more than 20 tags.
pub const ERR_USER_TAG_LIMIT: i64 = 45059;
/// A tag of that name exists.
pub const ERR_TAG_NAME_EXISTS: i64 = 45157;
/// A tag name longer than 30 bytes.
pub const ERR_TAG_NAME_TOO_LONG: i64 = 45158;
/// An unknown tag id.
pub const ERR_INVALID_TAG_ID: i64 = 45159;
/// A body that is not the JSON the API documents.
pub const ERR_DATA_FORMAT: i64 = 47001;
