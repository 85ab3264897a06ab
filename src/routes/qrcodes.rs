//! `/api/v1/qrcodes`: create, read, list, and images.

use actix_web::{HttpResponse, get, http::header, post, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::Accounts;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::generation::request::{CreateQrcodeBody, MAX_ACTIVITY_ID_CHARS, NewGeneration};
use crate::generation::service::ListFilter;
use crate::generation::view::{GenerationView, KindView, StatusView};
use crate::generation::{Created, GenerationError, Generations};
use crate::image as drawing;
use crate::paging::PageRequest;
use crate::state::MpBase;
use crate::wechat::qrcode::{LimitError, QrKind};

impl From<GenerationError> for ApiError {
    fn from(e: GenerationError) -> Self {
        match e {
            GenerationError::Invalid(e) => Self::Invalid(e),
            e @ (GenerationError::NotFound(_) | GenerationError::NoImage(_)) => {
                Self::NotFound(e.to_string())
            }
            GenerationError::PermanentCapReached(cap) => Self::PermanentCapReached(cap),
            e @ (GenerationError::Retired { .. } | GenerationError::NotRetirable(_)) => {
                Self::Conflict(e.to_string())
            }
            GenerationError::WeChat { source, generation } => Self::WeChat { source, generation },
            GenerationError::AccountUnavailable(e @ crate::accounts::NoWeChat::Problem(_)) => {
                Self::Unavailable(e.to_string())
            }
            GenerationError::AccountUnavailable(e @ crate::accounts::NoWeChat::NoSecret(_)) => {
                Self::Conflict(e.to_string())
            }
            GenerationError::Database(e) => e.into(),
        }
    }
}

/// Creates a QR code through WeChat: 201 with a new generation, 200 with a stored permanent one.
///
/// Every attempt is logged, failures included; a WeChat failure names the logged
/// generation in `generation_id`. Asking again for a permanent scene that exists answers the
/// stored generation without calling WeChat.
#[utoipa::path(
    operation_id = "create_qrcode",
    tag = "qrcodes",
    request_body = CreateQrcodeBody,
    security(("api_key" = [])),
    responses(
        (status = 201, description = "A new generation", body = GenerationView),
        (status = 200, description = "The stored permanent code of this scene", body = GenerationView),
        (status = 400, description = "`invalid_field` (a WeChat limit or our rule) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: the key may not use this account", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account has this appid", body = ErrorBody),
        (status = 409, description = "`permanent_limit_reached`: the 100,000 permanent codes are used up; `conflict`: the account has no AppSecret", body = ErrorBody),
        (status = 429, description = "`wechat_quota_exceeded`: WeChat's daily quota (45009)", body = ErrorBody),
        (status = 502, description = "`wechat_configuration`, `wechat_error` or `wechat_unreachable`", body = ErrorBody),
        (status = 503, description = "`wechat_token_unavailable`: no access token could be had", body = ErrorBody),
        (status = 504, description = "`wechat_timeout`: WeChat did not answer in time", body = ErrorBody),
    )
)]
#[post("")]
#[tracing::instrument(skip_all, fields(caller = ?caller.key_name))]
pub async fn create(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    mp: web::Data<MpBase>,
    body: web::Json<CreateQrcodeBody>,
) -> Result<HttpResponse, ApiError> {
    let mut body = body.into_inner();
    let account = accounts
        .resolve(&caller, body.account.take().as_deref())
        .await?;
    let new = NewGeneration::try_from(body)?;
    Ok(
        match generations.create(&account, new, caller.key_name).await? {
            Created::New(m) => HttpResponse::Created().json(GenerationView::new(m, &mp.0)),
            Created::Existing(m) => HttpResponse::Ok().json(GenerationView::new(m, &mp.0)),
        },
    )
}

/// One generation, succeeded or failed.
#[utoipa::path(
    operation_id = "get_qrcode",
    tag = "qrcodes",
    params(("id" = i64, Path, description = "Generation id"), AccountQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The generation", body = GenerationView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such generation (or one of an account the key may not use)", body = ErrorBody),
    )
)]
#[get("/{id}")]
#[tracing::instrument(skip_all)]
pub async fn get(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    mp: web::Data<MpBase>,
    id: web::Path<i64>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, ApiError> {
    let model = visible(&caller, &accounts, &generations, id.into_inner(), &query).await?;
    Ok(HttpResponse::Ok().json(GenerationView::new(model, &mp.0)))
}

/// Retires a permanent code: WeChat never frees a permanent scene, so a retired one is
/// refused when asked for again (409); its scans still count. Once; later calls answer the
/// same.
#[utoipa::path(
    operation_id = "retire_qrcode",
    tag = "qrcodes",
    params(("id" = i64, Path, description = "Generation id"), AccountQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The code, retired", body = GenerationView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such generation (or one of an account the key may not use)", body = ErrorBody),
        (status = 409, description = "`conflict`: not a permanent code that WeChat made", body = ErrorBody),
    )
)]
#[post("/{id}/retire")]
#[tracing::instrument(skip_all)]
pub async fn retire(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    mp: web::Data<MpBase>,
    id: web::Path<i64>,
    query: web::Query<AccountQuery>,
) -> Result<HttpResponse, ApiError> {
    let model = visible(&caller, &accounts, &generations, id.into_inner(), &query).await?;
    let retired = generations.retire(model.account_id, model.id).await?;
    tracing::info!(generation = retired.id, scene = %retired.scene, "permanent code retired");
    Ok(HttpResponse::Ok().json(GenerationView::new(retired, &mp.0)))
}

/// Query of the listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    account: Option<String>,
    /// Only codes whose `payload.activity_id` is this.
    #[param(min_length = 1, max_length = 128)]
    activity_id: Option<String>,
    /// Only codes of this kind.
    #[param(value_type = Option<KindView>, inline)]
    kind: Option<String>,
    /// Only generations in this state.
    #[param(value_type = Option<StatusView>, inline)]
    status: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = r"^[0-9]{1,18}$")]
    cursor: Option<String>,
    /// Page size, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u64>,
}

/// A page of generations, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct GenerationPage {
    /// The generations.
    pub items: Vec<GenerationView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// Generations, newest first, filtered and paged with a cursor.
#[utoipa::path(
    operation_id = "list_qrcodes",
    tag = "qrcodes",
    params(ListQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of generations", body = GenerationPage),
        (status = 400, description = "`invalid_field` (kind, status, cursor, limit) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 403, description = "`forbidden`: the key may not use this account", body = ErrorBody),
        (status = 404, description = "`not_found`: no enabled account has this appid", body = ErrorBody),
    )
)]
#[get("")]
#[tracing::instrument(skip_all)]
pub async fn list(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    mp: web::Data<MpBase>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let account = accounts.resolve(&caller, q.account.as_deref()).await?;
    let status = match q.status.as_deref() {
        None => None,
        Some("pending") => Some(StatusView::Pending),
        Some("succeeded") => Some(StatusView::Succeeded),
        Some("failed") => Some(StatusView::Failed),
        Some(other) => {
            return Err(LimitError::new(
                "status",
                format!("must be pending, succeeded or failed, got {other:?}"),
            )
            .into());
        }
    };
    if let Some(activity) = &q.activity_id
        && !(1..=MAX_ACTIVITY_ID_CHARS).contains(&activity.chars().count())
    {
        return Err(LimitError::new(
            "activity_id",
            format!("must be 1 to {MAX_ACTIVITY_ID_CHARS} characters"),
        )
        .into());
    }
    let page = PageRequest::parse(q.cursor.as_deref(), q.limit)?;
    let filter = ListFilter {
        activity_id: q.activity_id,
        kind: q.kind.as_deref().map(QrKind::parse).transpose()?,
        status: status.map(Into::into),
        page,
    };
    let (rows, next) = generations.list(account.id, filter).await?;
    let items: Vec<_> = rows
        .into_iter()
        .map(|m| GenerationView::new(m, &mp.0))
        .collect();
    Ok(HttpResponse::Ok().json(GenerationPage {
        items,
        next_cursor: next.map(|id| id.to_string()),
    }))
}

/// The formats of a code's image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// `image/png`.
    Png,
    /// `image/svg+xml`.
    Svg,
}

/// Query of the image routes.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImageQuery {
    /// When given, the code must be of this account (appid).
    account: Option<String>,
    /// Width and height in pixels, 64 to 2048.
    #[param(minimum = 64, maximum = 2048, default = 430)]
    size: Option<u32>,
}

/// The code's image (`image.png` or `image.svg`), drawn locally from its `url`.
#[utoipa::path(
    operation_id = "qrcode_image",
    tag = "qrcodes",
    params(
        ("id" = i64, Path, description = "Generation id"),
        ("format" = inline(ImageFormat), Path, description = "The image format", example = "png"),
        ImageQuery,
    ),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The image", content(
            ([u8] = "image/png"),
            (String = "image/svg+xml"),
        )),
        (status = 400, description = "`invalid_field`: size out of range", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such generation, a failed one, or a format other than png and svg", body = ErrorBody),
    )
)]
#[get("/{id}/image.{format}")]
pub async fn image(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    path: web::Path<(i64, ImageFormat)>,
    query: web::Query<ImageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, format) = path.into_inner();
    let query = query.into_inner();
    let only = AccountQuery {
        account: query.account,
    };
    let model = visible(&caller, &accounts, &generations, id, &only).await?;
    let (url, size) = image_input(model, query.size)?;
    let (content_type, body) = if format == ImageFormat::Png {
        (
            "image/png",
            drawing::png(&url, size).map_err(|e| ApiError::Internal(e.into()))?,
        )
    } else {
        (
            "image/svg+xml",
            drawing::svg(&url, size)
                .map_err(|e| ApiError::Internal(e.into()))?
                .into_bytes(),
        )
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .body(body))
}

fn image_input(
    model: entity::qr_generation::Model,
    size: Option<u32>,
) -> Result<(String, u32), ApiError> {
    let size = size.unwrap_or(drawing::DEFAULT_SIZE);
    if !(drawing::MIN_SIZE..=drawing::MAX_SIZE).contains(&size) {
        return Err(LimitError::new(
            "size",
            format!(
                "must be between {} and {} pixels",
                drawing::MIN_SIZE,
                drawing::MAX_SIZE
            ),
        )
        .into());
    }
    let id = model.id;
    let url = model.url.ok_or(GenerationError::NoImage(id))?;
    Ok((url, size))
}

/// The optional `account` of a lookup by id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccountQuery {
    /// When given, the code must be of this account (appid); otherwise 404.
    pub account: Option<String>,
}

/// Generation `id`, when the caller may see its account (and it is `only.account`, when
/// given): a code of another account is not found, never forbidden.
///
/// # Errors
/// 404 when there is no such code or it is not the caller's to see.
pub async fn visible(
    caller: &Caller,
    accounts: &Accounts,
    generations: &Generations,
    id: i64,
    only: &AccountQuery,
) -> Result<entity::qr_generation::Model, ApiError> {
    let model = generations.get(id).await?;
    let account = accounts.by_id(model.account_id);
    let shown = accounts.visible(caller, model.account_id)
        && match only.account.as_deref() {
            Some(appid) => account.is_some_and(|a| a.appid.as_str() == appid),
            None => true,
        };
    if shown {
        Ok(model)
    } else {
        Err(GenerationError::NotFound(id).into())
    }
}
