"""What refusing hostile input costs: wall time and peak memory of
`python -m homelab build mouse` on a project copy with one hostile file, beside the floor
(the same command refused at its first check, a bad stack name), median of N runs each.

With --against REV, the same inputs also run against the code of an older commit
(extracted with `git archive`), side by side: what the edge checks saved.
Usage: uv run python bench/bench_hostile.py [--runs 3] [--against 8237ae5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere
from tests.e2e.pulumi_cli import project_copy, tools_env  # noqa: E402

UNIT = "containers/rustfs.container"
STACK = "Pulumi.mouse.yaml"


def _append(rel: str, text: str) -> Callable[[Path], None]:
    def edit(p: Path) -> None:
        with (p / rel).open("a") as fh:
            fh.write(text)

    return edit


def _laughs(p: Path) -> None:
    lines = "".join(
        f"        L{i}: &l{i} [{', '.join(['lol'] * 9 if i == 0 else [f'*l{i - 1}'] * 9)}]\n"
        for i in range(9)
    )
    sf = p / STACK
    sf.write_text(
        sf.read_text().replace(
            "    netdata:\n", f"    lol:\n      environment:\n{lines}    netdata:\n"
        )
    )


INPUTS: dict[str, Callable[[Path], None]] = {
    "60 MB comment in a unit file": _append(UNIT, ("# " + "x" * 1_000_000 + "\n") * 60),
    "20 MB Environment= value": _append(UNIT, "[Container]\nEnvironment=J=" + "x" * (20 << 20)),
    "2 MB comment in the stack file": _append(STACK, ("# " + "x" * 1_000_000 + "\n") * 2),
    "billion laughs (9 levels)": _laughs,
    "100000 nested [ in the stack": _append(STACK, "  homelab:deep: " + "[" * 100_000 + "\n"),
}


def run(code: Path, project: Path, out: Path, stack: str = "mouse") -> tuple[float, int, int]:
    """(seconds, peak RSS in MiB, exit status) of one build."""
    env = {**tools_env(), "PYTHONPATH": str(code)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "homelab", "build", stack, "--out", str(out), "--project",
         str(project)],
        cwd=code,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss // 1024, os.waitstatus_to_exitcode(status)


def measure(code: Path, project: Path, runs: int, stack: str = "mouse") -> tuple[float, int, int]:
    got = [run(code, project, project.parent / "out", stack) for _ in range(runs)]
    return statistics.median(g[0] for g in got), max(g[1] for g in got), got[-1][2]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--against", help="an older commit to run side by side")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        codes = {"now": REPO}
        if args.against:
            old = root / "old"
            old.mkdir()
            archive = subprocess.run(
                ["git", "archive", args.against], cwd=REPO, capture_output=True, check=True
            )
            subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
            codes[args.against] = old
        clean = project_copy(root / "clean")
        floor = measure(REPO, clean, args.runs, stack="no/such/stack")
        print(f"floor (refused at the stack name): {floor[0]:.3f} s, {floor[1]} MiB")
        for name, edit in INPUTS.items():
            project = root / "case"
            shutil.rmtree(project, ignore_errors=True)
            shutil.copytree(clean, project, symlinks=True)
            edit(project)
            cells = []
            for label, code in codes.items():
                t, rss, rc = measure(code, project, args.runs)
                cells.append(f"{label}: {t:6.3f} s {rss:5d} MiB exit {rc} ({t / floor[0]:.1f}x)")
            print(f"{name:34s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
