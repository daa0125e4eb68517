"""Chaos scenarios against a testnet of 6 validators and 2 full nodes, in containers
(`--mode docker`) or as processes (`--mode process`). Run through `chaos/run.sh`, which builds
the binaries and the image first.

Every scenario starts a fresh testnet, waits until it finalizes blocks, injects its fault,
checks what must hold during the fault, heals it, waits until every node holds a block
finalized after the heal (the recovery time), then stops every node and compares their
databases block by block (`dbcheck`): every node must hold the same block at every height it
holds, and the chain must have advanced past the height it had before the fault. Every wait is
bounded: a scenario ends by itself in a few minutes at most, passing or failing.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Dict, List, Optional

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "lib"))
import zkc  # noqa: E402
from zkc import log  # noqa: E402


class Fail(Exception):
    """A check failed."""


class Skip(Exception):
    """The scenario cannot run here."""


class Result:
    def __init__(self, scenario: str, mode: str, run: int):
        self.scenario = scenario
        self.mode = mode
        self.run = run
        self.before: Optional[int] = None
        self.after: Optional[int] = None
        self.recovery: Optional[float] = None
        self.status = "FAIL"
        self.notes: List[str] = []
        self.secs = 0.0

    def note(self, msg: str) -> None:
        log(f"  {msg}")
        self.notes.append(msg)

    def to_json(self) -> dict:
        return {
            "scenario": self.scenario, "mode": self.mode, "run": self.run,
            "before": self.before, "after": self.after,
            "recovery_s": None if self.recovery is None else round(self.recovery, 1),
            "status": self.status, "notes": "; ".join(self.notes), "secs": round(self.secs),
            "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": machine(),
        }


def machine() -> str:
    return f"{platform.node()} ({os.cpu_count()} cores, {platform.machine()})"


# ---------------------------------------------------------------------------------------------
# Helpers over a backend


def heights(b: zkc.Backend, nodes=None) -> Dict[int, Optional[int]]:
    nodes = range(b.n) if nodes is None else nodes
    return {i: b.height(i) for i in nodes}


def top(b: zkc.Backend, nodes=None) -> int:
    """The highest block any of `nodes` (default all) holds (-1: none)."""
    hs = [h for h in heights(b, nodes).values() if h is not None]
    return max(hs) if hs else -1


def fmt(hs: Dict[int, Optional[int]]) -> str:
    return " ".join(f"n{i}={'-' if h is None else h}" for i, h in hs.items())


def wait_all_at(b: zkc.Backend, target: int, timeout: float, nodes=None,
                what: str = "") -> float:
    """Waits until every node of `nodes` holds block `target`; returns the seconds waited."""
    nodes = list(range(b.n)) if nodes is None else list(nodes)
    last = {}

    def done() -> bool:
        last.clear()
        last.update(heights(b, nodes))
        return all(h is not None and h >= target for h in last.values())

    ok, secs = zkc.wait_until(done, timeout, 0.5)
    if not ok:
        raise Fail(f"{what or 'nodes'} did not reach block {target} in {timeout:.0f} s "
                   f"({fmt(last)})")
    return secs


def warmup(b: zkc.Backend, blocks: int = 5, timeout: float = 120) -> int:
    """Waits until every node finalizes; returns the chain's height."""
    ok, _ = zkc.wait_until(lambda: all(h is not None for h in heights(b).values()), timeout, 1)
    if not ok:
        raise Fail(f"the testnet did not start: {fmt(heights(b))}")
    wait_all_at(b, top(b) + blocks, timeout, what="the fresh testnet")
    return top(b)


def progress(b: zkc.Backend, nodes: List[int], blocks: int, timeout: float, what: str) -> float:
    """Checks that `nodes` keep finalizing: each reaches the highest block among them now plus
    `blocks`."""
    base = top(b, nodes)
    return wait_all_at(b, base + blocks, timeout, nodes, what)


def stalled(b: zkc.Backend, nodes: List[int], settle: float, window: float) -> int:
    """Checks that no block is finalized among `nodes` for `window` seconds (after `settle`
    seconds for blocks already in flight); returns the height they stay at."""
    time.sleep(settle)
    # Two polls each: a node slow to answer once must not lower the height seen.
    h1 = max(top(b, nodes), top(b, nodes))
    time.sleep(window)
    h2 = max(top(b, nodes), top(b, nodes))
    if h2 > h1:
        raise Fail(f"blocks were finalized without a quorum: {h1} -> {h2}")
    return h2


def recover(b: zkc.Backend, r: Result, timeout: float = 120, nodes=None) -> None:
    """After a heal: the time until every node (of `nodes`) holds a block finalized after it
    (one above the highest block any node held at the heal)."""
    target = top(b) + 1
    r.recovery = wait_all_at(b, target, timeout, nodes, "after the heal, nodes")
    r.note(f"recovered in {r.recovery:.1f} s (every node at block {target})")


def views(b: zkc.Backend, nodes) -> int:
    """The highest replica view among `nodes` (validators)."""
    vs = [v for i in nodes if (v := b.view(i)) is not None]
    return max(vs) if vs else 0


def rejoined(b: zkc.Backend, r: Result, restarted: List[int], view: int, since: float,
             timeout: float = 60) -> None:
    """Observation (not a check): how long after its restart each restarted validator's replica
    reached `view` (the others' view at the restart), i.e. took part in consensus again.
    Until then it only follows the chain by block sync."""
    for v in restarted:
        left = max(1.0, timeout - (time.monotonic() - since))
        ok, _ = zkc.wait_until(lambda: (b.view(v) or 0) >= view, left, 0.5)
        took = time.monotonic() - since
        r.note(f"node{v} back in consensus (view >= {view}) {took:.1f} s after its restart"
               if ok else f"node{v} not back in consensus (view < {view}) after {took:.0f} s")


# ---------------------------------------------------------------------------------------------
# Scenarios: each gets the backend (up, warmed up), the result and an RNG.


def s_kill_restart(b: zkc.Backend, r: Result, rng: random.Random) -> None:
    """SIGKILL a validator; the chain goes on without it; restart it; it catches up."""
    v = rng.randrange(b.validators)
    others = [i for i in range(b.n) if i != v]
    r.before = top(b)
    b.kill(v)
    r.note(f"killed node{v} (SIGKILL) at block {r.before}")
    secs = progress(b, others, 5, 60, "without the killed validator, nodes")
    r.note(f"5 blocks finalized without it in {secs:.1f} s")
    view, t0 = views(b, [i for i in range(b.validators) if i != v]), time.monotonic()
    b.start(v)
    recover(b, r)
    rejoined(b, r, [v], view, t0)


def s_stop_f(b: zkc.Backend, r: Result, rng: random.Random) -> None:
    """Stop f validators: progress continues; restart them."""
    f = (b.validators - 1) // 5
    vs = rng.sample(range(b.validators), f)
    others = [i for i in range(b.n) if i not in vs]
    r.before = top(b)
    for v in vs:
        b.stop(v)
    r.note(f"stopped f={f} validator(s) {vs} at block {r.before}")
    secs = progress(b, others, 10, 90, f"with f={f} validators down, nodes")
    r.note(f"progress continues: 10 blocks in {secs:.1f} s")
    view, t0 = views(b, [i for i in range(b.validators) if i not in vs]), time.monotonic()
    for v in vs:
        b.start(v)
    recover(b, r)
    rejoined(b, r, vs, view, t0)


def s_stop_f_plus_1(b: zkc.Backend, r: Result, rng: random.Random) -> None:
    """Stop f+1 validators: progress stops; restart them: it resumes."""
    f = (b.validators - 1) // 5
    vs = rng.sample(range(b.validators), f + 1)
    others = [i for i in range(b.n) if i not in vs]
    r.before = top(b)
    for v in vs:
        b.stop(v)
    r.note(f"stopped f+1={f + 1} validators {vs} at block {r.before}")
    h = stalled(b, others, settle=3, window=15)
    r.note(f"no block finalized for 15 s (stays at {h})")
    view, t0 = views(b, [i for i in range(b.validators) if i not in vs]), time.monotonic()
    for v in vs:
        b.start(v)
    recover(b, r)
    rejoined(b, r, vs, view, t0)


def s_isolate_validator(b: zkc.Backend, r: Result, rng: random.Random) -> None:
    """Cut one validator off the network; the others go on; heal; it catches up by sync."""
    v = rng.randrange(b.validators)
    others = [i for i in range(b.n) if i != v]
    r.before = top(b)
    b.isolate(v)
    r.note(f"isolated node{v} at block {r.before}")
    secs = progress(b, others, 10, 90, "without the isolated validator, nodes")
    time.sleep(max(0.0, 15 - secs))
    hv, ho = b.height(v), top(b, others)
    r.note(f"after {max(secs, 15):.0f} s: node{v} at {hv}, the others at {ho}")
    if hv is not None and hv > ho:
        raise Fail(f"the isolated node{v} is ahead of the others ({hv} > {ho})")
    b.reconnect(v)
    recover(b, r)
    if hv is not None and ho - hv < 2:
        raise Fail(f"node{v} was not cut off (it kept up: {hv} vs {ho})")


def s_partition_halves(b: zkc.Backend, r: Result, rng: random.Random) -> None:
    """Split the network into two halves, neither with a quorum: no progress, no fork; heal:
    progress resumes."""
    vals = list(range(b.validators))
    half = len(vals) // 2
    fulls = list(range(b.validators, b.n))
    a = vals[:half] + fulls[: len(fulls) // 2]
    c = vals[half:] + fulls[len(fulls) // 2:]
    r.before = top(b)
    b.partition(a, c)
    r.note(f"partitioned {a} | {c} at block {r.before}")
    h = stalled(b, list(range(b.n)), settle=3, window=15)
    r.note(f"no block finalized for 15 s (stays at {h})")
    b.heal()
    recover(b, r)


def s_rolling_restart(b: zkc.Backend, r: Result, rng: random.Random) -> None:
    """Restart every node in turn; each catches up before the next goes down."""
    r.before = top(b)
    times = []
    for i in range(b.n):
        t0 = time.monotonic()
        b.stop(i)
        stop_secs = time.monotonic() - t0
        time.sleep(1)
        target = top(b)
        b.start(i)
        secs = wait_all_at(b, target + 1, 90, [i], f"restarted node{i}")
        times.append(secs)
        log(f"  node{i}: stopped in {stop_secs:.1f} s, back at block {target + 1} in "
            f"{secs:.1f} s")
    r.recovery = max(times)
    r.note(f"{b.n} nodes restarted one by one; back in "
           + " ".join(f"{t:.1f}" for t in times) + " s")
    progress(b, list(range(b.n)), 3, 60, "after the rolling restart, nodes")


def s_fullnode_resync(b: zkc.Backend, r: Result, rng: random.Random) -> None:
    """Wipe a full node's database and restart it: it syncs the whole chain from block 0."""
    fulls = list(range(b.validators, b.n))
    if not fulls:
        raise Skip("no full node")
    v = rng.choice(fulls)
    wait_all_at(b, 200, 180, what="before the wipe, nodes")
    r.before = top(b)
    t0 = time.monotonic()
    b.wipe(v)
    wiped = time.monotonic() - t0
    # The first answer of the fresh node: it starts with no block.
    first_seen = None
    ok, _ = zkc.wait_until(lambda: b.height(v) is not None, 60, 0.1)
    if ok:
        first_seen = b.height(v)
    secs = wait_all_at(b, r.before, 180, [v], f"the wiped node{v}")
    r.recovery = wiped + secs
    r.note(f"wiped node{v} at block {r.before} (database deleted and node restarted in "
           f"{wiped:.1f} s; first height it reported: {first_seen})")
    r.note(f"node{v} synced {r.before + 1} blocks from zero in {r.recovery:.1f} s "
           f"from the wipe")
    r.resynced = v  # type: ignore[attr-defined]


SCENARIOS: Dict[str, Callable] = {
    "kill_restart": s_kill_restart,
    "stop_f": s_stop_f,
    "stop_f_plus_1": s_stop_f_plus_1,
    "isolate_validator": s_isolate_validator,
    "partition_halves": s_partition_halves,
    "rolling_restart": s_rolling_restart,
    "fullnode_resync": s_fullnode_resync,
}
# What a scenario needs of the backend: a function returning why it cannot run, or None.
NEEDS = {
    "isolate_validator": lambda b: b.can_isolate(),
    "partition_halves": lambda b: b.can_partition(),
}
SUITES = {
    "full": list(SCENARIOS),
    "ci": ["kill_restart", "isolate_validator", "rolling_restart"],
}


# ---------------------------------------------------------------------------------------------
# Running


def final_check(b: zkc.Backend, r: Result) -> None:
    """Every node holds a block finalized after the scenario; stop them all; their databases
    agree block by block and the chain advanced."""
    wait_all_at(b, top(b) + 2, 90, what="at the end, nodes")
    b.stop_all()
    d = b.dbcheck()
    if not d.get("ok"):
        raise Fail("databases disagree: " + "; ".join(d.get("errors", []))[:500])
    dbs = d.get("dbs", [])
    if len(dbs) != b.n or any(x["last"] is None for x in dbs):
        raise Fail(f"missing databases or blocks: {dbs}")
    r.after = min(x["last"] for x in dbs)
    v = getattr(r, "resynced", None)
    if v is not None:
        first = next(x["first"] for x in dbs if x["name"] == f"node{v}")
        if first != 0:
            raise Fail(f"the resynced node{v} holds blocks from {first}, not 0")
    if r.before is None or r.after <= r.before:
        raise Fail(f"the chain did not advance: {r.before} -> {r.after}")
    r.note(f"all {b.n} databases agree on {d.get('checked')} heights")


def diagnostics(b: zkc.Backend, path: Path, r: Result) -> None:
    try:
        with open(path, "w") as f:
            f.write(f"{r.scenario} run {r.run} ({b.name}): {r.status}: {'; '.join(r.notes)}\n")
            f.write(f"heights: {fmt(heights(b))}\n")
            for i in range(b.n):
                f.write(f"\n=== node{i} (last lines)\n{b.logs(i, 40)}")
        log(f"  diagnostics in {path}")
    except Exception as e:  # noqa: BLE001 - best effort
        log(f"  (no diagnostics: {e})")


def run_one(name: str, run_no: int, make: Callable[[], zkc.Backend], rng: random.Random,
            diag_dir: Path) -> Result:
    b = make()
    r = Result(name, b.name, run_no)
    start = time.monotonic()
    log(f"=== {name} (run {run_no}, {b.name})")
    try:
        b.up()
        need = NEEDS.get(name)
        reason = need(b) if need else None
        if reason:
            raise Skip(reason)
        warmup(b)
        SCENARIOS[name](b, r, rng)
        final_check(b, r)
        r.status = "pass"
    except Skip as e:
        r.status = "skipped"
        r.notes.append(f"skipped: {e}")
        log(f"  skipped: {e}")
    except Fail as e:
        r.note(f"FAILED: {e}")
        diagnostics(b, diag_dir / f"{name}-run{run_no}.txt", r)
    except Exception as e:  # noqa: BLE001 - any error fails the scenario, with its trace
        r.note(f"FAILED (error): {e}")
        traceback.print_exc()
        diagnostics(b, diag_dir / f"{name}-run{run_no}.txt", r)
    finally:
        try:
            b.down()
        except Exception as e:  # noqa: BLE001
            log(f"  cleanup failed: {e}")
    r.secs = time.monotonic() - start
    log(f"=== {name} run {run_no}: {r.status} ({r.secs:.0f} s)")
    return r


def selftest(bin_dir: str) -> int:
    """Checks the checkers: `healthcheck` tells a live node from a dead port, and `dbcheck`
    reports a fork. The fork: one single-validator chain run twice from the same genesis into
    two databases (random payloads make the blocks differ at every height)."""
    import shutil
    import subprocess
    work = Path(tempfile.mkdtemp(prefix="zkc-selftest-"))
    tool = lambda name: os.path.join(bin_dir, name)  # noqa: E731
    port, rpc = zkc.free_port(), zkc.free_port()
    try:
        zkc.gen_configs(tool("localnet_config"), work / "configs", 1, 1,
                        listen=[f"127.0.0.1:{port}"], public=[f"127.0.0.1:{port}"],
                        rpc=[f"127.0.0.1:{rpc}"], metrics=[None], payload_size=64)
        cfg = str(work / "configs" / "node0" / "config.json")

        def height() -> Optional[int]:
            res = zkc.run([tool("healthcheck"), "--addr", f"127.0.0.1:{rpc}", "--call",
                           "last_committed_block"], check=False)
            if res.returncode != 0:
                return None
            return json.loads(res.stdout)["last_committed_block"]

        for db in ("a", "b"):
            p = subprocess.Popen([tool("node"), "--config", cfg, "--database",
                                  str(work / db)], stderr=subprocess.DEVNULL)
            try:
                ok, _ = zkc.wait_until(lambda: (height() or 0) >= 5, 60)
                if not ok:
                    raise Fail("the single-validator chain did not reach block 5")
                if zkc.run([tool("healthcheck"), "--addr", f"127.0.0.1:{rpc}"],
                           check=False).returncode != 0:
                    raise Fail("healthcheck fails on a live node")
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(15)
        if zkc.run([tool("healthcheck"), "--addr", f"127.0.0.1:{rpc}", "--timeout-ms", "500"],
                   check=False).returncode != 1:
            raise Fail("healthcheck passes on a closed port")
        shutil.copytree(work / "a", work / "a2")
        same = zkc.run([tool("dbcheck"), "--config", cfg, f"a={work / 'a'}",
                        f"a2={work / 'a2'}"], check=False)
        if same.returncode != 0:
            raise Fail(f"dbcheck rejects two copies of one database: {same.stdout}")
        fork = zkc.run([tool("dbcheck"), "--config", cfg, f"a={work / 'a'}",
                        f"b={work / 'b'}"], check=False)
        if fork.returncode != 1 or "differs" not in fork.stdout:
            raise Fail(f"dbcheck misses a fork: {fork.stdout} {fork.stderr}")
        log("selftest: healthcheck tells live from dead; dbcheck accepts copies and "
            "reports a fork (" + fork.stdout.splitlines()[-1][:80] + "...)")
        return 0
    except Fail as e:
        log(f"selftest FAILED: {e}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(rows: List[dict]) -> str:
    head = ["scenario", "mode", "run", "blocks before", "blocks after", "recovery (s)",
            "result", "notes"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for x in rows:
        cells = [x["scenario"], x["mode"], str(x["run"]),
                 "-" if x["before"] is None else str(x["before"]),
                 "-" if x["after"] is None else str(x["after"]),
                 "-" if x["recovery_s"] is None else f"{x['recovery_s']:.1f}",
                 x["status"], x["notes"].replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=["docker", "process"], required=True)
    p.add_argument("--net", choices=["auto", "netns", "loopback"], default="auto",
                   help="process mode: namespaces (root) or loopback")
    p.add_argument("--suite", choices=list(SUITES), default="full")
    p.add_argument("--scenarios", help="comma-separated, instead of --suite: "
                   + ",".join(SCENARIOS))
    p.add_argument("--runs", type=int, default=1, help="runs of each scenario")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--results", default=None, help="append each result (JSON) to this file")
    p.add_argument("--diagnostics", default=None, help="where failure logs go")
    p.add_argument("--selftest", action="store_true",
                   help="only check that healthcheck and dbcheck catch what they must")
    p.add_argument("--report", action="store_true",
                   help="only print the table of the results file")
    a = p.parse_args()

    # SIGTERM (a CI timeout, kill) ends the run like Ctrl-C: the testnet is still removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if a.report:
        rows = [json.loads(l) for l in Path(a.results).read_text().splitlines() if l.strip()]
        print(table(rows))
        return 0

    if a.selftest:
        return selftest(os.environ["ZKC_BIN_DIR"])

    names = a.scenarios.split(",") if a.scenarios else SUITES[a.suite]
    for n in names:
        if n not in SCENARIOS:
            p.error(f"unknown scenario {n!r} (known: {', '.join(SCENARIOS)})")
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    bin_dir = os.environ["ZKC_BIN_DIR"]
    diag = Path(a.diagnostics or tempfile.gettempdir())
    diag.mkdir(parents=True, exist_ok=True)
    log(f"chaos: {','.join(names)} x{a.runs}, mode {a.mode}, seed {seed}")

    work = Path(tempfile.mkdtemp(prefix="zkc-chaos-"))

    def make() -> zkc.Backend:
        if a.mode == "docker":
            return zkc.DockerBackend(
                bin_dir=bin_dir, state=work / "state",
                project=os.environ.get("ZKC_PROJECT", "zkc-chaos"),
                image=os.environ.get("ZKC_IMAGE", "zkc-node:chaos"),
                port_prefix=os.environ.get("ZKC_PORT_PREFIX", "314"),
                subnet=os.environ.get("ZKC_SUBNET", "10.231.58.0/24"))
        return zkc.ProcessBackend(bin_dir=bin_dir, workdir=work / "proc", net=a.net)

    results = []
    try:
        for name in names:
            for k in range(1, a.runs + 1):
                r = run_one(name, k, make, rng, diag)
                results.append(r.to_json())
                if a.results:
                    with open(a.results, "a") as f:
                        f.write(json.dumps(results[-1]) + "\n")
    finally:
        import shutil
        shutil.rmtree(work, ignore_errors=True)
    print(table(results))
    failed = [x for x in results if x["status"] == "FAIL"]
    print(f"\n{len(results) - len(failed)} of {len(results)} runs passed or skipped; "
          f"{len(failed)} failed (seed {seed}, mode {results[0]['mode'] if results else a.mode})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
