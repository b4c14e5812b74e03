"""podman's own Quadlet corpus against homelab.quadlet's lint, without the generator: the fast
runner of the peer suite's tables (tests/e2e/test_quadlet_peer.py holds them, and also runs
podman's real generator on each unit). Every unit podman accepts lints without an error and
renders idempotently; every unit podman rejects or warns about is reported, with podman's
words. Needs ../shared (the corpus) beside the clone, as the e2e runner does."""

from __future__ import annotations

import pytest

from homelab.quadlet import check, parse_unit
from tests.e2e.test_quadlet_peer import (
    ACCEPTED,
    CORPUS,
    EXPECTED,
    NO_CORPUS,
    TEXT,
    UNITS,
    _need_corpus,
)


def _siblings(unit: str) -> set[str]:
    # What the e2e runner lays beside the unit: the corpus units its text names (none for
    # a unit expected to fail, as in podman's tests), and the drop-in folders.
    if unit in EXPECTED:
        return {unit}
    named = {o for o in UNITS if o == unit or o in TEXT[unit]}
    return named | {d.name for d in CORPUS.glob("*.d")}


@pytest.mark.parametrize("unit", ACCEPTED or [NO_CORPUS])
def test_accepted_unit_lints_without_error_and_renders_idempotently(unit: str) -> None:
    _need_corpus()
    problems = check(TEXT[unit], unit, _siblings(unit))
    assert [str(p) for p in problems if p.severity == "error"] == []
    once = parse_unit(TEXT[unit], unit).render()
    assert parse_unit(once, unit).render() == once


@pytest.mark.parametrize("unit", sorted(EXPECTED) or [NO_CORPUS])
def test_expected_problem_is_reported(unit: str) -> None:
    _need_corpus()
    problems = check(TEXT[unit], unit, siblings={unit})
    assert any(EXPECTED[unit] in p.message for p in problems), (
        EXPECTED[unit],
        [str(p) for p in problems],
    )
