"""Toolchain figures: warm `scripts/install-tools`, and `pulumi preview` of the tiny program
against a floor (`pulumi version`), medians of N runs measured side by side.

Usage: uv run python bench/bench_toolchain.py [--runs 5] [--cold] [--cold-pieces]
--cold-pieces times the build of the language host and both provider plugins from
../shared/third_party with an empty Go cache (about 3-5 minutes on 2 cores).
--cold also times one install from an empty cache into a scratch copy (about 10 minutes on
2 cores; needs the Go module proxy and Debian's mirror).
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.e2e.pulumi_cli import new_stack, program_copy, tools_env  # noqa: E402


def timed(cmd: list[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, **kw)
    return time.perf_counter() - t0


def cold_install() -> float:
    """install-tools in a scratch copy (only what it reads) with an empty cache."""
    with tempfile.TemporaryDirectory() as d:
        clone = Path(d) / "clone"
        (clone / "scripts").mkdir(parents=True)
        shutil.copy(REPO / "scripts" / "install-tools", clone / "scripts")
        for f in ("pyproject.toml", "uv.lock"):
            shutil.copy(REPO / f, clone)
        env = {**os.environ, "HOMELAB_CACHE": str(Path(d) / "cache")}
        return timed([str(clone / "scripts" / "install-tools")], env=env)


def cold_pieces() -> float:
    """The three pieces built from ../shared/third_party (language host, command and libvirt
    plugins) with an empty Go module and build cache; the CLI they register with is reused."""
    with tempfile.TemporaryDirectory() as d:
        clone = Path(d) / "clone"
        (clone / "scripts").mkdir(parents=True)
        (clone / ".tools" / "bin").mkdir(parents=True)
        shutil.copy(REPO / "scripts" / "install-tools", clone / "scripts")
        shutil.copy(REPO / ".tools" / "bin" / "pulumi", clone / ".tools" / "bin")
        for f in ("pyproject.toml", "uv.lock"):
            shutil.copy(REPO / f, clone)
        env = {
            **os.environ,
            "HOMELAB_CACHE": str(Path(d) / "cache"),
            "HOMELAB_THIRD_PARTY": str(REPO.parent / "shared" / "third_party"),
        }
        return timed([str(clone / "scripts" / "install-tools"), "plugins"], env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--cold-pieces", action="store_true")
    args = ap.parse_args()
    n = args.runs
    if args.cold_pieces:
        secs = cold_pieces()
        print(f"language host + command + libvirt plugins, cold (empty cache): {secs:.0f} s")
    if args.cold:
        print(f"install-tools, cold (empty cache): {cold_install():.0f} s")
    warm = [timed([str(REPO / "scripts" / "install-tools")]) for _ in range(n)]
    print(f"install-tools, warm: median {statistics.median(warm):.2f} s ({n} runs)")
    with tempfile.TemporaryDirectory() as d:
        project = program_copy(REPO / "tests" / "e2e" / "tiny_program", Path(d) / "tiny")
        st = new_stack(project, Path(d) / "state", "bench")
        st.run("up", "--yes", "--skip-preview")
        env = tools_env(PULUMI_BACKEND_URL=st.env["PULUMI_BACKEND_URL"])
        floor, preview = [], []
        for _ in range(n):  # interleaved, so machine noise hits both alike
            floor.append(timed(["pulumi", "version"], env=env))
            preview.append(
                timed(
                    ["pulumi", "preview", "--stack", "bench", "--non-interactive"],
                    cwd=project,
                    env=env,
                )
            )
        f, p = statistics.median(floor), statistics.median(preview)
        print(f"pulumi version (floor): median {f:.3f} s")
        print(f"pulumi preview (tiny, 2 resources, dynamic provider): median {p:.3f} s")
        print(f"ratio preview/floor: {p / f:.1f}x")
        st.run("destroy", "--yes", "--skip-preview")


if __name__ == "__main__":
    main()
