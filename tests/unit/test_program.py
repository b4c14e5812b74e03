"""The whole program (`__main__.py`) under mocks, per stack: what it registers and refuses.

Needs butane, ignition-validate and quadlet (the program validates every plan with them).
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest

from homelab.config import read_stack_file

REPO = Path(__file__).resolve().parents[2]


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.types: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.types.append(args.typ)
        outs = dict(args.inputs)
        if args.typ == "command:local:Command":
            outs["stdout"] = '{"ignition":{"version":"3.4.0"}}'
        return [f"{args.name}-id", outs]

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def run_program(stack: str, extra: dict | None = None, secrets: dict | None = None):
    rec = Recorder()
    pulumi.runtime.set_mocks(rec, project="homelab", stack=stack, preview=True)
    values = read_stack_file(REPO / f"Pulumi.{stack}.yaml")
    values.update(extra or {})
    config = {f"homelab:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}
    secrets = (
        {"rustfsAccessKey": "a", "rustfsSecretKey": "b", "tailscaleAuthKey": "c"}
        if (secrets is None)
        else secrets
    )
    config.update({f"homelab:{k}": v for k, v in secrets.items()})
    pulumi.runtime.set_all_config(config, [f"homelab:{k}" for k in secrets])
    return rec, runpy.run_path(str(REPO / "__main__.py"), run_name="homelab_program")


@pulumi.runtime.test
def test_mouse_registers_host_and_push():
    rec, g = run_program("mouse")

    def check(_):
        assert "command:local:Command" in rec.types
        assert "pulumi-python:dynamic:Resource" in rec.types
        assert not any(t.startswith("libvirt:") for t in rec.types)

    # Outputs of the leaf resources resolve only once those are registered.
    return pulumi.Output.all(g["host"].ignition, g["pushed"].generation).apply(check)


CAPABILITIES = """<capabilities><host>
  <secmodel><model>none</model><doi>0</doi></secmodel>
  <secmodel><model>dac</model><doi>0</doi>
    <baselabel type='kvm'>+64055:+64055</baselabel>
    <baselabel type='qemu'>+64055:+64055</baselabel>
  </secmodel>
</host></capabilities>"""


@pulumi.runtime.test
def test_vm_test_registers_host_and_vm(monkeypatch):
    # libvirtd is the e2e tests' business; here the host's answer is canned.
    monkeypatch.setattr("homelab.vmhost.read_capabilities", lambda uri: CAPABILITIES)
    rec, g = run_program("vm-test")

    def check(_):
        assert "libvirt:index/domain:Domain" in rec.types
        assert "libvirt:index/ignition:Ignition" in rec.types
        assert "pulumi-python:dynamic:Resource" not in rec.types

    return pulumi.Output.all(g["host"].ignition, g["vm"].ssh_command).apply(check)


def test_bad_config_stops_before_any_resource():
    with pytest.raises(pulumi.RunError) as e:
        run_program("mouse", {"containers": {"rustfs": {"imagetag": "1"}}})
    assert "Pulumi.mouse.yaml" in str(e.value) and "did you mean 'image_tag'?" in str(e.value)


def test_missing_secret_names_the_command():
    with pytest.raises(pulumi.RunError) as e:
        run_program("mouse", secrets={})
    assert "pulumi config set --secret -s mouse rustfsAccessKey <value>" in str(e.value)
