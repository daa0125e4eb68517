//! What the network benchmarks share.

use zksync_concurrency::ctx;
use zksync_consensus_network::{mux, rpc::get_block};

/// CPU time used by this process so far (all threads, user and system), from /proc (Linux;
/// 10 ms resolution; 0 elsewhere). A benchmark process runs nothing but the measured nodes, so
/// the CPU time of a run is what the run cost, whatever else the host was doing.
pub(crate) fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command name (in parentheses), utime and stime are the 12th and 13th fields,
    // in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.))
        .collect();
    (f.get(11).unwrap_or(&0.) + f.get(12).unwrap_or(&0.)) / 100.
}

/// One get_block call on a raw stream (the RPC client protocol by hand): the response bytes
/// are read, not decoded. Returns the response body's size.
pub(crate) async fn raw_get_block(
    ctx: &ctx::Ctx,
    queue: &mux::StreamQueue,
    req: &get_block::Req,
) -> usize {
    let st = queue.open(ctx).await.unwrap();
    let (mut read, mut write) = (st.read, st.write);
    let body = zksync_protobuf::encode(req);
    let mut buf = (body.len() as u32).to_le_bytes().to_vec();
    buf.extend(body);
    write.write_all(ctx, &buf).await.unwrap();
    write.close();
    let mut len = [0u8; 4];
    read.read_exact(ctx, &mut len).await.unwrap();
    let mut resp = vec![0; u32::from_le_bytes(len) as usize];
    read.read_exact(ctx, &mut resp).await.unwrap();
    read.wait_close(ctx).await.unwrap();
    assert!(resp.len() > 4, "block not served");
    resp.len()
}
