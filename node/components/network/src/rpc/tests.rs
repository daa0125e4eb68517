use proptest::prelude::*;
use zksync_concurrency::{ctx, limiter, scope, testonly, time};

use super::*;
use crate::{
    mux::Mux,
    testonly::{
        Mutation, bytes, case_runtime, decode_stable, framed, mutate, mutations, noise_pair,
        run_case, run_muxes,
    },
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

/// An Echo client on one mux and a server with `handler` on the other, registered.
fn echo_pair<H: Handler<Echo>>(handler: H) -> (Client<Echo>, Server<Echo, H>, Mux, Mux) {
    let client = Client::<Echo>::new(unlimited());
    let server = Server::<Echo, _>::new(handler, unlimited());
    let (mut ma, mut mb) = (Mux::default(), Mux::default());
    client.register(&mut ma);
    server.register(&mut mb);
    (client, server, ma, mb)
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
        let (client, server, ma, mb) = echo_pair(EchoHandler);
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
        let (client, server, ma, mb) = echo_pair(Tight);
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The decoders of every RPC request and response never panic on arbitrary bytes, and a
    /// value they accept re-encodes to the same value.
    #[test]
    fn decoders_never_panic(bytes in bytes(400)) {
        decode_stable::<consensus::Req>(&bytes);
        decode_stable::<consensus::Resp>(&bytes);
        decode_stable::<get_block::Req>(&bytes);
        decode_stable::<get_block::Resp>(&bytes);
        decode_stable::<ping::Req>(&bytes);
        decode_stable::<ping::Resp>(&bytes);
        decode_stable::<push_block_store_state::Req>(&bytes);
        decode_stable::<push_tx::Req>(&bytes);
        decode_stable::<push_validator_addrs::Req>(&bytes);
        decode_stable::<()>(&bytes);
    }
}

/// `m` round-trips, and damaged encodings of it never make its decoder panic.
fn round_trip_and_damage<T: ProtoFmt + PartialEq + std::fmt::Debug>(m: &T, ms: &[Mutation]) {
    let enc = zksync_protobuf::encode(m);
    assert_eq!(decode_stable::<T>(&enc).as_ref(), Some(m));
    decode_stable::<T>(&mutate(enc, ms));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Every RPC request and response, random from the seed, round-trips; damaged encodings
    /// never make the decoders panic.
    #[test]
    fn messages_round_trip_and_damaged_encodings(seed in any::<u64>(), ms in mutations()) {
        use rand::{RngExt as _, SeedableRng as _, rngs::StdRng};
        use zksync_consensus_roles::validator;
        use zksync_consensus_storage::{BlockStoreState, Last, Transaction};

        let rng = &mut StdRng::seed_from_u64(seed);
        round_trip_and_damage(&consensus::Req(rng.random()), &ms);
        round_trip_and_damage(&consensus::Resp, &ms);
        round_trip_and_damage(&get_block::Req(rng.random()), &ms);
        let block = rng.random::<bool>().then(|| rng.random::<validator::Block>());
        round_trip_and_damage(&get_block::Resp(block), &ms);
        round_trip_and_damage(&ping::Req(rng.random()), &ms);
        round_trip_and_damage(&ping::Resp(rng.random()), &ms);
        let last = match rng.random_range(0..3) {
            0 => None,
            1 => Some(Last::PreGenesis(rng.random())),
            _ => Some(Last::Final(rng.random())),
        };
        let state = BlockStoreState {
            first: rng.random(),
            last,
        };
        round_trip_and_damage(&push_block_store_state::Req(state), &ms);
        let tx = (0..rng.random_range(0..50)).map(|_| rng.random()).collect();
        round_trip_and_damage(&push_tx::Req(Transaction(tx)), &ms);
        let key: validator::SecretKey = rng.random();
        let addrs = (0..rng.random_range(0..4))
            .map(|_| key.sign_msg(rng.random::<validator::NetAddress>()))
            .collect();
        round_trip_and_damage(&push_validator_addrs::Req(addrs), &ms);
        round_trip_and_damage(&(), &ms);
    }
}

/// What a peer may write as a ping request or response: garbage, a length prefix with a body,
/// an oversized length, a valid message, or a damaged one.
fn ping_bytes() -> impl Strategy<Value = Vec<u8>> {
    let valid = || any::<[u8; 32]>().prop_map(|d| zksync_protobuf::encode(&ping::Req(d)));
    prop_oneof![
        bytes(60),
        (0..=44u32, bytes(50)).prop_map(|(len, body)| framed(len, &body)),
        (41u32.., bytes(8)).prop_map(|(len, body)| framed(len, &body)),
        valid().prop_map(|b| framed(b.len() as u32, &b)),
        (valid(), mutations()).prop_map(|(b, ms)| {
            let b = mutate(b, &ms);
            framed(b.len() as u32, &b)
        }),
    ]
}

/// The limit of the requests and responses in the wire tests below.
const MAX: usize = 40;

/// What `read_msg` must make of `bytes` followed by the end of the stream: the decoded message,
/// or why not.
fn expected<T: ProtoFmt>(bytes: &[u8]) -> Result<T, &'static str> {
    let Some(len) = bytes.get(..4) else {
        return Err("eof");
    };
    let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
    if len > MAX {
        return Err("too large");
    }
    let body = bytes.get(4..4 + len).ok_or("eof")?;
    zksync_protobuf::decode(body).map_err(|_| "decode")
}

/// Answers every request (with its data echoed).
struct Answer;

#[async_trait::async_trait]
impl Handler<Echo> for Answer {
    fn max_req_size(&self) -> usize {
        MAX
    }
    async fn handle(&self, _: &ctx::Ctx, req: ping::Req) -> anyhow::Result<ping::Resp> {
        Ok(ping::Resp(req.0))
    }
}

fn internal(e: impl Into<anyhow::Error>) -> ctx::Error {
    ctx::Error::Internal(e.into())
}

/// A server, sent arbitrary request bytes on a stream, never panics: it answers exactly the
/// requests within its limit that decode, and the next call still works.
#[test]
fn server_of_arbitrary_requests() {
    let rt = case_runtime();
    proptest!(ProptestConfig::with_cases(128), |(req in ping_bytes())| {
        let sent = req.clone();
        let resp = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let conn = noise_pair(ctx).await?;
            let (client, server, ma, mb) = echo_pair(Answer);
            scope::run!(ctx, |ctx, s| async {
                s.spawn_bg(run_muxes(ctx, conn, ma, mb));
                s.spawn_bg(async { Ok(server.run(ctx).await?) });
                let mux::Stream {
                    mut read,
                    mut write,
                } = client.reserve(ctx).await?.stream;
                write.write_all(ctx, &sent).await.map_err(internal)?;
                write.close();
                let mut resp = vec![];
                let mut byte = [0u8];
                while read.read_exact(ctx, &mut byte).await.is_ok() {
                    resp.push(byte[0]);
                }
                drop(read);
                let next = client.call(ctx, &ping::Req([7; 32]), MAX).await;
                assert_eq!(next.map_err(internal)?, ping::Resp([7; 32]));
                Ok(resp)
            })
            .await
        });
        let want = match expected::<ping::Req>(&req) {
            Ok(r) => {
                let body = zksync_protobuf::encode(&ping::Resp(r.0));
                framed(body.len() as u32, &body)
            }
            Err(_) => vec![],
        };
        prop_assert_eq!(resp, want);
    });
}

/// A client, answered arbitrary response bytes, never panics: the call returns the response
/// when it is within the limit and decodes, and fails for the right reason otherwise.
#[test]
fn client_of_arbitrary_responses() {
    let rt = case_runtime();
    proptest!(ProptestConfig::with_cases(128), |(resp in ping_bytes())| {
        let sent = resp.clone();
        let got = run_case(&rt, |ctx| async move {
            let ctx = &ctx;
            let conn = noise_pair(ctx).await?;
            let client = Client::<Echo>::new(unlimited());
            let server = StreamQueue::new(Echo::INFLIGHT, unlimited());
            let (mut ma, mut mb) = (Mux::default(), Mux::default());
            client.register(&mut ma);
            mb.connect.insert(Echo::CAPABILITY, server.clone());
            scope::run!(ctx, |ctx, s| async {
                s.spawn_bg(run_muxes(ctx, conn, ma, mb));
                s.spawn_bg(async {
                    let mux::Stream {
                        mut read,
                        mut write,
                    } = server.open(ctx).await?;
                    read.wait_close(ctx).await.map_err(internal)?;
                    write.write_all(ctx, &sent).await.map_err(internal)?;
                    Ok(())
                });
                Ok(client.call(ctx, &ping::Req([7; 32]), MAX).await)
            })
            .await
        });
        match (expected::<ping::Resp>(&resp), got) {
            (Ok(want), Ok(got)) => prop_assert_eq!(want, got),
            (Err("eof"), Err(RpcError::Stream(StreamError::Eof))) => {}
            (Err("too large"), Err(RpcError::TooLarge { .. })) => {}
            (Err("decode"), Err(RpcError::Decode(..))) => {}
            (want, got) => prop_assert!(false, "want {:?}, got {:?}", want, got),
        }
    });
}
