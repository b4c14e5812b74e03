"""tests/restart_cases.tsv through the Python mirrors of apply.sh's restart decision: the
preview's unit_actions (homelab.push.plan) and the drift (homelab.push.live), so what the
preview says `up` restarts is what apply.sh restarts."""

from __future__ import annotations

import pytest

from homelab import push
from homelab.fileset import FileSet, ManagedFile
from homelab.push.plan import unit_actions
from tests.restart_sh import cases  # the one reader of the one table

PATH = "/etc/containers/systemd/web.container"
STACK_UNITS = ("api.service", "web.service")


def _set(cell: str) -> list[str]:
    return [] if cell == "-" else cell.split(",")


def _world(case: dict[str, str]) -> tuple[push.Desired, dict[str, str], push.LiveState]:
    fs = FileSet(
        files=(ManagedFile(path=PATH, content="new\n", units=tuple(_set(case["units"]))),),
        units=STACK_UNITS,
        quadlet_dir="/etc/containers/systemd",
    )
    d = push.Desired.of(fs)
    hashes = push.desired_hashes(d.manifest, push.plain_contents(fs), {})
    live_file = {
        "same": push.LiveFile(hashes[PATH], 0o644, 0, 0, "link"),
        "mode": push.LiveFile(hashes[PATH], 0o600, 0, 0, "link"),
        "changed": push.LiveFile("0" * 64, 0o644, 0, 0, "link"),
        "missing": None,
    }[case["live"]]
    inactive = _set(case["inactive"])
    live = push.LiveState(
        files={PATH: live_file},
        units={u: "inactive" if u in inactive else "active" for u in STACK_UNITS},
        pending=_set(case["pending"]),
        old_units=list(STACK_UNITS),
    )
    return d, hashes, live


def test_the_table_is_read_whole():
    ids = [c["id"] for c in cases()]
    assert len(ids) == len(set(ids)) >= 12
    assert all(len(c) == 7 and None not in c.values() for c in cases())


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_the_preview_restarts_and_starts_what_apply_sh_does(case):
    d, hashes, live = _world(case)
    acts = unit_actions(d, hashes, live)
    assert sorted(u for a, u, _ in acts if a == "restart") == _set(case["restart"])
    assert sorted(u for a, u, _ in acts if a == "start") == _set(case["start"])
    assert [u for a, u, _ in acts if a == "stop"] == []


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["id"])
def test_drift_names_the_content_change_behind_a_restart(case):
    d, hashes, live = _world(case)
    drift = push.differences(d, hashes, live)
    if case["live"] == "changed":
        assert drift[PATH].startswith("content differs")
    elif case["live"] == "missing":
        assert drift[PATH] == "missing"
    elif case["live"] == "mode":
        assert drift[PATH] == "mode 0600, want 0644"  # drift, but no restart
    else:
        assert PATH not in drift
    for u in _set(case["pending"]):
        assert f"unit:{u}" in drift
