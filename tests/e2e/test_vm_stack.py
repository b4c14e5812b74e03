"""`pulumi up` / `preview` / `destroy` of a vm-test-shaped stack through the real engine.

Real parts only: the pulumi CLI and Python language host, the command and libvirt provider
plugins, butane, a real libvirtd (scripts/libvirt-up) running the domain under TCG. The base
image is a stand-in qcow2 (tests/e2e/vmlab.py) served `.xz`-compressed on loopback, with its
sha256 in config, exactly as Fedora CoreOS's image is consumed.

The scenarios run in order on one stack `e2e-vm` (libvirt names `homelab-e2e-vm*`); each
builds on the state the previous one left. Assertions read libvirt's own view (virsh) and the
engine's own record (`pulumi stack history`, `preview --json`), not only the program outputs.
Nothing sends traffic to the VM network: the stand-in guest halts after printing to its
serial console, and the test checks it put no packet on the network.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from homelab.cli.build import load_for_build
from homelab.vm.host import LIBVIRT_KINDS, qemu_gid, read_capabilities
from tests.e2e import vmlab
from tests.e2e.pulumi_cli import REPO, Stack, new_stack, project_copy, require_tools

pytestmark = [pytest.mark.libvirt, pytest.mark.tools]

STACK = "e2e-vm"
NAME = f"homelab-{STACK}"  # the component's name: every libvirt object starts with it
CONSOLE_LOG = Path(f"/var/log/libvirt/qemu/{NAME}-console.log")
QEMU_LOG = Path(f"/var/log/libvirt/qemu/{NAME}.log")
MEMORY_MIB, VCPUS, DISK_GIB = 256, 1, 1
N_RESOURCES = 16  # stack, host + 5 containers, command, libvirt provider, TestVM, 6 libvirt


@dataclass
class Lab:
    stack: Stack
    state: Path
    pool_path: Path
    cache_dir: Path
    base_url: str
    image_name: str
    sha256: str
    secrets: dict[str, str]
    baseline: dict[str, Any]
    work: Path
    engine_output: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: int = 600) -> str:
        p = self.stack.run(*args, check=check, timeout=timeout)
        self.engine_output.append(p.stdout + p.stderr)
        return p.stdout + p.stderr

    def build_ignition(self, tag: str) -> bytes:
        """What `python -m homelab build STACK` writes as STACK.ign for this stack now."""
        out = self.work / f"build-{tag}"
        python = str(REPO / ".venv" / "bin" / "python")
        subprocess.run(
            [python, "-m", "homelab", "build", STACK, "--out", str(out)],
            cwd=self.stack.project,
            env=self.stack.env,
            check=True,
            capture_output=True,
        )
        return (out / f"{STACK}.ign").read_bytes()


def _canary(name: str) -> str:
    # Characters that Ignition's data URLs percent-encode and that base64 produces.
    return f"Zq9/{name}+canary=42%&"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_tools()
    vmlab.require_libvirt()
    work = tmp_path_factory.mktemp("vm")
    # qemu runs as libvirt's qemu user and must reach the pool: pytest's tmp is root-only,
    # and a pool below /tmp is refused (a system folder); libvirt's own images folder it is.
    pool_parent = Path(tempfile.mkdtemp(prefix="homelab-e2e-vm-", dir="/var/lib/libvirt/images"))
    pool_parent.chmod(0o711)
    pool_path = pool_parent / "pool"
    for log in (CONSOLE_LOG, QEMU_LOG):
        log.unlink(missing_ok=True)
    www = work / "www"
    image_name, sha = vmlab.xz_for_serving(vmlab.standin_image(work), www)
    st: Stack | None = None
    with vmlab.serve(www) as url:
        try:
            baseline = vmlab.inventory()
            assert not [d for d in baseline["domains"] if d.startswith(NAME)], (
                f"a {NAME} domain exists before the test: run scripts/leftovers"
            )
            project = project_copy(work / "project")
            vmlab.vm_stack_file(
                REPO,
                project,
                STACK,
                {
                    "base_image": f"{url}/{image_name}",
                    "base_image_sha256": sha,
                    "disk_size_gib": DISK_GIB,
                    "memory_mib": MEMORY_MIB,
                    "vcpus": VCPUS,
                    "pool_path": str(pool_path),
                    "cache_dir": str(work / "cache"),  # never the user's image cache
                    "network_cidr": vmlab.free_subnet(),
                },
            )
            st = new_stack(project, work / "state", STACK)
            names = load_for_build(STACK, project).secret_names()
            assert names, "vm-test's containers need secrets; the canary needs one"
            secrets = {n: _canary(n) for n in names}
            for n, v in secrets.items():
                st.set_secret(n, v)
            yield Lab(
                stack=st,
                state=work / "state",
                pool_path=pool_path,
                cache_dir=work / "cache",
                base_url=url,
                image_name=image_name,
                sha256=sha,
                secrets=secrets,
                baseline=baseline,
                work=work,
            )
        finally:
            if st is not None:
                st.run("cancel", "--yes", check=False)
                st.run("destroy", "--yes", "--skip-preview", check=False, timeout=300)
            left = vmlab.destroy_leftovers(NAME, pool_path)
            shutil.rmtree(pool_parent, ignore_errors=True)
            for log in (CONSOLE_LOG, QEMU_LOG):
                log.unlink(missing_ok=True)
            assert not left, f"`pulumi destroy` left these behind: {left}"


def _ours(inv: dict[str, Any]) -> dict[str, Any]:
    return {
        "domains": {k: v for k, v in inv["domains"].items() if k.startswith(NAME)},
        "networks": [n for n in inv["networks"] if n.startswith(NAME)],
        "pools": [p for p in inv["pools"] if p.startswith(NAME)],
        "volumes": {p: v for p, v in inv["volumes"].items() if p.startswith(NAME)},
    }


def _expected_volumes(sha: str) -> list[str]:
    return sorted([f"{NAME}-base-{sha[:12]}.qcow2", f"{NAME}-root.qcow2", f"{NAME}.ign"])


def _assert_converged(lab: Lab) -> dict[str, Any]:
    """One running domain, one network, one pool holding exactly the three volumes."""
    ours = _ours(vmlab.inventory())
    assert list(ours["domains"]) == [NAME], ours
    assert virsh_state() == "running"
    assert ours["networks"] == [NAME]
    assert ours["pools"] == [NAME]
    assert ours["volumes"] == {NAME: _expected_volumes(lab.sha256)}
    assert sorted(os.listdir(lab.pool_path)) == _expected_volumes(lab.sha256)
    return ours


def virsh_state() -> str:
    return vmlab.virsh("domstate", NAME).strip()


def _no_change(lab: Lab) -> None:
    pre = json.loads(lab.run("preview", "--json"))
    assert pre["changeSummary"] == {"same": N_RESOURCES}, [
        (s["op"], s["urn"], s.get("diffReasons")) for s in pre["steps"] if s["op"] != "same"
    ]


def test_0_pool_path_qemu_cannot_reach_stops_at_preview(lab: Lab) -> None:
    """Issue 20: a pool under a folder qemu's user cannot enter (pytest's own tmp, 0700) used
    to pass preview and fail at `up` with libvirt's "Cannot access storage file"."""
    # A root-only folder (as pytest's own tmp is; a pool below /tmp is refused earlier, as a
    # system folder) on the way to the pool.
    shut = lab.pool_path.parent / "closed"
    shut.mkdir(mode=0o700, exist_ok=True)
    shut.chmod(0o700)
    closed = shut / "pool"
    lab.stack.set("homelab:vm.pool_path", str(closed))
    try:
        p = lab.stack.preview(check=False)
    finally:
        lab.stack.set("homelab:vm.pool_path", str(lab.pool_path))
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert f"homelab:vm.pool_path {closed}: qemu runs as " in out, out
    assert "`chmod o+x " in out and "Traceback" not in out, out
    assert not _ours(vmlab.inventory())["pools"]  # nothing reached libvirt
    lab.stack.preview()  # the reachable pool passes


def test_1_up_boots_the_vm_from_the_stacks_ignition(lab: Lab) -> None:
    out = lab.run("up", "--yes")
    last = lab.stack.last_update()
    assert last["result"] == "succeeded"
    assert last["resourceChanges"] == {"create": N_RESOURCES}

    ours = _assert_converged(lab)
    assert ours["networks"] and ours["pools"]
    dom = vmlab.domain_xml(NAME)
    # What the user asked for, as libvirt applied it.
    assert dom.get("type") == "qemu"  # no hardware virtualisation here: TCG
    assert dom.findtext("memory") == str(MEMORY_MIB * 1024)
    assert dom.find("memory").get("unit") == "KiB"  # type: ignore[union-attr]
    assert dom.findtext("vcpu") == str(VCPUS)
    assert dom.findall("devices/graphics") == []  # no passwordless spice on 127.0.0.1
    root_bytes = int(
        vmlab.virsh("vol-info", "--bytes", "--pool", NAME, f"{NAME}-root.qcow2")
        .split("Capacity:")[1]
        .split()[0]
    )
    assert root_bytes == DISK_GIB << 30
    # The Ignition qemu hands the guest is, byte for byte, what `homelab build` writes.
    ign_path = vmlab.fw_cfg_file(dom)
    assert ign_path == lab.pool_path / f"{NAME}.ign"
    built = lab.build_ignition("1")
    assert ign_path.read_bytes() == built
    assert all(urllib.parse.quote(v, safe="") in built.decode() for v in lab.secrets.values())
    # ... and nobody but root and qemu's group can read those secrets.
    gid = qemu_gid(read_capabilities(vmlab.URI), "qemu")
    st = lab.pool_path.stat()
    assert (oct(st.st_mode & 0o777), st.st_gid) == ("0o710", gid)
    peek = subprocess.run(
        ["runuser", "-u", "nobody", "--", "cat", str(ign_path)], capture_output=True, text=True
    )
    assert peek.returncode != 0 and "Permission denied" in peek.stderr
    # The domain booted from the overlay on the stand-in image: its console log says so.
    deadline = time.monotonic() + 60
    while vmlab.MARKER not in (CONSOLE_LOG.read_bytes() if CONSOLE_LOG.exists() else b""):
        assert time.monotonic() < deadline, f"{CONSOLE_LOG} never showed the stand-in's marker"
        time.sleep(0.5)
    assert vmlab.guest_sent_packets(NAME) == 0
    # Outputs a user reads after `up`.
    outputs = lab.stack.outputs()
    assert outputs["vm_ip"] == ""  # no guest OS asks for a lease here
    assert outputs["ssh_command"] == f"virsh -c {vmlab.URI} domifaddr {NAME}"
    assert outputs["console_log"] == str(CONSOLE_LOG)
    shown = lab.run("stack", "output")
    for key in ("vm_ip", "ssh_command", "console_log"):
        assert key in shown
    # The Ignition is never echoed: secrets appear in no form in what the engine printed.
    exported = lab.run("stack", "export")
    for value in lab.secrets.values():
        for form in {value, urllib.parse.quote(value), urllib.parse.quote(value, safe="")}:
            assert form not in out and form not in exported


def test_2_no_change_preview_and_refresh_report_nothing(lab: Lab) -> None:
    for _ in range(3):  # a perpetual diff would show on every one
        _no_change(lab)
    lab.run("preview", "--expect-no-changes")
    lab.run("refresh", "--yes", "--skip-preview")
    last = lab.stack.last_update()
    assert (last["kind"], last["result"]) == ("refresh", "succeeded")
    assert last["resourceChanges"] == {"same": N_RESOURCES}
    _no_change(lab)


def test_3_new_image_tag_replaces_the_vm(lab: Lab) -> None:
    old_uuid = vmlab.virsh("domuuid", NAME).strip()
    old_ign = lab.build_ignition("3-old")
    root = lab.pool_path / f"{NAME}-root.qcow2"
    old_root = root.stat()
    lab.run("config", "set", "--path", "homelab:containers.navidrome.image_tag", "0.58.9")
    new_ign = lab.build_ignition("3-new")
    assert new_ign != old_ign

    pre = json.loads(lab.run("preview", "--json"))
    ops = {s["urn"].rsplit("::", 1)[1]: s for s in pre["steps"] if s["op"] != "same"}
    assert {k: s["op"] for k, s in ops.items()} == {
        "mouse-vm-ignition": "update",  # butane runs again on the new Butane
        f"{NAME}-ignition": "replace",
        f"{NAME}-root": "replace",  # replace_with the Ignition: a disk that never booted
        f"{NAME}-domain": "replace",
    }
    assert ops[f"{NAME}-ignition"]["diffReasons"] == ["content"]

    started = time.time()
    lab.run("up", "--yes", "--skip-preview")
    assert lab.stack.last_update()["resourceChanges"] == {
        "same": N_RESOURCES - 4,
        "update": 1,
        "replace": 3,
    }
    _assert_converged(lab)
    new_uuid = vmlab.virsh("domuuid", NAME).strip()
    assert new_uuid != old_uuid
    assert not vmlab.virsh_ok("dominfo", old_uuid)  # the old domain is gone
    assert vmlab.fw_cfg_file(vmlab.domain_xml(NAME)).read_bytes() == new_ign
    new_root = root.stat()
    assert (new_root.st_ino, new_root.st_ctime) != (old_root.st_ino, old_root.st_ctime)
    assert new_root.st_ctime >= started - 1  # a fresh overlay, not the one that booted
    _no_change(lab)


def test_4_wrong_base_image_checksum_creates_nothing(lab: Lab) -> None:
    before = vmlab.inventory()
    cached = sorted(os.listdir(lab.cache_dir))
    wrong = "ab" * 32
    lab.run("config", "set", "--path", "homelab:vm.base_image_sha256", wrong)
    try:
        out = lab.run("up", "--yes", "--skip-preview", check=False)
    finally:
        lab.run("config", "set", "--path", "homelab:vm.base_image_sha256", lab.sha256)
    assert f"has sha256 {lab.sha256}, but homelab:vm.base_image_sha256 is {wrong}" in out
    last = lab.stack.last_update()
    assert last["result"] == "failed"
    assert last["resourceChanges"] == {"same": 1}  # the stack itself; nothing created
    assert vmlab.inventory() == before
    assert sorted(os.listdir(lab.cache_dir)) == cached  # nothing half-downloaded kept
    _no_change(lab)


def test_5_destroy_leaves_nothing_it_created(lab: Lab) -> None:
    lab.run("destroy", "--yes")
    assert lab.stack.last_update()["resourceChanges"] == {"delete": N_RESOURCES}
    assert vmlab.inventory() == lab.baseline
    assert not lab.pool_path.exists()
    assert json.loads(lab.run("stack", "export"))["deployment"].get("resources") in (None, [])


def _kill_up_when(lab: Lab, moment: str, seen: Any) -> None:
    """Start `pulumi up`, SIGKILL the CLI and every plugin it started once `seen()`."""
    log = lab.work / f"killed-{moment}.log"
    proc = lab.stack.popen("up", "--yes", "--skip-preview", log=log)
    deadline = time.monotonic() + 120
    try:
        while not seen():
            assert proc.poll() is None, f"up ended before {moment}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"never saw {moment}"
            time.sleep(0.01)
    finally:
        vmlab.kill_tree(vmlab.process_tree(proc.pid))
        proc.wait()


def _recover_and_converge(lab: Lab) -> str:
    """What README tells a user to do after a killed `pulumi up`."""
    locked = lab.run("up", "--yes", "--skip-preview", check=False)
    if "failed to load checkpoint" in locked:
        repaired = vmlab.repair_truncated_attrs(lab.state)
        assert repaired, locked
        print(f"the kill truncated {repaired}; removed as README says")
        locked = lab.run("up", "--yes", "--skip-preview", check=False)
    assert "pulumi cancel" in locked  # the engine names the step itself
    lab.run("cancel", "--yes")
    out = lab.run("up", "--yes", "--skip-preview")
    _assert_converged(lab)
    # The interrupted creates stay listed until cleared; then nothing is pending.
    assert vmlab.pending_operations(lab.run("stack", "export"))
    lab.run("refresh", "--yes", "--skip-preview", "--clear-pending-creates")
    assert vmlab.pending_operations(lab.run("stack", "export")) == []
    _no_change(lab)
    return out


def _unrecorded(lab: Lab) -> set[tuple[str, str]]:
    """This stack's libvirt objects that exist but that the engine's state does not record."""
    if vmlab.virsh_ok("pool-info", NAME):
        vmlab.virsh("pool-refresh", NAME, check=False)  # a volume written by a killed plugin
    inv = vmlab.inventory()
    present = {("domain", n) for n in inv["domains"]}
    present |= {("network", n) for n in inv["networks"]}
    present |= {("pool", n) for n in inv["pools"]}
    present |= {("volume", v) for vols in inv["volumes"].values() for v in vols}
    resources = json.loads(lab.run("stack", "export"))["deployment"].get("resources") or []
    recorded = {
        (LIBVIRT_KINDS[r["type"]], str((r.get("outputs") or {}).get("name")))
        for r in resources
        if r["type"] in LIBVIRT_KINDS
    }
    return {(kind, n) for kind, n in present if n.startswith(NAME)} - recorded


def _cleared(out: str) -> set[tuple[str, str]]:
    return set(re.findall(r"removed libvirt (\w+) '([^']+)' that an interrupted", out))


def test_6_killed_up_converges_on_the_next_up(lab: Lab) -> None:
    # Mid-create of the volumes: the base volume exists while others are still in flight.
    _kill_up_when(
        lab, "base volume", lambda: f"{NAME}-base-" in vmlab.virsh("vol-list", NAME, check=False)
    )
    # The kill races the engine's checkpoint writes, so which objects exist unrecorded varies
    # run to run; the hook must clear exactly those, and nothing the state records.
    leftovers = _unrecorded(lab)
    out = _recover_and_converge(lab)
    assert _cleared(out) == leftovers, out
    lab.run("destroy", "--yes", "--skip-preview")
    assert vmlab.inventory() == lab.baseline

    # Mid-create of the domain: defined (and maybe started) but never recorded.
    _kill_up_when(lab, "domain", lambda: vmlab.virsh_ok("dominfo", NAME))
    leftovers = _unrecorded(lab)
    assert ("domain", NAME) in leftovers
    out = _recover_and_converge(lab)
    assert _cleared(out) == leftovers, out
    lab.run("destroy", "--yes", "--skip-preview")
    assert vmlab.inventory() == lab.baseline


def test_no_engine_output_echoed_a_secret(lab: Lab) -> None:
    # Everything the engine printed in every scenario above.
    text = "\n".join(lab.engine_output)
    assert text
    for value in lab.secrets.values():
        for form in {value, urllib.parse.quote(value), urllib.parse.quote(value, safe="")}:
            assert form not in text
