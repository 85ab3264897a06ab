//! Security headers on every answer: `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer`, and a Content-Security-Policy: the dashboard and the docs
//! page may load only from their own origin, everything else (JSON, images) nothing at all,
//! and nothing may be framed.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{
    CONTENT_SECURITY_POLICY, HeaderMap, HeaderValue, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use actix_web::middleware::Next;

/// Policy of the HTML pages and their assets: their own origin only. `data:` images are the
/// Swagger UI's icons (inlined in its style sheet) and the dashboard's empty favicon;
/// `blob:` images are the QR codes the dashboard fetches with the API key and shows. The
/// hash is of the one `<style>` element the vendored Swagger UI (5.32) injects; the test
/// `the_pages_work_under_their_policy` renders both pages in Chromium and fails on any
/// violation, so a new Swagger UI that injects another one is caught.
pub const PAGE_POLICY: &str = "default-src 'self'; img-src 'self' data: blob:; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
/// Policy of every other answer (JSON, images, text): nothing to load, nothing to frame.
pub const API_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Paths of the HTML pages; under them (after a `/`) their assets.
const PAGES: &[&str] = &["/dashboard", "/docs"];

fn is_page(path: &str) -> bool {
    PAGES.iter().any(|page| {
        path.strip_prefix(page)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// Adds the headers to every answer of the app (handlers and extractors turn their errors
/// into answers before they get here).
///
/// # Errors
/// Those of the wrapped service.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let page = is_page(req.path());
    let mut response = next.call(req).await?;
    add(response.headers_mut(), page);
    Ok(response)
}

/// The headers, for a page or for anything else.
pub fn add(headers: &mut HeaderMap, page: bool) {
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    let policy = if page { PAGE_POLICY } else { API_POLICY };
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
}
