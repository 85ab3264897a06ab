//! `GET /api/v1/tags`: the account's WeChat user tags that qrscene knows (created or found
//! by its taggings), with the followers qrscene tagged with each.

use actix_web::{HttpResponse, get, web};
use sea_orm::{FromQueryResult, Statement};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::Accounts;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::state::Db;

/// The account of a tags request.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TagsQuery {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    pub account: Option<String>,
}

/// A tag of the account's mirror.
#[derive(Debug, Serialize, ToSchema, FromQueryResult)]
pub struct TagView {
    /// WeChat's tag id.
    pub tag_id: i64,
    /// Its name.
    pub name: String,
    /// Followers qrscene tagged with it.
    pub tagged: i64,
    /// Epoch milliseconds of the last tagging qrscene made with it.
    pub last_tagged_ms: Option<i64>,
}

/// The account's tags with the followers qrscene tagged with each, most used first.
#[utoipa::path(
    tag = "actions",
    operation_id = "list_tags",
    params(TagsQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The tags", body = [TagView]),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[get("/api/v1/tags")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn list(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    query: web::Query<TagsQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts.resolve(&caller, query.account.as_deref()).await?;
    let tags = TagView::find_by_statement(Statement::from_sql_and_values(
        db.0.get_database_backend(),
        "SELECT t.tag_id, t.name, COUNT(f.openid) AS tagged, MAX(f.tagged_ms) AS last_tagged_ms \
        FROM wechat_tag t LEFT JOIN follower_tag f ON f.account_id = t.account_id AND f.tag_id = t.tag_id \
        WHERE t.account_id = $1 GROUP BY t.tag_id, t.name ORDER BY COUNT(f.openid) DESC, t.tag_id",
        [account.id.into()],
    ))
    .all(&db.0)
    .await?;
    Ok(HttpResponse::Ok().json(tags))
}
