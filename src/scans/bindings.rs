//! Account binding and scan-to-login: a temporary code made for one user of the caller's
//! system; the first scan of it made before it expired binds that user to the scanner's
//! openid (a later scan of an expired code binds nothing). A user's current binding is their
//! latest bound one; earlier ones stay as history.

mod query;
mod user;

use chrono::{DateTime, Utc};
use entity::account_binding;
use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, DatabaseConnection};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use self::query::{BindingRow, Which};
pub use self::user::ExternalUserId;
use crate::accounts::Account;
use crate::generation::request::{NewGeneration, Payload};
use crate::generation::view::GenerationView;
use crate::generation::{Created, GenerationError, Generations};
use crate::wechat::qrcode::{ExpireSeconds, LimitError, QrKind};

/// Why a binding could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum BindingError {
    /// A field broke a rule.
    #[error(transparent)]
    Invalid(#[from] LimitError),
    /// Its code could not be made.
    #[error(transparent)]
    Generation(#[from] GenerationError),
    /// No binding with this id.
    #[error("no binding with id {0}")]
    NotFound(i64),
    /// The bindings could not be read or written.
    #[error("the bindings could not be read or written")]
    Database(#[from] sea_orm::DbErr),
}

/// Expiry of a binding code when the caller gives none: 10 minutes.
pub const DEFAULT_EXPIRE_SECONDS: i64 = 600;
/// Bindings listed per external user.
pub const HISTORY: u64 = 50;

/// `POST /api/v1/bindings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    pub account: Option<String>,
    /// The user in the caller's system: 1 to 128 characters without control characters.
    #[schema(example = "user-42")]
    pub external_user_id: String,
    /// Seconds until the code expires, 1..2592000 (default 600).
    pub expire_seconds: Option<i64>,
}

/// `pending`, `bound` or `expired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = BindingStatus)]
pub enum Status {
    /// Not scanned yet; the code is still valid.
    Pending,
    /// Scanned while its code was valid: `openid` is bound.
    Bound,
    /// Not scanned before its code expired (a later scan binds nothing).
    Expired,
}

/// A binding as the API answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BindingView {
    /// Binding id.
    pub id: i64,
    /// The account's internal id (to check who may see it).
    #[serde(skip)]
    pub account_id: i64,
    /// The user in the caller's system.
    pub external_user_id: String,
    /// State.
    pub status: Status,
    /// The bound openid.
    pub openid: Option<String>,
    /// When it was bound (the scan's time).
    pub bound_at: Option<DateTime<Utc>>,
    /// The code to show; wait on it with `GET /api/v1/qrcodes/{id}/wait`.
    pub qrcode_id: i64,
    /// When the code expires.
    pub expires_at: DateTime<Utc>,
    /// When it was asked.
    pub created_at: DateTime<Utc>,
    /// The code itself (on creation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qrcode: Option<GenerationView>,
}

/// Makes a binding code for `new.external_user_id`.
///
/// # Errors
/// An invalid field, WeChat failing, or the database.
pub async fn create(
    db: &DatabaseConnection,
    account: &Account,
    generations: &Generations,
    mp_base: &str,
    new: NewBinding,
    api_key: Option<String>,
) -> Result<BindingView, BindingError> {
    let user = ExternalUserId::parse("external_user_id", new.external_user_id)?;
    let expire = ExpireSeconds::parse(
        "expire_seconds",
        new.expire_seconds.unwrap_or(DEFAULT_EXPIRE_SECONDS),
    )?;
    let payload = serde_json::json!({ "purpose": "binding", "external_user_id": user.as_str() });
    let request = NewGeneration {
        kind: QrKind::Temporary,
        scene: None,
        expire: Some(expire),
        payload: Some(Payload::parse("payload", payload)?),
        reply: None,
        actions: None,
    };
    let (Created::New(generation) | Created::Existing(generation)) = generations
        .create(account, request, api_key.clone())
        .await?;
    let now = Utc::now();
    let expires_at = generation.expires_at.unwrap_or(now);
    let row = account_binding::ActiveModel {
        id: NotSet,
        account_id: Set(account.id),
        external_user_id: Set(user.into_inner()),
        generation_id: Set(generation.id),
        api_key: Set(api_key),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    let mut view = BindingView {
        id: row.id,
        account_id: row.account_id,
        external_user_id: row.external_user_id,
        status: Status::Pending,
        openid: None,
        bound_at: None,
        qrcode_id: generation.id,
        expires_at,
        created_at: row.created_at,
        qrcode: None,
    };
    view.qrcode = Some(GenerationView::new(generation, mp_base));
    Ok(view)
}

/// One binding, with its state derived from its code's binding scan.
///
/// # Errors
/// Not found, or the database failed.
pub async fn get(db: &DatabaseConnection, id: i64) -> Result<BindingView, BindingError> {
    query::read(db, Which::Id(id))
        .await?
        .into_iter()
        .next()
        .map(view)
        .ok_or(BindingError::NotFound(id))
}

/// The current binding of one external user (the one whose binding scan is the latest,
/// among all their bindings), and their latest bindings, newest first: two statements
/// however many bindings there are.
///
/// # Errors
/// The database failed.
pub async fn of_user(
    db: &DatabaseConnection,
    account_id: i64,
    user: &ExternalUserId,
) -> Result<(Option<BindingView>, Vec<BindingView>), BindingError> {
    let history = query::read(db, Which::History(account_id, user, HISTORY)).await?;
    let current = query::read(db, Which::Current(account_id, user)).await?;
    Ok((
        current.into_iter().next().map(view),
        history.into_iter().map(view).collect(),
    ))
}

fn view(row: BindingRow) -> BindingView {
    let status = match row.scan_id {
        Some(_) => Status::Bound,
        None if Utc::now() >= row.expires_at => Status::Expired,
        None => Status::Pending,
    };
    BindingView {
        id: row.id,
        account_id: row.account_id,
        external_user_id: row.external_user_id,
        status,
        openid: row.scan_openid,
        bound_at: row.scan_at,
        qrcode_id: row.generation_id,
        expires_at: row.expires_at,
        created_at: row.created_at,
        qrcode: None,
    }
}
