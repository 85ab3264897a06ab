//! A deadline on reading a request's body: a client that sends its headers and then
//! stalls (or trickles) gets 408 and its connection closed once `QRSCENE_BODY_TIMEOUT_MS`
//! has passed, instead of holding a connection and its buffers forever. The headers have
//! their own deadline (`QRSCENE_HEADER_TIMEOUT_MS`, actix's `client_request_timeout`).

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::Stream;

use crate::error::ErrorBody;

/// How long a body may take to arrive, counted from its headers (app data).
#[derive(Debug, Clone, Copy)]
pub struct BodyDeadline(pub Duration);

/// Wraps the body of every request in a deadline; answers 408 (and closes the connection)
/// when it ran out before the body arrived.
///
/// # Errors
/// Those of the wrapped service.
pub async fn limit_body_time(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::EitherBody<impl MessageBody>>, actix_web::Error> {
    let deadline = req
        .app_data::<web::Data<BodyDeadline>>()
        .map(|d| d.0)
        .unwrap_or(Duration::from_secs(10));
    let timed_out = Rc::new(Cell::new(false));
    match req.take_payload() {
        Payload::None => {}
        payload => req.set_payload(Payload::Stream {
            payload: Box::pin(Deadline {
                inner: payload,
                deadline: tokio::time::Instant::now() + deadline,
                sleep: None,
                timed_out: Rc::clone(&timed_out),
                done: false,
            }),
        }),
    }
    let response = next.call(req).await?;
    if !timed_out.get() {
        return Ok(response.map_into_left_body());
    }
    let millis = deadline.as_millis();
    tracing::warn!(
        deadline_ms = millis,
        path = response.request().path(),
        "request body did not arrive in time: 408, connection closed"
    );
    let mut answer = HttpResponse::build(StatusCode::REQUEST_TIMEOUT).json(ErrorBody::new(
        "request_timeout",
        format!("the request body did not arrive within {millis} ms"),
    ));
    answer.head_mut().set_connection_type(ConnectionType::Close);
    Ok(response.into_response(answer).map_into_right_body())
}

/// A body stream that fails once its deadline has passed. The timer is armed only when the
/// body is not there yet: a body that came with its headers (a push, most JSON) costs none.
struct Deadline<S> {
    inner: S,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Rc<Cell<bool>>,
    done: bool,
}

impl<S> Stream for Deadline<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut self.inner).poll_next(cx) {
            self.done = item.is_none();
            return Poll::Ready(item);
        }
        let deadline = self.deadline;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            self.done = true;
            self.timed_out.set(true);
            return Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the request body did not arrive in time",
            )))));
        }
        Poll::Pending
    }
}
