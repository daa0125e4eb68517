use zksync_concurrency::{ctx, limiter, scope, testonly, time};

use super::*;
use crate::{
    mux::Mux,
    testonly::{noise_pair, run_muxes},
};

fn unlimited() -> limiter::Rate {
    limiter::Rate {
        burst: 1,
        refresh: time::Duration::ZERO,
    }
}

/// An echo RPC with a small request limit and a handler that fails on an empty request.
struct Echo;

impl Rpc for Echo {
    const CAPABILITY: u64 = 2;
    const INFLIGHT: u32 = 2;
    const METHOD: &'static str = "echo";
    type Req = ping::Req;
    type Resp = ping::Resp;
}

struct EchoHandler;

#[async_trait::async_trait]
impl Handler<Echo> for EchoHandler {
    fn max_req_size(&self) -> usize {
        40
    }
    async fn handle(&self, _: &ctx::Ctx, req: ping::Req) -> anyhow::Result<ping::Resp> {
        anyhow::ensure!(req.0 != [0; 32], "zeros are refused");
        Ok(ping::Resp(req.0))
    }
}

#[test]
fn calls_limits_and_handler_errors() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let conn = noise_pair(ctx).await?;
        let client = Client::<Echo>::new(unlimited());
        let server = Server::<Echo, _>::new(EchoHandler, unlimited());
        let (mut ma, mut mb) = (Mux::default(), Mux::default());
        client.register(&mut ma);
        server.register(&mut mb);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(run_muxes(ctx, conn, ma, mb));
            s.spawn_bg(async { Ok(server.run(ctx).await?) });
            let resp = client.call(ctx, &ping::Req([7; 32]), 100).await.unwrap();
            assert_eq!(resp.0, [7; 32]);
            // A response over the client's limit.
            let err = client.call(ctx, &ping::Req([7; 32]), 10).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    RpcError::TooLarge {
                        what: "response",
                        ..
                    }
                ),
                "{err}"
            );
            // The handler refuses: no response, the client sees the stream end.
            let err = client
                .call(ctx, &ping::Req([0; 32]), 100)
                .await
                .unwrap_err();
            assert!(matches!(err, RpcError::Stream(StreamError::Eof)), "{err}");
            // The connection still serves calls, concurrently.
            let calls: Vec<_> = (1..=5u8)
                .map(|i| {
                    let client = &client;
                    s.spawn(async move {
                        let r = client.call(ctx, &ping::Req([i; 32]), 100).await.unwrap();
                        assert_eq!(r.0, [i; 32]);
                        Ok(())
                    })
                })
                .collect();
            for c in calls {
                c.join(ctx).await?;
            }
            Ok(())
        })
        .await
    });
}

/// A request over the server's limit is refused before its body is read; the call fails and
/// the next one works.
#[test]
fn oversized_request() {
    struct Tight;
    #[async_trait::async_trait]
    impl Handler<Echo> for Tight {
        fn max_req_size(&self) -> usize {
            10
        }
        async fn handle(&self, _: &ctx::Ctx, req: ping::Req) -> anyhow::Result<ping::Resp> {
            Ok(ping::Resp(req.0))
        }
    }
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let conn = noise_pair(ctx).await?;
        let client = Client::<Echo>::new(unlimited());
        let server = Server::<Echo, _>::new(Tight, unlimited());
        let (mut ma, mut mb) = (Mux::default(), Mux::default());
        client.register(&mut ma);
        server.register(&mut mb);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(run_muxes(ctx, conn, ma, mb));
            s.spawn_bg(async { Ok(server.run(ctx).await?) });
            for _ in 0..3 {
                let err = client
                    .call(ctx, &ping::Req([7; 32]), 100)
                    .await
                    .unwrap_err();
                assert!(matches!(err, RpcError::Stream(_)), "{err}");
            }
            Ok(())
        })
        .await
    });
}

#[test]
fn ping_messages_must_be_32_bytes() {
    use zksync_protobuf::ProtoFmt as _;
    let p = crate::proto::zksync::network::ping::PingReq {
        data: Some(vec![1; 31]),
    };
    assert!(ping::Req::read(&p).is_err());
    let p = crate::proto::zksync::network::ping::PingReq { data: None };
    assert!(ping::Req::read(&p).is_err());
}

/// Every RPC message round-trips canonically (and survives field reordering).
#[test]
fn rpc_messages_encode_canonically() {
    use rand::{Rng as _, RngExt as _, SeedableRng as _, rngs::StdRng};
    use zksync_consensus_roles::validator;
    use zksync_consensus_storage::{BlockStoreState, Last, Transaction};
    use zksync_protobuf::testonly::test_encode;

    use crate::proto::DESCRIPTOR_SET as D;

    let rng = &mut StdRng::seed_from_u64(1);
    for _ in 0..10 {
        let key: validator::SecretKey = rng.random();
        let m = consensus::Req(rng.random());
        test_encode(rng, D, &m);
        test_encode(rng, D, &consensus::Resp);
        let mut data = [0u8; 32];
        rng.fill_bytes(&mut data);
        test_encode(rng, D, &ping::Req(data));
        test_encode(rng, D, &ping::Resp(data));
        let addrs = (0..rng.random_range(0..4))
            .map(|_| key.sign_msg(rng.random::<validator::NetAddress>()))
            .collect();
        test_encode(rng, D, &push_validator_addrs::Req(addrs));
        let m = push_tx::Req(Transaction(vec![rng.random(); 10]));
        test_encode(rng, D, &m);
        for last in [
            None,
            Some(Last::PreGenesis(rng.random())),
            Some(Last::Final(rng.random())),
        ] {
            let state = BlockStoreState {
                first: rng.random(),
                last,
            };
            test_encode(rng, D, &push_block_store_state::Req(state));
        }
        let m = get_block::Req(rng.random());
        test_encode(rng, D, &m);
        for block in [None, Some(rng.random::<validator::Block>())] {
            test_encode(rng, D, &get_block::Resp(block));
        }
    }
}

#[test]
fn get_block_response_with_two_blocks_is_refused() {
    use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
    use zksync_consensus_roles::validator::{FinalBlock, PreGenesisBlock};
    use zksync_protobuf::ProtoFmt as _;
    let rng = &mut StdRng::seed_from_u64(2);
    let mut p = get_block::Resp(Some(rng.random::<FinalBlock>().into())).build();
    p.pre_genesis = Some(rng.random::<PreGenesisBlock>().build());
    assert!(get_block::Resp::read(&p).is_err());
}
