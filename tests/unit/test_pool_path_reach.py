"""`homelab:vm.pool_path` must be reachable by qemu's user (issue 20): the judgement is pure
(homelab.vm.config.unreachable_pool over stat facts); the stat and qemu's identity are read at
the edge (homelab.vm.host.check_pool_path), and the program refuses before any resource."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest

from homelab.vm.config import DirFacts, can_enter, unreachable_pool
from homelab.vm.host import VmHostError, check_pool_path
from tests.unit.test_program import CAPABILITIES, program  # noqa: F401  (fixture)

QEMU = 64055


def facts(*dirs: tuple[str, int, int, int]) -> list[DirFacts]:
    return [DirFacts(*d) for d in dirs]


def test_search_permission_as_the_kernel_decides():
    assert can_enter(DirFacts("/d", 0o700, QEMU, 0), QEMU, frozenset({QEMU}))
    assert not can_enter(DirFacts("/d", 0o070, QEMU, QEMU), QEMU, frozenset({QEMU}))  # owner bits
    assert can_enter(DirFacts("/d", 0o710, 0, QEMU), QEMU, frozenset({QEMU}))
    assert not can_enter(DirFacts("/d", 0o701, 0, QEMU), QEMU, frozenset({QEMU}))  # group bits
    assert can_enter(DirFacts("/d", 0o711, 0, 0), QEMU, frozenset({QEMU}))
    assert not can_enter(DirFacts("/d", 0o700, 0, 0), QEMU, frozenset({QEMU}))
    assert can_enter(DirFacts("/d", 0o700, 0, 0), 0, frozenset({0}))


def test_a_closed_parent_is_named_with_the_fix():
    dirs = facts(("/", 0o755, 0, 0), ("/home", 0o755, 0, 0), ("/home/me", 0o700, 1000, 1000))
    msg = unreachable_pool("/home/me/pool", dirs, QEMU, frozenset({QEMU}), "libvirt-qemu")
    assert msg is not None
    assert msg.startswith("homelab:vm.pool_path /home/me/pool: qemu runs as libvirt-qemu and ")
    assert "cannot enter /home/me (mode 0700, owner 1000:1000)" in msg
    assert "Cannot access storage file ... Permission denied" in msg
    assert "`chmod o+x /home/me`" in msg
    open_dirs = facts(("/", 0o755, 0, 0), ("/tmp", 0o1777, 0, 0), ("/tmp/x", 0o711, 0, 0))
    assert unreachable_pool("/tmp/x/pool", open_dirs, QEMU, frozenset({QEMU}), "q") is None
    # The pool folder itself is homelab's to open (0710 to qemu's group when created).
    own = [*open_dirs, DirFacts("/tmp/x/pool", 0o700, 0, 0)]
    assert unreachable_pool("/tmp/x/pool", own, QEMU, frozenset({QEMU}), "q") is None


@pytest.fixture
def opened() -> Iterator[Path]:
    """A folder that anyone may pass through, removed afterwards; under /var/lib, since a
    pool below /tmp is refused as a system folder before reachability is looked at (the
    closed folder inside it is the very case of the issue: a 0700 home or temp dir)."""
    d = Path(tempfile.mkdtemp(prefix="homelab-reach-", dir="/var/lib"))
    d.chmod(0o711)
    yield d
    shutil.rmtree(d)


def test_the_edge_stats_the_real_folders(opened):
    closed = opened / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(VmHostError, match=f"cannot enter {closed} \\(mode 0700"):
        check_pool_path(str(closed / "pool"), CAPABILITIES, "qemu")
    # Walking stops at the first folder that does not exist yet (libvirt creates the rest).
    check_pool_path(str(opened / "not" / "yet" / "pool"), CAPABILITIES, "qemu")


def test_the_program_refuses_before_any_resource(program, monkeypatch, opened):  # noqa: F811
    monkeypatch.setattr("homelab.vm.host.read_capabilities", lambda uri: CAPABILITIES)
    closed = opened / "closed"
    closed.mkdir(mode=0o700)
    with pytest.raises(pulumi.RunError) as e:
        program("vm-test", {"vm": {**_vm(), "pool_path": str(closed / "pool")}})
    assert f"cannot enter {closed}" in str(e.value)


def _vm() -> dict:
    from homelab.host.stack import StackFiles
    from tests.unit.test_program import REPO

    return dict(StackFiles(REPO)["vm-test"].values["vm"])
