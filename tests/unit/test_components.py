"""Components under pulumi.runtime.set_mocks (pulumi/examples testing-unit-py shape).

Fast checks of the wiring only; the real engine, butane and providers run in tests/e2e.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest


class Mocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[pulumi.runtime.MockResourceArgs] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.resources.append(args)
        outputs = dict(args.inputs)
        if args.typ == "command:local:Command":
            outputs["stdout"] = '{"ignition":{"version":"3.4.0"}}'
        return [f"{args.name}-id", outputs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


MOCKS = Mocks()
# Mocks must be in place before any module that registers resources is imported.
pulumi.runtime.set_mocks(MOCKS, preview=False)

from components.host import BUTANE_SCRIPT, Host  # noqa: E402
from homelab.butane import render_butane  # noqa: E402
from homelab.config import load_stack_config, read_stack_file  # noqa: E402
from homelab.hostplan import plan_host  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _our_mocks():
    # Other test modules install their own mocks; these tests need this module's.
    MOCKS.resources.clear()
    pulumi.runtime.set_mocks(MOCKS, preview=False)


def _plan(stack: str):
    cfg = load_stack_config(stack, read_stack_file(REPO / f"Pulumi.{stack}.yaml"), REPO)
    return plan_host(cfg, REPO)


def _secret(out: pulumi.Output) -> pulumi.Output[bool]:
    return pulumi.Output.from_input(out.is_secret())  # type: ignore[attr-defined]


@pulumi.runtime.test
def test_mouse_host_children_and_plain_butane():
    plan = _plan("mouse")
    host = Host(
        "mouse", plan, {n: pulumi.Output.secret("s3cr3t") for n in plan.config.secret_names()}
    )

    def check(args):
        butane, ign_secret = args
        assert butane == render_butane(plan.fileset)  # no secrets in mouse's Ignition
        assert "s3cr3t" not in butane
        assert ign_secret is True
        cmds = [r for r in MOCKS.resources if r.typ == "command:local:Command"]
        cmd = next(r for r in cmds if r.name == "mouse-ignition")
        assert cmd.inputs["create"] == BUTANE_SCRIPT
        assert set(host.containers) == {"rustfs", "netdata"}

    return pulumi.Output.all(host.butane, host.ignition.is_secret()).apply(check)


@pulumi.runtime.test
def test_vm_host_butane_is_secret_and_carries_values():
    plan = _plan("vm-test")
    secrets = {n: pulumi.Output.secret(f"value-of-{n}") for n in plan.config.secret_names()}
    host = Host("mouse-vm", plan, secrets)

    def check(args):
        butane, is_secret = args
        assert is_secret is True
        assert "RUSTFS_SECRET_KEY=value-of-rustfsSecretKey" in butane

    return pulumi.Output.all(host.butane, host.butane.is_secret()).apply(check)


@pulumi.runtime.test
def test_container_outputs():
    plan = _plan("mouse")
    host = Host("m2", plan, {n: pulumi.Output.secret("x") for n in plan.config.secret_names()})
    rustfs = host.containers["rustfs"]

    def check(args):
        unit, image, keys, content = args
        assert unit == "rustfs.service"
        assert image.startswith("docker.io/rustfs/rustfs:")
        assert keys == ["rustfsAccessKey", "rustfsSecretKey"]
        assert "Secret=rustfs-RUSTFS_SECRET_KEY,type=env,target=RUSTFS_SECRET_KEY" in content
        assert "ExecStartPre=/etc/homelab/bin/podman-secrets rustfs" in content
        assert "changeme" not in content

    return pulumi.Output.all(
        rustfs.unit_name, rustfs.image, rustfs.secret_keys, rustfs.content
    ).apply(check)


@pulumi.runtime.test
def test_vm_wiring_replaces_on_new_ignition():
    from components.vm import TestVM
    from homelab.vmconfig import VmConfig

    cfg = VmConfig(base_image="/img.qcow2", base_image_sha256="a" * 64, uri="qemu:///session")
    ign = pulumi.Output.secret('{"ignition":{}}')
    vm = TestVM("homelab-t", cfg, ign, "/cache/img", "qemu", 64055)

    def check(_):
        mine = [r for r in MOCKS.resources if r.name.startswith("homelab-t")]
        by_name = {r.name: r for r in mine}
        assert by_name["homelab-t-libvirt"].inputs["uri"] == "qemu:///session"
        dom = by_name["homelab-t-domain"]
        assert dom.inputs["type"] == "qemu"
        assert '<seclabel type="none"/>' in dom.inputs["xml"]["xslt"]
        assert "homelab-t-console.log" in dom.inputs["xml"]["xslt"]
        # Only qemu's group may enter the pool that holds the (secret) Ignition.
        pool = by_name["homelab-t-pool"]
        assert pool.inputs["target"] == {"path": "/var/lib/libvirt/images/homelab"}
        assert "<mode>0710</mode><group>64055</group>" in pool.inputs["xml"]["xslt"]
        # Names derive from nothing secret.
        assert by_name["homelab-t-ignition"].inputs["name"] == "homelab-t.ign"
        assert by_name["homelab-t-root"].inputs["name"] == "homelab-t-root.qcow2"
        assert by_name["homelab-t-root"].inputs["format"] == "qcow2"

    return vm.ssh_command.apply(check)


def test_pool_without_dac_is_daemon_only():
    from components.vm import pool_xslt

    assert "<mode>0700</mode></permissions>" in pool_xslt(None)
