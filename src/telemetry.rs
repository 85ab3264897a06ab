//! The tracing subscriber, installed once per process, and the root span of every request.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{HttpMessage, web};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::middleware::client_ip::{TrustedProxies, client_ip};

/// Installs the global subscriber: `RUST_LOG` filters (default `info`), JSON or text lines.
/// A second call is a no-op, so tests may call it freely.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The root span of a request: method, route, path (never the query string, which carries
/// the callback's signatures and nonces), the client address (behind trusted proxies only,
/// see [`client_ip`]), user agent and request id; status and error when it ends.
pub struct RootSpan;

impl RootSpanBuilder for RootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let trusted = request.app_data::<web::Data<TrustedProxies>>();
        let peer = request.peer_addr().map(|a| a.ip());
        let client = match trusted {
            Some(trusted) => client_ip(peer, request.headers(), trusted),
            None => peer,
        };
        let request_id = request.extensions().get::<RequestId>().copied();
        let user_agent = request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "HTTP request",
            http.method = %crate::metrics::method_label(request.method()),
            http.route = %request.match_pattern().unwrap_or_default(),
            http.target = %request.path(),
            http.client_ip = %client.map(|ip| ip.to_string()).unwrap_or_default(),
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id.map(|id| id.to_string()).unwrap_or_default(),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(
        span: Span,
        outcome: &Result<ServiceResponse<B>, actix_web::Error>,
    ) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
