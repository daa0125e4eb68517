"""Shared code of the infrastructure scripts (Python 3.9+, standard library only).

- config generation: `localnet_config` writes the configs, then every address is rewritten for
  where the node runs (service names in Docker, private IPs in network namespaces, loopback
  ports for plain processes);
- probes: a node's height over JSON-RPC, its Prometheus metrics;
- two backends with the same operations (start, stop, kill, wipe, isolate, partition, heights,
  database comparison):
  - `DockerBackend`: the Compose testnet of `infrastructure/compose/`;
  - `ProcessBackend`: the `node` binary as processes, each in its own network namespace on a
    private bridge when root can create namespaces (`ip netns`), else on loopback (then
    partitions are not available).

Everything a backend creates is named after a per-run tag or the Compose project and removed
by `down()`.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

INFRA = Path(__file__).resolve().parent.parent
REPO = INFRA.parent
COMPOSE_FILE = INFRA / "compose" / "docker-compose.yml"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], check: bool = True, timeout: float = 120, env=None,
        quiet: bool = False) -> subprocess.CompletedProcess:
    """Runs a command, capturing its output; raises with the output on failure if `check`."""
    res = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): "
                           f"{res.stderr.strip() or res.stdout.strip()}")
    if not quiet and res.returncode != 0 and not check:
        pass
    return res


# ---------------------------------------------------------------------------------------------
# Configs


def gen_configs(localnet_config: str, out_dir: Path, n: int, validators: int,
                listen: List[str], public: List[str], rpc: List[Optional[str]],
                metrics: List[Optional[str]], peers: int = 3, payload_size: int = 0,
                max_payload_size: int = 1_000_000, view_timeout_ms: int = 2000,
                owner: Optional[int] = None) -> None:
    """Writes `out_dir/node<i>/config.json` for `n` nodes, the first `validators` of them
    validators. `localnet_config` generates genesis, keys and gossip topology on placeholder
    addresses; then node i listens on `listen[i]`, is dialed at `public[i]` (any `host:port`,
    e.g. a service name) and serves JSON-RPC / metrics at `rpc[i]` / `metrics[i]`. Files are
    0600 (they hold secret keys), owned by uid/gid `owner` if given."""
    placeholders = [f"10.255.{i // 250}.{i % 250 + 1}:3054" for i in range(n)]
    if out_dir.exists():
        shutil.rmtree(out_dir)
    run([localnet_config, "--addrs", ",".join(placeholders), "--validators", str(validators),
         "--peers", str(peers), "--payload-size", str(payload_size),
         "--max-payload-size", str(max_payload_size),
         "--view-timeout-ms", str(view_timeout_ms), "--output-dir", str(out_dir)])
    to_public = dict(zip(placeholders, public))
    for i in range(n):
        path = out_dir / f"node{i}" / "config.json"
        cfg = json.loads(path.read_text())
        cfg["serverAddr"] = listen[i]
        cfg["publicAddr"] = public[i]
        for key, val in (("rpcAddr", rpc[i]), ("metricsServerAddr", metrics[i])):
            if val is None:
                cfg.pop(key, None)
            else:
                cfg[key] = val
        for peer in cfg.get("gossipStaticOutbound", []):
            peer["addr"] = to_public[peer["addr"]]
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(cfg, f, indent=2)
        if owner is not None:
            os.chown(path, owner, owner)
            os.chown(path.parent, owner, owner)
            os.chmod(path.parent, 0o700)


# ---------------------------------------------------------------------------------------------
# Probes


def http_get(addr: str, path: str, timeout: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://{addr}{path}", timeout=timeout) as r:
        return r.read().decode()


def parse_metrics(text: str) -> Dict[str, float]:
    """Prometheus text -> {'name{labels}': value} (the series' text as the key)."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        # The value is the last space-separated token (timestamps are not used here).
        key, _, val = line.rpartition(" ")
        try:
            out[key] = float(val)
        except ValueError:
            continue
    return out


def metric(m: Dict[str, float], name: str) -> Optional[float]:
    """A series without labels, or the sum of every series of `name` with labels."""
    if name in m:
        return m[name]
    vals = [v for k, v in m.items() if k.startswith(name + "{")]
    return sum(vals) if vals else None


def histogram(m: Dict[str, float], name: str) -> List[tuple]:
    """Cumulative buckets [(le, count)] of histogram `name` (series without other labels)."""
    out = []
    prefix = name + '_bucket{le="'
    for k, v in m.items():
        if k.startswith(prefix):
            le = k[len(prefix):].split('"', 1)[0]
            out.append((float("inf") if le == "+Inf" else float(le), v))
    return sorted(out)


def quantile(buckets: List[tuple], q: float) -> Optional[float]:
    """The q-quantile of cumulative buckets, interpolated within its bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            frac = (rank - prev_c) / (c - prev_c) if c > prev_c else 1.0
            return prev_le + (le - prev_le) * frac
        prev_le, prev_c = le, c
    return None


def bucket_diff(after: List[tuple], before: List[tuple]) -> List[tuple]:
    b = dict(before)
    return [(le, c - b.get(le, 0.0)) for le, c in after]


def wait_until(pred: Callable[[], bool], timeout: float, interval: float = 0.5) -> tuple:
    """Polls `pred` until it holds or `timeout` seconds pass: (held, seconds waited)."""
    start = time.monotonic()
    while True:
        if pred():
            return True, time.monotonic() - start
        if time.monotonic() - start > timeout:
            return False, time.monotonic() - start
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Backends


class Unsupported(Exception):
    """The backend cannot do this here (e.g. partitions without root)."""


class Backend:
    """A testnet of `n` nodes, the first `validators` of them validators."""

    name = "?"
    n = 8
    validators = 6

    # Lifecycle of the whole testnet.
    def up(self, payload_size: int = 0, max_payload_size: int = 1_000_000) -> None: ...
    def down(self) -> None: ...
    def stop_all(self) -> None: ...

    # One node.
    def start(self, i: int) -> None: ...
    def stop(self, i: int) -> None: ...
    def kill(self, i: int) -> None: ...
    def wipe(self, i: int) -> None: ...
    def running(self, i: int) -> bool: ...
    def rpc(self, i: int, method: str) -> Optional[dict]:
        """The result of a JSON-RPC method of node i (None if it does not answer)."""

    def height(self, i: int) -> Optional[int]:
        """The last block node i holds."""
        r = self.rpc(i, "last_committed_block")
        return r.get("last_committed_block") if isinstance(r, dict) else None

    def view(self, i: int) -> Optional[int]:
        """The view of node i's replica (0 for a full node)."""
        r = self.rpc(i, "last_view")
        return r.get("last_view") if isinstance(r, dict) else None

    def metrics(self, i: int) -> Optional[str]: ...
    def logs(self, i: int, lines: int = 30) -> str: ...

    # Faults of the network.
    def can_partition(self) -> Optional[str]:
        """None if partitions work here, else why not."""
        return None

    def can_isolate(self) -> Optional[str]:
        """None if a node can be cut off the network here, else why not."""
        return self.can_partition()

    def isolate(self, i: int) -> None: ...
    def reconnect(self, i: int) -> None: ...
    def partition(self, a: Iterable[int], b: Iterable[int]) -> None: ...
    def heal(self) -> None: ...

    # Agreement of the (stopped) nodes' databases: dbcheck's JSON summary.
    def dbcheck(self) -> dict: ...

    def heights(self) -> Dict[int, Optional[int]]:
        return {i: self.height(i) for i in range(self.n)}

    def role(self, i: int) -> str:
        return "validator" if i < self.validators else "full node"


def _parse_dbcheck(res: subprocess.CompletedProcess) -> dict:
    lines = [l for l in res.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return {"ok": False, "errors": [res.stderr.strip() or res.stdout.strip()]}
    out = json.loads(lines[-1])
    out["text"] = res.stdout
    return out


class DockerBackend(Backend):
    """The Compose testnet (`infrastructure/compose/docker-compose.yml`): containers
    `<project>-node<i>`, one private bridge network, a named volume per database, configs in
    `$ZKC_STATE/configs` mounted read-only. JSON-RPC and metrics of node i are published on
    127.0.0.1:<prefix>0<i> and 127.0.0.1:<prefix>1<i>."""

    name = "docker"
    UID = 10001

    def __init__(self, bin_dir: str, state: Path, project: str = "zkc-testnet",
                 image: str = "zkc-node:local", port_prefix: str = "313",
                 subnet: str = "10.231.57.0/24", n: int = 8, validators: int = 6):
        assert n == 8, "the compose file describes 8 nodes"
        self.bin_dir = bin_dir
        self.state = Path(state).resolve()
        self.project = project
        self.image = image
        self.port_prefix = port_prefix
        self.subnet = subnet
        self.n = n
        self.validators = validators
        self.blackholes: List[tuple] = []
        self.isolated: Dict[int, tuple] = {}
        self.env = dict(os.environ, ZKC_STATE=str(self.state), ZKC_PROJECT=project,
                        ZKC_IMAGE=image, ZKC_PORT_PREFIX=port_prefix, ZKC_SUBNET=subnet)

    # -- helpers
    def compose(self, *args: str, check: bool = True, timeout: float = 180):
        exe = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
        return run(exe + ["-p", self.project, "-f", str(COMPOSE_FILE), *args], check=check,
                   timeout=timeout, env=self.env)

    def container(self, i: int) -> str:
        return f"{self.project}-node{i}"

    def rpc_addr(self, i: int) -> str:
        return f"127.0.0.1:{self.port_prefix}0{i}"

    def metrics_addr(self, i: int) -> str:
        return f"127.0.0.1:{self.port_prefix}1{i}"

    def inspect(self, i: int, fmt: str) -> Optional[str]:
        res = run(["docker", "inspect", "-f", fmt, self.container(i)], check=False)
        return res.stdout.strip() if res.returncode == 0 else None

    def networks(self, i: int) -> Dict[str, dict]:
        out = self.inspect(i, "{{json .NetworkSettings.Networks}}")
        return json.loads(out) if out else {}

    def network_name(self) -> str:
        res = run(["docker", "network", "ls", "-q", "--filter",
                   f"label=com.docker.compose.project={self.project}", "--format",
                   "{{.Name}}"], check=False)
        names = res.stdout.split()
        if not names:
            raise RuntimeError("the testnet's network does not exist")
        return names[0]

    def ip(self, i: int) -> str:
        nets = self.networks(i)
        if not nets:
            raise RuntimeError(f"node{i} is on no network")
        return next(iter(nets.values()))["IPAddress"]

    # -- lifecycle
    def write_configs(self, payload_size: int = 0, max_payload_size: int = 1_000_000,
                      view_timeout_ms: int = 2000) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        owner = self.UID if os.geteuid() == 0 else None
        gen_configs(
            os.path.join(self.bin_dir, "localnet_config"), self.state / "configs", self.n,
            self.validators,
            listen=["0.0.0.0:3054"] * self.n,
            public=[f"node{i}:3054" for i in range(self.n)],
            rpc=["0.0.0.0:3055"] * self.n, metrics=["0.0.0.0:3056"] * self.n,
            payload_size=payload_size, max_payload_size=max_payload_size,
            view_timeout_ms=view_timeout_ms, owner=owner)
        if owner is None:
            # Without root the files cannot be given to the container's user: let it read
            # them (a throwaway testnet's keys).
            for p in (self.state / "configs").glob("node*/config.json"):
                os.chmod(p, 0o644)
                os.chmod(p.parent, 0o755)
            log("warning: not root: configs made world-readable for the container user")
        (self.state / "testnet.json").write_text(json.dumps({
            "mode": "docker", "project": self.project, "n": self.n,
            "validators": self.validators, "payload_size": payload_size,
            "port_prefix": self.port_prefix}))

    def up(self, payload_size: int = 0, max_payload_size: int = 1_000_000,
           view_timeout_ms: int = 2000) -> None:
        self.write_configs(payload_size, max_payload_size, view_timeout_ms)
        self.compose("up", "-d", "--remove-orphans", "--force-recreate")

    def down(self) -> None:
        self.heal()
        self.compose("down", "-v", "--remove-orphans", "-t", "10", check=False)
        if self.state.exists():
            shutil.rmtree(self.state, ignore_errors=True)

    def stop_all(self) -> None:
        self.compose("stop", "-t", "10")

    def start(self, i: int) -> None:
        run(["docker", "start", self.container(i)])

    def stop(self, i: int) -> None:
        run(["docker", "stop", "-t", "10", self.container(i)])

    def kill(self, i: int) -> None:
        run(["docker", "kill", "-s", "KILL", self.container(i)])
        run(["docker", "wait", self.container(i)], check=False)

    def wipe(self, i: int) -> None:
        """Stops node i, deletes its container and database volume, and starts it afresh."""
        run(["docker", "rm", "-f", self.container(i)])
        vols = run(["docker", "volume", "ls", "-q", "--filter",
                    f"label=com.docker.compose.project={self.project}", "--filter",
                    f"label=com.docker.compose.volume=db{i}"]).stdout.split()
        for v in vols:
            run(["docker", "volume", "rm", v])
        self.compose("up", "-d", "--no-deps", f"node{i}")

    def running(self, i: int) -> bool:
        return self.inspect(i, "{{.State.Running}}") == "true"

    def health(self, i: int) -> str:
        return self.inspect(
            i, "{{.State.Status}}{{if .State.Health}}/{{.State.Health.Status}}{{end}}") or "absent"

    def _exec_tool(self, i: int, *args: str) -> Optional[str]:
        res = run(["docker", "exec", self.container(i), "/usr/local/bin/healthcheck",
                   "--addr", "127.0.0.1:3055", *args], check=False, timeout=10)
        return res.stdout if res.returncode == 0 else None

    def rpc(self, i: int, method: str) -> Optional[dict]:
        try:
            return json.loads(http_get(self.rpc_addr(i), f"/{method}"))
        except (OSError, ValueError, urllib.error.URLError):
            pass
        if i in self.isolated and self.running(i):
            # Off the network its published ports are gone: ask from inside.
            out = self._exec_tool(i, "--call", method)
            if out:
                try:
                    return json.loads(out)
                except ValueError:
                    return None
        return None

    def metrics(self, i: int) -> Optional[str]:
        try:
            return http_get(self.metrics_addr(i), "/metrics")
        except (OSError, urllib.error.URLError):
            return None

    def logs(self, i: int, lines: int = 30) -> str:
        res = run(["docker", "logs", "--tail", str(lines), self.container(i)], check=False)
        return res.stdout + res.stderr

    # -- network faults
    def isolate(self, i: int) -> None:
        """Disconnects node i from the testnet's network (`docker network disconnect`)."""
        net = self.network_name()
        ip = self.ip(i)
        run(["docker", "network", "disconnect", net, self.container(i)])
        self.isolated[i] = (net, ip)

    def reconnect(self, i: int) -> None:
        """Reconnects node i with its former address and name."""
        net, ip = self.isolated.pop(i)
        run(["docker", "network", "connect", "--ip", ip, "--alias", f"node{i}", net,
             self.container(i)])

    def can_isolate(self) -> Optional[str]:
        return None  # docker network disconnect

    def can_partition(self) -> Optional[str]:
        if os.geteuid() != 0 or not shutil.which("nsenter") or not shutil.which("ip"):
            return "needs root on the Docker host (nsenter and ip)"
        pid = self.inspect(0, "{{.State.Pid}}")
        if not pid or not Path(f"/proc/{pid}/ns/net").exists():
            return "needs the Docker engine on this host (container namespaces not visible)"
        return None

    def _routes(self, i: int, op: str, ips: List[str]) -> None:
        """Adds or deletes blackhole routes to `ips` in node i's network namespace, in one
        `ip -batch` (so that a partition is set up within milliseconds, not one `nsenter` per
        route)."""
        pid = self.inspect(i, "{{.State.Pid}}")
        if not pid or pid == "0" or not ips:
            return
        script = "".join(f"route {op} blackhole {ip}/32\n" for ip in ips)
        res = subprocess.run(["nsenter", "-t", pid, "-n", "ip", "-force", "-batch", "-"],
                             input=script, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=30)
        if op == "add" and res.returncode != 0:
            raise RuntimeError(f"blackhole routes in node{i}: {res.stderr.strip()}")

    def partition(self, a: Iterable[int], b: Iterable[int]) -> None:
        """Cuts every link between groups a and b: in each container's network namespace, a
        blackhole route to every address of the other group (both directions)."""
        reason = self.can_partition()
        if reason:
            raise Unsupported(reason)
        a, b = list(a), list(b)
        ips = {i: self.ip(i) for i in a + b}
        for x, ys in [(x, b) for x in a] + [(y, a) for y in b]:
            self._routes(x, "add", [ips[y] for y in ys])
            self.blackholes += [(x, ips[y]) for y in ys]

    def heal(self) -> None:
        by_node: Dict[int, List[str]] = {}
        for x, ip in self.blackholes:
            by_node.setdefault(x, []).append(ip)
        for x, ips in by_node.items():
            self._routes(x, "del", ips)
        self.blackholes = []
        for i in list(self.isolated):
            self.reconnect(i)

    def dbcheck(self) -> dict:
        """Runs `dbcheck` in a throwaway container over every database volume (the nodes must
        be stopped)."""
        vols = {}
        res = run(["docker", "volume", "ls", "-q", "--filter",
                   f"label=com.docker.compose.project={self.project}"])
        for v in res.stdout.split():
            lab = run(["docker", "volume", "inspect", "-f",
                       '{{index .Labels "com.docker.compose.volume"}}', v]).stdout.strip()
            if lab.startswith("db"):
                vols[int(lab[2:])] = v
        cmd = ["docker", "run", "--rm", "--network", "none", "--user", f"{self.UID}:{self.UID}",
               "-v", f"{self.state}/configs/node0:/config:ro"]
        names = []
        for i in sorted(vols):
            cmd += ["-v", f"{vols[i]}:/db/node{i}"]
            names.append(f"node{i}=/db/node{i}")
        cmd += ["--entrypoint", "/usr/local/bin/dbcheck", self.image,
                "--config", "/config/config.json", "--json", *names]
        return _parse_dbcheck(run(cmd, check=False, timeout=300))


class ProcessBackend(Backend):
    """The `node` binary as processes. With `net="netns"` each node runs in its own network
    namespace (`zkc<tag>-n<i>`) with one veth on a bridge in namespace `zkc<tag>-br`, at
    10.77.0.(10+i): partitions are blackhole routes, isolation takes the node's link down.
    With `net="loopback"` the nodes listen on free 127.0.0.1 ports and partitions are not
    available. Configs, databases and logs go to `workdir`."""

    name = "process"

    def __init__(self, bin_dir: str, workdir: Path, net: str = "auto", n: int = 8,
                 validators: int = 6):
        self.bin_dir = bin_dir
        self.workdir = Path(workdir).resolve()
        self.n = n
        self.validators = validators
        if net == "auto":
            net = "netns" if netns_available() else "loopback"
        self.net = net
        self.name = f"process/{net}"
        self.tag = "%04x" % random.randrange(1 << 16)
        self.procs: Dict[int, subprocess.Popen] = {}
        self.blackholes: List[tuple] = []
        self.isolated: set = set()
        self.namespaces: List[str] = []
        self.rpc_addrs: List[str] = []
        self.metric_addrs: List[str] = []

    def ns(self, i: int) -> str:
        return f"zkc{self.tag}-n{i}"

    def ip(self, i: int) -> str:
        return f"10.77.0.{10 + i}"

    def _setup_netns(self) -> None:
        br = f"zkc{self.tag}-br"
        run(["ip", "netns", "add", br])
        self.namespaces.append(br)
        run(["ip", "-n", br, "link", "set", "lo", "up"])
        run(["ip", "-n", br, "link", "add", "br0", "type", "bridge"])
        run(["ip", "-n", br, "link", "set", "br0", "up"])
        for i in range(self.n):
            ns = self.ns(i)
            run(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            run(["ip", "link", "add", f"zkc{self.tag}v{i}", "netns", br, "type", "veth", "peer",
                 "name", "eth0", "netns", ns])
            run(["ip", "-n", br, "link", "set", f"zkc{self.tag}v{i}", "master", "br0", "up"])
            run(["ip", "-n", ns, "addr", "add", f"{self.ip(i)}/24", "dev", "eth0"])
            run(["ip", "-n", ns, "link", "set", "eth0", "up"])
            run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def up(self, payload_size: int = 0, max_payload_size: int = 1_000_000,
           view_timeout_ms: int = 2000) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.net == "netns":
            self._setup_netns()
            listen = [f"{self.ip(i)}:3054" for i in range(self.n)]
            public = listen
            rpc = ["127.0.0.1:3055"] * self.n
            met = ["127.0.0.1:3056"] * self.n
        else:
            listen = [f"127.0.0.1:{free_port()}" for _ in range(self.n)]
            public = listen
            rpc = [f"127.0.0.1:{free_port()}" for _ in range(self.n)]
            met = [f"127.0.0.1:{free_port()}" for _ in range(self.n)]
        self.rpc_addrs, self.metric_addrs = rpc, met
        gen_configs(os.path.join(self.bin_dir, "localnet_config"), self.workdir / "configs",
                    self.n, self.validators, listen=listen, public=public, rpc=rpc,
                    metrics=met, payload_size=payload_size,
                    max_payload_size=max_payload_size, view_timeout_ms=view_timeout_ms)
        for i in range(self.n):
            self.start(i)

    def _wrap(self, i: int, cmd: List[str]) -> List[str]:
        return (["ip", "netns", "exec", self.ns(i)] + cmd) if self.net == "netns" else cmd

    def start(self, i: int) -> None:
        if i in self.procs and self.procs[i].poll() is None:
            return
        cfg = self.workdir / "configs" / f"node{i}" / "config.json"
        db = self.workdir / "db" / f"node{i}"
        db.parent.mkdir(parents=True, exist_ok=True)
        logf = open(self.workdir / f"node{i}.log", "ab")
        env = dict(os.environ, RUST_LOG=os.environ.get("ZKC_RUST_LOG", "info"), NO_COLOR="1")
        self.procs[i] = subprocess.Popen(
            self._wrap(i, [os.path.join(self.bin_dir, "node"), "--config", str(cfg),
                           "--database", str(db)]),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=logf, env=env,
            start_new_session=True)
        logf.close()

    def _signal(self, i: int, sig: int, wait: float) -> None:
        p = self.procs.get(i)
        if p is None or p.poll() is not None:
            return
        p.send_signal(sig)
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop(self, i: int) -> None:
        self._signal(i, signal.SIGTERM, 10)

    def kill(self, i: int) -> None:
        self._signal(i, signal.SIGKILL, 10)

    def wipe(self, i: int) -> None:
        self.stop(i)
        shutil.rmtree(self.workdir / "db" / f"node{i}", ignore_errors=True)
        self.start(i)

    def running(self, i: int) -> bool:
        return i in self.procs and self.procs[i].poll() is None

    def stop_all(self) -> None:
        for i in list(self.procs):
            p = self.procs[i]
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for i in list(self.procs):
            self._signal(i, signal.SIGTERM, 10)

    def down(self) -> None:
        for i in list(self.procs):
            self._signal(i, signal.SIGKILL, 10)
        self.procs = {}
        self.blackholes, self.isolated = [], set()
        for ns in self.namespaces:
            run(["ip", "netns", "del", ns], check=False)
        self.namespaces = []
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _tool(self, i: int, *args: str) -> Optional[str]:
        cmd = self._wrap(i, [os.path.join(self.bin_dir, "healthcheck"), "--addr",
                             self.rpc_addrs[i], *args])
        res = run(cmd, check=False, timeout=10)
        return res.stdout if res.returncode == 0 else None

    def rpc(self, i: int, method: str) -> Optional[dict]:
        if not self.running(i):
            return None
        try:
            if self.net == "netns":
                out = self._tool(i, "--call", method)
                return json.loads(out) if out else None
            return json.loads(http_get(self.rpc_addrs[i], f"/{method}"))
        except (OSError, ValueError, urllib.error.URLError):
            return None

    def metrics(self, i: int) -> Optional[str]:
        if self.net == "netns":
            cmd = self._wrap(i, [os.path.join(self.bin_dir, "healthcheck"), "--addr",
                                 self.metric_addrs[i], "--get", "/metrics"])
            res = run(cmd, check=False, timeout=10)
            return res.stdout if res.returncode == 0 else None
        try:
            return http_get(self.metric_addrs[i], "/metrics")
        except (OSError, urllib.error.URLError):
            return None

    def logs(self, i: int, lines: int = 30) -> str:
        try:
            return "".join((self.workdir / f"node{i}.log").read_text(
                errors="replace").splitlines(True)[-lines:])
        except OSError:
            return ""

    def can_partition(self) -> Optional[str]:
        if self.net != "netns":
            if netns_available():
                return "loopback mode (--net loopback); partitions need --net netns"
            return "needs root (network namespaces)"
        return None

    def isolate(self, i: int) -> None:
        if self.can_partition():
            raise Unsupported(self.can_partition())
        run(["ip", "-n", self.ns(i), "link", "set", "eth0", "down"])
        self.isolated.add(i)

    def reconnect(self, i: int) -> None:
        run(["ip", "-n", self.ns(i), "link", "set", "eth0", "up"])
        self.isolated.discard(i)

    def partition(self, a: Iterable[int], b: Iterable[int]) -> None:
        if self.can_partition():
            raise Unsupported(self.can_partition())
        a, b = list(a), list(b)
        for x, ys in [(x, b) for x in a] + [(y, a) for y in b]:
            for y in ys:
                run(["ip", "-n", self.ns(x), "route", "add", "blackhole", f"{self.ip(y)}/32"])
                self.blackholes.append((x, y))

    def heal(self) -> None:
        for x, y in self.blackholes:
            run(["ip", "-n", self.ns(x), "route", "del", "blackhole", f"{self.ip(y)}/32"],
                check=False)
        self.blackholes = []
        for i in list(self.isolated):
            self.reconnect(i)

    def dbcheck(self) -> dict:
        names = [f"node{i}={self.workdir / 'db' / f'node{i}'}" for i in range(self.n)
                 if (self.workdir / "db" / f"node{i}").exists()]
        res = run([os.path.join(self.bin_dir, "dbcheck"), "--config",
                   str(self.workdir / "configs" / "node0" / "config.json"), "--json", *names],
                  check=False, timeout=300)
        return _parse_dbcheck(res)


def netns_available() -> bool:
    """Whether this process can create network namespaces (root and iproute2)."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    name = f"zkcprobe{os.getpid()}"
    ok = run(["ip", "netns", "add", name], check=False).returncode == 0
    if ok:
        run(["ip", "netns", "del", name], check=False)
    return ok
