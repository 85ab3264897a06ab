//! Account binding and scan-to-login: a temporary code made for one user of the caller's
//! system; the first scan of it binds that user to the scanner's openid. A user's current
//! binding is their latest bound one; earlier ones stay as history.

use chrono::{DateTime, Utc};
use entity::account_binding::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, DatabaseConnection,
    EntityTrait, FromQueryResult, QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::wait::first_scan;
use crate::error::ApiError;
use crate::generation::request::{NewGeneration, Payload};
use crate::generation::view::GenerationView;
use crate::generation::{Created, Generations};
use crate::wechat::qrcode::{ExpireSeconds, LimitError, QrKind};

/// Expiry of a binding code when the caller gives none: 10 minutes.
pub const DEFAULT_EXPIRE_SECONDS: i64 = 600;
/// Bindings listed per external user.
pub const HISTORY: u64 = 50;

/// `POST /api/v1/bindings`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBinding {
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
    /// Scanned: `openid` is bound.
    Bound,
    /// Not scanned before its code expired.
    Expired,
}

/// A binding as the API answers it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BindingView {
    /// Binding id.
    pub id: i64,
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
    generations: &Generations,
    mp_base: &str,
    new: NewBinding,
    api_key: Option<String>,
) -> Result<BindingView, ApiError> {
    let user = new.external_user_id;
    if user.is_empty() || user.chars().count() > 128 || user.chars().any(char::is_control) {
        return Err(LimitError::new(
            "external_user_id",
            "must be 1 to 128 characters without control characters",
        )
        .into());
    }
    let expire = ExpireSeconds::parse(
        "expire_seconds",
        new.expire_seconds.unwrap_or(DEFAULT_EXPIRE_SECONDS),
    )?;
    let payload = serde_json::json!({ "purpose": "binding", "external_user_id": user });
    let request = NewGeneration {
        kind: QrKind::Temporary,
        scene: None,
        expire: Some(expire),
        payload: Some(Payload::parse("payload", payload)?),
        reply: None,
    };
    let (Created::New(generation) | Created::Existing(generation)) =
        generations.create(request, api_key.clone()).await?;
    let now = Utc::now();
    let expires_at = generation.expires_at.unwrap_or(now);
    let row = account_binding::ActiveModel {
        id: NotSet,
        external_user_id: Set(user),
        generation_id: Set(generation.id),
        api_key: Set(api_key),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    let mut view = BindingView {
        id: row.id,
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

/// One binding, with its state derived from its code's first scan.
///
/// # Errors
/// Not found, or the database failed.
pub async fn get(
    db: &DatabaseConnection,
    generations: &Generations,
    id: i64,
) -> Result<BindingView, ApiError> {
    let row = Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no binding with id {id}")))?;
    view(db, generations, row).await
}

/// The current binding of one external user (their latest bound one, among all their
/// bindings), and their latest bindings, newest first.
///
/// # Errors
/// The database failed.
pub async fn of_user(
    db: &DatabaseConnection,
    generations: &Generations,
    external_user_id: &str,
) -> Result<(Option<BindingView>, Vec<BindingView>), ApiError> {
    let rows = Entity::find()
        .filter(Column::ExternalUserId.eq(external_user_id))
        .order_by_desc(Column::Id)
        .limit(HISTORY)
        .all(db)
        .await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(view(db, generations, row).await?);
    }
    // Bound means scanned: the binding whose first scan is the latest is the current one.
    let latest_bound = Statement::from_sql_and_values(
        db.get_database_backend(),
        "SELECT b.id AS id FROM account_binding b \
         JOIN wechat_event e ON e.generation_id = b.generation_id AND e.kind IN ('subscribe', 'scan') \
         WHERE b.external_user_id = $1 GROUP BY b.id ORDER BY MIN(e.id) DESC LIMIT 1",
        [external_user_id.into()],
    );
    let current = match IdRow::find_by_statement(latest_bound).one(db).await? {
        Some(IdRow { id }) => match views.iter().position(|v| v.id == id) {
            Some(i) => Some(views[i].clone()),
            None => match Entity::find_by_id(id).one(db).await? {
                Some(row) => Some(view(db, generations, row).await?),
                None => None,
            },
        },
        None => None,
    };
    Ok((current, views))
}

#[derive(Debug, FromQueryResult)]
struct IdRow {
    id: i64,
}

async fn view(
    db: &DatabaseConnection,
    generations: &Generations,
    row: account_binding::Model,
) -> Result<BindingView, ApiError> {
    let generation = generations.get(row.generation_id).await?;
    let scan = first_scan(db, &generation).await?;
    let status = match &scan {
        Some(_) => Status::Bound,
        None if Utc::now() >= row.expires_at => Status::Expired,
        None => Status::Pending,
    };
    Ok(BindingView {
        id: row.id,
        external_user_id: row.external_user_id,
        status,
        openid: scan.as_ref().map(|s| s.openid.clone()),
        bound_at: scan.map(|s| s.occurred_at),
        qrcode_id: row.generation_id,
        expires_at: row.expires_at,
        created_at: row.created_at,
        qrcode: None,
    })
}
