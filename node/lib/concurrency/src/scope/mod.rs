//! Structured concurrency: every task belongs to a scope, and a scope ends only when all of its
//! tasks have ended.
//!
//! ```
//! use zksync_concurrency::{ctx, scope};
//!
//! async fn sum(ctx: &ctx::Ctx, xs: &[u64]) -> ctx::Result<u64> {
//!     scope::run!(ctx, |ctx, s| async {
//!         let (left, right) = xs.split_at(xs.len() / 2);
//!         // Tasks may borrow from the caller: they cannot outlive the scope.
//!         let left = s.spawn(async { Ok(left.iter().sum::<u64>()) });
//!         let right: u64 = right.iter().sum();
//!         Ok(left.join(ctx).await? + right)
//!     })
//!     .await
//! }
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # assert_eq!(rt.block_on(sum(&ctx::root(), &[1, 2, 3, 4])).unwrap(), 10);
//! ```
//!
//! Rules:
//! - `scope::run!(ctx, |ctx, s| async { .. })` runs the body (the *root* task) with a child ctx
//!   of `ctx` and a scope handle `s`; it returns the root's value once every task has finished.
//! - [`Scope::spawn`] starts a *main* task, [`Scope::spawn_bg`] a *background* task. When the
//!   root and all main tasks have finished, the scope's ctx is cancelled so that background
//!   tasks (usually loops waiting on the ctx) stop; their results are then ignored.
//! - The first error returned by any task before that point cancels the scope's ctx and becomes
//!   the result of the scope; later errors are dropped.
//! - All tasks of a scope are polled by the scope's own future, on the task that awaits it.
//!   This is what lets tasks borrow, and guarantees that dropping the scope's future drops
//!   every task with it. CPU-heavy work should go through [`wait_blocking`] so it does not stall
//!   its sibling tasks.

use std::{
    fmt,
    future::Future,
    mem::ManuallyDrop,
    pin::Pin,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
};

use futures_util::{
    StreamExt as _,
    stream::FuturesUnordered,
    task::{ArcWake, AtomicWaker},
};
use tokio::sync::oneshot;

use crate::ctx;

#[cfg(test)]
mod tests;

type TaskFuture<'env, E> = Pin<Box<dyn Future<Output = (TaskKind, Result<(), E>)> + Send + 'env>>;
type Pending<'env, E> = Vec<(TaskKind, TaskFuture<'env, E>)>;

/// Rounds of "pick up newly spawned tasks, poll ready tasks" in one poll of a scope.
const MAX_ROUNDS_PER_POLL: usize = 32;

/// Wakes the scope and records that the root task has to be polled.
struct RootWake {
    woken: AtomicBool,
    parent: AtomicWaker,
}

impl ArcWake for RootWake {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        arc_self.woken.store(true, Ordering::Release);
        arc_self.parent.wake();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TaskKind {
    Main,
    Background,
}

struct State<E> {
    /// The first error returned by a task.
    err: Option<E>,
    /// Whether the root and all main tasks have finished (and the ctx was cancelled for that).
    terminated: bool,
}

/// A scope of tasks. Created and run by [`run!`]; tasks get a `&Scope` to spawn siblings.
pub struct Scope<'env, E> {
    ctx: ctx::Ctx,
    canceler: ctx::Canceler,
    state: Mutex<State<E>>,
    /// Tasks spawned but not yet picked up by the driver. Tasks may borrow the scope itself, so
    /// this is never dropped implicitly: the driver empties it, also when it is dropped itself.
    pending: ManuallyDrop<Mutex<Pending<'env, E>>>,
    waker: AtomicWaker,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A handle to the result of a spawned task. Dropping it does not affect the task.
#[derive(Debug)]
pub struct JoinHandle<T>(oneshot::Receiver<T>);

impl<T> JoinHandle<T> {
    /// Waits for the task's value. Returns `Canceled` if `ctx` is cancelled first, or if the
    /// task failed (its error then belongs to the scope, which is being cancelled).
    pub async fn join(self, ctx: &ctx::Ctx) -> ctx::OrCanceled<T> {
        match ctx.wait(self.0).await? {
            Ok(v) => Ok(v),
            Err(_) => Err(ctx::Canceled),
        }
    }
}

impl<'env, E: fmt::Debug + Send + 'env> Scope<'env, E> {
    /// A scope whose ctx is a child of `ctx`. Only for [`run!`]: a scope that is never run
    /// never drops the tasks spawned on it.
    #[doc(hidden)]
    pub fn new(ctx: &ctx::Ctx) -> Self {
        let (ctx, canceler) = ctx.with_canceler();
        Self {
            ctx,
            canceler,
            state: Mutex::new(State {
                err: None,
                terminated: false,
            }),
            pending: ManuallyDrop::new(Mutex::new(Vec::new())),
            waker: AtomicWaker::new(),
        }
    }

    /// The scope's ctx: cancelled when a task fails or when the main tasks have all finished.
    pub fn ctx(&self) -> &ctx::Ctx {
        &self.ctx
    }

    fn push(&self, kind: TaskKind, fut: impl Future<Output = Result<(), E>> + Send + 'env) {
        lock(&self.pending).push((kind, Box::pin(async move { (kind, fut.await) })));
        self.waker.wake();
    }

    fn spawn_kind<T: Send + 'env>(
        &self,
        kind: TaskKind,
        fut: impl Future<Output = Result<T, E>> + Send + 'env,
    ) -> JoinHandle<T> {
        let (send, recv) = oneshot::channel();
        self.push(kind, async move {
            let v = fut.await?;
            // The receiver may be gone; the value is then not needed.
            let _ = send.send(v);
            Ok(())
        });
        JoinHandle(recv)
    }

    /// Starts a main task. The scope ends only after it has finished.
    pub fn spawn<T: Send + 'env>(
        &self,
        fut: impl Future<Output = Result<T, E>> + Send + 'env,
    ) -> JoinHandle<T> {
        self.spawn_kind(TaskKind::Main, fut)
    }

    /// Starts a background task: it is cancelled (through the scope's ctx) once the root and
    /// all main tasks have finished, and its result is then ignored.
    pub fn spawn_bg<T: Send + 'env>(
        &self,
        fut: impl Future<Output = Result<T, E>> + Send + 'env,
    ) -> JoinHandle<T> {
        self.spawn_kind(TaskKind::Background, fut)
    }

    /// Starts a main task that runs `f` on a thread of the blocking pool (see [`wait_blocking`]).
    pub fn spawn_blocking<T, F>(&self, f: F) -> JoinHandle<T>
    where
        T: Send + 'static,
        E: 'static,
        F: FnOnce() -> Result<T, E> + Send + 'static,
    {
        self.spawn(wait_blocking(f))
    }

    fn fail(&self, err: E) {
        {
            let mut state = lock(&self.state);
            if state.err.is_none() && !state.terminated {
                state.err = Some(err);
            } else {
                // Usually the cancellation the first error (or termination) caused.
                tracing::debug!(error = ?err, "scope task error after the scope was cancelled");
            }
        }
        self.canceler.cancel();
    }

    fn terminate(&self) {
        lock(&self.state).terminated = true;
        self.canceler.cancel();
    }

    fn take_pending(&self) -> Pending<'env, E> {
        std::mem::take(&mut *lock(&self.pending))
    }

    /// Runs `root` and every task spawned in this scope to completion. Only for [`run!`],
    /// which calls it exactly once.
    #[doc(hidden)]
    pub async fn run<T>(
        &'env self,
        root: impl Future<Output = Result<T, E>> + Send + 'env,
    ) -> Result<T, E> {
        // Declared first, so dropped last: empties `pending` even if this future is dropped.
        let _clear = ClearPending(self);
        let mut running = FuturesUnordered::<TaskFuture<'env, E>>::new();
        let mut root = std::pin::pin!(root);
        let root_wake = Arc::new(RootWake {
            woken: AtomicBool::new(true),
            parent: AtomicWaker::new(),
        });
        let mut root_out: Option<T> = None;
        let mut root_done = false;
        let mut main_running = 0usize;
        let mut terminated = false;
        std::future::poll_fn(|cx| {
            self.waker.register(cx.waker());
            root_wake.parent.register(cx.waker());
            // The root is polled only when it was woken (or on the first poll).
            if !root_done && root_wake.woken.swap(false, Ordering::AcqRel) {
                let waker = futures_util::task::waker_ref(&root_wake);
                if let Poll::Ready(res) = root.as_mut().poll(&mut Context::from_waker(&waker)) {
                    root_done = true;
                    match res {
                        Ok(v) => root_out = Some(v),
                        Err(err) => self.fail(err),
                    }
                }
            }
            // Tasks spawned while polling are polled in the same call, so they register their
            // wakers; the number of rounds is bounded so that tasks that keep spawning cannot
            // monopolise the thread.
            for _ in 0..MAX_ROUNDS_PER_POLL {
                for (kind, task) in self.take_pending() {
                    if kind == TaskKind::Main {
                        main_running += 1;
                    }
                    running.push(task);
                }
                while let Poll::Ready(Some((kind, res))) = running.poll_next_unpin(cx) {
                    if kind == TaskKind::Main {
                        main_running -= 1;
                    }
                    match res {
                        Ok(()) => {}
                        Err(err) => self.fail(err),
                    }
                }
                if lock(&self.pending).is_empty() {
                    if root_done && main_running == 0 && !terminated {
                        // Cancelling wakes the background tasks, so this future is polled again.
                        terminated = true;
                        self.terminate();
                    }
                    if root_done && running.is_empty() {
                        return Poll::Ready(());
                    }
                    return Poll::Pending;
                }
            }
            // Out of rounds with tasks still pending: come back after other work had a turn.
            cx.waker().wake_by_ref();
            Poll::Pending
        })
        .await;
        let err = lock(&self.state).err.take();
        match (err, root_out) {
            (Some(err), _) => Err(err),
            (None, Some(v)) => Ok(v),
            (None, None) => unreachable!("the root task ended with neither a value nor an error"),
        }
    }
}

struct ClearPending<'a, 'env, E>(&'a Scope<'env, E>);

impl<E> Drop for ClearPending<'_, '_, E> {
    fn drop(&mut self) {
        // Tasks dropped here may spawn more tasks from their destructors; repeat until empty.
        loop {
            let tasks = std::mem::take(&mut *lock(&self.0.pending));
            if tasks.is_empty() {
                break;
            }
            drop(tasks);
        }
    }
}

/// Runs `f` on a thread of tokio's blocking pool and waits for its result.
///
/// For CPU-heavy work (batches of signature checks, database calls) that would otherwise stall
/// the other tasks of its scope. `f` must own its inputs. If the waiting future is dropped, `f`
/// still runs to completion on its thread, but its result is discarded. A panic in `f` is
/// propagated to the caller.
pub async fn wait_blocking<T, F>(f: F) -> T
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(err) => match err.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            // Only happens when the runtime is shutting down: this future is about to be dropped.
            Err(_) => std::future::pending().await,
        },
    }
}

/// Runs a scope: `scope::run!(ctx, |ctx, s| async { .. })`, evaluating to a future of the
/// root's `Result`. See the [module docs](crate::scope).
#[macro_export]
#[doc(hidden)]
macro_rules! __scope_run {
    ($ctx:expr, |$c:pat_param, $s:pat_param| async $body:block) => {
        async {
            let scope = $crate::scope::Scope::new($ctx);
            let result = {
                let $c: &$crate::ctx::Ctx = scope.ctx();
                let $s = &scope;
                scope.run(async $body).await
            };
            result
        }
    };
    ($ctx:expr, |$c:pat_param, $s:pat_param| async move $body:block) => {
        async {
            let scope = $crate::scope::Scope::new($ctx);
            let result = {
                let $c: &$crate::ctx::Ctx = scope.ctx();
                let $s = &scope;
                scope.run(async move $body).await
            };
            result
        }
    };
}

pub use crate::__scope_run as run;
