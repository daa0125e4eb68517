//! The in-memory cache of persisted blocks: bounded by count and by payload bytes.

use super::*;

/// Queues `count` blocks of 10-byte payloads, waits until they are persisted, and returns how
/// many the store still holds in memory; every block stays readable.
fn cached_after_persisting(config: Config, count: u64) -> usize {
    let mut cached = 0;
    testonly::run_test(|ctx, _| {
        let cached = &mut cached;
        async move {
            let (setup, mut rng) = setup();
            let engine = Arc::new(InMemory::new(
                setup.genesis.clone(),
                setup.genesis.first_block,
                PayloadBehavior::Random(10),
            ));
            let (store, runner) = BlockStore::new(&ctx, engine, config).await?;
            let want = blocks(&setup, &mut rng, count);
            scope::run!(&ctx, |ctx, s| async {
                s.spawn_bg(async { runner.run(ctx).await.map_err(ctx::Error::Internal) });
                for b in &want {
                    store.queue_block(ctx, b.clone().into()).await?;
                }
                store
                    .wait_until_persisted(ctx, want.last().unwrap().number())
                    .await?;
                *cached = store.cached_blocks();
                for b in &want {
                    let got = store.block(ctx, b.number()).await?;
                    assert_eq!(got, Some(Block::Final(b.clone())));
                }
                Ok::<(), ctx::Error>(())
            })
            .await?;
            Ok(())
        }
    });
    cached
}

#[test]
fn persisted_blocks_cached_up_to_a_count_and_a_size() {
    // Within both bounds: all kept.
    assert_eq!(cached_after_persisting(Config::default(), 20), 20);
    // The count bound.
    let by_count = Config {
        cache_persisted: 5,
        ..Config::default()
    };
    assert_eq!(cached_after_persisting(by_count, 20), 5);
    // The size bound: 20 bytes hold exactly two 10-byte payloads.
    let by_size = Config {
        cache_persisted_bytes: 20,
        ..Config::default()
    };
    assert_eq!(cached_after_persisting(by_size, 20), 2);
}
