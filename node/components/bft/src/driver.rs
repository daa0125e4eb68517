//! The async driver: feeds the pure core from the inbound queue, the clock and the block store,
//! and carries out its outputs in order.
//!
//! - A state to persist is written (and awaited) before any later output is carried out.
//! - Broadcasts go to the outbound channel, which the consensus network delivers to every
//!   validator of the epoch, this one included.
//! - The new-view delay is a second timer, [`NEW_VIEW_DELAY_FRACTION`] of the view timeout.
//! - Finalized blocks go, in order, to a task that queues each one after its predecessor.
//! - Payload checks and proposals run as tasks bounded by the view deadline, so the replica keeps
//!   handling messages meanwhile; their answers come back as inputs.
//! - After every input the replica's view is published to the inbound queue, which then drops
//!   messages for older views before checking their signatures.

use std::sync::Arc;

use zksync_concurrency::{channel, ctx, error::Wrap as _, scope, time};
use zksync_consensus_roles::validator::{BlockNumber, ConsensusMsg, ViewNumber};
use zksync_consensus_storage::{BlockStore, VerifyError};

use crate::{
    Config,
    core::{Bls, Input, Output, Params, Replica},
    io::{ConsensusInputMessage, InputReceiver, ViewWatermark},
    metrics::{MessageLabels, Metrics},
};

/// The connections of a replica to the network.
#[derive(Debug)]
pub struct Io {
    /// Inbound queue (see [`crate::io::create_input_channel`]).
    pub inbound: InputReceiver,
    /// The view published to the inbound queue.
    pub watermark: ViewWatermark,
    /// Messages to broadcast to every validator of the epoch, this one included.
    pub outbound: channel::UnboundedSender<ConsensusInputMessage>,
}

/// The new-view delay as a fraction of the view timeout (`Output::DelayNewView`). A view with
/// a live leader and a prompt execution layer ends within milliseconds, long before it; one
/// whose leader is down times out anyway, and a replica that missed the certificate then has
/// the others' new-view messages a quarter of a view timeout after they entered the view. (An
/// execution layer slower than the delay to propose makes every replica send it in every
/// view, as the reference does.)
pub(crate) const NEW_VIEW_DELAY_FRACTION: u32 = 4;

/// Answers of the payload tasks.
type Answers = channel::UnboundedSender<Input>;

pub(crate) async fn run(
    ctx: &ctx::Ctx,
    cfg: &Config,
    store: &Arc<BlockStore>,
    io: Io,
    metrics: Option<&Metrics>,
) -> ctx::Result<()> {
    let epoch = store.wait_for_epoch(ctx, cfg.epoch).await?;
    let me = cfg.secret_key.public();
    if !epoch.schedule.contains(&me) {
        return Err(
            anyhow::anyhow!("this node's key is not a validator of epoch {}", cfg.epoch).into(),
        );
    }
    // Blocks of earlier epochs (or before genesis) come first.
    if let Some(prev) = epoch.activation.prev() {
        store.wait_until_persisted(ctx, prev).await?;
    }
    let params = Params {
        genesis: store.genesis().hash(),
        epoch: cfg.epoch,
        schedule: epoch.schedule.clone(),
        first_block: epoch.activation,
        max_payload_size: cfg.max_payload_size,
        vote_check: cfg.vote_check,
        senders_authenticated: cfg.senders_authenticated,
    };
    let state = store.engine().state(ctx).await.wrap("state()")?;
    let mut replica = Replica::new(params, cfg.secret_key.clone(), Arc::new(Bls), state)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let Io {
        mut inbound,
        watermark,
        outbound,
    } = io;
    let (blocks_send, mut blocks_recv) = channel::unbounded();
    let (answers, mut answers_recv) = channel::unbounded();
    scope::run!(ctx, |ctx, s| async {
        s.spawn_bg(async move {
            while let Ok(b) = blocks_recv.recv(ctx).await {
                queue_block(ctx, store, b).await?;
            }
            Ok(())
        });
        let mut d = Driver {
            cfg,
            store,
            replica: &mut replica,
            deadline: ctx.now() + cfg.view_timeout,
            new_view_at: None,
            view_started: ctx.now(),
            outbound: &outbound,
            blocks: &blocks_send,
            answers: &answers,
            metrics,
        };
        let mut persisted = store.persisted();
        d.handle(
            ctx,
            s,
            "store",
            Input::Store {
                first: persisted.first,
                persisted_next: persisted.next(),
            },
        )
        .await?;
        d.handle(ctx, s, "start", Input::Start).await?;
        loop {
            watermark.advance(d.replica.view());
            let next = persisted.next();
            let (new_view_at, new_view) = d.new_view_at.unwrap_or((d.deadline, ViewNumber(0)));
            // Timers first, messages last: a flood of messages never holds a timer back, and
            // a timer that is due is handled before any message that arrives after it.
            tokio::select! {
                biased;
                res = ctx.sleep_until(d.deadline) => {
                    res?;
                    d.deadline = ctx.now() + cfg.view_timeout;
                    d.handle(ctx, s, "timer", Input::TimerExpired).await?;
                }
                res = ctx.sleep_until(new_view_at), if d.new_view_at.is_some() => {
                    res?;
                    d.new_view_at = None;
                    d.handle(ctx, s, "new_view_delay", Input::NewViewDelayElapsed { view: new_view })
                        .await?;
                }
                res = store.wait_until_persisted(ctx, next) => {
                    persisted = res?;
                    d.handle(ctx, s, "store", Input::Store {
                        first: persisted.first,
                        persisted_next: persisted.next(),
                    })
                    .await?;
                }
                input = answers_recv.recv(ctx) => {
                    d.handle(ctx, s, "payload", input?).await?;
                }
                req = inbound.recv(ctx) => {
                    let req = req?;
                    let label = req.msg.msg.label();
                    d.handle(ctx, s, label, Input::Message(req.msg)).await?;
                    // Dropping the ack answers the sender's RPC.
                }
            }
        }
    })
    .await
}

struct Driver<'a> {
    cfg: &'a Config,
    store: &'a Arc<BlockStore>,
    replica: &'a mut Replica,
    deadline: time::Instant,
    /// When to hand [`Input::NewViewDelayElapsed`] to the replica, and for which view.
    new_view_at: Option<(time::Instant, ViewNumber)>,
    view_started: time::Instant,
    outbound: &'a channel::UnboundedSender<ConsensusInputMessage>,
    blocks: &'a channel::UnboundedSender<zksync_consensus_roles::validator::FinalBlock>,
    answers: &'a Answers,
    metrics: Option<&'a Metrics>,
}

impl<'a> Driver<'a> {
    async fn handle<'env>(
        &mut self,
        ctx: &'a ctx::Ctx,
        s: &'a scope::Scope<'env, ctx::Error>,
        label: &'static str,
        input: Input,
    ) -> ctx::Result<()>
    where
        'a: 'env,
    {
        let started = ctx.now();
        let view_before = self.replica.view();
        let is_proposal = matches!(
            &input,
            Input::Message(m) if matches!(m.msg, ConsensusMsg::LeaderProposal(_))
        );
        let res = self.replica.handle(input);
        if let Some(m) = self.metrics {
            let result = match &res {
                Ok(_) => "ok",
                Err(e) => e.label(),
            };
            m.processing
                .get_or_create(&MessageLabels {
                    r#type: label.into(),
                    result: result.into(),
                })
                .observe((ctx.now() - started).as_secs_f64());
            m.bad_votes
                .inc_by(self.replica.bad_votes() - m.bad_votes.get());
        }
        let outputs = match res {
            Ok(outputs) => outputs,
            Err(e) => {
                tracing::debug!("bft: rejected {label}: {e}");
                return Ok(());
            }
        };
        tracing::trace!(
            "bft: handled {label} in view {} in {} us, {} outputs",
            self.replica.view().0,
            (ctx.now() - started).as_micros(),
            outputs.len()
        );
        if is_proposal && let Some(m) = self.metrics {
            m.proposal_latency
                .observe((ctx.now() - self.view_started).as_secs_f64());
        }
        for out in outputs {
            self.perform(ctx, s, out).await?;
        }
        if self.replica.view() != view_before {
            let now = ctx.now();
            if let Some(m) = self.metrics {
                m.view.set(self.replica.view().0 as i64);
                m.view_latency
                    .observe((now - self.view_started).as_secs_f64());
            }
            self.view_started = now;
        }
        Ok(())
    }

    async fn perform<'env>(
        &mut self,
        ctx: &'a ctx::Ctx,
        s: &'a scope::Scope<'env, ctx::Error>,
        out: Output,
    ) -> ctx::Result<()>
    where
        'a: 'env,
    {
        match out {
            Output::PersistState(state) => {
                self.store
                    .engine()
                    .set_state(ctx, &state)
                    .await
                    .wrap("set_state()")?;
            }
            Output::Broadcast(message) => {
                tracing::trace!(
                    "bft: broadcast {} of view {}",
                    message.msg.label(),
                    message.msg.view().number.0
                );
                self.outbound.send(ConsensusInputMessage { message })
            }
            Output::DelayNewView { view } => {
                let at = ctx.now() + self.cfg.view_timeout / NEW_VIEW_DELAY_FRACTION;
                self.new_view_at = Some((at, view));
            }
            Output::QueueBlock(b) => {
                tracing::trace!("bft: finalized block {}", b.number().0);
                if let Some(m) = self.metrics {
                    m.finalized_block.set(b.number().0 as i64);
                    m.commit_latency
                        .observe((ctx.now() - self.view_started).as_secs_f64());
                }
                self.blocks.send(b);
            }
            Output::ResetTimer => self.deadline = ctx.now() + self.cfg.view_timeout,
            Output::VerifyPayload {
                view,
                number,
                payload,
            } => {
                let (store, answers, deadline) = (self.store, self.answers, self.deadline);
                s.spawn_bg(async move {
                    let ctx = &ctx.with_deadline(deadline);
                    let hash = payload.hash();
                    let valid = match verify_payload(ctx, store, number, &payload).await {
                        Ok(()) => true,
                        Err(VerifyError::Internal(e)) => return Err(e.into()),
                        Err(VerifyError::Invalid(e)) => {
                            tracing::info!(
                                "bft: invalid payload for block {number} in view {view}: {e:#}"
                            );
                            false
                        }
                        Err(VerifyError::Canceled(_)) => {
                            tracing::info!(
                                "bft: block {} not persisted before the view deadline",
                                number.0.saturating_sub(1)
                            );
                            false
                        }
                    };
                    answers.send(Input::PayloadVerified {
                        view,
                        number,
                        hash,
                        valid,
                    });
                    Ok(())
                });
            }
            Output::ProposePayload { view, number } => {
                let (store, answers, deadline) = (self.store, self.answers, self.deadline);
                let (max, metrics) = (self.cfg.max_payload_size, self.metrics);
                s.spawn_bg(async move {
                    let ctx = &ctx.with_deadline(deadline);
                    let payload = match propose_payload(ctx, store, number).await {
                        Ok(p) if p.len() <= max => {
                            if let Some(m) = metrics {
                                m.proposal_payload_size.observe(p.len() as f64);
                            }
                            Some(p)
                        }
                        Ok(p) => {
                            tracing::warn!("bft: execution layer proposed {} bytes for block {number}, over the {max} limit; skipping view {view}", p.len());
                            None
                        }
                        Err(ctx::Error::Canceled(_)) => {
                            tracing::info!("bft: no payload for block {number} before the deadline of view {view}");
                            None
                        }
                        Err(ctx::Error::Internal(e)) => {
                            tracing::warn!("bft: execution layer failed to propose block {number}: {e:#}; skipping view {view}");
                            None
                        }
                    };
                    answers.send(Input::PayloadProposed { view, payload });
                    Ok(())
                });
            }
        }
        Ok(())
    }
}

async fn verify_payload(
    ctx: &ctx::Ctx,
    store: &BlockStore,
    number: BlockNumber,
    payload: &zksync_consensus_roles::validator::Payload,
) -> Result<(), VerifyError> {
    if let Some(prev) = number.prev() {
        store.wait_until_persisted(ctx, prev).await?;
    }
    store.engine().verify_payload(ctx, number, payload).await
}

async fn propose_payload(
    ctx: &ctx::Ctx,
    store: &BlockStore,
    number: BlockNumber,
) -> ctx::Result<zksync_consensus_roles::validator::Payload> {
    if let Some(prev) = number.prev() {
        store.wait_until_persisted(ctx, prev).await?;
    }
    store.engine().propose_payload(ctx, number).await
}

/// Queues a finalized block after its predecessor (which may come from block sync).
async fn queue_block(
    ctx: &ctx::Ctx,
    store: &BlockStore,
    b: zksync_consensus_roles::validator::FinalBlock,
) -> ctx::Result<()> {
    let number = b.number();
    if let Some(prev) = number.prev() {
        store.wait_until_queued(ctx, prev).await?;
    }
    if store.queued().next() > number {
        return Ok(()); // Block sync was faster.
    }
    if let Err(e) = store.queue_block_with_verified_qc(ctx, b).await {
        // Our own certificate over a payload we checked: a failure means a bug or a
        // cancellation, never a peer's fault.
        return Err(anyhow::anyhow!("queueing finalized block {number}: {e}").into());
    }
    Ok(())
}
