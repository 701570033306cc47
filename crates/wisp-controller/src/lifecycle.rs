//! The server's lifecycle as health checks and the drain see it: serving, then
//! draining once SIGTERM or SIGINT arrives; and the requests in flight, which a
//! drain waits for.
//!
//! While starting (the registry opening, compiled code loading back) the
//! listener is answered by [`crate::server::serve_starting`] instead.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Serving or draining, and how many requests are in flight.
#[derive(Debug, Default)]
pub struct Lifecycle {
    draining: AtomicBool,
    in_flight: AtomicUsize,
    idle: Notify,
}

/// One request in flight; dropping it ends it.
#[derive(Debug)]
pub struct InFlight(Arc<Lifecycle>);

impl Lifecycle {
    /// Whether the server is draining: new requests get 503.
    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Starts the drain: from now on new requests get 503 and `/readyz` fails.
    pub fn begin_drain(&self) {
        if !self.draining.swap(true, Ordering::SeqCst) {
            tracing::info!(
                in_flight = self.in_flight(),
                "draining: finishing the calls in flight, refusing new ones"
            );
        }
    }

    /// Requests (and non-blocking calls) in flight now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Counts a request in flight until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// Waits until nothing is in flight, for at most `limit`; whether it got
    /// there.
    pub async fn settle(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let idle = self.idle.notified();
                if self.in_flight() == 0 {
                    return;
                }
                idle.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

impl InFlight {
    /// Another guard for the same lifecycle, for work that outlives the
    /// request (a non-blocking call).
    pub fn also(&self) -> InFlight {
        self.0.enter()
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn settles_once_the_last_request_ends() {
        let life = Arc::new(Lifecycle::default());
        assert!(life.settle(Duration::from_millis(1)).await);
        let a = life.enter();
        let b = a.also();
        assert_eq!(life.in_flight(), 2);
        assert!(!life.settle(Duration::from_millis(20)).await);
        let waiter = {
            let life = life.clone();
            tokio::spawn(async move { life.settle(Duration::from_secs(5)).await })
        };
        drop(a);
        tokio::task::yield_now().await;
        drop(b);
        assert!(waiter.await.unwrap());
        assert_eq!(life.in_flight(), 0);
    }
}
