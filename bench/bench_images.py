"""An image upgrade of one container with a slow registry: the service's downtime (the gap in
answers on its port) with the pull before the switch (now) and inside the unit's start
(before issue 18), side by side in one run; and the cost of `homelab images lock`.

The registry (scripts/registry) is slowed by a small delaying TCP proxy on loopback (below):
the sim host's mirror points at the proxy, which passes the registry's answers on at
--rate bytes/s, so one stand-in layer (~1 MB) takes several seconds. "Pull inside start" is
the simulation-only marker /etc/homelab-sim/pull-inside-start, which makes images.sh pull
nothing before the switch (podman then pulls when the unit starts, as before).

    flock /tmp/homelab-simhost.lock uv run python bench/bench_images.py [--runs 2] [--rate 150000]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from tests.e2e.mouse_stack import MouseStack, new_mouse_stack, stand_ins
from tests.e2e.registry import MIRROR, SlowProxy, ensure_registry, push
from tests.e2e.simhost import SimHost, start_simhost, stop_simhost

REPO = Path(__file__).resolve().parents[1]
NAME = "netdata"
SI = next(si for si in stand_ins() if si.container == NAME)
BASE = SI.image.rsplit(":", 1)[0]


def downtime(port: int, action) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(longest gap between two answers on `port` while `action()` runs, action's seconds)."""
    stop = threading.Event()
    answers: list[float] = []

    def poll() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5):
                    answers.append(time.monotonic())
            except OSError:
                pass
            time.sleep(0.02)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    action()
    took = time.monotonic() - t0
    deadline = time.monotonic() + 60
    n = len(answers)
    while len(answers) == n and time.monotonic() < deadline:  # until it answers again
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    t.join()
    gaps = [b - a for a, b in itertools.pairwise(answers)]
    return max(gaps, default=float("nan")), took


def homelab(ms: MouseStack, *args: str) -> None:
    subprocess.run(
        [str(REPO / ".venv" / "bin" / "homelab"), *args],
        cwd=ms.project,
        env=ms.stack.env,
        check=True,
        capture_output=True,
    )


def upgrade(ms: MouseStack, tag: str, inside_start: bool) -> tuple[float, float]:
    host = ms.host
    cmd = SI.command().replace("sh -c '", f"sh -c 'echo {tag} >/www/index.html; ", 1)
    push(cmd, f"{BASE}:{tag}")
    homelab(ms, "images", "update", NAME, "--to", tag, "--mirror", MIRROR)
    marker = "/etc/homelab-sim/pull-inside-start"
    host.sh(f"mkdir -p /etc/homelab-sim; {'touch' if inside_start else 'rm -f'} {marker}")
    try:
        return downtime(SI.tcp_ports[0], ms.stack.up)
    finally:
        host.sh(f"rm -f {marker}")


def lock_cost(ms: MouseStack, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        homelab(ms, "images", "lock", "--mirror", MIRROR)
        times.append(time.monotonic() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--rate", type=int, default=150_000, help="registry bytes/s via the proxy")
    args = ap.parse_args()
    ensure_registry()
    host: SimHost = start_simhost()
    proxy = SlowProxy(args.rate)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-images-") as d:
            ms = new_mouse_stack(host, Path(d) / "mouse")
            ms.stack.up()
            proxy.point_host_at_it(host)
            res: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
            for i in range(args.runs):
                # Interleaved, each on a fresh tag: both pay the same slow pull.
                res["before"].append(upgrade(ms, f"v3.0.{2 * i}", inside_start=True))
                res["after"].append(upgrade(ms, f"v3.0.{2 * i + 1}", inside_start=False))
            print(
                f"image upgrade of {NAME}, registry at {args.rate // 1000} kB/s, {args.runs} runs"
            )
            print(f"{'':28} {'downtime s':>10} {'up s':>8}")
            med = {}
            for k, label in (
                ("before", "pull inside start (before)"),
                ("after", "pull before switch"),
            ):
                gap = statistics.median(g for g, _ in res[k])
                took = statistics.median(t for _, t in res[k])
                med[k] = gap
                print(f"{label:28} {gap:10.2f} {took:8.2f}")
            print(f"downtime before / after = {med['before'] / med['after']:.1f}x")
            proxy.point_host_at_it(host, on=False)
            n = len({si.image for si in stand_ins()})
            print(f"`homelab images lock` ({n} images, local registry): {lock_cost(ms, 3):.2f} s")
    finally:
        proxy.close()
        stop_simhost()


if __name__ == "__main__":
    main()
