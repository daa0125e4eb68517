//! Ctx-aware waits on tokio's synchronisation primitives, and the prunable queue.

use tokio::sync::{Mutex, MutexGuard, Semaphore, SemaphorePermit, watch};

use crate::ctx;

pub mod prunable_mpsc;
#[cfg(test)]
mod tests;

/// Waits until the watched value satisfies `pred` (checked on the current value first).
/// If the sender is dropped, waits for cancellation.
pub async fn wait_for<'a, T>(
    ctx: &ctx::Ctx,
    recv: &'a mut watch::Receiver<T>,
    pred: impl FnMut(&T) -> bool,
) -> ctx::OrCanceled<watch::Ref<'a, T>> {
    // Not a `match`: the guard must not be alive across the await below.
    if let Ok(v) = ctx.wait(recv.wait_for(pred)).await? {
        return Ok(v);
    }
    ctx.canceled().await;
    Err(ctx::Canceled)
}

/// Waits until the watched value is changed (marked seen) since the last read.
/// If the sender is dropped, waits for cancellation.
pub async fn changed<'a, T>(
    ctx: &ctx::Ctx,
    recv: &'a mut watch::Receiver<T>,
) -> ctx::OrCanceled<watch::Ref<'a, T>> {
    if ctx.wait(recv.changed()).await?.is_err() {
        ctx.canceled().await;
        return Err(ctx::Canceled);
    }
    Ok(recv.borrow_and_update())
}

/// Acquires `n` permits of `sem`. A closed semaphore waits for cancellation.
pub async fn acquire_many<'a>(
    ctx: &ctx::Ctx,
    sem: &'a Semaphore,
    n: u32,
) -> ctx::OrCanceled<SemaphorePermit<'a>> {
    match ctx.wait(sem.acquire_many(n)).await? {
        Ok(p) => Ok(p),
        Err(_) => {
            ctx.canceled().await;
            Err(ctx::Canceled)
        }
    }
}

/// Acquires one permit of `sem`.
pub async fn acquire<'a>(
    ctx: &ctx::Ctx,
    sem: &'a Semaphore,
) -> ctx::OrCanceled<SemaphorePermit<'a>> {
    acquire_many(ctx, sem, 1).await
}

/// Locks an async mutex (FIFO-fair).
pub async fn lock<'a, T>(ctx: &ctx::Ctx, m: &'a Mutex<T>) -> ctx::OrCanceled<MutexGuard<'a, T>> {
    ctx.wait(m.lock()).await
}
