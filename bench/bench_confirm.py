"""Bench what confirm-or-revert adds to a `pulumi up -s mouse`, side by side with it off.

A mouse-shaped stack (tests/e2e/mouse_stack.py) on the simulated host. Each round makes a
real change (netdata's memory limit: one unit restarts, the gate judges it) and runs
`pulumi up --yes` with `homelab:push.confirm` true, then false, interleaved N times so
machine noise hits both alike. Printed: the medians, their difference, and the confirmation
alone (homelab.push.confirm_generation after a direct push.apply: one new SSH connection
and the host's revert.sh confirm).

    source scripts/env.sh
    flock /tmp/homelab-simhost.lock uv run python bench/bench_confirm.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from homelab import push  # noqa: E402
from tests.e2e.mouse_stack import build_stand_ins, new_mouse_stack  # noqa: E402
from tests.e2e.simhost import start_simhost, stop_simhost  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    host = start_simhost()
    try:
        build_stand_ins()
        with tempfile.TemporaryDirectory(prefix="bench-confirm-") as tmp:
            ms = new_mouse_stack(host, Path(tmp))
            ms.stack.up()
            times: dict[str, list[float]] = {"on": [], "off": []}
            mib = 1000
            for _ in range(args.runs):
                for mode in ("on", "off"):
                    mib += 10
                    ms.stack.set("homelab:push.confirm", "true" if mode == "on" else "false")
                    ms.stack.set("homelab:containers.netdata.memory_max", f"{mib}M")
                    t0 = time.monotonic()
                    ms.stack.up()
                    times[mode].append(time.monotonic() - t0)
            # The confirmation alone: apply a change directly, then confirm it.
            conn = push.Connection(**host.connection())
            fs = ms.plan().fileset
            desired = push.Desired.of(fs)
            alone = []
            for i in range(args.runs):
                ms.stack.set("homelab:containers.netdata.memory_max", f"{mib + 10 + i}M")
                fs = ms.plan().fileset
                desired = push.Desired.of(fs)
                res = push.apply(
                    conn,
                    desired,
                    push.plain_contents(fs),
                    push.secret_contents(fs, ms.secrets),
                    120,
                    5,
                    confirm=60,
                )
                assert res.armed is not None
                t0 = time.monotonic()
                push.confirm_generation(conn, res.armed, res.armed.seconds)
                alone.append(time.monotonic() - t0)
    finally:
        stop_simhost()
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"runs per mode: {args.runs} (a one-unit change each)")
    print(f"pulumi up, confirm on : {on:6.2f} s  {[round(x, 2) for x in times['on']]}")
    print(f"pulumi up, confirm off: {off:6.2f} s  {[round(x, 2) for x in times['off']]}")
    print(f"confirmation adds     : {on - off:+6.2f} s ({(on - off) / off:+.0%})")
    alone_s = statistics.median(alone)
    print(f"the confirmation alone: {alone_s:6.2f} s (new SSH connection + confirm)")


if __name__ == "__main__":
    main()
