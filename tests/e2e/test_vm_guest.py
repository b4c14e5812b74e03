"""vm-test with a real guest OS: `pulumi up` boots the VM, the real Ignition reads the stack's
config from fw_cfg, and the five containers' services run inside the VM.

Real parts only: the project's own `__main__.py` through the pulumi CLI, the command and
libvirt providers, butane, libvirtd running the domain under TCG, and the test guest of
scripts/vm-guest (bookworm's kernel, the real Ignition 2.23 binary in its initramfs with the
`qemu` platform, systemd + podman 5.4's Quadlet in the root). Its image is served as
`.qcow2.xz` on loopback with its sha256 in config, as Fedora CoreOS's is.

Everything is proven from the VM itself, without traffic: the guest's probe prints what it
holds on the serial console the project already logs (tests/e2e/vmguest.py), and the test
compares that with what `homelab build` says the host must hold. The guest has no network
configuration at all, so it sends nothing, and the test counts that on the bridge.

Three boots: `up`, the replace (a new container), and one straight qemu boot of an Ignition
the program would refuse (a unit Quadlet rejects), which the same checker must flag.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from homelab.cli.build import load, load_for_build
from homelab.fileset import file_contents
from homelab.host.layout import HostLayout
from homelab.host.stack import StackFiles
from tests.e2e import vmguest, vmlab
from tests.e2e.pulumi_cli import REPO, Stack, new_stack, project_copy, require_tools

pytestmark = [pytest.mark.libvirt, pytest.mark.tools]

STACK = "e2e-vmg"
NAME = f"homelab-{STACK}"
CONSOLE_LOG = Path(f"/var/log/libvirt/qemu/{NAME}-console.log")
QEMU_LOG = Path(f"/var/log/libvirt/qemu/{NAME}.log")
MEMORY_MIB, VCPUS, DISK_GIB = 1024, 2, 2
N_RESOURCES = 16  # stack, host + 5 containers, command, libvirt provider, TestVM, 6 libvirt
BOOT_TIMEOUT = 600  # generous: the machine is shared; bench/bench_vmguest.py has the figures
# A container added after the first boot: the replace must boot it.
WEB = """# homelab e2e: a container added after the first boot
[Unit]
Description=homelab e2e web

[Container]
Image=docker.io/library/homelab-e2e-web:1
ContainerName=web
PublishPort=8099:8099

[Service]
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


@dataclass
class Lab:
    stack: Stack
    project: Path
    pool_path: Path
    secrets: dict[str, str]
    baseline: dict[str, Any]
    work: Path
    engine_output: list[str] = field(default_factory=list)

    def run(self, *args: str, check: bool = True, timeout: int = 900) -> str:
        p = self.stack.run(*args, check=check, timeout=timeout)
        self.engine_output.append(p.stdout + p.stderr)
        return p.stdout + p.stderr

    def plan(self) -> HostLayout:
        return load(STACK, self.project, StackFiles(self.project))

    def build(self, tag: str) -> Path:
        """`python -m homelab build STACK`: the .ign of this stack now."""
        out = self.work / f"build-{tag}"
        python = str(REPO / ".venv" / "bin" / "python")
        subprocess.run(
            [python, "-m", "homelab", "build", STACK, "--out", str(out)],
            cwd=self.project,
            env=self.stack.env,
            check=True,
            capture_output=True,
        )
        return out / f"{STACK}.ign"


def _canary(name: str) -> str:
    return f"Zq9/{name}+vmg-canary=42%&"


def console() -> str:
    return CONSOLE_LOG.read_text(errors="replace") if CONSOLE_LOG.exists() else ""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_tools()
    vmlab.require_libvirt()
    xz, sha = vmguest.guest_image()
    work = tmp_path_factory.mktemp("vmg")
    pool_parent = Path(tempfile.mkdtemp(prefix="homelab-e2e-vmg-", dir="/var/lib/libvirt/images"))
    pool_parent.chmod(0o711)
    pool_path = pool_parent / "pool"
    for log in (CONSOLE_LOG, QEMU_LOG):
        log.unlink(missing_ok=True)
    www = work / "www"
    www.mkdir()
    (www / xz.name).symlink_to(xz)
    st: Stack | None = None
    with vmlab.serve(www) as url:
        try:
            baseline = vmlab.inventory()
            assert not [d for d in baseline["domains"] if d.startswith(NAME)], (
                f"a {NAME} domain exists before the test: run scripts/leftovers"
            )
            # Unlocked (vm-test is no production stack): the guest's baked stand-ins are built
            # in the image, not pulled from the test registry, so a locked digest would name
            # bytes the guest does not have. test_images shows the VM's Ignition and mouse's
            # push carry the same digests when locked.
            project = project_copy(work / "project", images_lock=False)
            vmlab.vm_stack_file(
                REPO,
                project,
                STACK,
                {
                    "base_image": f"{url}/{xz.name}",
                    "base_image_sha256": sha,
                    "disk_size_gib": DISK_GIB,
                    "memory_mib": MEMORY_MIB,
                    "vcpus": VCPUS,
                    "pool_path": str(pool_path),
                    "cache_dir": str(work / "cache"),
                    "network_cidr": vmlab.free_subnet(),
                },
            )
            st = new_stack(project, work / "state", STACK)
            secrets = {n: _canary(n) for n in load_for_build(STACK, project).secret_names()}
            for n, v in secrets.items():
                st.set_secret(n, v)
            yield Lab(st, project, pool_path, secrets, baseline, work)
        finally:
            if st is not None:
                st.run("cancel", "--yes", check=False)
                st.run("destroy", "--yes", "--skip-preview", check=False, timeout=300)
            left = vmlab.destroy_leftovers(NAME, pool_path)
            shutil.rmtree(pool_parent, ignore_errors=True)
            for log in (CONSOLE_LOG, QEMU_LOG):
                log.unlink(missing_ok=True)
            assert not left, f"`pulumi destroy` left these behind: {left}"


def _expectations(lab: Lab) -> tuple[dict[str, tuple[str, ...]], list[str], list[str]]:
    """(paths -> what the probe must print, services, podman secret names) from the plan."""
    plan = lab.plan()
    fs = plan.fileset
    paths = vmguest.expected(fs, file_contents(fs, lab.secrets))
    services = [c.service for c in plan.containers]
    secrets = [f"{c.name}-{var}" for c in plan.containers for var in c.secrets]
    return paths, services, secrets


def _bridge_rx(network: str) -> int:
    """Packets the network's bridge took in from its ports (the guest's only way out)."""
    info = vmlab.virsh("net-info", network)
    bridge = next(ln.split()[1] for ln in info.splitlines() if ln.startswith("Bridge:"))
    return int(Path(f"/sys/class/net/{bridge}/statistics/rx_packets").read_text())


def _assert_sent_nothing() -> None:
    # The guest's NIC (libvirt's own counter of what it sent) and the bridge behind it: with
    # no network configuration the guest sends nothing, so nothing can leave through NAT.
    assert vmlab.guest_sent_packets(NAME) == 0
    assert _bridge_rx(NAME) == 0


def test_1_up_boots_the_guest_and_ignition_writes_the_stacks_file_set(lab: Lab) -> None:
    lab.run("up", "--yes", "--skip-preview")
    vmguest.renice_domain(NAME)
    last = lab.stack.last_update()
    assert (last["result"], last["resourceChanges"]) == ("succeeded", {"create": N_RESOURCES})
    dom = vmlab.domain_xml(NAME)
    assert dom.get("type") == "qemu"
    assert vmlab.fw_cfg_file(dom).read_bytes() == lab.build("1").read_bytes()

    probe = vmguest.wait_probe(console, timeout=BOOT_TIMEOUT)
    paths, services, secrets = _expectations(lab)
    assert len(services) == 5 and len(secrets) == 3
    # First boot: Ignition ran in the initramfs, then the flag went.
    assert probe.initramfs_at("first boot: ignition-start") < probe.initramfs_at("switch_root")
    probe.initramfs_at("flag removed")
    assert vmguest.problems(probe, paths, services, secrets) == []
    assert probe.system == "running"
    _assert_sent_nothing()
    # The console log holds no secret, in any form.
    text = console()
    for value in lab.secrets.values():
        for form in {value, urllib.parse.quote(value), urllib.parse.quote(value, safe="")}:
            assert form not in text


def test_2_a_new_container_replaces_the_vm_and_boots_with_it(lab: Lab) -> None:
    before = vmguest.parse(console())
    assert before is not None
    old_uuid = vmlab.virsh("domuuid", NAME).strip()
    (lab.project / "containers" / "web.container").write_text(WEB)
    lab.run("config", "set", "--path", "homelab:containers.web.enabled", "true")
    lab.run("up", "--yes", "--skip-preview")
    vmguest.renice_domain(NAME)
    probe = vmguest.wait_probe(console, after_boot=before.boot_id, timeout=BOOT_TIMEOUT)
    paths, services, secrets = _expectations(lab)
    assert "web.service" in services and "/etc/containers/systemd/web.container" in paths
    # A fresh disk: Ignition ran again (a first boot), and the new content is what runs.
    assert vmguest.problems(probe, paths, services, secrets) == []
    probe.initramfs_at("first boot: ignition-start")
    # The domain, its Ignition and its disk replaced; the web container's resource created.
    changes = lab.stack.last_update()["resourceChanges"]
    assert changes.get("replace") == 3 and changes.get("create") == 1, changes
    assert vmlab.virsh("domuuid", NAME).strip() != old_uuid
    _assert_sent_nothing()


def test_3_destroy_leaves_nothing(lab: Lab) -> None:
    lab.run("destroy", "--yes", "--skip-preview")
    assert vmlab.inventory() == lab.baseline
    assert not lab.pool_path.exists()


def test_4_a_unit_quadlet_rejects_shows_as_a_failed_service(lab: Lab) -> None:
    """The program refuses such a unit, so the broken Ignition is `build`'s with one Quadlet
    file swapped, booted with qemu straight away; the checker of the tests above must fail."""
    ign = json.loads(lab.build("4").read_text())
    broken = "[Container]\nContainerName=navidrome\n"  # no Image=: Quadlet skips the unit
    for f in ign["storage"]["files"]:
        if f["path"] == "/etc/containers/systemd/navidrome.container":
            f["contents"] = {"source": "data:," + urllib.parse.quote(broken)}
    path = lab.work / "broken.ign"
    path.write_text(json.dumps(ign, separators=(",", ":")))  # as butane writes it
    path.chmod(0o600)
    probe = vmguest.parse(vmguest.boot_direct(path, lab.work, timeout=BOOT_TIMEOUT))
    assert probe is not None
    paths, services, secrets = _expectations(lab)
    found = vmguest.problems(probe, paths, services, secrets)
    assert "navidrome.service: not-found/inactive, not loaded/active" in found, found
    assert any(p.startswith("/etc/containers/systemd/navidrome.container:") for p in found)
    assert probe.units["rustfs.service"][:2] == ("loaded", "active")  # the rest still runs


def test_no_engine_output_echoed_a_secret(lab: Lab) -> None:
    text = "\n".join(lab.engine_output)
    assert text
    for value in lab.secrets.values():
        for form in {value, urllib.parse.quote(value), urllib.parse.quote(value, safe="")}:
            assert form not in text
