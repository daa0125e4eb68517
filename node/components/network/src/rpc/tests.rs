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
