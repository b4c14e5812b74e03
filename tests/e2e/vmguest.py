"""The real test guest (scripts/vm-guest): its cached image, and what its probe prints.

The guest's initramfs runs the real Ignition from fw_cfg on its first boot and prints
`homelab-initramfs: [UPTIME] ...` lines; once the boot settles, its probe unit prints
tab-separated `HOMELAB-PROBE` lines on the serial console (scripts/vm-guest.d/probe). The
checker here compares them with what `homelab build` says the host must hold.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from homelab.fileset import FileSet
from tests.e2e.firstboot import expected_state

CACHE = Path(os.environ.get("HOMELAB_VMGUEST_CACHE", "/var/cache/homelab/vm-guest"))
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "vm-guest"
PROBE = "HOMELAB-PROBE"
INITRAMFS = "homelab-initramfs:"
# What the probe prints instead of a digest for a secret file.
NO_DIGEST = "-"


def guest_image() -> tuple[Path, str]:
    """(the cached .qcow2.xz, its sha256); fails with the command that builds it."""
    xz, sha = CACHE / "guest.qcow2.xz", CACHE / "guest.qcow2.xz.sha256"
    if not (xz.is_file() and sha.is_file() and (CACHE / ".complete").is_file()):
        pytest.fail(
            f"no test guest image in {CACHE}: run scripts/vm-guest build (scripts/test does; "
            "it needs scripts/sim-host build and scripts/install-tools coreos first)",
            pytrace=False,
        )
    return xz, sha.read_text().strip()


@dataclass
class Probe:
    """One boot's report: the initramfs's lines and the probe's block."""

    boot_id: str = ""
    begin_uptime: float = 0.0
    begin_epoch: float = 0.0
    system: str = ""
    initramfs: list[tuple[float, str]] = field(default_factory=list)
    units: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # load, active, µs
    failed: list[str] = field(default_factory=list)
    paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    blame: list[str] = field(default_factory=list)
    analyze: str = ""

    def initramfs_at(self, what: str) -> float:
        """The uptime of the initramfs line containing `what`."""
        for t, line in self.initramfs:
            if what in line:
                return t
        raise AssertionError(f"the initramfs never printed {what!r}: {self.initramfs}")


def parse(text: str) -> Probe | None:
    """The last complete boot report in `text` (a console log), or None."""
    lines = [ln.rstrip("\r") for ln in text.splitlines()]
    ends = [i for i, ln in enumerate(lines) if ln.startswith(f"{PROBE}\tend")]
    if not ends:
        return None
    end = ends[-1]
    begin = max(i for i, ln in enumerate(lines[:end]) if ln.startswith(f"{PROBE}\tbegin"))
    # The initramfs lines of this boot: after the previous report's end.
    start = max([i for i in ends if i < begin], default=-1) + 1
    p = Probe()
    for ln in lines[start:begin]:
        m = re.search(rf"{INITRAMFS} \[([0-9.]+)\] (.*)", ln)
        if m:
            p.initramfs.append((float(m.group(1)), m.group(2)))
    for ln in lines[begin:end]:
        if not ln.startswith(PROBE + "\t"):
            continue
        kind, *rest = ln.split("\t")[1:]
        if kind == "begin":
            p.boot_id, p.begin_uptime, p.begin_epoch = rest[0], float(rest[1]), float(rest[2])
        elif kind == "system":
            p.system = rest[0]
        elif kind == "unit":
            p.units[rest[0]] = (rest[1], rest[2], int(rest[3] or 0))
        elif kind == "failed":
            p.failed.append(rest[0])
        elif kind == "path":
            p.paths[rest[0]] = tuple(rest[1:])
        elif kind == "secret":
            p.secrets[rest[0]] = rest[1]
        elif kind == "blame":
            p.blame.append(rest[0])
        elif kind == "analyze":
            p.analyze = rest[0]
    return p


def wait_probe(
    read: Callable[[], str],
    after_boot: str | None = None,
    timeout: float = 600,
    alive: Callable[[], bool] = lambda: True,
) -> Probe:
    """Polls `read()` (the console text) until a report of a boot other than `after_boot`."""
    deadline = time.monotonic() + timeout
    while True:
        p = parse(read())
        if p is not None and p.boot_id != after_boot:
            return p
        if time.monotonic() > deadline or not alive():
            tail = "\n".join(read().splitlines()[-40:])
            raise AssertionError(
                f"no probe report (the guest stopped, or {timeout} s passed); console tail:\n{tail}"
            )
        time.sleep(1)


def renice_domain(name: str, nice: int = 10) -> None:
    """The shared machine's rule for CPU-heavy work: libvirt's qemu for `name` (every thread:
    nice is per thread on Linux, and the vCPUs are threads) runs at `nice`."""
    pid = int(Path(f"/run/libvirt/qemu/{name}.pid").read_text())
    for task in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(task), nice)


def expected(fs: FileSet, contents: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """What the probe must print for every path of `fs` Ignition wrote (secrets: no digest)."""
    exp = expected_state(fs, contents)
    for f in fs.files:
        if f.secret and f.path in exp:
            exp[f.path] = (*exp[f.path][:4], NO_DIGEST)
    return exp


def problems(
    probe: Probe,
    paths: dict[str, tuple[str, ...]],
    services: list[str],
    secrets: list[str],
) -> list[str]:
    """Everything in the guest's report that differs from what the stack says: the one
    checker of the VM test (a broken unit must show here, never pass)."""
    out = []
    if not any("ignition --stage=files ok" in line for _, line in probe.initramfs):
        out.append(f"Ignition's files stage did not succeed: {probe.initramfs}")
    for path, want in sorted(paths.items()):
        got = probe.paths.get(path, ("not reported",))
        if got != want:
            out.append(f"{path}: {got} != {want}")
    for svc in services:
        state = probe.units.get(svc, ("not-found", "inactive", 0))
        if state[:2] != ("loaded", "active"):
            out.append(f"{svc}: {state[0]}/{state[1]}, not loaded/active")
    for s in secrets:
        if probe.secrets.get(s) != "match":
            out.append(f"podman secret {s}: {probe.secrets.get(s, 'not reported')}")
    out.extend(f"failed unit {u}" for u in probe.failed)
    return out


def boot_direct(ign: Path, work: Path, timeout: float = 900) -> str:
    """Boots the cached image with qemu itself (TCG, no network, an overlay disk in `work`)
    and the Ignition `ign` in fw_cfg, as libvirt does; returns the console once the probe
    reported (the VM is killed then)."""
    qcow2 = CACHE / "guest.qcow2"
    disk = work / "direct.qcow2"
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(qcow2), "-F", "qcow2", str(disk)],
        check=True,
    )
    console = work / "direct-console.log"
    with console.open("wb") as out:
        proc = subprocess.Popen(
            ["nice", "-n", "10", "qemu-system-x86_64", "-machine", "q35,accel=tcg",
             "-m", "1024", "-smp", "2", "-display", "none", "-serial", "stdio",
             "-monitor", "none", "-no-reboot", "-nic", "none",
             "-drive", f"file={disk},format=qcow2,if=virtio",
             "-fw_cfg", f"name=opt/com.coreos/config,file={ign}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_probe(
            lambda: console.read_text(errors="replace"),
            timeout=timeout,
            alive=lambda: proc.poll() is None,
        )
    finally:
        proc.kill()
        proc.wait()
        disk.unlink(missing_ok=True)
    return console.read_text(errors="replace")
