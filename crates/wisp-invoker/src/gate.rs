//! Admission control: a bounded number of calls run, a bounded number wait for a
//! bounded time, the rest are refused at once. Used for the global instance cap
//! (sized to the pooling allocator) and for per-action caps.
//!
//! Slots of a gate can be set aside for one action ([`Gate::reserve`]): a burst of
//! that action's calls then finds its own slots free even when other actions fill
//! the shared ones, and spills into the shared slots beyond them.

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
    /// `slots` calls at once (at least 1, at most what a semaphore can count);
    /// up to `max_waiting` more wait up to `max_wait`.
    pub fn new(slots: usize, max_waiting: usize, max_wait: Duration) -> Self {
        Gate {
            slots: Arc::new(Semaphore::new(slots.clamp(1, Semaphore::MAX_PERMITS))),
            waiting: AtomicUsize::new(0),
            max_waiting,
            max_wait,
        }
    }

    /// Calls waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
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

/// Slots taken out of a gate for one action.
#[derive(Debug)]
pub struct Reservation {
    slots: Arc<Semaphore>,
    size: usize,
}

impl Reservation {
    /// How many slots were set aside.
    pub fn size(&self) -> usize {
        self.size
    }

    /// A reserved slot, if one is free.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }
}

impl Gate {
    /// Moves up to `n` currently free slots into a reservation.
    pub fn reserve(&self, n: usize) -> Reservation {
        let mut size = 0;
        while size < n {
            match self.slots.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    size += 1;
                }
                Err(_) => break,
            }
        }
        Reservation {
            slots: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// Gives a reservation's slots back, as its calls in flight end.
    pub async fn release(&self, reservation: Arc<Reservation>) {
        if reservation.size == 0 {
            return;
        }
        if let Ok(all) = reservation
            .slots
            .acquire_many(reservation.size as u32)
            .await
        {
            all.forget();
            self.slots.add_permits(reservation.size);
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

    #[tokio::test]
    async fn reserved_slots_stay_free_for_their_action() {
        let gate = Gate::new(3, 0, Duration::from_millis(10));
        let reservation = Arc::new(gate.reserve(2));
        assert_eq!(reservation.size(), 2);
        // Others share the one slot left.
        let shared = gate.enter().await.unwrap();
        assert_eq!(gate.enter().await.unwrap_err(), Refused::QueueFull);
        // The reserved action still gets its two.
        let a = reservation.try_enter().unwrap();
        let b = reservation.try_enter().unwrap();
        assert!(reservation.try_enter().is_none());
        // Released slots return to the shared pool once their calls end.
        let releasing = tokio::spawn({
            let (r, gate) = (reservation.clone(), Arc::new(gate));
            async move {
                gate.release(r).await;
                gate
            }
        });
        drop((a, b, shared));
        let gate = releasing.await.unwrap();
        let all: Vec<_> = [gate.enter().await, gate.enter().await, gate.enter().await]
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn an_absurd_size_is_clamped_not_a_panic() {
        let gate = Gate::new(usize::MAX, 0, Duration::from_millis(10));
        assert_eq!(gate.slots.available_permits(), Semaphore::MAX_PERMITS);
    }

    #[test]
    fn a_reservation_takes_only_free_slots() {
        let gate = Gate::new(2, 0, Duration::from_millis(10));
        let _held = gate.slots.clone().try_acquire_owned().unwrap();
        assert_eq!(gate.reserve(5).size(), 1);
    }
}
