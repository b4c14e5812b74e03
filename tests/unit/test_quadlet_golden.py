"""Golden files: tricky Quadlet inputs and their canonical text, as in podman's own tests.

Each tests/golden/quadlet/NAME.container has NAME.expected beside it. The canonical text must
match byte for byte, be a fixed point of fmt, and make podman's real generator produce the
same systemd unit as the original (so the canonical form never changes what runs).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from homelab.quadlet import parse_unit
from homelab.tools import ToolError, tool

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "quadlet"
CASES = sorted(p.name for p in GOLDEN.glob("*.container"))


def test_there_are_golden_cases():
    assert len(CASES) >= 4
    for c in CASES:
        assert (GOLDEN / c).with_suffix(".expected").is_file(), c


@pytest.mark.parametrize("case", CASES)
def test_canonical_text_matches_golden(case):
    expected = (GOLDEN / case).with_suffix(".expected").read_text()
    assert parse_unit((GOLDEN / case).read_text(), case).render() == expected


@pytest.mark.parametrize("case", CASES)
def test_canonical_text_is_a_fixed_point(case):
    expected = (GOLDEN / case).with_suffix(".expected").read_text()
    assert parse_unit(expected, case).render() == expected


def _generate(tmp: Path, name: str, text: str) -> str:
    try:
        quadlet = tool("quadlet")
    except ToolError as exc:
        pytest.fail(str(exc))
    tmp.mkdir()
    (tmp / name).write_text(text)
    proc = subprocess.run(
        [quadlet, "-dryrun"],
        env={**os.environ, "QUADLET_UNIT_DIRS": str(tmp)},
        capture_output=True,
        text=True,
        check=False,
    )
    noise = [ln for ln in proc.stderr.splitlines() if "Loading source" not in ln]
    assert proc.returncode == 0 and not noise, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    return "\n".join(ln for ln in lines if not ln.startswith("SourcePath=")).replace(
        str(tmp), "DIR"
    )


@pytest.mark.parametrize("case", CASES)
def test_podman_generates_the_same_unit(case, tmp_path):
    original = _generate(tmp_path / "a", case, (GOLDEN / case).read_text())
    canonical = _generate(
        tmp_path / "b", case, (GOLDEN / case).with_suffix(".expected").read_text()
    )
    assert re.search(r"^ExecStart=.*podman", original, re.M)
    assert canonical == original
