//! Admission control: a bounded number of calls run, a bounded number wait for a
//! bounded time, the rest are refused at once. Used for the global instance cap
//! (sized to the pooling allocator) and for per-action caps.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A semaphore with a bounded queue in front of it.
#[derive(Debug)]
pub struct Gate {
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
    max_wait: Duration,
}

/// Why a call was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The queue was full.
    QueueFull,
    /// The call waited `max_wait` without getting a slot.
    WaitedTooLong,
}

impl Gate {
    /// `slots` calls at once; up to `max_waiting` more wait up to `max_wait`.
    pub fn new(slots: usize, max_waiting: usize, max_wait: Duration) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        }
    }

    /// Waits for a slot; the permit frees it when dropped.
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, Refused> {
        // Fast path without a timer: a slot is free.
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::QueueFull);
        }
        let result = tokio::time::timeout(self.max_wait, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match result {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Refused::WaitedTooLong),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queue_and_wait_are_bounded() {
        let gate = Arc::new(Gate::new(1, 1, Duration::from_millis(50)));
        let held = gate.enter().await.unwrap();
        // One may wait...
        let g2 = gate.clone();
        let waiter = tokio::spawn(async move { g2.enter().await.map(drop) });
        tokio::time::sleep(Duration::from_millis(10)).await;
        // ...the next is refused at once.
        assert_eq!(gate.enter().await.unwrap_err(), Refused::QueueFull);
        // The waiter gives up after max_wait.
        assert_eq!(waiter.await.unwrap().unwrap_err(), Refused::WaitedTooLong);
        drop(held);
        assert!(gate.enter().await.is_ok());
    }
}
