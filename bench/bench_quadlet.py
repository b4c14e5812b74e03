"""Parse, lint and render podman's whole Quadlet corpus; prints the figures.

Run: uv run python bench/bench_quadlet.py [CORPUS_DIR]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

from homelab.quadlet import QuadletError, lint_unit, parse_unit
from homelab.quadlet.keys import KIND_GROUP

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "peer" / "podman-quadlet"


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    files = sorted(p for p in corpus.iterdir() if p.is_file() and p.suffix in KIND_GROUP)
    texts = [(p.name, p.read_text()) for p in files]
    size = sum(len(t) for _, t in texts)
    rounds = 20
    best = {"parse": 1e9, "parse+lint": 1e9, "parse+render": 1e9}
    for _ in range(rounds):
        t0 = time.perf_counter()
        units = []
        for name, text in texts:
            with contextlib.suppress(QuadletError):
                units.append(parse_unit(text, name))
        t1 = time.perf_counter()
        for u in units:
            lint_unit(u)
        t2 = time.perf_counter()
        for u in units:
            u.render()
        t3 = time.perf_counter()
        best["parse"] = min(best["parse"], t1 - t0)
        best["parse+lint"] = min(best["parse+lint"], t2 - t0)
        best["parse+render"] = min(best["parse+render"], (t1 - t0) + (t3 - t2))
    print(f"corpus: {len(texts)} unit files, {size / 1024:.0f} KiB ({corpus})")
    for what, secs in best.items():
        print(
            f"{what:13s} all files: {secs * 1000:7.1f} ms  ({secs / len(texts) * 1e6:6.0f} us/file)"
            f"  best of {rounds}"
        )


if __name__ == "__main__":
    main()
