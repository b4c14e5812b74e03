"""Power cuts during a push, and the fsyncs that make a push survive a real one.

`test_power_cut_then_reboot`: `pulumi up` of the mouse-shaped stack pushes a real change;
apply.sh is stopped at a chosen point (its test hook, honoured only on the simulated host:
`freeze POINT` in /etc/homelab-sim/kill-at); then `scripts/sim-host crash` stops and
SIGKILLs every process of the machine, systemd-nspawn included: no shutdown, no unit stops,
no last write. `scripts/sim-host boot` boots the same root fs again. After the reboot the
host holds the old generation (cut before the switch) or the new one (after it), complete
against its own manifest, never a mix, and the services of that generation come up by
themselves. Then `pulumi up` converges: the new plan, units active, one generation per
content, nothing left of the cut push.

What this simulation can prove: that every state a cut at those points leaves on disk is a
state the host boots from into the old or the new set, and that the next push repairs it.
What it cannot prove: that data not yet fsynced would be lost. The machine's kernel and its
page cache survive a SIGKILL of nspawn, so every write apply.sh made before the cut is still
there after the "reboot", synced or not; a test of the fsync ordering needs a real power
cut (or a VM whose disk cache is dropped). So `test_apply_fsyncs_before_the_switch` checks
the ordering itself, at the system-call level: strace (on this machine) follows the host's
sshd through a real push and records each fsync(2) and rename(2) with its path. Every file
and directory of the new generation is fsynced before the rename of `current`, and
/etc/homelab (the directory holding that rename) right after it.

Wall time: about 2.5 minutes.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab import push
from tests.e2e import vmlab
from tests.e2e.generations import (
    MACHINE,
    duplicates,
    generations,
    incomplete,
    leftovers,
    recover,
)
from tests.e2e.mouse_stack import MouseStack, new_mouse_stack
from tests.e2e.simhost import SIM, SimHost

pytestmark = [pytest.mark.simhost, pytest.mark.tools]

# Where apply.sh stops before the cut (homelab/push/remote/apply.sh, `hook`), in order: the
# staged tree verified; everything fsynced right before the switch; right after the switch;
# after the daemon-reload, before the restarts.
POINTS = ["staged", "before-switch", "after-switch", "after-reload"]
FROZEN = MACHINE / "etc" / "homelab-sim" / "frozen"


@pytest.fixture(scope="module")
def ms(mouse_host: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MouseStack]:
    ms = new_mouse_stack(mouse_host, tmp_path_factory.mktemp("power-cut"))
    # A cut client retries the confirmation for confirm_timeout, then as long again: short
    # here (the confirmation has its own tests), so each cut costs seconds, not two minutes.
    ms.stack.set("homelab:push.confirm_timeout", "10")
    ms.stack.up()
    yield ms


def sim(*args: str) -> str:
    p = subprocess.run([str(SIM), *args], capture_output=True, text=True, check=False)
    assert p.returncode == 0, f"sim-host {' '.join(args)}: {p.stdout}{p.stderr}"
    return p.stdout


def _change(ms: MouseStack, memory: str) -> tuple[list[str], dict, dict]:  # type: ignore[type-arg]
    """A real change (netdata restarts, navidrome comes or goes): (paths, old tree, new)."""
    old_plan = ms.plan()
    navidrome = any(c.name == "navidrome" for c in old_plan.containers)
    ms.stack.set("homelab:containers.netdata.memory_max", memory)
    ms.stack.set("homelab:containers.navidrome.enabled", "false" if navidrome else "true")
    new_plan = ms.plan()
    paths = ms.managed_paths(old_plan, new_plan)
    old, new = ms.expected_tree(paths, old_plan), ms.expected_tree(paths, new_plan)
    assert old != new and ms.host.tree(paths) == old
    return paths, old, new


def _units_of_current(host: SimHost) -> list[str]:
    out = host.sh("awk -F'\\t' '$1 == \"U\" {print $2}' /etc/homelab/current/manifest.tsv")
    return sorted(out.split())


def _all_active(host: SimHost, units: list[str], timeout: float = 90) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        states = {u: host.unit(u)["ActiveState"] for u in units}
        if all(s == "active" for s in states.values()) or time.monotonic() > deadline:
            return states
        time.sleep(1)


def _cut_at(ms: MouseStack, point: str, log: Path) -> str:
    """`pulumi up` of the change made, apply.sh frozen at `point`, the power cut, the reboot.
    Returns the generation `current` named at the cut."""
    host = ms.host
    host.sh(
        f"mkdir -p /etc/homelab-sim && rm -f /etc/homelab-sim/frozen && "
        f"echo 'freeze {point}' > /etc/homelab-sim/kill-at"
    )
    proc = ms.stack.popen("up", "--yes", "--skip-preview", log=log)
    try:
        deadline = time.monotonic() + 120
        while not FROZEN.exists():
            assert proc.poll() is None, f"up ended before {point}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"apply.sh never reached {point}"
            time.sleep(0.05)
        gen = host.current_generation()
        # SIMULATION: zfs-fuse commits a transaction group only on its timer or a zfs
        # administrative command, never on fsync/syncfs (a directory made, `sync -f`, a cut:
        # gone), where OpenZFS commits through its intent log. These tests are about the
        # generations on the root fs, so the pool is committed first (a snapshot made and
        # destroyed waits for the commit); the pool's own durability is not shown here.
        host.sh("zfs snapshot tank@homelab-sim-commit && zfs destroy tank@homelab-sim-commit")
        sim("crash")
        # The client sees its connection die, and fails (no kill: the engine unlocks).
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            vmlab.kill_tree(vmlab.process_tree(proc.pid))
            proc.wait()
    sim("boot")
    return gen


@pytest.mark.parametrize("point", POINTS)
def test_power_cut_then_reboot(ms: MouseStack, point: str, tmp_path: Path) -> None:
    host = ms.host
    paths, old, new = _change(ms, f"{1100 + POINTS.index(point)}M")
    _cut_at(ms, point, tmp_path / "up.log")

    tree = host.tree(paths)
    want = old if point in ("staged", "before-switch") else new
    assert tree == want, f"cut at {point}: {'a mix' if tree not in (old, new) else 'wrong set'}"
    assert incomplete(host) == [], point
    units = _units_of_current(host)
    states = _all_active(host, units)
    assert set(states.values()) == {"active"}, f"after the reboot ({point}): {states}"

    steps = recover(ms.stack, ms.project.parent / "state")
    assert host.tree(paths) == new
    assert incomplete(host) == []
    states = _all_active(host, sorted(ms.plan().fileset.units))
    assert set(states.values()) == {"active"}, states
    assert duplicates(generations(host)) == []
    assert leftovers(host, ms.project.parent / "state") == []
    print(f"\npower cut at {point}: rebooted into the {'old' if want is old else 'new'} set, "
          f"{len(units)} units active; then {' + '.join(steps)} converged")  # fmt: skip


def test_power_cut_while_a_revert_is_armed_still_reverts(ms: MouseStack, tmp_path: Path) -> None:
    """The revert timer of confirm-or-revert is transient (systemd-run): a power cut after the
    switch, before the client confirmed, drops it. After the reboot the host arms it again for
    the time left (homelab-rearm-revert.service), so the unconfirmed push still goes back by
    itself, and the next `up` converges."""
    host = ms.host
    paths, old, new = _change(ms, "1098M")
    gen_before = host.current_generation()
    armed = _cut_at(ms, "armed", tmp_path / "up.log")  # the new generation, cut unconfirmed
    assert armed != gen_before
    # confirm_timeout is 10 s in this module: the host is back on the old set well before 60.
    deadline = time.monotonic() + 60
    while host.current_generation() != gen_before and time.monotonic() < deadline:
        time.sleep(1)
    assert host.current_generation() == gen_before, host.sh(
        "systemctl status homelab-rearm-revert.service; cat /etc/homelab/armed"
    )
    assert host.tree(paths) == old
    last = host.sh("cat /etc/homelab/last-revert")
    assert armed in last and "did not hear back" in last, last
    assert "armed" not in host.sh("ls /etc/homelab").split()
    states = _all_active(host, _units_of_current(host))
    assert set(states.values()) == {"active"}, states
    recover(ms.stack, ms.project.parent / "state")
    assert host.tree(paths) == new
    assert incomplete(host) == []
    assert leftovers(host, ms.project.parent / "state") == []


def _sshd_listener() -> int:
    nspawn = int((MACHINE.parent / "nspawn.pid").read_text())
    for pid in vmlab.process_tree(nspawn):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"sshd" in cmd and b"listener" in cmd:
            return pid
    raise AssertionError("no sshd listener in the sim host's process tree")


def test_apply_fsyncs_before_the_switch(ms: MouseStack, tmp_path: Path) -> None:
    host = ms.host
    _change(ms, "1099M")
    # The push must open a new connection, so that its sshd session is a traced child.
    push.close_shared(push.Connection(**host.connection()))
    log = tmp_path / "strace.log"
    tracer = subprocess.Popen(
        ["strace", "-f", "-qq", "-y", "-o", str(log), "-e", "signal=none",
         "-e", "trace=fsync,fdatasync,syncfs,sync,rename,renameat,renameat2",
         "-p", str(_sshd_listener())],
    )  # fmt: skip
    try:
        time.sleep(1)  # attached
        ms.stack.up("--skip-preview")
    finally:
        tracer.terminate()
        tracer.wait(timeout=30)
    gen = host.current_generation()
    lines = log.read_text().splitlines()
    tmp, cur = r'"/etc/homelab/\.current\.homelab-tmp"', r'"/etc/homelab/current"'
    # mv tries renameat2(RENAME_NOREPLACE) first (EEXIST), then renameat: the one that worked.
    rename = re.compile(rf"rename\w*\(.*{tmp}.*{cur}.*\)\s+= 0$")
    switch = [i for i, ln in enumerate(lines) if rename.search(ln)]
    assert len(switch) == 1, f"no single switch in the trace:\n{log.read_text()[-3000:]}"

    def synced(part: list[str]) -> set[str]:
        # `fsync(3</etc/homelab/...>)   = 0` (strace pads short lines before the result)
        out = set()
        for ln in part:
            m = re.search(r"\bf(?:data)?sync\(\d+<([^>]*)>\)\s+= 0", ln)
            if m:
                path = m.group(1)  # as this machine sees it: maybe under the nspawn root
                out.add(path[path.find("/etc/homelab") :] if "/etc/homelab" in path else path)
        return out

    before, after = synced(lines[: switch[0]]), synced(lines[switch[0] :])
    g = f"/etc/homelab/generations/{gen}"
    # What the switch makes visible: the generation, its manifest, its tree (apply.sh's own
    # notes in it, written after the switch, are not part of the set).
    entries = [g, f"{g}/manifest.tsv", *host.sh(f"find {g}/root").split()]
    missing = [e for e in entries if e not in before]
    assert missing == [], f"not fsynced before the switch: {missing}"
    assert "/etc/homelab" in after, "the switch's directory was not fsynced after the rename"
    print(f"\nfsync before the switch: {len(before)} paths (all {len(entries)} of the new "
          f"generation); after it: /etc/homelab")  # fmt: skip
