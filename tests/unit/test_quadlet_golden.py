"""Golden files: tricky Quadlet inputs and their canonical text, as in podman's own tests.

Each tests/golden/quadlet/NAME.container has NAME.expected beside it. The canonical text must
match byte for byte, be a fixed point of fmt, and make podman's real generator produce the
same systemd unit as the original (so the canonical form never changes what runs).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from homelab.quadlet import parse_unit
from homelab.tools import quadlet_generate

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


def _generate(name: str, text: str) -> dict[str, str]:
    run = quadlet_generate({name: text})
    assert run.returncode == 0 and not run.messages, run.messages
    return run.units()


@pytest.mark.parametrize("case", CASES)
def test_podman_generates_the_same_unit(case):
    original = _generate(case, (GOLDEN / case).read_text())
    canonical = _generate(case, (GOLDEN / case).with_suffix(".expected").read_text())
    assert re.search(r"^ExecStart=.*podman", "".join(original.values()), re.M)
    assert canonical == original
