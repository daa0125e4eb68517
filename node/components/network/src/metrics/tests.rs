//! Metrics of two nodes syncing over loopback TCP, read back from the text exposition.

use std::sync::Arc;

use prometheus_client::{encoding::text::encode, registry::Registry};
use rand::{SeedableRng as _, rngs::StdRng};
use zksync_concurrency::{scope, testonly};
use zksync_consensus_roles::testonly::Setup;

use super::Metrics;
use crate::{
    Network,
    testonly::{TestNode, chain, config},
};

/// The value of the series `series` (name and labels) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

#[test]
fn connections_traffic_and_synced_blocks_are_reported() {
    testonly::run_test(|ctx, _| async move {
        let ctx = &ctx;
        let mut rng = StdRng::seed_from_u64(11);
        let setup = Setup::new(&mut rng, 4);
        let blocks = chain(&setup, &mut rng, 10);
        let mut a = TestNode::new(
            ctx,
            &setup,
            |addr| {
                let mut cfg = config(&mut rng, addr, None);
                cfg.gossip.dynamic_inbound_limit = 10;
                cfg
            },
            &blocks,
        )
        .await;
        let (a_key, a_addr) = (a.key(), a.addr());
        let mut b = TestNode::new(
            ctx,
            &setup,
            |addr| {
                let mut cfg = config(&mut rng, addr, None);
                cfg.gossip.static_outbound.insert(a_key, a_addr.into());
                cfg
            },
            &[],
        )
        .await;
        let mut registry = Registry::default();
        let metrics = Arc::new(Metrics::new(&mut registry));
        b.net = Arc::new(
            Network::new(b.net.config().clone(), b.store.clone())
                .unwrap()
                .with_metrics(metrics.clone()),
        );

        let outbound = r#"network_connections_active{endpoint="gossip",direction="outbound"}"#;
        let b_store = b.store.clone();
        let last = blocks.last().unwrap().number();
        scope::run!(ctx, |ctx, s| async {
            s.spawn_bg(a.run(ctx));
            s.spawn_bg(b.run(ctx));
            b_store.wait_until_persisted(ctx, last).await?;
            let text = exposition(&registry);
            assert_eq!(value(&text, outbound), Some(1.), "{text}");
            assert_eq!(
                value(
                    &text,
                    r#"network_connections_established_total{endpoint="gossip",direction="outbound"}"#
                ),
                Some(1.),
                "{text}"
            );
            assert_eq!(
                value(&text, "network_sync_fetched_blocks_total"),
                Some(10.),
                "{text}"
            );
            assert_eq!(
                value(
                    &text,
                    r#"network_rpc_client_latency_seconds_count{method="get_block",result="ok"}"#
                ),
                Some(10.),
                "{text}"
            );
            assert_eq!(value(&text, "network_sync_invalid_blocks_total"), Some(0.));
            // Everything fetched is queued: nothing is in flight or waiting for verification.
            assert_eq!(
                value(&text, r#"network_sync_queue_blocks{state="in_flight"}"#),
                Some(0.),
                "{text}"
            );
            assert_eq!(
                value(&text, r#"network_sync_queue_blocks{state="fetched"}"#),
                Some(0.),
                "{text}"
            );
            assert!(value(&text, r#"network_sync_queue_blocks{state="wanted"}"#).is_some());
            // Ten blocks of about 100 bytes came in.
            let received = value(&text, "network_tcp_received_bytes_total").unwrap();
            assert!(received > 1000., "{text}");
            assert!(value(&text, "network_tcp_sent_bytes_total").unwrap() > 0.);
            assert!(
                value(
                    &text,
                    r#"network_rpc_message_size_bytes_count{method="get_block",type="resp_recv"}"#
                ) == Some(10.),
                "{text}"
            );
            Ok(())
        })
        .await?;
        // The connection ended with the scope.
        assert_eq!(value(&exposition(&registry), outbound), Some(0.));
        Ok(())
    });
}
