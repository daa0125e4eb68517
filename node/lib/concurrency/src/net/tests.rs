use std::{net::SocketAddr, sync::Mutex};

use super::{Host, tcp};
use crate::{ctx, io, scope, testonly};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

#[test]
fn tcp_round_trip() {
    testonly::run_test(|ctx, _| async move {
        let mut listener = tcp::listen(loopback(), tcp::ListenOptions::default())?;
        let addr = listener.local_addr()?;
        scope::run!(&ctx, |ctx, s| async {
            s.spawn(async {
                let (mut stream, _) = listener.accept(ctx).await??;
                let mut buf = [0u8; 5];
                io::read_exact(ctx, &mut stream, &mut buf).await??;
                io::write_all(ctx, &mut stream, &buf).await??;
                io::flush(ctx, &mut stream).await??;
                Ok(())
            });
            let mut stream = tcp::connect(ctx, addr).await??;
            assert!(stream.nodelay()?);
            io::write_all(ctx, &mut stream, b"hello").await??;
            let mut buf = [0u8; 5];
            io::read_exact(ctx, &mut stream, &mut buf).await??;
            assert_eq!(&buf, b"hello");
            io::shutdown(ctx, &mut stream).await??;
            Ok::<(), ctx::Error>(())
        })
        .await
    });
}

#[test]
fn cancellation_unblocks_reads_and_accepts() {
    testonly::run_test(|ctx, _| async move {
        let mut listener = tcp::listen(loopback(), tcp::ListenOptions::default())?;
        let addr = listener.local_addr()?;
        // The peer connects and then never sends anything.
        let _silent_peer = tcp::connect(&ctx, addr).await??;
        let (mut stream, _) = listener.accept(&ctx).await??;
        let read_res = Mutex::new(None);
        let accept_res = Mutex::new(None);
        let (sub, cancel) = ctx.with_canceler();
        scope::run!(&sub, |ctx, s| async {
            s.spawn(async {
                let mut buf = [0u8; 1];
                let res = io::read(ctx, &mut stream, &mut buf).await;
                *read_res.lock().unwrap() = Some(res.map(|r| r.is_ok()));
                Ok(())
            });
            s.spawn(async {
                let res = listener.accept(ctx).await;
                *accept_res.lock().unwrap() = Some(res.map(|r| r.is_ok()));
                Ok(())
            });
            ctx.yield_now().await?;
            cancel.cancel();
            Ok::<(), ctx::Error>(())
        })
        .await?;
        assert_eq!(read_res.into_inner().unwrap(), Some(Err(ctx::Canceled)));
        assert_eq!(accept_res.into_inner().unwrap(), Some(Err(ctx::Canceled)));
        Ok(())
    });
}

#[test]
fn listen_errors_name_the_address_and_reuse_port_shares() {
    testonly::abort_on_panic();
    let rt = testonly::runtime();
    rt.block_on(async {
        let first = tcp::listen(loopback(), tcp::ListenOptions::default()).unwrap();
        let addr = first.local_addr().unwrap();
        let err = tcp::listen(addr, tcp::ListenOptions::default()).unwrap_err();
        assert!(err.to_string().contains(&addr.to_string()), "{err}");

        let opts = tcp::ListenOptions {
            reuse_port: true,
            ..Default::default()
        };
        let a = tcp::listen(loopback(), opts).unwrap();
        let shared = a.local_addr().unwrap();
        let b = tcp::listen(shared, opts).unwrap();
        assert_eq!(b.local_addr().unwrap(), shared);
    });
}

#[test]
fn host_resolution() {
    testonly::run_test(|ctx, _| async move {
        let addrs = Host::from("127.0.0.1:3054").resolve(&ctx).await??;
        assert_eq!(addrs, vec!["127.0.0.1:3054".parse::<SocketAddr>().unwrap()]);
        let addrs = Host::from("localhost:3054").resolve(&ctx).await??;
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 3054)
        );
        let err = Host::from("no-port-here").resolve(&ctx).await?.unwrap_err();
        assert!(err.to_string().contains("no-port-here"), "{err}");
        let sock: SocketAddr = "[::1]:1".parse().unwrap();
        assert_eq!(Host::from(sock).to_string(), "[::1]:1");
        Ok(())
    });
}
