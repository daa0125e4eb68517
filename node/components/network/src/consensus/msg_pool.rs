//! The outbound consensus message pool (protocol.md 5.9; 10.2 item 1, fixed).
//!
//! Only the newest message of each kind (proposal, commit vote, new view, timeout vote) is
//! worth sending: a message for an older view than one already sent is useless to a replica.
//! So the pool keeps one message per kind, each with a sequence number; every connection sends
//! the messages it has not sent yet, oldest first, and a connection made later (a reconnecting
//! peer) gets just the current ones. An older message than the pool's for its kind is refused;
//! the same message again is a no-op; a different message of the same view replaces it (a
//! re-broadcast new-view message with a newer justification must go out).

use std::collections::BTreeMap;

use tokio::sync::watch;
use zksync_concurrency::{ctx, sync};
use zksync_consensus_roles::validator::{ConsensusMsg, Signed};

#[derive(Clone, Debug, Default)]
struct Inner {
    next_seq: u64,
    /// label -> (sequence number, message).
    msgs: BTreeMap<&'static str, (u64, Signed<ConsensusMsg>)>,
}

/// The pool.
#[derive(Debug)]
pub struct MsgPool(watch::Sender<Inner>);

impl Default for MsgPool {
    fn default() -> Self {
        Self(watch::Sender::new(Inner::default()))
    }
}

/// Where a connection is in the pool.
#[derive(Debug, Default, Clone, Copy)]
pub struct Cursor(u64);

impl MsgPool {
    /// Adds `msg`; returns whether it will be sent.
    pub fn send(&self, msg: Signed<ConsensusMsg>) -> bool {
        let mut added = false;
        self.0.send_if_modified(|inner| {
            let label = msg.msg.label();
            if let Some((_, old)) = inner.msgs.get(label) {
                let (old_view, new_view) = (old.msg.view().number, msg.msg.view().number);
                if old_view > new_view || *old == msg {
                    return false;
                }
            }
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.msgs.insert(label, (seq, msg.clone()));
            added = true;
            true
        });
        added
    }

    /// Waits for the next message after `cursor` and advances it.
    pub async fn next(
        &self,
        ctx: &ctx::Ctx,
        cursor: &mut Cursor,
    ) -> ctx::OrCanceled<Signed<ConsensusMsg>> {
        let mut sub = self.0.subscribe();
        let pick = |inner: &Inner| {
            inner
                .msgs
                .values()
                .filter(|(seq, _)| *seq >= cursor.0)
                .min_by_key(|(seq, _)| *seq)
                .cloned()
        };
        let inner = sync::wait_for(ctx, &mut sub, |inner| pick(inner).is_some()).await?;
        let (seq, msg) = pick(&inner).expect("checked by wait_for");
        cursor.0 = seq + 1;
        Ok(msg)
    }

    /// Number of messages held (at most one per kind).
    pub fn len(&self) -> usize {
        self.0.borrow().msgs.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
    use zksync_concurrency::testonly;
    use zksync_consensus_roles::{testonly::Setup, validator};

    use super::*;

    fn timeout(setup: &Setup, view: u64) -> Signed<ConsensusMsg> {
        setup.keys[0].sign_msg(ConsensusMsg::ReplicaTimeout(validator::ReplicaTimeout {
            view: setup.view(view),
            high_vote: None,
            high_qc: None,
        }))
    }

    #[test]
    fn newest_per_kind_only() {
        testonly::run_test(|ctx, _| async move {
            let ctx = &ctx;
            let rng = &mut StdRng::seed_from_u64(1);
            let setup = Setup::new(rng, 4);
            let pool = MsgPool::default();
            assert!(pool.send(timeout(&setup, 5)));
            assert!(!pool.send(timeout(&setup, 5)), "the same message again");
            assert!(!pool.send(timeout(&setup, 4)), "an older one");
            let commit: Signed<ConsensusMsg> =
                setup.keys[0].sign_msg(ConsensusMsg::ReplicaCommit(rng.random()));
            assert!(pool.send(commit.clone()));
            assert_eq!(pool.len(), 2);
            // A connection made now gets both, oldest first.
            let mut c = Cursor::default();
            assert_eq!(pool.next(ctx, &mut c).await?, timeout(&setup, 5));
            assert_eq!(pool.next(ctx, &mut c).await?, commit);
            // A newer timeout replaces the older one and is sent next.
            assert!(pool.send(timeout(&setup, 6)));
            assert_eq!(pool.len(), 2);
            assert_eq!(pool.next(ctx, &mut c).await?, timeout(&setup, 6));
            // A late connection skips the replaced message.
            let mut late = Cursor::default();
            let a = pool.next(ctx, &mut late).await?;
            let b = pool.next(ctx, &mut late).await?;
            assert_eq!((a, b), (commit, timeout(&setup, 6)));
            Ok(())
        });
    }
}
