"""Bench first boot from Ignition on the stand-in host (scripts/sim-host firstboot).

For each stack's Ignition (from `build` of the real stacks, as in tests/e2e/test_firstboot.py)
it boots a clean first-boot image N times and prints, as medians: Ignition's two stages, the
stand-in image seeding, boot to sshd, and the figure asked for: from Ignition's start to all
services active (vm-test: all five; mouse: every service that can start without its secrets,
i.e. netdata; rustfs waits for `pulumi up`). Side by side: `scripts/sim-host up` of the
already-provisioned sim root (no Ignition, no services), whole command to sshd, as the floor
(both include copying the root fs).

Runs in the first-boot host's own network namespace, so the default sim host may be up.

    flock /tmp/homelab-simhost.lock uv run python bench/bench_firstboot.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.firstboot import STATE, FirstBootHost, Project, make_project

SECRETS = {k: f"bench-{k}" for k in ("rustfsAccessKey", "rustfsSecretKey", "tailscaleAuthKey")}


def times() -> dict[str, float]:
    text = (STATE / "firstboot.times").read_text()
    return {k: float(v) for k, v in (line.split("=") for line in text.split())}


def all_active(host: FirstBootHost, units: list[str], timeout: float = 120) -> float:
    """Epoch time at which every unit was first seen active (polled over SSH)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(s == "active" for s in host.states(units).values()):
            return time.time()
        time.sleep(0.1)
    raise SystemExit(f"not all active within {timeout} s: {host.states(units)}")


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):6.2f} s (min {min(xs):.2f}, max {max(xs):.2f})"


def bench_stack(host: FirstBootHost, proj: Project, stack: str, runs: int) -> list[float]:
    plan = proj.plan(stack)
    ign = proj.build(stack)
    pool = proj.previous_pool(plan, {}) if stack == "e2e-mouse" else None
    units = [c.service for c in plan.containers if stack == "e2e-vm" or not c.secrets]
    rows: dict[str, list[float]] = {}
    for _ in range(runs):
        host.down()  # not timed: powering off the previous host
        t_cmd = time.time()
        host.boot(ign, pool)
        t = times()
        done = all_active(host, units)
        for name, value in (
            ("ignition (fetch-offline + files)", t["ignition_end"] - t["ignition_start"]),
            ("stand-in images", t["images_end"] - t["ignition_end"]),
            ("boot to sshd", t["sshd_up"] - t["images_end"]),
            ("Ignition start -> services active", done - t["ignition_start"]),
            ("whole command -> services active", done - t_cmd),
        ):
            rows.setdefault(name, []).append(value)
    print(f"{stack}: {len(units)} services ({', '.join(units)}), n={runs}")
    for name, xs in rows.items():
        print(f"  {name:36s} {med(xs)}")
    return rows["whole command -> services active"]


def bench_floor(host: FirstBootHost, runs: int) -> list[float]:
    floor = []
    for _ in range(runs):
        host.down()
        t0 = time.time()
        p = host.script("up", timeout=300)
        if p.returncode != 0:
            raise SystemExit(p.stderr)
        floor.append(time.time() - t0)
    print(f"floor: whole `sim-host up` (provisioned root, no Ignition) to sshd: {med(floor)}")
    return floor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    host = FirstBootHost()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-firstboot-") as tmp:
            proj = make_project(Path(tmp), host, SECRETS)
            totals = {s: bench_stack(host, proj, s, args.runs) for s in ("e2e-vm", "e2e-mouse")}
            floor = statistics.median(bench_floor(host, args.runs))
            for stack, xs in totals.items():
                ratio = statistics.median(xs) / floor
                print(f"  {stack}: whole firstboot to services active / floor: {ratio:.2f}x")
    finally:
        host.down()


if __name__ == "__main__":
    main()
