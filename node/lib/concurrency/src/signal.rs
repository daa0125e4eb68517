//! A signal that fires once and can be awaited by any number of waiters.

use tokio_util::sync::CancellationToken;

use crate::ctx;

/// Fires once; every current and future waiter then sees it. Cloning gives another handle to
/// the same signal.
#[derive(Clone, Debug, Default)]
pub struct Once(CancellationToken);

impl Once {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal. Idempotent.
    pub fn send(&self) {
        self.0.cancel();
    }

    /// Whether the signal has fired.
    pub fn try_recv(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Waits until the signal fires.
    pub async fn recv(&self, ctx: &ctx::Ctx) -> ctx::OrCanceled<()> {
        if self.try_recv() {
            return Ok(());
        }
        ctx.wait(self.0.cancelled()).await
    }
}
