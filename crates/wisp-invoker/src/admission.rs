//! Admission: whether a call may run now, decided before its request body is
//! read. One [`Invoker::admit`](crate::Invoker::admit) takes, in order, a slot
//! of the action's own cap (`limits.instances`), a slot the access-pattern
//! policy reserved for the action, else a slot of the shared instance pool.
//! The [`Admitted`] ticket holds them until the call's instance is gone.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::OwnedSemaphorePermit;

use crate::gate::{Gate, Refused, Reservation};
use crate::sharded::Gauge;

/// Why a call was refused admission (HTTP 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// The action already runs its `limits.instances`, and its queue is full or
    /// the wait timed out.
    ActionLimit(u64),
    /// Every instance of the shared pool is busy and its queue is full: refused
    /// at once.
    PoolFull,
    /// Every instance of the shared pool stayed busy for the queue timeout.
    QueueTimeout,
}

impl std::fmt::Display for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Throttle::ActionLimit(n) => write!(
                f,
                "the action already runs {n} instances, its limit; retry later"
            ),
            Throttle::PoolFull => {
                f.write_str("too many invocations in flight, and too many waiting; retry later")
            }
            Throttle::QueueTimeout => f.write_str(
                "too many invocations in flight: no instance came free in time; retry later",
            ),
        }
    }
}

/// One action's admission state: its own cap and its reservation.
#[derive(Debug)]
pub struct ActionSlots {
    cap: Option<Gate>,
    instances: u64,
    reserved: RwLock<Option<Arc<Reservation>>>,
}

impl ActionSlots {
    /// Slots of an action capped at `instances` (0: no cap of its own), whose
    /// calls wait as the pool's do.
    pub(crate) fn new(instances: u64, max_queue: usize, queue_timeout: Duration) -> Self {
        ActionSlots {
            cap: (instances > 0).then(|| Gate::new(instances as usize, max_queue, queue_timeout)),
            instances,
            reserved: RwLock::new(None),
        }
    }

    /// How many slots the policy set aside for it.
    pub fn reserved_slots(&self) -> usize {
        self.reservation().map_or(0, |r| r.size())
    }

    fn reservation(&self) -> Option<Arc<Reservation>> {
        self.reserved.read().ok()?.clone()
    }

    /// Replaces its reservation; returns the old one, to be released.
    pub(crate) fn set_reservation(
        &self,
        new: Option<Arc<Reservation>>,
    ) -> Option<Arc<Reservation>> {
        match self.reserved.write() {
            Ok(mut r) => std::mem::replace(&mut *r, new),
            Err(_) => new,
        }
    }

    /// Calls waiting for a slot of the action's own cap now.
    pub fn queued(&self) -> usize {
        self.cap.as_ref().map_or(0, Gate::waiting)
    }

    /// Takes over the reservation of the version it replaces (an updated action
    /// keeps its slots); a fresh `ActionSlots` has none of its own.
    pub fn inherit(&self, previous: &ActionSlots) {
        let own = self.set_reservation(previous.set_reservation(None));
        debug_assert!(own.is_none(), "a fresh action holds no reservation");
    }
}

/// A call's right to run: held until its instance is dropped.
#[derive(Debug)]
pub struct Admitted {
    _action: Option<OwnedSemaphorePermit>,
    _slot: OwnedSemaphorePermit,
    _running: Option<Running>,
    /// How long the call waited to be admitted.
    pub wait: Duration,
}

/// One admitted call in the invoker's count of calls holding a slot (when it
/// counts them: `InvokerConfig::count_in_flight`); dropping it ends it. The
/// count lives as long as the process (see `Invoker::new`), so the ticket
/// holds a plain reference: no reference count touched per call.
#[derive(Debug)]
struct Running(&'static Gauge);

impl Running {
    fn enter(count: &'static Gauge) -> Self {
        count.inc();
        Running(count)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl crate::Invoker {
    /// Admission state for an action capped at `instances` (0: no own cap).
    pub fn action_slots(&self, instances: u64) -> Arc<ActionSlots> {
        Arc::new(ActionSlots::new(
            instances,
            self.queue.max_queue,
            self.queue.queue_timeout,
        ))
    }

    /// Admits one call of the action: its own cap first, then a reserved slot,
    /// else one of the shared pool. Call this before reading the request body,
    /// so a refused or queued call holds nothing but its connection.
    pub async fn admit(&self, action: &ActionSlots) -> Result<Admitted, crate::InvokeError> {
        let waiting = Instant::now();
        let own = match &action.cap {
            None => None,
            Some(gate) => Some(gate.enter().await.map_err(|_| {
                crate::InvokeError::Throttled(Throttle::ActionLimit(action.instances))
            })?),
        };
        let reserved = action.reservation().and_then(|r| r.try_enter());
        let slot = match reserved {
            Some(permit) => permit,
            None => self.slots.enter().await.map_err(|refused| {
                crate::InvokeError::Throttled(match refused {
                    Refused::QueueFull => Throttle::PoolFull,
                    Refused::WaitedTooLong => Throttle::QueueTimeout,
                })
            })?,
        };
        Ok(Admitted {
            _action: own,
            _slot: slot,
            _running: self.running.map(Running::enter),
            wait: waiting.elapsed(),
        })
    }

    /// Calls holding an instance slot now (admitted, their instance not yet
    /// dropped); `None` unless the invoker counts them.
    pub fn in_flight(&self) -> Option<usize> {
        self.running.map(Gauge::get)
    }

    /// Calls waiting for a slot of the shared pool now.
    pub fn queued(&self) -> usize {
        self.slots.waiting()
    }

    /// Sets aside `n` free slots of the shared pool for one action (0: none),
    /// replacing what it had; the old slots return to the pool once their calls
    /// end.
    pub fn reserve(&self, action: &ActionSlots, n: usize) {
        if n == action.reserved_slots() {
            return;
        }
        let new = (n > 0).then(|| Arc::new(self.slots.reserve(n)));
        if let Some(old) = action.set_reservation(new) {
            self.release(old);
        }
    }

    /// Returns a reservation's slots to the pool once its calls end, without
    /// waiting for them (needs a tokio runtime).
    pub(crate) fn release(&self, reservation: Arc<Reservation>) {
        let slots = self.slots.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { slots.release(reservation).await });
        }
    }

    /// Gives back whatever an action that is gone had reserved.
    pub fn retire(&self, action: &ActionSlots) {
        if let Some(old) = action.set_reservation(None) {
            self.release(old);
        }
    }
}
