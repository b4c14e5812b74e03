"""The pure decisions around the push's SSH commands: what a run of apply.sh came to
(apply_outcome), the shared connection's socket directory check (private_dir) and its
socket key (control_path)."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import pytest

from homelab import push
from homelab.push.apply import apply_outcome, parse_apply_output
from homelab.push.ssh import control_path, private_dir
from tests.unit.test_push import HK

OK = "HOMELAB-RESTARTED web.service\nHOMELAB-STARTED db.service\nHOMELAB-OK 20261204T000000Z-1\n"


def test_a_finished_run_is_its_result():
    res = apply_outcome("mouse", 0, "applying\n" + OK, "")
    assert (res.generation, res.restarted, res.started, res.stopped) == (
        "20261204T000000Z-1",
        ["web.service"],
        ["db.service"],
        [],
    )


@pytest.mark.parametrize(
    "out", ["", "HOMELAB-RESTARTED web.service\n", "HOMELAB-OK\n", "HOMELAB-OKAY x\n"]
)
def test_a_run_without_its_final_ok_is_one_push_error_not_a_traceback(out):
    """apply.sh exited 0 but never said HOMELAB-OK (cut off, or an old script): the push
    did not finish, whatever the exit code."""
    with pytest.raises(push.PushError) as e:
        apply_outcome("mouse", 0, out, "ssh: something\n")
    msg = str(e.value)
    assert len(msg.splitlines()) == 1
    assert msg.startswith("push to mouse ended without its final HOMELAB-OK line (exit 0)")
    assert parse_apply_output(out) is None


def test_a_reported_failure_is_apply_shs_own_words():
    out = "HOMELAB-ERROR: quadlet refused web.container; host unchanged\n"
    with pytest.raises(push.PushError) as e:
        apply_outcome("mouse", 1, out, "")
    assert str(e.value) == (
        "push to mouse failed (exit 1):\nquadlet refused web.container; host unchanged"
    )


def test_a_run_that_died_says_the_host_keeps_one_generation():
    with pytest.raises(push.PushError) as e:
        apply_outcome("mouse", 137, "unpacking\n", "Killed\n")
    assert str(e.value) == (
        "push to mouse died (exit 137) before it finished; the host keeps the old or the new "
        "generation. Remote output:\nunpacking\nKilled"
    )


def test_the_socket_dir_must_be_ours_alone(tmp_path: Path):
    d = tmp_path / "mux"
    d.mkdir(mode=0o700)
    d.chmod(0o700)
    uid = os.getuid()
    assert private_dir(os.lstat(d), uid)
    assert not private_dir(os.lstat(d), uid + 1)  # someone else's
    for mode in (0o710, 0o701, 0o750, 0o707, 0o770):
        d.chmod(mode)
        assert not private_dir(os.lstat(d), uid), oct(mode)
    d.chmod(0o700)
    link = tmp_path / "link"
    link.symlink_to(d)
    assert not private_dir(os.lstat(link), uid)  # a symlink, even to a good dir
    f = tmp_path / "file"
    f.touch(mode=0o600)
    assert not stat.S_ISDIR(os.lstat(f).st_mode) and not private_dir(os.lstat(f), uid)


def test_one_socket_per_connection_and_pinned_key(tmp_path: Path):
    conn = push.Connection("mouse.lan", HK, 22, "core", None, None)
    p = control_path(conn, tmp_path)
    assert p.parent == tmp_path and len(p.name) == 20
    assert control_path(push.Connection("mouse.lan", HK, 22, "core", None, None), tmp_path) == p
    others = [
        dataclasses.replace(conn, host="other.lan"),
        dataclasses.replace(conn, host_key=HK[:-1] + "y"),
        dataclasses.replace(conn, port=2222),
        dataclasses.replace(conn, user="root"),
        dataclasses.replace(conn, private_key_path="~/.ssh/id"),
        dataclasses.replace(conn, sudo=False),
    ]
    names = {control_path(c, tmp_path).name for c in others}
    assert p.name not in names and len(names) == len(others)
