"""tests/restart_cases.tsv through apply.sh's `decide_units` as root on the simulated host, with
real systemd answering `systemctl is-active`: the partner of tests/unit/test_restart_cases_sh.py
(same script, tests/restart_sh.py), whose stand-in systemctl this replaces.

The generation is the tar the push builds (`push.build_tar`: the apply.sh it ships and the
real manifest), unpacked by the host's tar; the host's dash runs it. The stack's units that
the row does not list as inactive run as transient units (`systemd-run`, named rcase-*: no
clash with the stack's own), the inactive ones are not loaded at all, as a unit of a fresh
host. The case's file, $B and the generation live in a scratch dir: the host's own
/etc/homelab and units are not touched."""

from __future__ import annotations

import base64
import shlex
from collections.abc import Iterator

import pytest

from tests import restart_sh
from tests.e2e.simhost import SimHost

pytestmark = [pytest.mark.simhost]

PREFIX = "rcase-"
WORK = "/var/tmp/homelab-restart-cases"
UNITS = [PREFIX + u for u in restart_sh.STACK_UNITS]
STOP = f"systemctl stop {' '.join(UNITS)} 2>/dev/null || true"


@pytest.fixture
def host(simhost: SimHost) -> Iterator[SimHost]:
    yield simhost
    simhost.sh(f"{STOP}; rm -rf {WORK}")


@pytest.mark.parametrize("case", restart_sh.cases(), ids=lambda c: c["id"])
def test_apply_sh_on_the_host_restarts_and_starts_what_the_table_says(host: SimHost, case):
    work = f"{WORK}/{case['id']}"
    tar = restart_sh.generation_tar(case, f"{work}/live", PREFIX)
    inactive = restart_sh.cell(case["inactive"], PREFIX)
    active = [u for u in UNITS if u not in inactive]
    prepare = "; ".join(
        ["set -e", STOP, f"mkdir -p {work}", f"base64 -d >{work}/gen.tar"]
        + [f"systemd-run --quiet --collect --unit={u} sleep 600" for u in active]
        + [f"systemctl is-active {' '.join(UNITS)} || true"]
    )
    states = host.sh(prepare, stdin=base64.b64encode(tar).decode()).split()
    # The host's systemd is in the row's state before the decision reads it.
    assert dict(zip(UNITS, states, strict=True)) == {
        u: "inactive" if u in inactive else "active" for u in UNITS
    }
    script = shlex.quote(restart_sh.script(case, work, PREFIX))
    out = host.sh(f"dash -c {script} || cat {work}/stage/apply.log", check=False)
    assert restart_sh.parse(out) == restart_sh.expected(case, PREFIX), out
