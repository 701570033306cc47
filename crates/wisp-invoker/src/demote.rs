//! Keeping long-running guests off the request threads.
//!
//! Every guest starts on the runtime that serves HTTP, where a short call costs
//! no hand-off at all. A guest that has held its thread for [`DEMOTE_AFTER`] is
//! moved, at its next yield (guests yield at every epoch tick), to a separate
//! pool of low-priority threads. What counts is the time the guest itself ran
//! (the sum of its polls), not the time since it started: under load, a call
//! shares its thread with many others between its yields, and its wall time
//! says more about them than about it. A function that loops until its time limit, or
//! any long computation, then competes with other long computations there and
//! can no longer delay the request threads, their I/O polling, or the short
//! calls of other functions: neighbours keep their latency.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::task::{JoinError, JoinHandle};

/// Time a guest may run on a request thread (its own polls, instantiation
/// included) before it is moved. Calls that are merely long, such as a
/// JavaScript or Python call that instantiates a large snapshot (1 to 6 ms),
/// stay; a guest that loops or computes for longer moves. Between epoch ticks
/// every guest yields anyway, so a call below this still holds its thread for
/// at most one tick at a time.
pub const DEMOTE_AFTER: Duration = Duration::from_millis(10);

/// Nice value of the long-running pool's threads: they get the CPU the request
/// threads leave, and little of what the request threads need.
const POOL_NICENESS: i32 = 19;

/// The pool long-running guests are moved to; shut down without blocking when
/// dropped (it may be dropped from inside the server's runtime).
pub struct LongRunningPool {
    runtime: Option<Runtime>,
}

impl LongRunningPool {
    /// A pool of `threads` low-priority threads.
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name("wisp-long")
            .on_thread_start(|| set_thread_niceness(POOL_NICENESS))
            .enable_all()
            .build()?;
        Ok(LongRunningPool {
            runtime: Some(runtime),
        })
    }

    /// A handle to spawn on the pool.
    pub fn handle(&self) -> Option<Handle> {
        self.runtime.as_ref().map(|r| r.handle().clone())
    }
}

impl Drop for LongRunningPool {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Sets the calling thread's nice value (higher is lower priority); failure only
/// leaves the default.
#[allow(
    unsafe_code,
    reason = "setpriority(2) on the calling thread is the only way to lower one thread's priority"
)]
fn set_thread_niceness(nice: i32) {
    // SAFETY: plain system calls on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}

/// A future that runs in place until its polls have run for [`DEMOTE_AFTER`],
/// then continues on the long-running pool.
enum Demotable<F: Future> {
    /// Still on the caller's thread.
    Local {
        /// The work.
        fut: Option<Pin<Box<F>>>,
        /// How long its polls have run so far.
        ran: Duration,
        /// Where it goes when it runs long.
        pool: Option<Handle>,
    },
    /// Moved to the pool.
    Moved(JoinHandle<F::Output>),
}

/// A call given up on while it runs on the pool (its caller timed out or went
/// away) is cancelled there too.
impl<F: Future> Drop for Demotable<F> {
    fn drop(&mut self) {
        if let Demotable::Moved(handle) = self {
            handle.abort();
        }
    }
}

/// How many calls of a function that was just moved start on the pool at once;
/// the next one starts on a request thread again, to see whether it still runs
/// long.
const STICKY_CALLS: u32 = 8;

/// What wisp remembers of one function's recent calls: above 1, that many calls
/// still start directly on the pool.
pub type RunsLong = Arc<AtomicU32>;

/// Where a call runs when it runs long, and its function's history.
#[derive(Clone, Debug)]
pub struct Placement {
    /// The long-running pool, if there is one.
    pub pool: Option<Handle>,
    /// The function's recent history.
    pub hint: RunsLong,
}

/// Runs `fut` on the caller's thread, moving it to the pool (when there is one)
/// once its polls have run for [`DEMOTE_AFTER`] in all. A function whose recent call was moved
/// starts its next calls on the pool at once (`hint`), with a probe on a request
/// thread every [`STICKY_CALLS`] calls.
pub fn run<F>(fut: F, placement: Placement) -> impl Future<Output = Result<F::Output, JoinError>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let Placement { pool, hint } = placement;
    let sticky = hint.load(Ordering::Relaxed) > 1;
    let inner = match (&pool, sticky) {
        (Some(p), true) => {
            hint.fetch_sub(1, Ordering::Relaxed);
            Demotable::Moved(p.spawn(fut))
        }
        _ => Demotable::Local {
            fut: Some(Box::pin(fut)),
            ran: Duration::ZERO,
            pool,
        },
    };
    async move {
        let started_local = matches!(inner, Demotable::Local { .. });
        let mut inner = inner;
        let out = std::future::poll_fn(|cx| Pin::new(&mut inner).poll(cx)).await;
        if started_local {
            let moved = matches!(inner, Demotable::Moved(_));
            hint.store(if moved { STICKY_CALLS } else { 0 }, Ordering::Relaxed);
        }
        out
    }
}

impl<F> Future for Demotable<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this {
                Demotable::Local { fut, ran, pool } => {
                    let Some(f) = fut.as_mut() else {
                        return Poll::Pending;
                    };
                    let began = Instant::now();
                    let polled = f.as_mut().poll(cx);
                    *ran += began.elapsed();
                    match polled {
                        Poll::Ready(v) => return Poll::Ready(Ok(v)),
                        Poll::Pending => {
                            let long = *ran >= DEMOTE_AFTER;
                            match (long, pool.take(), fut.take()) {
                                (true, Some(pool), Some(f)) => {
                                    *this = Demotable::Moved(pool.spawn(f));
                                }
                                (_, p, f) => {
                                    *pool = p;
                                    *fut = f;
                                    return Poll::Pending;
                                }
                            }
                        }
                    }
                }
                Demotable::Moved(handle) => return Pin::new(handle).poll(cx),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(pool: &LongRunningPool, hint: &RunsLong) -> Placement {
        Placement {
            pool: pool.handle(),
            hint: hint.clone(),
        }
    }

    #[tokio::test]
    async fn short_work_stays_long_work_moves_and_sticks() {
        let pool = LongRunningPool::new(1).unwrap();
        let name = || std::thread::current().name().map(str::to_string);
        let hint = RunsLong::default();
        let here = name();
        let quick = run(async move { name() }, place(&pool, &hint));
        assert_eq!(quick.await.unwrap(), here);
        assert_eq!(hint.load(Ordering::Relaxed), 0);
        let slow = run(
            async move {
                // Busy for longer than DEMOTE_AFTER, then yield, then report.
                let until = Instant::now() + DEMOTE_AFTER * 2;
                while Instant::now() < until {}
                tokio::task::yield_now().await;
                name()
            },
            place(&pool, &hint),
        );
        assert_eq!(slow.await.unwrap().as_deref(), Some("wisp-long"));
        // The next calls of the same function start on the pool at once...
        for _ in 1..STICKY_CALLS {
            let next = run(async move { name() }, place(&pool, &hint));
            assert_eq!(next.await.unwrap().as_deref(), Some("wisp-long"));
        }
        // ...then one probes a request thread again, and a quick probe clears it.
        let probe = run(async move { name() }, place(&pool, &hint));
        assert_eq!(probe.await.unwrap(), here);
        assert_eq!(hint.load(Ordering::Relaxed), 0);
    }
}
