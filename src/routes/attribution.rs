//! Attribution: events of a code, a follower, and statistics.

use actix_web::{HttpResponse, get, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::accounts::Accounts;
use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::generation::Generations;
use crate::paging::PageRequest;
use crate::state::Db;
use crate::stats::events::EventView;
use crate::stats::followers::FollowerView;
use crate::stats::period::StatsZone;
use crate::stats::{
    Figures, Group, GroupBy, StatsError, StatsQuery, compute as compute_stats, events, followers,
};
use crate::wechat::qrcode::LimitError;

impl From<StatsError> for ApiError {
    fn from(e: StatsError) -> Self {
        match e {
            StatsError::Invalid { field, rule } => Self::Invalid(LimitError::new(field, rule)),
            StatsError::NoRollupState => Self::Internal(anyhow::Error::new(e)),
            StatsError::Database(e) => {
                Self::Internal(anyhow::Error::new(e).context("statistics database"))
            }
        }
    }
}

/// Paging of event lists.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// When given, the code must be of this account (appid).
    account: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200.
    #[param(minimum = 1, maximum = 200, default = 50)]
    limit: Option<u64>,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events.
    pub items: Vec<EventView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The scans of a code and the unsubscribes of the followers it first brought, newest first.
#[utoipa::path(
    tag = "attribution",
    params(("id" = i64, Path, description = "Generation id"), Page),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 400, description = "`invalid_field` (cursor, limit) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "No such generation", body = ErrorBody),
    )
)]
#[get("/{id}/events")]
#[tracing::instrument(skip_all)]
pub async fn code_events(
    caller: Caller,
    accounts: web::Data<Accounts>,
    generations: web::Data<Generations>,
    db: web::Data<Db>,
    id: web::Path<i64>,
    page: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let only = super::qrcodes::AccountQuery {
        account: page.account.clone(),
    };
    super::qrcodes::visible(&caller, &accounts, &generations, id, &only).await?;
    let page = PageRequest::parse(page.cursor.as_deref(), page.limit)?;
    let (items, next) = events::of_code(&db.0, id, page).await?;
    Ok(HttpResponse::Ok().json(EventPage {
        items,
        next_cursor: next.map(|n| n.to_string()),
    }))
}

/// One follower: whether they follow, the code that first brought them, recent events.
#[utoipa::path(
    operation_id = "get_follower",
    tag = "attribution",
    params(("openid" = String, Path, description = "The user's openid"), super::qrcodes::AccountQuery),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The follower", body = FollowerView),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
        (status = 404, description = "qrscene never saw this openid follow, scan or leave", body = ErrorBody),
    )
)]
#[get("/api/v1/followers/{openid}")]
#[tracing::instrument(skip_all)]
pub async fn follower(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    openid: web::Path<String>,
    query: web::Query<super::qrcodes::AccountQuery>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts.resolve(&caller, query.account.as_deref()).await?;
    let openid = openid.into_inner();
    match followers::find(&db.0, account.id, &openid).await? {
        Some(view) => Ok(HttpResponse::Ok().json(view)),
        None => Err(ApiError::NotFound(format!(
            "no follower {openid:?} has been seen"
        ))),
    }
}

/// Query of `GET /api/v1/stats`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsParams {
    /// The account (appid); may be left out when the key (or the deployment) has exactly one.
    account: Option<String>,
    /// Required: `activity`, `qrcode` or `day`.
    #[param(example = "day")]
    group_by: Option<String>,
    /// Required: start (inclusive), RFC 3339.
    #[param(example = "2026-11-01T00:00:00+08:00")]
    from: Option<String>,
    /// Required: end (exclusive), RFC 3339; at most 366 days after `from`.
    #[param(example = "2026-11-08T00:00:00+08:00")]
    to: Option<String>,
    /// IANA time zone of day buckets; without it, the server's `QRSCENE_STATS_TZ` (the
    /// rollups' zone, `Asia/Shanghai` unless configured).
    #[param(example = "Asia/Shanghai")]
    tz: Option<String>,
    /// Only codes of this activity.
    activity_id: Option<String>,
}

/// Statistics of a period, grouped.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatsReport {
    /// The grouping.
    pub group_by: GroupBy,
    /// Start, inclusive, in `tz`.
    pub from: String,
    /// End, exclusive, in `tz`.
    pub to: String,
    /// Time zone of day buckets.
    pub tz: String,
    /// The activity filter.
    pub activity_id: Option<String>,
    /// Days ascending with every day present; otherwise by new followers.
    pub groups: Vec<Group>,
    /// Figures of the whole period.
    pub totals: Figures,
    /// Whole days of the period answered from the daily rollups (Postgres); the rest was
    /// read from the events. The figures are exact either way.
    pub rollup_days: u32,
}

/// Scans, unique scanners, new and net new followers, returning scans and unsubscribes per
/// activity, code or local day.
#[utoipa::path(
    operation_id = "get_stats",
    tag = "attribution",
    params(StatsParams),
    security(("api_key" = [])),
    responses(
        (status = 200, description = "The figures", body = StatsReport),
        (status = 400, description = "`invalid_field` (group_by, from, to, tz) or `malformed_request`", body = ErrorBody),
        (status = 401, description = "Missing or unknown API key", body = ErrorBody),
    )
)]
#[get("/api/v1/stats")]
#[tracing::instrument(skip_all)]
pub async fn stats(
    caller: Caller,
    accounts: web::Data<Accounts>,
    db: web::Data<Db>,
    zone: web::Data<StatsZone>,
    params: web::Query<StatsParams>,
) -> Result<HttpResponse, ApiError> {
    let p = params.into_inner();
    let account = accounts.resolve(&caller, p.account.as_deref()).await?;
    let q = StatsQuery::parse(
        p.group_by.as_deref(),
        p.from.as_deref(),
        p.to.as_deref(),
        p.tz.as_deref(),
        p.activity_id,
        **zone,
        account.id,
    )?;
    let stats = compute_stats(&db.0, &q).await?;
    Ok(HttpResponse::Ok().json(StatsReport {
        group_by: q.group_by,
        from: q.from.with_timezone(&q.tz).to_rfc3339(),
        to: q.to.with_timezone(&q.tz).to_rfc3339(),
        tz: q.tz.name().to_owned(),
        activity_id: q.activity_id,
        groups: stats.groups,
        totals: stats.totals,
        rollup_days: stats.rollup_days,
    }))
}
