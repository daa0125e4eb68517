"""Load generator: payload pressure on a testnet of 6 validators and 2 full nodes, measured
from the nodes' own Prometheus metrics. Run through `load/load.sh`.

For each payload size (`--payload-sizes`, bytes; default 0, 10 KiB, 100 KiB) it starts a fresh
testnet whose validators propose payloads of that size (the `payloadSize` config field), waits
`--warmup` seconds, then samples every node's metrics at the start and the end of a
`--duration` window and reports:

- finalized blocks/s (the chain's height over the window: `last_committed_block`, and the
  validators' `consensus_finalized_block_number` gauge);
- payload MB/s (finalized blocks/s x the mean proposed payload size, from
  `consensus_proposal_payload_size_bytes`);
- network MB/s: bytes sent by all nodes together (`network_tcp_sent_bytes_total`), and per node;
- commit latency p50/p90/p99 (`consensus_commit_latency_seconds`, from entering a view to
  finalizing its block, merged over the validators, for the window only);
- view timeouts (views without a block: `consensus_replica_view_number` minus finalized blocks).

With `--attach` it measures the testnet already started by `testnet.sh up` instead (whatever its
payload size) and starts nothing. MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import zkc  # noqa: E402
from zkc import log  # noqa: E402


def snapshot(b: zkc.Backend) -> dict:
    t = time.monotonic()
    mets: Dict[int, Dict[str, float]] = {}
    for i in range(b.n):
        text = b.metrics(i)
        if text:
            mets[i] = zkc.parse_metrics(text)
    hs = [h for h in b.heights().values() if h is not None]
    return {"t": t, "metrics": mets, "height": max(hs) if hs else None}


def delta(a: dict, z: dict, i: int, name: str) -> Optional[float]:
    x = zkc.metric(a["metrics"].get(i, {}), name)
    y = zkc.metric(z["metrics"].get(i, {}), name)
    return None if x is None or y is None else y - x


def measure(b: zkc.Backend, duration: float) -> dict:
    a = snapshot(b)
    time.sleep(duration)
    z = snapshot(b)
    secs = z["t"] - a["t"]
    vals = range(b.validators)
    out: dict = {"secs": secs}
    out["blocks"] = None if a["height"] is None or z["height"] is None else z["height"] - a[
        "height"]
    out["blocks_per_s"] = None if out["blocks"] is None else out["blocks"] / secs
    fin = [d for i in vals if (d := delta(a, z, i, "consensus_finalized_block_number"))
           is not None]
    out["finalized_gauge_per_s"] = max(fin) / secs if fin else None
    # Views without a block, per validator (views entered minus blocks finalized), median.
    skipped = sorted(v - f for i in vals
                     if (v := delta(a, z, i, "consensus_replica_view_number")) is not None
                     and (f := delta(a, z, i, "consensus_finalized_block_number")) is not None)
    out["timeouts"] = max(0.0, skipped[len(skipped) // 2]) if skipped else None
    psum = sum(d for i in vals if (d := delta(
        a, z, i, "consensus_proposal_payload_size_bytes_sum")) is not None)
    pcnt = sum(d for i in vals if (d := delta(
        a, z, i, "consensus_proposal_payload_size_bytes_count")) is not None)
    out["payload_mean"] = psum / pcnt if pcnt else 0.0
    out["payload_mb_per_s"] = (out["blocks_per_s"] or 0.0) * out["payload_mean"] / 1e6
    sent = [d for i in range(b.n) if (d := delta(a, z, i, "network_tcp_sent_bytes_total"))
            is not None]
    out["net_mb_per_s"] = sum(sent) / secs / 1e6 if sent else None
    out["net_mb_per_s_node"] = (sum(sent) / len(sent)) / secs / 1e6 if sent else None
    merged: Dict[float, float] = {}
    for i in vals:
        hz = zkc.histogram(z["metrics"].get(i, {}), "consensus_commit_latency_seconds")
        ha = zkc.histogram(a["metrics"].get(i, {}), "consensus_commit_latency_seconds")
        for le, c in zkc.bucket_diff(hz, ha):
            merged[le] = merged.get(le, 0.0) + c
    buckets = sorted(merged.items())
    for q in (0.5, 0.9, 0.99):
        v = zkc.quantile(buckets, q)
        out[f"p{int(q * 100)}_ms"] = None if v is None else v * 1000
    return out


def fmt(v, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: List[dict]) -> str:
    head = ["payload (bytes)", "blocks/s", "payload MB/s", "network MB/s (all / per node)",
            "commit latency p50 / p90 / p99 (ms)", "view timeouts", "window (s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        lines.append("| " + " | ".join([
            str(r["payload_size"]), fmt(r["blocks_per_s"]), fmt(r["payload_mb_per_s"], ".2f"),
            f"{fmt(r['net_mb_per_s'], '.2f')} / {fmt(r['net_mb_per_s_node'], '.2f')}",
            f"{fmt(r['p50_ms'], '.0f')} / {fmt(r['p90_ms'], '.0f')} / {fmt(r['p99_ms'], '.0f')}",
            fmt(r["timeouts"], ".0f"), fmt(r["secs"], ".0f")]) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["docker", "process"], required=True)
    p.add_argument("--net", choices=["auto", "netns", "loopback"], default="auto")
    p.add_argument("--payload-sizes", default="0,10240,102400",
                   help="comma-separated payload sizes in bytes, one testnet each")
    p.add_argument("--duration", type=float, default=60, help="measurement window, seconds")
    p.add_argument("--warmup", type=float, default=10, help="seconds before measuring")
    p.add_argument("--attach", action="store_true",
                   help="measure the testnet of testnet.sh (docker mode) instead")
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bin_dir = os.environ.get("ZKC_BIN_DIR", "")
    rows = []
    if a.attach:
        if a.mode != "docker":
            p.error("--attach measures the container testnet of testnet.sh")
        b = zkc.DockerBackend(bin_dir=bin_dir, state=os.environ["ZKC_STATE"],
                              project=os.environ.get("ZKC_PROJECT", "zkc-testnet"),
                              port_prefix=os.environ.get("ZKC_PORT_PREFIX", "313"))
        if not any(b.running(i) for i in range(b.n)):
            log("no testnet is up: run infrastructure/testnet.sh up first")
            return 1
        log(f"measuring the running testnet for {a.duration:.0f} s")
        r = measure(b, a.duration)
        r["payload_size"] = round(r["payload_mean"])
        rows.append(r)
    else:
        work = Path(tempfile.mkdtemp(prefix="zkc-load-"))
        for size in [int(x) for x in a.payload_sizes.split(",")]:
            if a.mode == "docker":
                b = zkc.DockerBackend(
                    bin_dir=bin_dir, state=work / "state",
                    project=os.environ.get("ZKC_PROJECT", "zkc-load"),
                    image=os.environ.get("ZKC_IMAGE", "zkc-node:load"),
                    port_prefix=os.environ.get("ZKC_PORT_PREFIX", "315"),
                    subnet=os.environ.get("ZKC_SUBNET", "10.231.59.0/24"))
            else:
                b = zkc.ProcessBackend(bin_dir=bin_dir, workdir=work / "proc", net=a.net)
            try:
                log(f"=== payload {size} bytes ({b.name}): fresh testnet")
                b.up(payload_size=size, max_payload_size=max(1_000_000, 2 * size))
                ok, _ = zkc.wait_until(
                    lambda: all(h is not None for h in b.heights().values()), 120, 1)
                if not ok:
                    log("the testnet did not start")
                    return 1
                time.sleep(a.warmup)
                log(f"measuring for {a.duration:.0f} s")
                r = measure(b, a.duration)
                r["payload_size"] = size
                rows.append(r)
                log(f"  {fmt(r['blocks_per_s'])} blocks/s, {fmt(r['payload_mb_per_s'], '.2f')}"
                    f" payload MB/s, p50 {fmt(r['p50_ms'], '.0f')} ms")
            finally:
                b.down()
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
