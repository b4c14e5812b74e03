"""`build` time for 5, 50 and 500 containers, and the marginal cost per container.

Runs the real pipeline (parse, lint, plan, podman's quadlet generator, butane --strict,
ignition-validate) on synthetic containers in a temp project, median of N runs each.
Usage: uv run python bench/bench_build.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere
from homelab.cli.build import build

UNIT = """[Unit]
Description=bench {i}
After=network-online.target zfs-import-tank.service
Requires=zfs-import-tank.service

[Container]
Image=docker.io/library/busybox:1.37
ContainerName=c{i}
PublishPort={port}:80
Volume=/var/tank/services/c{i}/data:/data:Z
Environment=INDEX={i}

[Service]
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def project(root: Path, n: int) -> None:
    (root / "containers").mkdir(parents=True)
    for i in range(n):
        (root / "containers" / f"c{i}.container").write_text(UNIT.format(i=i, port=10000 + i))
    cfg = {
        "homelab:host": {"hostname": "bench", "production": True},
        "homelab:containers": {f"c{i}": {} for i in range(n)},
    }
    (root / "Pulumi.bench.yaml").write_text(yaml.safe_dump({"config": cfg}))
    # A production stack runs locked images only; no registry here: a synthetic digest.
    ref = "docker.io/library/busybox:1.37"
    (root / "images.lock").write_text(f"{ref} sha256:{'0' * 64} linux/amd64\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    results: dict[int, float] = {}
    for n in (5, 50, 500):
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            project(root, n)
            times = []
            for r in range(args.runs):
                t0 = time.perf_counter()
                build("bench", root / f"out{r}", root)
                times.append(time.perf_counter() - t0)
            results[n] = statistics.median(times)
            print(f"build {n:4d} containers: median {results[n]:.3f} s over {args.runs} runs")
    per = (results[500] - results[5]) / 495
    print(f"marginal cost per container: {per * 1000:.2f} ms  (500 vs 5)")
    print(f"ratio 500/5: {results[500] / results[5]:.1f}x, 50/5: {results[50] / results[5]:.1f}x")


if __name__ == "__main__":
    main()
