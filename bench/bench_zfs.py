"""Bench what homelab's snapshots cost, on the simulated host's real pool (zfs-fuse).

1. `pulumi up -s mouse` with one changed container (rustfs: a new environment value, so it
   restarts), N times each way, interleaved so machine noise hits both alike:
     with     rustfs has its dataset (`dataset:`): the push snapshots it before the restart
     without  the same stack without `dataset`: no Z row, no snapshot
   and prints both medians and their difference and ratio.
2. On a 1 GB dataset (random data): `zfs snapshot`, then after rewriting 100 MB of it,
   `zfs rollback` to that snapshot; N times, medians.

zfs-fuse is a userland ZFS through FUSE: these figures bound nothing on uCore's kernel
module (README: "The data story").

    source scripts/env.sh
    flock /tmp/homelab-simhost.lock uv run python bench/bench_zfs.py [--runs 5]
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

from tests.e2e.mouse_stack import build_stand_ins, new_mouse_stack  # noqa: E402
from tests.e2e.simhost import SimHost, start_simhost, stop_simhost  # noqa: E402


def timed(host: SimHost, cmd: str) -> float:
    """Seconds `cmd` takes on the host, measured there (no SSH in the figure)."""
    out = host.sh(f"a=$(date +%s.%N); {cmd} >/dev/null; b=$(date +%s.%N); echo $a $b")
    a, b = map(float, out.split())
    return b - a


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    host = start_simhost()
    try:
        build_stand_ins()
        with tempfile.TemporaryDirectory() as tmp:
            ms = new_mouse_stack(host, Path(tmp))
            ms.stack.up()
            times: dict[str, list[float]] = {"with": [], "without": []}
            for i in range(args.runs * 2):
                way = "with" if i % 2 == 0 else "without"
                if way == "with":
                    ms.stack.set("homelab:containers.rustfs.dataset.compression", "on")
                else:
                    ms.stack.rm("homelab:containers.rustfs.dataset")
                ms.stack.set("homelab:containers.rustfs.environment.BENCH", f"r{i}")
                t0 = time.monotonic()
                ms.stack.up()
                times[way].append(time.monotonic() - t0)
            w, wo = statistics.median(times["with"]), statistics.median(times["without"])
            print(f"up, one changed container ({args.runs} runs each, median):")
            print(f"  with its snapshot     {w:6.2f} s")
            print(f"  without (no dataset)  {wo:6.2f} s")
            print(f"  snapshots add         {w - wo:6.2f} s  (ratio {w / wo:.3f})")

        host.sh(
            "zfs create -o mountpoint=/var/tank/bench tank/bench && "
            "dd if=/dev/urandom of=/var/tank/bench/data bs=1M count=1024 status=none && sync"
        )
        snap, back = [], []
        for i in range(args.runs):
            snap.append(timed(host, f"zfs snapshot tank/bench@b{i}"))
            host.sh(
                "dd if=/dev/urandom of=/var/tank/bench/data bs=1M count=100 conv=notrunc "
                "status=none && sync"
            )
            back.append(timed(host, f"zfs rollback tank/bench@b{i}"))
        used = host.sh("zfs get -H -o value referenced tank/bench").strip()
        print(f"1 GB dataset (referenced {used}), {args.runs} runs, median:")
        print(f"  zfs snapshot                          {statistics.median(snap):6.3f} s")
        print(f"  zfs rollback after 100 MB rewritten   {statistics.median(back):6.3f} s")
    finally:
        stop_simhost()


if __name__ == "__main__":
    main()
