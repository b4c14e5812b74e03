"""Every problem our lint finds in podman's own Quadlet corpus (../shared/peer/podman-quadlet),
in full, against a committed golden file: tests/golden/quadlet_corpus_lint.golden.

test_quadlet_corpus_lint.py checks podman's words appear for the units podman rejects; this
one pins each problem whole, as `FILE:LINE: SEVERITY [KEY] MESSAGE` (`homelab quadlet check`
prints `FILE:LINE: MESSAGE`; the key and severity decide how `build` reports it): the line,
key and severity of podman's errors and warnings, and which units give none. Per unit, a
`# UNIT` line, then the problems of `check` (with the siblings the corpus runner lays beside
the unit), then those of `newer_than_5_4`.

It is a characterisation: after a deliberate change to the lint (or a new corpus), regenerate
it with `UPDATE_GOLDEN=1 uv run pytest tests/unit/test_quadlet_corpus_golden.py` and read
the diff before committing it; a line that looks wrong there is a bug, not a new golden.
"""

from __future__ import annotations

import os
from pathlib import Path

from homelab.quadlet import check, newer_than_5_4, parse_unit
from homelab.quadlet.model import Problem
from tests.e2e.test_quadlet_peer import EXPECTED, TEXT, UNITS, _need_corpus
from tests.unit.test_quadlet_corpus_lint import _siblings

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "quadlet_corpus_lint.golden"


def _render(p: Problem) -> str:
    return f"{p.file}:{p.line}: {p.severity} [{p.key}] {p.message}"


def corpus_lint() -> str:
    out: list[str] = []
    for unit in UNITS:
        siblings = {unit} if unit in EXPECTED else _siblings(unit)
        out.append(f"# {unit}")
        out += [_render(p) for p in check(TEXT[unit], unit, siblings)]
        out += [_render(p) for p in newer_than_5_4(parse_unit(TEXT[unit], unit, []))]
    return "\n".join(out) + "\n"


def test_corpus_lint_matches_golden() -> None:
    _need_corpus()
    got = corpus_lint()
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(got)
    want = GOLDEN.read_text()
    assert got.splitlines() == want.splitlines(), (
        "the lint of podman's corpus changed; if that is intended, regenerate "
        f"{GOLDEN.name} with UPDATE_GOLDEN=1 and review the diff"
    )
    # The golden covers the whole corpus and the kinds of problem it should.
    assert want.count("\n# ") + 1 == len(UNITS) > 300
    assert " warning [" in want and " error [" in want
