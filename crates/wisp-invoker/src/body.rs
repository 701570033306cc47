//! Request bodies, read only once a call is admitted: whole and capped for the
//! calls that need all of it (a CGI command's stdin, JSON parameters, a deploy),
//! or streamed to a `wasi:http` component under the same cap.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};

use crate::BoxError;

/// Why a request body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// It is longer than the cap.
    #[error("the request body exceeds the limit of {0} bytes")]
    TooLarge(usize),
    /// It did not arrive within the read timeout.
    #[error("the request body did not arrive within {} seconds", .0.as_secs_f64())]
    Timeout(Duration),
    /// The connection failed while it was read.
    #[error("could not read the request body: {0}")]
    Failed(String),
}

/// The body length a request declares, if it declares one.
pub fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Refuses a request whose declared length is over `limit` before anything is
/// read.
pub fn check_declared(headers: &http::HeaderMap, limit: usize) -> Result<(), BodyError> {
    match declared_length(headers) {
        Some(n) if n > limit as u64 => Err(BodyError::TooLarge(limit)),
        _ => Ok(()),
    }
}

/// Reads a whole body of at most `limit` bytes within `timeout`.
pub async fn read_body<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let read = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(BodyError::Timeout(timeout)),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge(limit)),
        Ok(Err(e)) => Err(BodyError::Failed(e.to_string())),
    }
}

/// A request body streamed to a component: bytes pass through as they arrive
/// until `limit`; past it the stream ends with `HttpRequestBodySize`.
pub(crate) struct CappedBody<B> {
    inner: B,
    left: usize,
    limit: usize,
    /// Set once the body went past the cap.
    overflowed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl<B> CappedBody<B> {
    pub(crate) fn new(inner: B, limit: usize) -> Self {
        CappedBody {
            inner,
            left: limit,
            limit,
            overflowed: Default::default(),
        }
    }

    /// A flag that tells, later, whether the body went past the cap.
    pub(crate) fn overflow_flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.overflowed.clone()
    }
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    if data.len() > this.left {
                        this.left = 0;
                        this.overflowed
                            .store(true, std::sync::atomic::Ordering::Relaxed);
                        return Poll::Ready(Some(Err(
                            wasmtime_wasi_http::Error::HttpRequestBodySize(Some(this.limit as u64)),
                        )));
                    }
                    this.left -= data.len();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                Poll::Ready(Some(Err(wasmtime_wasi_http::Error::InternalError(Some(
                    format!("the request body failed: {}", e.into()),
                )))))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn whole_bodies_are_capped() {
        let ok = read_body(
            Full::new(Bytes::from_static(b"12345")),
            5,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(ok.unwrap(), Bytes::from_static(b"12345"));
        let big = read_body(
            Full::new(Bytes::from_static(b"123456")),
            5,
            Duration::from_secs(1),
        )
        .await;
        assert_eq!(big.unwrap_err(), BodyError::TooLarge(5));
    }

    /// A client that sends headers, then nothing.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            Poll::Pending
        }
    }

    #[tokio::test]
    async fn a_body_that_never_ends_times_out() {
        let e = read_body(Silent, 5, Duration::from_millis(20))
            .await
            .unwrap_err();
        assert_eq!(e, BodyError::Timeout(Duration::from_millis(20)));
    }

    #[tokio::test]
    async fn streamed_bodies_stop_at_the_cap() {
        let ok = CappedBody::new(Full::new(Bytes::from_static(b"1234")), 4)
            .collect()
            .await;
        assert_eq!(ok.unwrap().to_bytes(), Bytes::from_static(b"1234"));
        let big = CappedBody::new(Full::new(Bytes::from_static(b"12345")), 4)
            .collect()
            .await;
        assert!(matches!(
            big.unwrap_err(),
            wasmtime_wasi_http::Error::HttpRequestBodySize(Some(4))
        ));
    }

    #[test]
    fn declared_lengths_over_the_cap_are_refused_early() {
        let mut h = http::HeaderMap::new();
        assert!(check_declared(&h, 10).is_ok());
        h.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static("11"),
        );
        assert_eq!(check_declared(&h, 10).unwrap_err(), BodyError::TooLarge(10));
        h.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from_static("10"),
        );
        assert!(check_declared(&h, 10).is_ok());
    }
}
