//! Verification of many blocks at once, for block sync.
//!
//! A syncing node receives finalized blocks by the hundred, each with a commit certificate to
//! check. Checked one by one, `n` certificates cost `2n` pairings; [`BlockStore::verify_blocks`]
//! checks all their signatures in one [`CommitQCBatch`] (a random linear combination), which
//! costs `n + 1` pairings, on a blocking thread. A forged certificate makes the batch fail; only
//! then is each certificate checked on its own, to give the forged ones their own error and the
//! others their `Ok`. Every other check (numbering, epoch, payload hash, certificate structure,
//! pre-genesis justification) is done per block, exactly as in [`BlockStore::verify_block`].
//!
//! The result is a [`VerifiedBlock`], which only this crate can create, so that
//! [`BlockStore::queue_verified_block`] can skip the checks without trusting its caller.

use std::sync::Arc;

use zksync_concurrency::{ctx, scope};
use zksync_consensus_roles::validator::{
    Block, BlockNumber, CommitQC, CommitQCBatch, CommitQCVerifyError, Schedule,
};

use super::{BlockError, BlockStore};

/// A block that passed the verification of a [`BlockStore`] ([`BlockStore::verify_blocks`]),
/// ready for [`BlockStore::queue_verified_block`] of that same store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBlock(pub(super) Block);

impl VerifiedBlock {
    /// The block.
    pub fn block(&self) -> &Block {
        &self.0
    }

    /// The block number.
    pub fn number(&self) -> BlockNumber {
        self.0.number()
    }

    /// The block, giving up the proof of verification.
    pub fn into_inner(self) -> Block {
        self.0
    }
}

impl BlockStore {
    /// Verifies `blocks` with the checks of [`BlockStore::verify_block`], in the same order,
    /// but with the certificate signatures of all finalized blocks checked in one batch on a
    /// blocking thread (`n + 1` pairings instead of `2n`; per-certificate checks only if the
    /// batch fails). Pre-genesis blocks go to the execution layer one by one.
    ///
    /// Output `i` is the verdict on input `i`, with the error `verify_block` would give (a
    /// forged signature is `BlockError::Block(BlockValidationError::Justification(
    /// CommitQCVerifyError::BadSignature))`; an execution-layer failure on a pre-genesis block
    /// is that block's `BlockError::Internal`). Verdicts never hold `BlockError::Canceled`: a
    /// cancellation (of `ctx`, or reported by the execution layer) fails the whole call.
    /// Blocks are not checked against the queued range: a gap shows when queueing.
    pub async fn verify_blocks(
        &self,
        ctx: &ctx::Ctx,
        blocks: Vec<Block>,
    ) -> ctx::OrCanceled<Vec<Result<VerifiedBlock, BlockError>>> {
        let mut verdicts = Vec::with_capacity(blocks.len());
        // Final blocks whose signature is still to check: (input index, certificate, schedule).
        let mut batch: Vec<(usize, CommitQC, Arc<Schedule>)> = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            verdicts.push(match block {
                Block::Final(b) => self
                    .verify_final_structure(b)
                    .map(|schedule| batch.push((i, b.justification.clone(), schedule))),
                Block::PreGenesis(b) => match self.verify_pregenesis(ctx, b).await {
                    Err(BlockError::Canceled(c)) => return Err(c),
                    res => res,
                },
            });
        }
        if !batch.is_empty() {
            let mut rng = ctx.rng();
            let invalid = ctx
                .wait(scope::wait_blocking(move || {
                    let mut qcs = CommitQCBatch::new();
                    for (_, qc, schedule) in &batch {
                        qcs.push(qc, schedule);
                    }
                    let invalid = qcs.verify(&mut rng).err().unwrap_or_default();
                    invalid.into_iter().map(|j| batch[j].0).collect::<Vec<_>>()
                }))
                .await?;
            for i in invalid {
                verdicts[i] = Err(BlockError::Block(CommitQCVerifyError::BadSignature.into()));
            }
        }
        Ok(blocks
            .into_iter()
            .zip(verdicts)
            .map(|(block, verdict)| verdict.map(|()| VerifiedBlock(block)))
            .collect())
    }
}
