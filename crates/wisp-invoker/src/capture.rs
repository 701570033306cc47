//! Capped in-memory capture of a guest's stdout and stderr.
//!
//! A write past the cap kills the instance at once (a trap), and the capture
//! remembers why, so the caller is told which cap was hit rather than a generic
//! trap.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// A cloneable handle on one captured stream.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    buf: Mutex<BytesMut>,
    cap: usize,
    overflowed: AtomicBool,
}

/// How much a guest may write in one call before it asks again.
const WRITE_BUDGET: usize = 64 << 10;

impl Capture {
    pub(crate) fn new(cap: usize) -> Self {
        Capture {
            inner: Arc::new(Inner {
                buf: Mutex::new(BytesMut::new()),
                cap,
                overflowed: AtomicBool::new(false),
            }),
        }
    }

    /// Everything written so far.
    pub(crate) fn contents(&self) -> Bytes {
        self.inner
            .buf
            .lock()
            .map(|b| b.clone().freeze())
            .unwrap_or_default()
    }

    /// Whether the guest tried to write past the cap.
    pub(crate) fn overflowed(&self) -> bool {
        self.inner.overflowed.load(Ordering::Relaxed)
    }

    /// The cap in bytes.
    pub(crate) fn cap(&self) -> usize {
        self.inner.cap
    }

    fn append(&self, bytes: &[u8]) -> Result<(), ()> {
        let Ok(mut buf) = self.inner.buf.lock() else {
            return Err(());
        };
        if buf.len() + bytes.len() > self.inner.cap {
            self.inner.overflowed.store(true, Ordering::Relaxed);
            return Err(());
        }
        buf.extend_from_slice(bytes);
        Ok(())
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes).map_err(|()| {
            StreamError::Trap(wasmtime::format_err!(
                "output exceeded its cap of {} bytes",
                self.inner.cap
            ))
        })
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_BUDGET)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(
            self.append(buf)
                .map(|()| buf.len())
                .map_err(|()| io::Error::other("output exceeded its cap")),
        )
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_past_the_cap_fail_and_are_remembered() {
        let c = Capture::new(8);
        let mut s = c.clone();
        assert!(OutputStream::write(&mut s, Bytes::from_static(b"12345")).is_ok());
        assert!(!c.overflowed());
        assert!(OutputStream::write(&mut s, Bytes::from_static(b"6789")).is_err());
        assert!(c.overflowed());
        assert_eq!(&c.contents()[..], b"12345");
    }
}
