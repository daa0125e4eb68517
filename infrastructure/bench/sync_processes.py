#!/usr/bin/env python3
"""Block sync between node processes (benchmark scenarios S1/S2 as separate processes).

1. Makes a chain: `localnet` with 6 validators and 1 KiB payloads runs until every node holds
   `--blocks` blocks (6-validator commit certificates), then stops; its databases stay.
2. For each peer count k: starts k of those validators again as serving nodes (k < 5, so no
   quorum: they only serve), and a fresh full node with an empty database whose only gossip
   peers are those k. Measures the time from the full node's process start until its
   JSON-RPC `last_committed_block` reaches the chain's last block, and its peak RSS (VmHWM).

Needs the release binaries (`cargo build --release -p zksync_consensus_tools --bins`) and
Linux (/proc). Everything runs on loopback, in a temporary directory that is removed after.

    infrastructure/bench/sync_processes.py [--blocks 10000] [--peers 1,4] [--runs 3]
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rpc(addr, method):
    req = urllib.request.Request(
        f"http://{addr}", method="POST", headers={"content-type": "application/json"},
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method}).encode())
    with urllib.request.urlopen(req, timeout=2) as r:
        return json.load(r)["result"]


def height(addr):
    try:
        return rpc(addr, "last_committed_block")["last_committed_block"]
    except Exception:  # not up yet, or no block yet
        return None


def public_node_key(bins, secret):
    out = subprocess.run([f"{bins}/keys", "public", "-"], input=secret, text=True,
                         capture_output=True, check=True).stdout
    return next(l.split(": ", 1)[1] for l in out.splitlines() if l.startswith("public: "))


def vm_hwm_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def start(bins, cfg_path, db_dir, log):
    return subprocess.Popen([f"{bins}/node", "--config", cfg_path, "--database", db_dir],
                            stdout=subprocess.DEVNULL, stderr=open(log, "w"))


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def sync_once(bins, work, chain_dir, k, last):
    """One run: k serving nodes, one fresh full node. Returns (secs, peak RSS MiB)."""
    run_dir = tempfile.mkdtemp(dir=work)
    serving, peers = [], []
    try:
        for i in range(k):
            cfg = json.load(open(f"{chain_dir}/node{i}/config.json"))
            db = f"{run_dir}/serve{i}"
            shutil.copytree(f"{chain_dir}/node{i}/db", db)
            cfg["gossipDynamicInboundLimit"] = str(max(int(cfg.get("gossipDynamicInboundLimit", 0)), 10))
            cfg.pop("metricsServerAddr", None)
            cfg["rpcAddr"] = f"127.0.0.1:{free_port()}"
            path = f"{run_dir}/serve{i}.json"
            json.dump(cfg, open(path, "w"))
            serving.append(start(bins, path, db, f"{run_dir}/serve{i}.log"))
            peers.append({"key": public_node_key(bins, cfg["nodeSecretKey"]),
                          "addr": cfg["serverAddr"]})
        for i in range(k):
            addr = json.load(open(f"{run_dir}/serve{i}.json"))["rpcAddr"]
            deadline = time.time() + 30
            while height(addr) is None:
                if time.time() > deadline:
                    raise RuntimeError(f"serving node {i} did not come up")
                time.sleep(0.05)
        cfg = json.load(open(f"{chain_dir}/node0/config.json"))
        cfg.pop("validatorSecretKey", None)
        cfg.pop("metricsServerAddr", None)
        keys = subprocess.run([f"{bins}/keys", "node"], text=True, capture_output=True,
                              check=True).stdout
        cfg["nodeSecretKey"] = next(l.split(": ", 1)[1] for l in keys.splitlines()
                                    if l.startswith("secret: "))
        port = free_port()
        cfg["serverAddr"] = cfg["publicAddr"] = f"127.0.0.1:{port}"
        cfg["rpcAddr"] = rpc_addr = f"127.0.0.1:{free_port()}"
        cfg["gossipStaticOutbound"] = peers
        path = f"{run_dir}/fresh.json"
        json.dump(cfg, open(path, "w"))
        t0 = time.time()
        fresh = start(bins, path, f"{run_dir}/fresh", f"{run_dir}/fresh.log")
        try:
            peak = 0.0
            deadline = t0 + 600
            while True:
                peak = max(peak, vm_hwm_mib(fresh.pid) or 0)
                h = height(rpc_addr)
                if h is not None and h >= last:
                    secs = time.time() - t0
                    break
                if fresh.poll() is not None:
                    raise RuntimeError(f"fresh node exited; see {run_dir}/fresh.log")
                if time.time() > deadline:
                    raise RuntimeError(f"fresh node at {h} of {last} after 600 s")
                time.sleep(0.02)
            peak = max(peak, vm_hwm_mib(fresh.pid) or 0)
        finally:
            stop(fresh)
        return secs, peak
    finally:
        for p in serving:
            stop(p)
        shutil.rmtree(run_dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, default=10000)
    ap.add_argument("--peers", default="1,4")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin-dir", default=os.environ.get(
        "ZKC_BIN_DIR", os.path.join(os.environ.get("CARGO_TARGET_DIR", f"{REPO}/target"), "release")))
    args = ap.parse_args()
    bins = os.path.abspath(args.bin_dir)
    for b in ("localnet", "node", "keys"):
        if not os.access(f"{bins}/{b}", os.X_OK):
            sys.exit(f"error: {bins}/{b} is missing (cargo build --release -p zksync_consensus_tools --bins)")
    work = tempfile.mkdtemp(prefix="zkc-sync-bench-")
    try:
        chain = f"{work}/chain"
        t0 = time.time()
        subprocess.run([f"{bins}/localnet", "--validators", "6", "--full-nodes", "0",
                        "--payload-size", "1024", "--blocks", str(args.blocks), "--dir", chain],
                       stdout=subprocess.DEVNULL, check=True)
        first = json.load(open(f"{chain}/node0/config.json"))["genesis"].get("firstBlock", 0)
        print(f"chain of {args.blocks}+ blocks made in {time.time() - t0:.0f} s", flush=True)
        print("| Peers | Blocks | Seconds from process start, median (range) | Blocks/s | "
              "Payload MB/s | Peak RSS of the syncing node, MiB (max) |")
        print("|---|---|---|---|---|---|")
        for k in [int(x) for x in args.peers.split(",")]:
            # Every serving node holds at least `--blocks` blocks: sync that many.
            last = args.blocks - 1 + int(first)
            res = [sync_once(bins, work, chain, k, last) for _ in range(args.runs)]
            secs = sorted(r[0] for r in res)
            n = last - int(first) + 1
            med = statistics.median(secs)
            print(f"| {k} | {n} | {med:.2f} ({secs[0]:.2f}-{secs[-1]:.2f}) | {n / med:,.0f} | "
                  f"{n * 1024 / med / 1e6:.2f} | {max(r[1] for r in res):.1f} |", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
