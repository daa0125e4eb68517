//! `verify_blocks` and `queue_verified_block` (`verified.rs`): the verdicts of `verify_block`,
//! with one batched signature check.

use super::*;
use crate::VerifiedBlock;

fn engine(setup: &Setup, first: BlockNumber) -> Arc<InMemory> {
    Arc::new(InMemory::new(
        setup.genesis.clone(),
        first,
        PayloadBehavior::Random(10),
    ))
}

/// A verdict in a comparable form.
fn verdict<T>(res: &Result<T, BlockError>) -> Result<(), String> {
    res.as_ref().map(|_| ()).map_err(ToString::to_string)
}

/// Checks that `got[i]` is the verdict of `verify_block` on `input[i]`, and that an `Ok` carries
/// the input block.
async fn assert_same_as_one_by_one(
    ctx: &ctx::Ctx,
    store: &BlockStore,
    input: &[Block],
    got: &[Result<VerifiedBlock, BlockError>],
) {
    assert_eq!(got.len(), input.len());
    for (i, (b, res)) in input.iter().zip(got).enumerate() {
        let want = store.verify_block(ctx, b).await;
        assert_eq!(verdict(res), verdict(&want), "block {i}");
        if let Ok(v) = res {
            assert_eq!(v.block(), b);
        }
    }
}

#[test]
fn valid_blocks_verify_in_a_batch_and_queue_in_order() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = engine(&setup, setup.genesis.first_block);
        let (store, runner) = BlockStore::new(&ctx, engine.clone(), Config::default()).await?;
        let input: Vec<Block> = blocks(&setup, &mut rng, 20)
            .into_iter()
            .map(Block::from)
            .collect();
        let verified = store.verify_blocks(&ctx, input.clone()).await?;
        assert_same_as_one_by_one(&ctx, &store, &input, &verified).await;
        let verified: Vec<VerifiedBlock> = verified.into_iter().collect::<Result<_, _>>()?;
        for (v, b) in verified.iter().zip(&input) {
            assert_eq!(v.number(), b.number());
            assert_eq!(&v.clone().into_inner(), b);
        }
        // Out of order: a gap, and nothing is queued.
        let err = store
            .queue_verified_block(&ctx, verified[1].clone())
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::Gap { .. }), "{err}");
        assert_eq!(store.queued().last, None);
        let last = input.last().unwrap().number();
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            for v in &verified {
                store.queue_verified_block(ctx, v.clone()).await?;
                // Re-offering a queued block is accepted and ignored.
                store.queue_verified_block(ctx, v.clone()).await?;
            }
            assert_eq!(store.queued().next(), last.next());
            store.wait_until_persisted(ctx, last).await?;
            for b in &input {
                assert_eq!(&engine.block(ctx, b.number()).await?, b);
            }
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}

#[test]
fn a_forged_signature_fails_only_its_block() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let (store, _runner) = BlockStore::new(
            &ctx,
            engine(&setup, setup.genesis.first_block),
            Config::default(),
        )
        .await?;
        let mut bs = blocks(&setup, &mut rng, 12);
        // The aggregate of another block's certificate: the structure is still valid.
        bs[7].justification.signature = bs[8].justification.signature.clone();
        bs[7]
            .justification
            .verify_structure(setup.genesis_hash(), EpochNumber(0), setup.schedule())
            .unwrap();
        let input: Vec<Block> = bs.into_iter().map(Block::from).collect();
        let got = store.verify_blocks(&ctx, input.clone()).await?;
        for (i, res) in got.iter().enumerate() {
            if i == 7 {
                assert!(
                    matches!(
                        res,
                        Err(BlockError::Block(BlockValidationError::Justification(
                            CommitQCVerifyError::BadSignature
                        )))
                    ),
                    "{res:?}"
                );
            } else {
                assert!(res.is_ok(), "block {i}: {res:?}");
            }
        }
        assert_same_as_one_by_one(&ctx, &store, &input, &got).await;
        Ok(())
    });
}

#[test]
fn other_refusals_match_verify_block() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let first = setup.genesis.first_block;
        let start = first.prev().expect("room before genesis");
        let (store, _runner) =
            BlockStore::new(&ctx, engine(&setup, start), Config::default()).await?;
        let good = blocks(&setup, &mut rng, 3);
        let payload = Payload(vec![9; 16]);
        let pre = PreGenesisBlock {
            number: start,
            payload: payload.clone(),
            justification: Justification(InMemory::pregenesis_justification(&payload)),
        };
        let bad_pre = PreGenesisBlock {
            justification: Justification(vec![0; 32]),
            ..pre.clone()
        };
        let late_pre = PreGenesisBlock {
            number: first,
            ..pre.clone()
        };
        let early = setup.final_block(start, payload);
        let mut unknown_epoch = good[0].clone();
        unknown_epoch.justification.message.view.epoch = EpochNumber(5);
        let mut bad_payload = good[1].clone();
        bad_payload.payload = Payload(vec![1, 2, 3]);
        // Signed by a committee of the same size that is not this one: a bad signature.
        let other = Setup::new(&mut rng, 4);
        let mut foreign = good[1].clone();
        foreign.justification = other
            .final_block(foreign.number(), foreign.payload.clone())
            .justification;
        foreign.justification.message.view = good[1].justification.message.view;
        // Not a quorum: a structure error, found before the batch.
        let mut weak = good[2].clone();
        weak.justification = setup.commit_qc(&weak.justification.message, &[0, 1]);

        let input: Vec<Block> = vec![
            pre.into(),
            good[0].clone().into(),
            bad_pre.into(),
            late_pre.into(),
            early.into(),
            unknown_epoch.into(),
            bad_payload.into(),
            foreign.into(),
            weak.into(),
            good[1].clone().into(),
            good[2].clone().into(),
        ];
        let got = store.verify_blocks(&ctx, input.clone()).await?;
        assert_same_as_one_by_one(&ctx, &store, &input, &got).await;
        let oks: Vec<usize> = (0..got.len()).filter(|i| got[*i].is_ok()).collect();
        assert_eq!(oks, vec![0, 1, 9, 10]);
        let err = |i: usize| got[i].as_ref().unwrap_err();
        assert!(matches!(err(2), BlockError::InvalidPreGenesis(_)));
        assert!(matches!(err(3), BlockError::PreGenesisAfterGenesis { .. }));
        assert!(matches!(err(4), BlockError::FinalBeforeGenesis { .. }));
        assert!(matches!(err(5), BlockError::UnknownEpoch(EpochNumber(5))));
        assert!(matches!(
            err(6),
            BlockError::Block(BlockValidationError::PayloadHash { .. })
        ));
        assert!(matches!(
            err(7),
            BlockError::Block(BlockValidationError::Justification(
                CommitQCVerifyError::BadSignature
            ))
        ));
        assert!(matches!(
            err(8),
            BlockError::Block(BlockValidationError::Justification(
                CommitQCVerifyError::NotEnoughWeight { .. }
            ))
        ));
        // Nothing to batch, and nothing at all.
        let got = store.verify_blocks(&ctx, input[2..7].to_vec()).await?;
        assert!(got.iter().all(Result::is_err));
        assert!(store.verify_blocks(&ctx, vec![]).await?.is_empty());
        Ok(())
    });
}

#[test]
fn cancellation() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = Arc::new(Controlled::new(&setup));
        let config = Config {
            max_unpersisted: 1,
            ..Config::default()
        };
        let (store, runner) = BlockStore::new(&ctx, engine, config).await?;
        let input: Vec<Block> = blocks(&setup, &mut rng, 2)
            .into_iter()
            .map(Block::from)
            .collect();
        let (canceled, canceler) = ctx.with_canceler();
        canceler.cancel();
        let res = store.verify_blocks(&canceled, input.clone()).await;
        assert!(matches!(res, Err(ctx::Canceled)), "{res:?}");

        let verified = store.verify_blocks(&ctx, input).await?;
        let verified: Vec<VerifiedBlock> = verified.into_iter().collect::<Result<_, _>>()?;
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            store.queue_verified_block(ctx, verified[0].clone()).await?;
            // The queue is full (the execution layer holds the block): the wait is cancelled.
            let (canceled, canceler) = ctx.with_canceler();
            let mut second =
                std::pin::pin!(store.queue_verified_block(&canceled, verified[1].clone()));
            assert!(testonly::is_pending(second.as_mut()));
            canceler.cancel();
            let err = second.await.unwrap_err();
            assert!(matches!(err, BlockError::Canceled(_)), "{err}");
            assert_eq!(store.queued().next(), verified[1].number());
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}

/// `queue_block_with_verified_qc` makes every check of `queue_block` but the certificate's
/// pairing check (the caller made it): structure errors are still refused, nothing is queued
/// after a refusal, and valid blocks queue in order.
#[test]
fn queue_with_verified_qc_checks_all_but_the_signature() {
    testonly::run_test(|ctx, _| async move {
        let (setup, mut rng) = setup();
        let engine = engine(&setup, setup.genesis.first_block);
        let (store, runner) = BlockStore::new(&ctx, engine.clone(), Config::default()).await?;
        let good = blocks(&setup, &mut rng, 3);
        let mut bad_payload = good[0].clone();
        bad_payload.payload = Payload(vec![1, 2, 3]);
        let mut unknown_epoch = good[0].clone();
        unknown_epoch.justification.message.view.epoch = EpochNumber(5);
        let mut weak = good[0].clone();
        weak.justification = setup.commit_qc(&weak.justification.message, &[0, 1]);
        for (name, b) in [
            ("bad payload", bad_payload),
            ("unknown epoch", unknown_epoch),
            ("no quorum", weak),
        ] {
            let want = store.verify_block(&ctx, &b.clone().into()).await;
            let got = store.queue_block_with_verified_qc(&ctx, b).await;
            assert_eq!(verdict(&got), verdict(&want), "{name}");
            assert!(got.is_err(), "{name}");
        }
        // A gap is refused like in `queue_block`.
        let err = store
            .queue_block_with_verified_qc(&ctx, good[1].clone())
            .await
            .unwrap_err();
        assert!(matches!(err, BlockError::Gap { .. }), "{err}");
        assert_eq!(store.queued().last, None);
        let last = good.last().unwrap().number();
        scope::run!(&ctx, |ctx, s| async {
            s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
            for b in &good {
                store.queue_block_with_verified_qc(ctx, b.clone()).await?;
                store.queue_block_with_verified_qc(ctx, b.clone()).await?;
            }
            store.wait_until_persisted(ctx, last).await?;
            for b in &good {
                assert_eq!(
                    engine.block(ctx, b.number()).await?,
                    Block::Final(b.clone())
                );
            }
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}
