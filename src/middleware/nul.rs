//! No route ever sees a query or a path the database could not store (PostgreSQL refuses
//! U+0000 in text), whatever it does with it: a NUL in a query parameter is a 400 naming the
//! parameter, a NUL in the path a 404 (no resource is named with one). A middleware rather
//! than a route, so that unmatched requests stay `unmatched` in the metrics.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use crate::error::ApiError;

/// Refuses requests whose path or query holds U+0000; passes the others on untouched.
///
/// # Errors
/// Those of the wrapped service.
pub async fn refuse_nul(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refusal = if nul_in_path(req.path()) {
        Some(ApiError::NotFound(format!(
            "no resource at {}: a path cannot hold the NUL character",
            req.path()
        )))
    } else {
        nul_parameter(req.query_string()).map(|parameter| ApiError::InvalidParameter {
            parameter,
            rule: crate::generation::request::NO_NUL,
        })
    };
    match refusal {
        Some(e) => {
            let response = e.error_response();
            Ok(req.into_response(response).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// The name of the first query parameter whose name or value holds U+0000.
fn nul_parameter(query: &str) -> Option<String> {
    // A request line cannot carry a raw NUL: only `%00` decodes to one. Checked first so that
    // the hot path (the callback's signed query) is not decoded twice.
    if !query.contains("%00") {
        return None;
    }
    let pairs = web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
    pairs
        .into_inner()
        .into_iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', "\\0"))
}

/// Whether the path holds an encoded NUL (a raw one cannot be sent).
fn nul_in_path(path: &str) -> bool {
    path.contains("%00")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_parameter_that_holds_a_nul() {
        assert_eq!(nul_parameter("a=1&b=x%00y"), Some("b".to_owned()));
        assert_eq!(nul_parameter("a%00=1"), Some("a\\0".to_owned()));
        assert_eq!(nul_parameter("a=1&b=2"), None);
        assert!(nul_in_path("/api/v1/followers/o%00x"));
        assert!(!nul_in_path("/api/v1/followers/ox"));
    }
}
