"""The Python half of `infrastructure/testnet.sh`: up, down, status of the Compose testnet."""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zkc  # noqa: E402


def backend() -> zkc.DockerBackend:
    return zkc.DockerBackend(
        bin_dir=os.environ.get("ZKC_BIN_DIR", ""),
        state=os.environ["ZKC_STATE"],
        project=os.environ.get("ZKC_PROJECT", "zkc-testnet"),
        image=os.environ.get("ZKC_IMAGE", "zkc-node:local"),
        port_prefix=os.environ.get("ZKC_PORT_PREFIX", "313"),
        subnet=os.environ.get("ZKC_SUBNET", "10.231.57.0/24"))


def peers(b: zkc.DockerBackend, i: int):
    v = b.rpc(i, "peers")
    if not isinstance(v, dict):
        return None
    return len(v.get("gossip_inbound", [])) + len(v.get("gossip_outbound", []))


def status(b: zkc.DockerBackend) -> int:
    rows = []
    for i in range(b.n):
        h = b.height(i)
        rows.append((f"node{i}", b.role(i), b.health(i), "-" if h is None else str(h),
                     "-" if (p := peers(b, i)) is None else str(p),
                     b.rpc_addr(i), b.metrics_addr(i)))
    head = ("node", "role", "container", "height", "peers", "json-rpc", "metrics")
    widths = [max(len(r[k]) for r in rows + [head]) for k in range(len(head))]
    for r in [head] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def wait_finalizing(b: zkc.DockerBackend, timeout: float) -> int:
    """Waits until every node holds a block and the chain has grown by 3 blocks since."""
    ok, secs = zkc.wait_until(lambda: all(h is not None for h in b.heights().values()),
                              timeout, 1.0)
    if not ok:
        zkc.log("not every node answers with a block:")
        status(b)
        return 1
    start = max(h for h in b.heights().values() if h is not None)
    ok, secs2 = zkc.wait_until(
        lambda: all(h is not None and h >= start + 3 for h in b.heights().values()),
        timeout, 1.0)
    if not ok:
        zkc.log("the chain does not advance on every node:")
        status(b)
        return 1
    zkc.log(f"all {b.n} nodes are finalizing blocks ({secs + secs2:.0f} s)")
    # The image's HEALTHCHECK (JSON-RPC health_check) runs every 5 s: wait for its verdict too.
    ok, secs3 = zkc.wait_until(
        lambda: all(b.health(i) == "running/healthy" for i in range(b.n)), 60, 1.0)
    if not ok:
        zkc.log("not every container is healthy:")
        status(b)
        return 1
    zkc.log(f"all {b.n} containers are healthy ({secs + secs2 + secs3:.0f} s)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up")
    up.add_argument("--payload-size", type=int, default=0)
    up.add_argument("--max-payload-size", type=int, default=1_000_000)
    up.add_argument("--view-timeout-ms", type=int, default=2000)
    up.add_argument("--timeout", type=float, default=180)
    sub.add_parser("down")
    sub.add_parser("status")
    a = p.parse_args()
    b = backend()
    if a.cmd == "up":
        if (b.state / "testnet.json").exists() and any(b.running(i) for i in range(b.n)):
            zkc.log("the testnet is already up (down first to start a fresh one)")
            return status(b)
        zkc.log(f"configs for {b.n} nodes ({b.validators} validators) in {b.state}/configs")
        b.up(payload_size=a.payload_size, max_payload_size=max(a.max_payload_size,
                                                                 2 * a.payload_size),
             view_timeout_ms=a.view_timeout_ms)
        rc = wait_finalizing(b, a.timeout)
        status(b)
        return rc
    if a.cmd == "down":
        b.down()
        return 0
    return status(b)


if __name__ == "__main__":
    sys.exit(main())
