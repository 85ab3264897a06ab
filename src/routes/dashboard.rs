//! The dashboard: one HTML page and its script and style, built into the binary. The page
//! takes no API key itself: it asks the user for one and sends it on its API calls.

use actix_web::http::header;
use actix_web::{HttpResponse, get};

const INDEX_HTML: &str = include_str!("../dashboard/index.html");
const APP_JS: &str = include_str!("../dashboard/app.js");
const ZONES_JS: &str = include_str!("../dashboard/zones.js");
const STYLE_CSS: &str = include_str!("../dashboard/style.css");

/// An asset, never cached without asking: a new build must show at once.
fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}

/// The dashboard page: codes, scans, followers and statistics, through the JSON API with
/// the API key the user enters.
#[utoipa::path(
    operation_id = "dashboard_page",
    tag = "dashboard",
    responses((status = 200, description = "The page", body = String, content_type = "text/html; charset=utf-8"))
)]
#[get("/dashboard")]
pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

/// The dashboard's script.
#[utoipa::path(
    operation_id = "dashboard_script",
    tag = "dashboard",
    responses((status = 200, description = "The script", body = String, content_type = "text/javascript; charset=utf-8"))
)]
#[get("/dashboard/app.js")]
pub async fn app_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

/// The dashboard's time zone arithmetic (local days of an IANA zone, with the browser's
/// `Intl`), loaded before its script.
#[utoipa::path(
    operation_id = "dashboard_zones_script",
    tag = "dashboard",
    responses((status = 200, description = "The script", body = String, content_type = "text/javascript; charset=utf-8"))
)]
#[get("/dashboard/zones.js")]
pub async fn zones_js() -> HttpResponse {
    asset("text/javascript; charset=utf-8", ZONES_JS)
}

/// The dashboard's style sheet.
#[utoipa::path(
    operation_id = "dashboard_style",
    tag = "dashboard",
    responses((status = 200, description = "The style sheet", body = String, content_type = "text/css; charset=utf-8"))
)]
#[get("/dashboard/style.css")]
pub async fn style_css() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}
