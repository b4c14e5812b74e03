"""Bench the SSH push against the simulated host, through the real pulumi engine.

Prints: SSH connections per up (counted from sshd's "Accepted publickey" journal lines),
wall time of a no-change preview and up, time to apply one changed container, and the
raw read/apply times without the engine. Boots a clean sim host (scripts/sim-host up).

    uv run python bench/bench_push.py [--previews N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from homelab import push
from tests.e2e.push_program.spec import build_fileset
from tests.e2e.simhost import SECRET, Pulumi, SimHost, spec, start_simhost


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def connections(host: SimHost, fn: Callable[[], Any]) -> tuple[int, float]:
    before = host.accepted_logins()
    dt = timed(fn)
    return host.accepted_logins() - before - 1, dt  # -1: the counting connection itself


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--previews", type=int, default=5)
    args = ap.parse_args()
    host = start_simhost()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        pl = Pulumi(Path(tmp))
        pl.configure(host.connection(), spec())
        n, dt = connections(host, pl.up)
        print(f"first up (2 containers, 5 files):      {dt:6.2f} s  ssh connections: {n}")
        prev = [timed(lambda: pl.preview("--expect-no-changes")) for _ in range(args.previews)]
        print(
            f"no-change preview (n={args.previews}):              "
            f"{statistics.median(prev):6.2f} s median (min {min(prev):.2f})"
        )
        n, dt = connections(host, pl.up)
        print(f"no-change up:                          {dt:6.2f} s  ssh connections: {n}")
        pl.run("config", "set", "pushtest:spec", __import__("json").dumps(spec(rev1="2")))
        inv = host.unit("web1.service")["InvocationID"]
        n, dt = connections(host, pl.up)
        assert host.unit("web1.service")["InvocationID"] != inv
        print(f"up with one changed container:         {dt:6.2f} s  ssh connections: {n}")
        n, dt = connections(host, lambda: pl.run("up", "--yes"))
        print(f"no-change up with its preview:         {dt:6.2f} s  ssh connections: {n}")

    # The same work without the engine: what the host side costs.
    conn = push.Connection.from_dict(host.connection())
    fs = build_fileset(spec(rev1="3"))
    m, c = push.build_manifest(fs), push.plain_contents(fs)
    s = push.secret_contents(fs, {"webPassword": SECRET})
    reads = [timed(lambda: push.read_live(conn, m)) for _ in range(5)]
    print(
        f"read_live (one ssh, {len(m['files'])} files):           {statistics.median(reads):6.2f} s"
    )
    dt = timed(lambda: push.apply(conn, m, c, s, 30, 2))
    print(f"apply one changed container (settle 2 s): {dt:6.2f} s")


if __name__ == "__main__":
    main()
