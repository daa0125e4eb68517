//! The page's content: a snapshot of the network as headings and tables of plain strings
//! ([`snapshot`]), turned into HTML by [`render`], the only place that writes markup. Every
//! string is escaped there, whatever its origin (build versions and addresses come from peers).

use std::{fmt::Write as _, sync::Arc};

use zksync_concurrency::{ctx, limiter, time};
use zksync_consensus_crypto::TextFmt as _;
use zksync_consensus_roles::validator::BlockNumber;
use zksync_consensus_storage::BlockStoreState;

use crate::{Network, consensus, gossip, mux};

/// A part of the page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Item {
    /// A heading (`h1`..`h3`).
    Heading(u8, String),
    /// A table: column titles (none for a key-value table) and rows of cells.
    Table(Vec<&'static str>, Vec<Vec<String>>),
}

fn kv(rows: impl IntoIterator<Item = (&'static str, String)>) -> Item {
    Item::Table(
        vec![],
        rows.into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect(),
    )
}

fn rate(r: &limiter::Rate) -> String {
    if r.refresh.is_zero() {
        "unlimited".to_string()
    } else {
        format!("burst {}, one per {:?}", r.burst, r.refresh)
    }
}

fn opt<T: std::fmt::Debug>(v: Option<T>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:?}"))
}

fn range(s: &BlockStoreState) -> String {
    match &s.last {
        Some(l) => format!("{}..={}", s.first, l.number()),
        None => format!("empty, from {}", s.first),
    }
}

/// `1-5, 7` for `[1, 2, 3, 4, 5, 7]` (sorted input).
fn numbers(v: &[BlockNumber]) -> String {
    let mut out: Vec<String> = vec![];
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1].0 == v[j].0.saturating_add(1) {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    format!("{} [{}]", v.len(), out.join(", "))
}

fn age(now: time::Utc, since: time::Utc) -> String {
    format!("{}s", now.saturating_duration_since(since).as_secs())
}

fn traffic(stats: &mux::Stats) -> [String; 2] {
    [
        stats.received_bytes().to_string(),
        stats.sent_bytes().to_string(),
    ]
}

fn gossip_conns(now: time::Utc, peers: impl Iterator<Item = Arc<gossip::Peer>>) -> Item {
    let rows = peers
        .map(|p| {
            let [rx, tx] = traffic(&p.stats);
            vec![
                p.key.encode(),
                p.addr.to_string(),
                p.build_version
                    .as_ref()
                    .map_or("-".to_string(), |v| v.to_string()),
                range(&p.state()),
                rx,
                tx,
                opt(p.rtt()),
                age(now, p.established),
            ]
        })
        .collect();
    Item::Table(
        vec![
            "key",
            "address",
            "build version",
            "blocks",
            "bytes in",
            "bytes out",
            "RTT",
            "age",
        ],
        rows,
    )
}

fn consensus_conns(now: time::Utc, peers: impl Iterator<Item = Arc<consensus::Peer>>) -> Item {
    let rows = peers
        .map(|p| {
            let [rx, tx] = traffic(&p.stats);
            vec![
                p.key.encode(),
                p.addr.to_string(),
                rx,
                tx,
                age(now, p.established),
            ]
        })
        .collect();
    Item::Table(vec!["key", "address", "bytes in", "bytes out", "age"], rows)
}

/// The page's content for `net` now.
pub(crate) fn snapshot(ctx: &ctx::Ctx, net: &Network) -> Vec<Item> {
    let now = ctx.now_utc();
    let g = &net.gossip;
    let cfg = net.config();
    let h = |level, s: &str| Item::Heading(level, s.to_string());
    let mut page = vec![
        h(1, "Consensus node"),
        kv([
            (
                "build version",
                cfg.build_version
                    .as_ref()
                    .map_or("-".to_string(), |v| v.to_string()),
            ),
            ("server address", cfg.server_addr.to_string()),
            ("public address", cfg.public_addr.to_string()),
            ("blocks queued", range(&g.store.queued())),
            ("blocks persisted", range(&g.store.persisted())),
        ]),
        h(2, "Config"),
        kv([
            ("max block size", cfg.max_block_size.to_string()),
            ("max transaction size", cfg.max_tx_size.to_string()),
            ("max block queue size", cfg.max_block_queue_size.to_string()),
            ("ping timeout", opt(cfg.ping_timeout)),
            ("TCP accept rate", rate(&cfg.tcp_accept_rate)),
            (
                "push_validator_addrs rate",
                rate(&cfg.rpc.push_validator_addrs_rate),
            ),
            (
                "push_block_store_state rate",
                rate(&cfg.rpc.push_block_store_state_rate),
            ),
            ("push_tx rate", rate(&cfg.rpc.push_tx_rate)),
            ("get_block rate", rate(&cfg.rpc.get_block_rate)),
            ("get_block timeout", opt(cfg.rpc.get_block_timeout)),
            ("consensus rate", rate(&cfg.rpc.consensus_rate)),
        ]),
        h(2, "Gossip network"),
        kv([
            ("node key", cfg.node_key.public().encode()),
            (
                "dynamic inbound limit",
                cfg.gossip.dynamic_inbound_limit.to_string(),
            ),
        ]),
        h(3, "Static inbound peers"),
        Item::Table(
            vec!["key"],
            cfg.gossip
                .static_inbound
                .iter()
                .map(|k| vec![k.encode()])
                .collect(),
        ),
        h(3, "Static outbound peers"),
        Item::Table(
            vec!["key", "host"],
            cfg.gossip
                .static_outbound
                .iter()
                .map(|(k, host)| vec![k.encode(), host.to_string()])
                .collect(),
        ),
        h(3, "Inbound connections"),
        gossip_conns(now, g.inbound.current().into_values()),
        h(3, "Outbound connections"),
        gossip_conns(now, g.outbound.current().into_values()),
        h(3, "Validator addresses"),
        Item::Table(
            vec!["key", "address", "version", "timestamp (unix s)"],
            g.validator_addrs
                .current()
                .iter()
                .map(|(k, a)| {
                    vec![
                        k.encode(),
                        a.msg.addr.to_string(),
                        a.msg.version.to_string(),
                        a.msg.timestamp.0.seconds().to_string(),
                    ]
                })
                .collect(),
        ),
        h(3, "Block fetcher"),
    ];
    let fetch = g.fetcher.status();
    page.push(kv([
        ("wanted", numbers(&fetch.wanted)),
        ("in flight", numbers(&fetch.in_flight)),
        ("fetched, unverified", numbers(&fetch.fetched)),
        ("invalid blocks received", fetch.invalid_blocks.to_string()),
    ]));
    for (epoch, c) in net.consensus() {
        page.push(Item::Heading(
            2,
            format!("Consensus network, epoch {epoch}"),
        ));
        page.push(kv([
            ("validator key", c.public_key().encode()),
            ("epoch", epoch.to_string()),
            ("validators", c.schedule.keys().count().to_string()),
        ]));
        page.push(h(3, "Inbound connections"));
        page.push(consensus_conns(now, c.inbound.current().into_values()));
        page.push(h(3, "Outbound connections"));
        page.push(consensus_conns(now, c.outbound.current().into_values()));
    }
    page
}

/// `s` with the characters that mean something in HTML replaced by entities.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:sans-serif;font-size:14px}\
table{border-collapse:collapse;margin-bottom:1em}\
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;font-family:monospace}";

/// The HTML page of `items`.
pub(crate) fn render(items: &[Item]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
         <title>Consensus node</title><style>{STYLE}</style></head><body>\n"
    );
    for item in items {
        match item {
            Item::Heading(level, text) => {
                let level = (*level).clamp(1, 3);
                let _ = writeln!(out, "<h{level}>{}</h{level}>", escape(text));
            }
            Item::Table(header, rows) => {
                out.push_str("<table>");
                if !header.is_empty() {
                    out.push_str("<tr>");
                    for h in header {
                        let _ = write!(out, "<th>{}</th>", escape(h));
                    }
                    out.push_str("</tr>");
                }
                for row in rows {
                    out.push_str("<tr>");
                    for cell in row {
                        let _ = write!(out, "<td>{}</td>", escape(cell));
                    }
                    out.push_str("</tr>");
                }
                if rows.is_empty() {
                    let _ = write!(
                        out,
                        "<tr><td colspan=\"{}\">(none)</td></tr>",
                        header.len().max(1)
                    );
                }
                out.push_str("</table>\n");
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}
