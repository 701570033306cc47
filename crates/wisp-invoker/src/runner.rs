//! The one per-call runner both function shapes share: a fresh `Store` with the
//! action's memory limiter and an epoch deadline, the guest run under its time
//! limit on the caller's thread (moved to the long-running pool if it runs long,
//! see [`demote`](crate::demote)), then the store and the call's admission
//! dropped, and a failure turned into the [`InvokeError`] that says what
//! happened.

use std::time::Duration;

use wasmtime::{Engine, Store};

use crate::InvokeError;
use crate::admission::Admitted;
use crate::capture::Capture;
use crate::sandbox::Limiter;

/// The per-call host state of either shape.
pub(crate) trait GuestState: Send + 'static {
    /// What the runner tracks of the call.
    fn facts(&mut self) -> &mut CallFacts;
}

/// What the host learns of a call beyond its result.
#[derive(Debug)]
pub(crate) struct CallFacts {
    /// Enforces the memory limit and notes when the guest hit it.
    pub limiter: Limiter,
    /// Time spent creating the instance.
    pub init: Duration,
}

impl CallFacts {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        CallFacts {
            limiter: Limiter::new(memory_bytes),
            init: Duration::ZERO,
        }
    }
}

/// A store for one call: the memory limiter and an epoch deadline that makes
/// the guest yield at every tick (so it can be timed out and moved).
pub(crate) fn new_store<S: GuestState>(engine: &Engine, state: S) -> Store<S> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.facts().limiter);
    store.set_epoch_deadline(1);
    store.epoch_deadline_async_yield_and_update(1);
    store
}

/// One guest call: instantiate a template in the store and run it.
pub(crate) trait Guest: Send + 'static {
    /// Its host state.
    type State: GuestState;
    /// What a successful run returns.
    type Output: Send + 'static;
    /// Instantiates and runs, noting the instantiation time in the state's
    /// [`CallFacts::init`].
    fn run(
        self,
        store: &mut Store<Self::State>,
    ) -> impl Future<Output = wasmtime::Result<Self::Output>> + Send;
}

/// How a guest's run ended.
pub(crate) struct Outcome<T> {
    /// `Err` when it ran out of time.
    pub result: Result<wasmtime::Result<T>, Elapsed>,
    /// Whether it was refused memory beyond its limit.
    pub hit_memory: bool,
    /// Time spent creating the instance.
    pub init: Duration,
    /// The time limit it ran under.
    pub timeout: Duration,
}

/// Runs `guest` in `store` under `timeout`; `admitted` is released with the
/// store, when the guest is done.
pub(crate) fn run<G: Guest>(
    mut store: Store<G::State>,
    guest: G,
    timeout: Duration,
    admitted: Admitted,
    placement: crate::demote::Placement,
) -> impl Future<Output = Outcome<G::Output>> + Send {
    let call = async move {
        let result = Deadline::new(timeout, guest.run(&mut store)).await;
        let facts = store.data_mut().facts();
        let (hit_memory, init) = (facts.limiter.hit_memory, facts.init);
        drop(store);
        drop(admitted);
        Outcome {
            result,
            hit_memory,
            init,
            timeout,
        }
    };
    async move {
        // The guest's own deadline ends it where it runs. A guest moved to the
        // long-running pool can be starved of CPU there under saturation; this
        // second deadline, on the caller's thread, answers in time anyway and
        // cancels it.
        match Deadline::new(timeout + CALLER_GRACE, crate::demote::run(call, placement)).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(e)) => Outcome {
                result: Ok(Err(wasmtime::format_err!("instance task failed: {e}"))),
                hit_memory: false,
                init: Duration::ZERO,
                timeout,
            },
            Err(Elapsed) => Outcome {
                result: Err(Elapsed),
                hit_memory: false,
                init: Duration::ZERO,
                timeout,
            },
        }
    }
}

/// How much later than its own deadline the caller gives up on a guest.
const CALLER_GRACE: Duration = Duration::from_millis(20);

/// The guest ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

pin_project_lite::pin_project! {
    /// A time limit that arms its timer only when the guest first waits: most
    /// calls finish within their first poll and never touch the timer wheel.
    /// The limit still counts from the start.
    struct Deadline<F> {
        #[pin]
        inner: F,
        until: tokio::time::Instant,
        #[pin]
        timer: Option<tokio::time::Sleep>,
    }
}

impl<F> Deadline<F> {
    fn new(limit: Duration, inner: F) -> Self {
        Deadline {
            inner,
            until: tokio::time::Instant::now() + limit,
            timer: None,
        }
    }
}

impl<F: Future> Future for Deadline<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        use std::task::Poll;
        let mut this = self.project();
        if let Poll::Ready(v) = this.inner.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep_until(*this.until)));
        }
        match this.timer.as_pin_mut().map(|t| t.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(Elapsed)),
            _ => Poll::Pending,
        }
    }
}

/// What a failure is judged by: the memory limit and the captured output.
pub(crate) struct Captured<'a> {
    pub memory_bytes: usize,
    pub stdout: &'a Capture,
    /// What stdout is to the caller: `stdout`, or `response` for CGI web calls.
    pub stdout_is: &'static str,
    pub stderr: &'a Capture,
}

impl<T> Outcome<T> {
    /// The guest's output, or the error that says why there is none.
    pub(crate) fn into_result(self, captured: &Captured<'_>) -> Result<T, InvokeError> {
        match self.result {
            Err(_elapsed) => Err(InvokeError::Timeout(self.timeout.as_millis() as u64)),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(explain(e, self.hit_memory, captured)),
        }
    }
}

/// Turns a wasmtime error from running a guest into an [`InvokeError`].
pub(crate) fn explain(e: wasmtime::Error, hit_memory: bool, c: &Captured<'_>) -> InvokeError {
    let stderr = c.stderr.contents();
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return InvokeError::Exit {
            code: exit.0,
            stderr: tail(&stderr),
        };
    }
    if c.stdout.overflowed() {
        return InvokeError::OutputTooLarge {
            what: c.stdout_is,
            limit: c.stdout.cap(),
        };
    }
    if c.stderr.overflowed() {
        return InvokeError::OutputTooLarge {
            what: "stderr",
            limit: c.stderr.cap(),
        };
    }
    if hit_memory {
        return InvokeError::MemoryLimit((c.memory_bytes >> 20) as u64);
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        let mut msg = match trap {
            wasmtime::Trap::StackOverflow => "stack overflow (call stack exhausted)".to_string(),
            other => other.to_string(),
        };
        let err = tail(&stderr);
        if !err.is_empty() {
            msg = format!("{msg}; stderr: {err}");
        }
        return InvokeError::Trap(msg);
    }
    InvokeError::Trap(format!("{e:#}"))
}

/// The last few hundred bytes of a stream, as text.
pub(crate) fn tail(bytes: &[u8]) -> String {
    const MAX: usize = 512;
    let start = bytes.len().saturating_sub(MAX);
    String::from_utf8_lossy(&bytes[start..]).trim().to_string()
}
