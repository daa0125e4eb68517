//! Test harness: runtimes, a wall-clock guard, and abort on the first panic.
//!
//! A typical concurrent test:
//! ```ignore
//! #[test]
//! fn my_test() {
//!     testonly::run_test(|ctx, clock| async move { /* ... */ Ok(()) });
//! }
//! ```

use std::{
    future::Future,
    pin::Pin,
    sync::Once,
    task::{Context, Poll, Waker},
};

use crate::ctx;

/// Installs a test tracing subscriber (filtered by `RUST_LOG`) and a panic hook that aborts the
/// process after printing the panic, so that a panic in any thread or blocking task fails the
/// test at once instead of leaving other tasks hanging. Idempotent.
pub fn abort_on_panic() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            default(info);
            std::process::abort();
        }));
    });
}

/// A hard wall-clock guard: aborts the process if the guard is still alive after `limit`.
/// Catches hangs that a manual clock would otherwise turn into a stuck test.
#[must_use = "the guard stops watching when dropped"]
pub struct TimeoutGuard(Option<std::sync::mpsc::Sender<()>>);

/// Starts a [`TimeoutGuard`] of `limit` of real time.
pub fn set_timeout(limit: std::time::Duration) -> TimeoutGuard {
    let (send, recv) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = recv.recv_timeout(limit) {
            // This thread has no test writer; stderr is what the harness shows.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("test exceeded its wall-clock limit of {limit:?}; aborting");
            }
            std::process::abort();
        }
    });
    TimeoutGuard(Some(send))
}

impl Drop for TimeoutGuard {
    fn drop(&mut self) {
        // Dropping the sender disconnects the watcher, which then exits.
        self.0.take();
    }
}

/// The default wall-clock limit of [`run_test`].
pub const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A multi-threaded tokio runtime with 2 workers (the CI machine has 2 cores).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building a tokio runtime")
}

/// Runs a test body on a fresh runtime with a manual clock and seed 0, under
/// [`abort_on_panic`] and a [`DEFAULT_TIMEOUT`] guard; panics if it returns an error.
pub fn run_test<F, Fut>(f: F)
where
    F: FnOnce(ctx::Ctx, ctx::ManualClock) -> Fut,
    Fut: Future<Output = ctx::Result<()>>,
{
    run_test_seeded(0, f);
}

/// Like [`run_test`], with the given RNG seed.
pub fn run_test_seeded<F, Fut>(seed: u64, f: F)
where
    F: FnOnce(ctx::Ctx, ctx::ManualClock) -> Fut,
    Fut: Future<Output = ctx::Result<()>>,
{
    abort_on_panic();
    let _guard = set_timeout(DEFAULT_TIMEOUT);
    let clock = ctx::ManualClock::new();
    let ctx = ctx::test_root(clock.clone(), seed);
    if let Err(err) = runtime().block_on(f(ctx, clock)) {
        panic!("test failed: {err:#}");
    }
}

/// Polls `fut` once (with a no-op waker) and tells whether it is still pending. For asserting
/// that a wait really waits, before moving the manual clock to end it.
pub fn is_pending<F: Future>(fut: Pin<&mut F>) -> bool {
    matches!(
        fut.poll(&mut Context::from_waker(Waker::noop())),
        Poll::Pending
    )
}
