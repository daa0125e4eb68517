use std::io::{BufRead as _, Write as _};

use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, testonly};
use zksync_consensus_roles::{testonly::Setup, validator::*};
use zksync_consensus_storage::{ExecutionLayer as _, testonly::conformance};

use super::*;

/// The same committee in every process (the crash test's child rebuilds it).
fn setup() -> Setup {
    Setup::new(&mut StdRng::seed_from_u64(1), 4)
}

fn open(dir: &Path, setup: &Setup) -> Result<DurableStore, StoreError> {
    DurableStore::open(
        &dir.join("db"),
        setup.genesis.clone(),
        StoreConfig::default(),
    )
}

#[test]
fn durable_store_passes_the_conformance_suite() {
    testonly::run_test(|ctx, _| async move {
        let dir = tempfile::tempdir()?;
        let setup = setup();
        let store = open(dir.path(), &setup).map_err(anyhow::Error::from)?;
        conformance::run(&ctx, &setup, &store, 30)
            .await
            .map_err(ctx::Error::Internal)
    });
}

#[test]
fn data_survives_reopening() {
    testonly::run_test(|ctx, _| async move {
        let dir = tempfile::tempdir()?;
        let setup = setup();
        let first = setup.genesis.first_block;
        let blocks: Vec<Block> = (0..5)
            .map(|i| {
                setup
                    .final_block(BlockNumber(first.0 + i), Payload(vec![i as u8]))
                    .into()
            })
            .collect();
        let mut state = ReplicaState::new(EpochNumber(0));
        state.view = ViewNumber(42);
        {
            let store = open(dir.path(), &setup).map_err(anyhow::Error::from)?;
            for b in &blocks {
                store.queue_next_block(&ctx, b.clone()).await?;
            }
            store.set_state(&ctx, &state).await?;
        }
        let store = open(dir.path(), &setup).map_err(anyhow::Error::from)?;
        assert_eq!(store.persisted().borrow().next(), BlockNumber(first.0 + 5));
        for b in &blocks {
            assert_eq!(store.block(&ctx, b.number()).await?, *b);
        }
        assert_eq!(store.state(&ctx).await?, Some(state));
        Ok(())
    });
}

/// A database written before the state files existed keeps its replica state (read from the
/// redb table); the first new write goes to the state files and wins from then on.
#[test]
fn replica_state_of_an_older_database_is_read() {
    testonly::run_test(|ctx, _| async move {
        let dir = tempfile::tempdir()?;
        let setup = setup();
        let mut old = ReplicaState::new(EpochNumber(0));
        old.view = ViewNumber(7);
        {
            let store = open(dir.path(), &setup).map_err(anyhow::Error::from)?;
            let tx = store.db.begin_write().map_err(anyhow::Error::from)?;
            tx.open_table(STATE)
                .map_err(anyhow::Error::from)?
                .insert("replica", zksync_protobuf::encode(&old).as_slice())
                .map_err(anyhow::Error::from)?;
            tx.commit().map_err(anyhow::Error::from)?;
        }
        for i in 0..2 {
            std::fs::remove_file(dir.path().join(format!("db.state{i}")))?;
        }
        let store = open(dir.path(), &setup).map_err(anyhow::Error::from)?;
        assert_eq!(store.state(&ctx).await?, Some(old));
        let mut new = ReplicaState::new(EpochNumber(0));
        new.view = ViewNumber(8);
        store.set_state(&ctx, &new).await?;
        drop(store);
        let store = open(dir.path(), &setup).map_err(anyhow::Error::from)?;
        assert_eq!(store.state(&ctx).await?, Some(new));
        Ok(())
    });
}

#[test]
fn another_chain_or_a_corrupted_file_is_refused() {
    testonly::abort_on_panic();
    let dir = tempfile::tempdir().unwrap();
    let setup = setup();
    drop(open(dir.path(), &setup).unwrap());
    let other = Setup::new(&mut StdRng::seed_from_u64(2), 4);
    let err = open(dir.path(), &other).unwrap_err();
    assert!(matches!(err, StoreError::GenesisMismatch { .. }), "{err}");
    assert!(err.to_string().contains("another chain"), "{err}");
    // The original chain still opens: nothing was written by the refused open.
    drop(open(dir.path(), &setup).unwrap());

    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, vec![0x5a; 8192]).unwrap();
    let err = DurableStore::open(&garbage, setup.genesis, StoreConfig::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::Corrupted { .. } | StoreError::Open { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("garbage"), "{err}");
}

#[test]
fn dynamic_schedules_and_pregenesis_blocks() {
    testonly::run_test(|ctx, _| async move {
        let dir = tempfile::tempdir()?;
        let (s0, s1) = (setup(), Setup::new(&mut StdRng::seed_from_u64(3), 6));
        let mut genesis = s0.genesis.clone();
        genesis.validators_schedule = None;
        let first = genesis.first_block;
        let pre = PreGenesisBlock {
            number: BlockNumber(first.0 - 1),
            payload: Payload(vec![1, 2, 3]),
            justification: Justification(vec![]),
        };
        let config = StoreConfig {
            first_block: Some(pre.number),
            schedules: vec![
                (s0.schedule().clone(), first),
                (s1.schedule().clone(), BlockNumber(first.0 + 10)),
            ],
            pregenesis: [(pre.number, pre.payload.hash())].into(),
            payload_size: 7,
        };
        let store = DurableStore::open(&dir.path().join("db"), genesis, config)
            .map_err(anyhow::Error::from)?;
        assert_eq!(store.validator_schedule(&ctx, first).await?.1, first);
        let pending = store
            .pending_validator_schedule(&ctx, first)
            .await?
            .unwrap();
        assert_eq!(pending.1, BlockNumber(first.0 + 10));
        assert_eq!(&pending.0, s1.schedule());
        assert!(
            store
                .pending_validator_schedule(&ctx, pending.1)
                .await?
                .is_none()
        );
        store.verify_pregenesis_block(&ctx, &pre).await.unwrap();
        let mut bad = pre.clone();
        bad.payload = Payload(vec![9]);
        assert!(matches!(
            store.verify_pregenesis_block(&ctx, &bad).await,
            Err(VerifyError::Invalid(_))
        ));
        store.queue_next_block(&ctx, pre.clone().into()).await?;
        assert_eq!(store.block(&ctx, pre.number).await?, Block::PreGenesis(pre));
        assert_eq!(store.propose_payload(&ctx, first).await?.len(), 7);
        Ok(())
    });
}

const CHILD_DIR: &str = "ZKSYNC_STORE_CRASH_CHILD_DIR";

/// The writer of the crash test: writes blocks and replica states forever, printing a line
/// after each write returns. Run only as a child process of `crash_at_random_points`.
#[test]
#[ignore = "run as a child process by crash_at_random_points"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let setup = setup();
    let store = open(Path::new(&dir), &setup).unwrap();
    let ctx = ctx::root();
    testonly::runtime().block_on(async {
        let mut out = std::io::stdout();
        let mut view = store.state(&ctx).await.unwrap().map_or(0, |s| s.view.0);
        loop {
            let next = store.persisted().borrow().next();
            let payload = Payload(next.0.to_be_bytes().to_vec());
            store
                .queue_next_block(&ctx, setup.final_block(next, payload).into())
                .await
                .unwrap();
            writeln!(out, "block {}", next.0).unwrap();
            view += 1;
            let mut state = ReplicaState::new(EpochNumber(0));
            state.view = ViewNumber(view);
            store.set_state(&ctx, &state).await.unwrap();
            writeln!(out, "state {view}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[test]
fn crash_at_random_points() {
    testonly::abort_on_panic();
    let _guard = testonly::set_timeout(std::time::Duration::from_secs(300));
    let dir = tempfile::tempdir().unwrap();
    let setup = setup();
    let mut rng = StdRng::seed_from_u64(99);
    let rt = testonly::runtime();
    let ctx = ctx::test_root(ctx::ManualClock::new(), 0);
    let mut runs_with_writes = 0;
    for run in 0..50 {
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "store::tests::crash_child",
                "--exact",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Let it report a random number of writes, then kill it mid-flight.
        let lines = rng.random_range(1..12);
        let mut last_block = None;
        let mut last_state = None;
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut seen = 0;
        let mut line = String::new();
        while seen < lines {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["block", n] => last_block = Some(n.parse::<u64>().unwrap()),
                ["state", v] => last_state = Some(v.parse::<u64>().unwrap()),
                _ => continue,
            }
            seen += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if last_block.is_some() {
            runs_with_writes += 1;
        }

        let store = open(dir.path(), &setup).unwrap();
        rt.block_on(async {
            let next = store.persisted().borrow().next();
            if let Some(n) = last_block {
                assert!(
                    next.0 > n,
                    "run {run}: block {n} was reported persisted, next is {next}"
                );
            }
            let first = setup.genesis.first_block;
            for n in first.0..next.0 {
                store.block(&ctx, BlockNumber(n)).await.unwrap();
            }
            let state = store.state(&ctx).await.unwrap();
            if let Some(v) = last_state {
                // The last reported state, or one more whose write returned just before the kill.
                let got = state.unwrap().view.0;
                assert!(
                    got == v || got == v + 1,
                    "run {run}: state {got}, reported {v}"
                );
            }
            // The store accepts the next block.
            let b = setup.final_block(next, Payload(vec![]));
            store.queue_next_block(&ctx, b.into()).await.unwrap();
        });
    }
    // The child really ran and wrote (a wrong test filter would make every run vacuous).
    assert_eq!(runs_with_writes, 50);
}
