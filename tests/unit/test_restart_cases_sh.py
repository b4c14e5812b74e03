"""tests/restart_cases.tsv through the real restart decision: `decide_units` of the apply.sh the
push ships, run by the host's `sh` (dash, as on the simulated host, and bash in POSIX mode, as
on Fedora CoreOS), with the one host input (`systemctl is-active -q UNIT`) answered by a
stand-in on PATH from the case's `inactive` column. tests/e2e/test_restart_cases.py runs the
same script on the simulated host; tests/unit/test_restart_cases.py runs the same rows through
the Python mirrors."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests import restart_sh

FAKE_SYSTEMCTL = """#!/bin/sh
# systemctl is-active -q UNIT: inactive iff UNIT is a line of $INACTIVE
echo "$*" >>"$CALLS"
[ "$1 $2" = "is-active -q" ] || { echo "unexpected: systemctl $*" >&2; exit 2; }
if grep -qxF "$3" "$INACTIVE"; then exit 3; fi
"""


# The push runs apply.sh with the host's `sh`: dash on the simulated (Debian) host, bash in
# POSIX mode on Fedora CoreOS.
SHELLS = {"dash": ["dash"], "bash-posix": ["bash", "--posix"]}


def shell(name: str) -> list[str]:
    argv = SHELLS[name]
    assert shutil.which(argv[0]), f"{argv[0]} is missing: apt-get install {argv[0]}"
    return argv


def run_case(tmp: Path, case: dict[str, str], sh: str = "dash") -> tuple[dict[str, list[str]], str]:
    (tmp / "bin").mkdir()
    (tmp / "bin" / "systemctl").write_text(FAKE_SYSTEMCTL)
    (tmp / "bin" / "systemctl").chmod(0o755)
    (tmp / "inactive").write_text("".join(u + "\n" for u in restart_sh.cell(case["inactive"])))
    (tmp / "calls").write_text("")
    (tmp / "gen.tar").write_bytes(restart_sh.generation_tar(case, str(tmp / "live")))
    p = subprocess.run(
        [*shell(sh), "-c", restart_sh.script(case, str(tmp))],
        capture_output=True, text=True, check=False,
        env={"PATH": f"{tmp / 'bin'}:/usr/bin:/bin", "INACTIVE": str(tmp / "inactive"),
             "CALLS": str(tmp / "calls")},
    )  # fmt: skip
    log = tmp / "stage" / "apply.log"
    assert p.returncode == 0, p.stderr + (log.read_text() if log.exists() else "")
    return restart_sh.parse(p.stdout), (tmp / "calls").read_text()


def test_the_table_is_read_whole_and_the_manifest_holds_the_real_hash(tmp_path: Path) -> None:
    rows = restart_sh.cases()
    assert len(rows) >= 12 and {r["live"] for r in rows} == set(restart_sh.LIVE_FILE)
    tar = restart_sh.generation_tar(rows[0], str(tmp_path / "live"))
    (tmp_path / "gen.tar").write_bytes(tar)
    with tarfile.open(tmp_path / "gen.tar") as tf:
        member = tf.extractfile("manifest.tsv")
        assert member is not None
        manifest = member.read().decode()
    f_row = next(r for r in manifest.splitlines() if r.startswith("F\t")).split("\t")
    assert f_row[1] == f"{tmp_path}/live/web.container"
    assert f_row[5] == hashlib.sha256(restart_sh.NEW.encode()).hexdigest()


@pytest.mark.parametrize("sh", SHELLS)
@pytest.mark.parametrize("case", restart_sh.cases(), ids=lambda c: c["id"])
def test_apply_sh_restarts_and_starts_what_the_table_says(tmp_path: Path, case, sh) -> None:
    got, calls = run_case(tmp_path, case, sh)
    assert got == restart_sh.expected(case)
    # systemctl is asked only about the stack's units that do not restart.
    asked = sorted(c.split()[-1] for c in calls.splitlines())
    restarting = set(restart_sh.cell(case["restart"]))
    assert asked == [u for u in restart_sh.STACK_UNITS if u not in restarting]
