//! Debug page tests: rendering and access control, and the server over loopback TCP with a
//! manual clock.

use std::{
    net::SocketAddr,
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::Context as _;
use base64::Engine as _;
use proptest::prelude::*;
use rand::{SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{ctx, io, net::tcp, scope, testonly, time};
use zksync_consensus_crypto::TextFmt as _;
use zksync_consensus_roles::testonly::Setup;

use super::{MAX_HEAD, Request, authorized, head_end, page, parse, serve};
use crate::{
    DebugPageConfig,
    testonly::{TestNode, bytes, config, listener},
};

/// Sends `req` and reads the whole response (the server closes after it).
async fn request(ctx: &ctx::Ctx, addr: SocketAddr, req: &[u8]) -> ctx::Result<String> {
    let mut stream = tcp::connect(ctx, addr).await?.context("connect")?;
    io::write_all(ctx, &mut stream, req)
        .await?
        .context("write")?;
    let mut out = vec![];
    let mut buf = [0u8; 4096];
    loop {
        let n = io::read(ctx, &mut stream, &mut buf)
            .await?
            .context("read")?;
        if n == 0 {
            return Ok(String::from_utf8_lossy(&out).into_owned());
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// A node whose config enables the page (on loopback) with `credentials`.
async fn node(ctx: &ctx::Ctx, credentials: Option<&str>) -> TestNode {
    let mut rng = StdRng::seed_from_u64(5);
    let setup = Setup::new(&mut rng, 4);
    TestNode::new(
        ctx,
        &setup,
        |addr| {
            let mut cfg = config(&mut rng, addr, None);
            cfg.debug_page = Some(DebugPageConfig {
                addr: "127.0.0.1:0".parse().unwrap(),
                credentials: credentials.map(str::to_string),
            });
            cfg
        },
        &[],
    )
    .await
}

fn basic(credentials: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

#[test]
fn page_is_served_on_loopback_without_credentials() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let node = node(ctx, None).await;
        let (l, addr) = listener();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(serve(ctx, &node.net, l).await?) });
            let resp = request(ctx, addr, b"GET /any/path HTTP/1.1\r\nHost: x\r\n\r\n").await?;
            assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
            assert!(resp.contains("text/html"), "{resp}");
            assert!(resp.contains(&node.key().encode()), "{resp}");
            assert!(resp.contains("push_tx rate"), "{resp}");
            assert!(resp.contains("get_block timeout"), "{resp}");
            // HEAD: the headers only.
            let resp = request(ctx, addr, b"HEAD / HTTP/1.0\r\n\r\n").await?;
            assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
            assert!(resp.ends_with("\r\n\r\n"), "{resp}");
            // Not HTTP.
            let resp = request(ctx, addr, b"hello\r\n\r\n").await?;
            assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
            Ok(())
        })
        .await
    });
}

#[test]
fn credentials_are_required_when_set() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let creds = "admin:s3cret";
        let node = node(ctx, Some(creds)).await;
        let (l, addr) = listener();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(serve(ctx, &node.net, l).await?) });
            let get = |auth: Option<String>| {
                let mut req = "GET / HTTP/1.1\r\nHost: x\r\n".to_string();
                if let Some(a) = auth {
                    req += &format!("Authorization: {a}\r\n");
                }
                req += "\r\n";
                async move { request(ctx, addr, req.as_bytes()).await }
            };
            let key = node.key().encode();
            for auth in [
                None,
                Some(basic("admin:wrong")),
                Some(basic("admin")),
                Some("Bearer wrong".to_string()),
                Some(format!("Digest {creds}")),
                Some("Basic !!!not-base64".to_string()),
            ] {
                let resp = get(auth.clone()).await?;
                assert!(
                    resp.starts_with("HTTP/1.1 401 Unauthorized\r\n"),
                    "{auth:?}: {resp}"
                );
                assert!(resp.contains("WWW-Authenticate: Basic"), "{resp}");
                assert!(!resp.contains(&key), "{resp}");
            }
            for auth in [
                basic(creds),
                format!("Bearer {creds}"),
                format!("basic {}", &basic(creds)[6..]),
            ] {
                let resp = get(Some(auth.clone())).await?;
                assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{auth}: {resp}");
                assert!(resp.contains(&key), "{resp}");
            }
            Ok(())
        })
        .await
    });
}

#[test]
fn oversized_and_slow_requests_are_cut_off() {
    testonly::run_test(|ctx, clock| async move {
        let ctx = &ctx;
        let node = node(ctx, None).await;
        let (l, addr) = listener();
        let done = &AtomicBool::new(false);
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(async { Ok(serve(ctx, &node.net, l).await?) });
            let mut req = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
            req.resize(req.len() + MAX_HEAD, b'a');
            req.extend_from_slice(b"\r\n\r\n");
            let resp = request(ctx, addr, &req).await?;
            assert!(resp.starts_with("HTTP/1.1 431 "), "{resp}");

            // A client that never finishes its request is dropped when its time is up.
            let mut stream = tcp::connect(ctx, addr).await?.context("connect")?;
            io::write_all(ctx, &mut stream, b"GET / HTTP/1.1\r\n")
                .await?
                .context("write")?;
            let reader = s.spawn(async move {
                let mut buf = [0u8; 1024];
                let res = io::read(ctx, &mut stream, &mut buf).await?;
                done.store(true, Ordering::Relaxed);
                // End of stream (or a reset): no response.
                assert!(matches!(res, Ok(0) | Err(_)), "{res:?}");
                Ok(())
            });
            while !done.load(Ordering::Relaxed) {
                clock.advance(time::Duration::from_secs(1));
                ctx.yield_now().await?;
            }
            reader.join(ctx).await?;
            Ok(())
        })
        .await
    });
}

#[test]
fn peer_strings_are_escaped() {
    let html = page::render(&[
        page::Item::Heading(2, "<b>peers</b>".into()),
        page::Item::Table(
            vec!["build version"],
            vec![vec!["1.0.0<script>alert('x')</script>&\"".into()]],
        ),
    ]);
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(
        html.contains("1.0.0&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"),
        "{html}"
    );
    assert!(html.contains("&lt;b&gt;peers&lt;/b&gt;"), "{html}");
}

#[test]
fn authorization_values() {
    assert!(authorized(None, None));
    assert!(authorized(None, Some("Bearer anything")));
    let c = Some("user:pass");
    assert!(!authorized(c, None));
    assert!(!authorized(c, Some("")));
    assert!(!authorized(c, Some("Bearer")));
    assert!(!authorized(c, Some("Bearer user:pas")));
    assert!(!authorized(c, Some("Bearer user:pass2")));
    assert!(authorized(c, Some("Bearer user:pass")));
    assert!(authorized(c, Some("BEARER  user:pass ")));
    assert!(authorized(c, Some(&basic("user:pass"))));
    assert!(!authorized(c, Some(&basic("user:pass "))));
    assert!(!authorized(c, Some("user:pass")));
}

#[test]
fn request_heads() {
    let req = parse(b"GET / HTTP/1.1\r\nHost: a\r\nauthorization:  Bearer x \r\nAuthorization: y");
    assert_eq!(
        req,
        Some(Request {
            method: "GET",
            authorization: Some("Bearer x"),
        })
    );
    assert_eq!(
        parse(b"HEAD /x HTTP/1.0\nHost: a"),
        Some(Request {
            method: "HEAD",
            authorization: None,
        })
    );
    assert_eq!(parse(b"GET / HTTP/2"), None);
    assert_eq!(parse(b"GET /"), None);
    assert_eq!(parse(b"GET / HTTP/1.1 extra"), None);
    assert_eq!(parse(b"GET / HTTP/1.1\r\nno colon"), None);
    assert_eq!(parse(b"\xff / HTTP/1.1"), None);
}

/// A request head from arbitrary pieces: methods, targets, versions and header lines, some
/// valid, some not.
fn http_like_head() -> impl Strategy<Value = Vec<u8>> {
    let header = prop_oneof![
        "[ -~]{0,30}",
        "[Aa]uthorization: ?(Basic|Bearer|basic|bearer)? ?[ -~]{0,20}",
    ];
    (
        "[A-Z]{0,6}",
        "[ -~]{0,10}",
        prop_oneof!["HTTP/1\\.[0-9]", "[ -~]{0,8}"],
        proptest::collection::vec(header, 0..4),
        prop_oneof![Just("\r\n"), Just("\n")],
    )
        .prop_map(|(method, target, version, headers, nl)| {
            let mut head = format!("{method} {target} {version}");
            for h in headers {
                head.push_str(nl);
                head.push_str(&h);
            }
            head.into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The end-of-head search, the request parser and the authorization check never panic on
    /// the bytes a client sends; the head ends at the first blank line.
    #[test]
    fn request_parsing_never_panics(
        head in prop_oneof![bytes(300), http_like_head()],
        credentials in proptest::option::of("[ -~]{0,20}"),
    ) {
        if let Some(end) = head_end(&head) {
            let rest = &head[end..];
            prop_assert!(rest.starts_with(b"\r\n\r\n") || rest.starts_with(b"\n\n"));
            prop_assert_eq!(head_end(&head[..end + 1]), None);
        }
        if let Some(req) = parse(&head) {
            prop_assert!(!req.method.is_empty());
            let _ = authorized(credentials.as_deref(), req.authorization);
        }
    }

    /// Any `Authorization` value is checked without panicking, and only the right credentials
    /// pass.
    #[test]
    fn authorization_of_any_value(credentials in "[ -~]{1,20}", header in "[ -~]{0,40}") {
        let ok = authorized(Some(&credentials), Some(&header));
        let bearer = header
            .trim()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .is_some_and(|(_, v)| v.trim() == credentials);
        if bearer {
            prop_assert!(ok);
        }
        if ok {
            let basic_value = header.trim().split_once(' ').map(|(_, v)| v.trim());
            let basic = basic_value.is_some_and(|v| {
                base64::engine::general_purpose::STANDARD.decode(v).ok()
                    == Some(credentials.as_bytes().to_vec())
            });
            prop_assert!(bearer || basic, "{:?} passed for {:?}", header, credentials);
        }
    }
}
