"""Components under Pulumi mocks (tests/conftest.py): what they register, with which
options, and that the command the Ignition resource runs makes a real Ignition.

The real engine, butane and providers run in tests/e2e.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pulumi

from components.host import Host, HostArgs
from homelab.host.layout import HostLayout, layout_host
from homelab.host.stack import StackFiles, load_stack_config
from homelab.tools import TOOLS_BIN
from tests import ignition
from tests.conftest import is_secret, unsecret

REPO = Path(__file__).resolve().parents[2]
COMMAND = "command:local:Command"


def _layout(stack: str) -> HostLayout:
    files = StackFiles(REPO)
    return layout_host(load_stack_config(stack, files[stack].values, REPO, files), REPO, files)


def _run_create(create: str, stdin: str) -> dict:
    """The command provider's `create`, run as it runs it (sh -c, tools on PATH)."""
    proc = subprocess.run(
        ["/bin/sh", "-c", create],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": f"{TOOLS_BIN}:/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_mouse_ignition_command_makes_the_plans_ignition_without_secrets(mocks):
    rec = mocks(stack="mouse")
    layout = _layout("mouse")
    secrets = {n: pulumi.Output.secret("s3cr3t") for n in layout.config.secret_names()}
    host_ign_secret = rec.run(
        lambda: Host("mouse", HostArgs(layout=layout, secrets=secrets)).ignition.is_secret()
    )
    assert host_ign_secret is True
    cmd = rec.one(COMMAND, "mouse-ignition")
    assert cmd.options["additional_secret_outputs"] == ["stdout"]
    # Secret only to keep the Butane YAML out of `pulumi preview --diff` (one `[secret]`
    # line); mouse's Ignition holds no secret value.
    assert is_secret(cmd.inputs["stdin"])
    stdin = cmd.inputs["stdin"]["value"]
    assert "s3cr3t" not in stdin  # mouse: no secrets in Ignition
    files = ignition.files(_run_create(cmd.inputs["create"], stdin))
    for c in layout.containers:
        assert files[c.unit_path] == (c.text, 0o644)
    assert not any(p.startswith("/etc/homelab/env/") for p in files)
    assert {r.name for r in rec.resources if r.typ == "homelab:quadlet:Container"} == {
        "mouse-rustfs",
        "mouse-netdata",
    }


def test_vm_host_ignition_is_secret_and_carries_the_values(mocks):
    rec = mocks(stack="vm-test")
    layout = _layout("vm-test")
    secrets = {n: pulumi.Output.secret(f"value-of-{n}") for n in layout.config.secret_names()}
    butane_secret = rec.run(
        lambda: Host("mouse-vm", HostArgs(layout=layout, secrets=secrets)).butane.is_secret()
    )
    assert butane_secret is True
    cmd = rec.one(COMMAND, "mouse-vm-ignition")
    assert is_secret(cmd.inputs["stdin"])
    files = ignition.files(_run_create(cmd.inputs["create"], unsecret(cmd.inputs["stdin"])))
    env, mode = files["/etc/homelab/env/rustfs.env"]
    assert "RUSTFS_SECRET_KEY=value-of-rustfsSecretKey\n" in env and mode == 0o600


def test_container_outputs(mocks):
    rec = mocks(stack="mouse")
    layout = _layout("mouse")
    secrets = {n: pulumi.Output.secret("x") for n in layout.config.secret_names()}

    def program():
        rustfs = Host("m2", HostArgs(layout=layout, secrets=secrets)).containers["rustfs"]
        return pulumi.Output.all(rustfs.unit_name, rustfs.image, rustfs.secret_keys, rustfs.content)

    unit, image, keys, content = rec.run(program)
    assert unit == "rustfs.service"
    assert image.startswith("docker.io/rustfs/rustfs:")
    assert keys == ["rustfsAccessKey", "rustfsSecretKey"]
    assert "Secret=rustfs-RUSTFS_SECRET_KEY,type=env,target=RUSTFS_SECRET_KEY" in content
    assert "ExecStartPre=/etc/homelab/bin/podman-secrets rustfs" in content
    assert "changeme" not in content


def test_vm_replaces_disk_and_domain_on_new_ignition(mocks):
    from components.vm import TestVM, TestVMArgs
    from homelab.vm.config import VmConfig

    rec = mocks(stack="vm-test")
    cfg = VmConfig(base_image="/img.qcow2", base_image_sha256="a" * 64, uri="qemu:///session")

    def program():
        ign = pulumi.Output.secret('{"ignition":{}}')
        vm = TestVM("homelab-t", TestVMArgs(cfg, ign, "/c/img", "qemu", 7))
        return vm.ssh_command

    rec.run(program)

    def res(typ: str, resource: str):
        r = rec.one(typ, f"homelab-t-{resource}")
        # Fixed names: a replacement must delete the old object first.
        assert r.options["delete_before_replace"] is True, r.name
        return r

    ign = res("libvirt:index/ignition:Ignition", "ignition")
    root = res("libvirt:index/volume:Volume", "root")
    dom = res("libvirt:index/domain:Domain", "domain")
    # Names derive from nothing secret (a digest of the secret Ignition would leak guesses).
    assert ign.inputs["name"] == "homelab-t.ign"
    assert root.inputs["name"] == "homelab-t-root.qcow2"
    # A new Ignition replaces the root disk (it must never have booted) and the domain.
    [replaced_with] = root.options["replace_with"]
    assert replaced_with.endswith("libvirt:index/ignition:Ignition::homelab-t-ignition")
    assert {"coreosIgnition", "disks"} <= set(dom.options["replace_on_changes"])
    assert dom.inputs["type"] == "qemu"
    assert '<seclabel type="none"/>' in dom.inputs["xml"]["xslt"]
    assert "homelab-t-console.log" in dom.inputs["xml"]["xslt"]
    assert rec.one("pulumi:providers:libvirt", "homelab-t-libvirt").inputs["uri"] == (
        "qemu:///session"
    )
    # Only qemu's group may enter the pool that holds the (secret) Ignition.
    pool = res("libvirt:index/pool:Pool", "pool")
    assert "<mode>0710</mode><group>7</group>" in pool.inputs["xml"]["xslt"]


def test_pool_without_dac_is_daemon_only():
    from components.vm import pool_xslt

    assert "<mode>0700</mode></permissions>" in pool_xslt(None)
