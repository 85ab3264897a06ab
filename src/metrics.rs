//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics`.
//!
//! - `qrscene_http_requests_total{method, route, status}` and
//!   `qrscene_http_request_duration_seconds{method, route}`: every request, by route pattern.
//!   Labels come from fixed sets, never from the request: `method` is one of the common
//!   methods or `other`, `route` a pattern of the route table or `unmatched`.
//! - `qrscene_qr_generations_total{kind, status}`: generation attempts, as logged.
//! - `qrscene_wechat_token_fetches_total`: access tokens fetched from WeChat.
//! - The token service, per account (`appid`, from the account's configuration, never from
//!   the request): `qrscene_token_fetches_total{appid}` (token requests to WeChat),
//!   `qrscene_token_forced_refreshes_total{appid}` (of which forced refreshes of a stable
//!   token), `qrscene_token_invalidations_total{appid, outcome}` (stale tokens reported:
//!   `refreshed`, `already_replaced`, `throttled` or `failed`) and
//!   `qrscene_tokens_served_total{appid}` (tokens handed out by the token service).
//! - `qrscene_callback_pushes_total{kind, duplicate}`: pushes stored (or recognised as retries).
//! - `qrscene_stats_query_duration_seconds{group_by, source}`: statistics queries, answered from
//!   the rollups or from the events alone.
//! - `qrscene_stats_rollup_rebuild_duration_seconds` and `qrscene_stats_rollup_fresh_events`:
//!   the refresher's rebuilds, and the events it has not rolled up yet.
//! - `qrscene_scan_waits_total{outcome}`: waits answered with a scan, or timed out.
//! - `qrscene_callback_batch_splits_total`: event batches the database refused, stored again
//!   one event at a time.
//! - `qrscene_event_batches_abandoned_total`: event batches that overran their deadline (their
//!   pushes answered 503, their connection dropped).
//! - `qrscene_db_connections_dropped_total{reason}`: pooled connections closed because they
//!   failed or did not answer their test.
//! - `qrscene_redis_degraded_total{op}`: Redis operations given up on (deadline or error);
//!   the instance went on without Redis.

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every `*_seconds` histogram: 1 ms to 30 s.
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once per process (several apps in one process share it) and returns
/// its handle; `None` if another recorder was installed first.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("seconds".into()), BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
                .inspect(|_| describe())
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "qrscene_http_requests_total",
        "HTTP requests by route pattern and status"
    );
    describe_histogram!(
        "qrscene_http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request duration by route pattern"
    );
    describe_counter!(
        "qrscene_qr_generations_total",
        "QR code generation attempts, as logged"
    );
    describe_counter!(
        "qrscene_wechat_token_fetches_total",
        "Access tokens fetched from WeChat"
    );
    describe_counter!(
        "qrscene_token_fetches_total",
        "Access token requests to WeChat, per account"
    );
    describe_counter!(
        "qrscene_token_forced_refreshes_total",
        "Forced refreshes of a stable access token, per account"
    );
    describe_counter!(
        "qrscene_token_invalidations_total",
        "Stale access tokens reported, per account and outcome"
    );
    describe_counter!(
        "qrscene_tokens_served_total",
        "Access tokens handed out by the token service, per account"
    );
    describe_counter!(
        "qrscene_callback_pushes_total",
        "WeChat pushes stored, and retries recognised"
    );
    describe_histogram!(
        "qrscene_stats_query_duration_seconds",
        Unit::Seconds,
        "Statistics queries, from the rollups or from the events alone"
    );
    describe_histogram!(
        "qrscene_stats_rollup_rebuild_duration_seconds",
        Unit::Seconds,
        "Rebuilds of the statistics rollups"
    );
    describe_gauge!(
        "qrscene_stats_rollup_fresh_events",
        "Events not rolled up yet"
    );
    describe_counter!("qrscene_scan_waits_total", "Waits for a scan, by outcome");
    describe_counter!(
        "qrscene_callback_batch_splits_total",
        "Event batches the database refused, stored again one event at a time"
    );
    describe_counter!(
        "qrscene_event_batches_abandoned_total",
        "Event batches that overran their deadline; their pushes were answered 503"
    );
    describe_counter!(
        "qrscene_db_connections_dropped_total",
        "Pooled database connections closed because they failed or did not answer"
    );
    describe_counter!(
        "qrscene_redis_degraded_total",
        "Redis operations given up on; the instance went on without Redis"
    );
}

/// Methods counted by name; any other is `other`.
const METHODS: &[Method] = &[
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
    Method::OPTIONS,
];

/// The label of `method`: one of [`METHODS`] or `other`, so that a client inventing methods
/// cannot add series.
pub fn method_label(method: &Method) -> &'static str {
    METHODS
        .iter()
        .find(|known| *known == method)
        .map_or("other", Method::as_str)
}

/// Counts and times every request by its method ([`method_label`]) and its route pattern,
/// `unmatched` when no route matched: labels come from fixed sets, never from the request.
///
/// # Errors
/// Those of the wrapped service.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = method_label(req.method());
    let response = next.call(req).await?;
    // The pattern is known once the router has matched the request; patterns come from the
    // route table, so they are a fixed set too.
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let status = response.status().as_u16().to_string();
    metrics::counter!("qrscene_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("qrscene_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    Ok(response)
}
