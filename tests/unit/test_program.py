"""The whole program (`__main__.py`) under mocks, per stack: what it registers and refuses.

Config reaches it as the language host hands it over (PULUMI_CONFIG and
PULUMI_CONFIG_SECRET_KEYS). Needs butane, ignition-validate and quadlet (the program checks
every plan with them).
"""

from __future__ import annotations

import json
import runpy
import subprocess
from pathlib import Path

import pulumi
import pytest

from homelab.host.stack import StackFiles
from tests.conftest import is_secret, unsecret

REPO = Path(__file__).resolve().parents[2]
SECRETS = {"rustfsAccessKey": "a-value", "rustfsSecretKey": "s-value", "tailscaleAuthKey": "t"}


@pytest.fixture
def program(mocks, monkeypatch):
    """program(stack, extra=..., secrets=..., preview=...) -> (Recorder, the module's globals)."""

    def run(stack, extra=None, secrets=None, preview=True):
        rec = mocks(stack=stack, preview=preview)
        values = {**StackFiles(REPO)[stack].values, **(extra or {})}
        config = {f"homelab:{k}": json.dumps(v) for k, v in values.items()}
        secrets = SECRETS if secrets is None else secrets
        config.update({f"homelab:{k}": v for k, v in secrets.items()})
        monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
        monkeypatch.setenv(
            "PULUMI_CONFIG_SECRET_KEYS", json.dumps([f"homelab:{k}" for k in secrets])
        )
        box = {}

        def main():
            box.update(runpy.run_path(str(REPO / "__main__.py"), run_name="homelab_program"))

        rec.run(main)
        return rec, box

    return run


def owner_key(tmp: Path) -> dict:
    """mouse's settings with a key of the user's own in place of the placeholder."""
    key = tmp / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    values = StackFiles(REPO)["mouse"].values
    host = {**values["host"]}
    host["ssh_authorized_keys"] = [Path(f"{key}.pub").read_text().strip()]
    return {"host": host, "ssh": {**values["ssh"], "private_key_path": str(key)}}


def test_mouse_registers_host_and_push(program, tmp_path):
    rec, _ = program("mouse", owner_key(tmp_path))
    types = rec.types()
    assert "pulumi-python:dynamic:Resource" in types
    assert not any(t.startswith("libvirt:") for t in types)
    ign = rec.one("command:local:Command", "mouse-ignition")
    # mouse's Ignition is plain (no secret in it); the push carries the secrets, as secrets.
    # stdin is secret only to keep the Butane YAML out of the displayed diff.
    butane = unsecret(ign.inputs["stdin"])
    assert "s-value" not in butane
    assert "/etc/containers/systemd/rustfs.container" in butane
    push = rec.one("pulumi-python:dynamic:Resource", "mouse-host")
    secret_inputs = [k for k, v in push.inputs.items() if is_secret(v)]
    assert "s-value" in json.dumps([unsecret(push.inputs[k]) for k in secret_inputs])
    assert "s-value" not in json.dumps({k: v for k, v in push.inputs.items() if not is_secret(v)})


CAPABILITIES = """<capabilities><host>
  <secmodel><model>none</model><doi>0</doi></secmodel>
  <secmodel><model>dac</model><doi>0</doi>
    <baselabel type='kvm'>+64055:+64055</baselabel>
    <baselabel type='qemu'>+64055:+64055</baselabel>
  </secmodel>
</host></capabilities>"""


def test_vm_test_registers_host_and_vm(program, monkeypatch):
    # libvirtd is the e2e tests' business; here the host's answer is canned.
    monkeypatch.setattr("homelab.vm.host.read_capabilities", lambda uri: CAPABILITIES)
    rec, _ = program("vm-test")
    types = rec.types()
    assert "libvirt:index/domain:Domain" in types
    assert "pulumi-python:dynamic:Resource" not in types
    ign = rec.one("libvirt:index/ignition:Ignition")
    # vm-test's Ignition carries the secrets, so every input holding it is secret.
    assert is_secret(ign.inputs["content"])
    assert is_secret(rec.one("command:local:Command").inputs["stdin"])
    assert "s-value" in unsecret(rec.one("command:local:Command").inputs["stdin"])


def test_the_shipped_placeholder_key_stops_mouse_before_any_resource(program, tmp_path):
    with pytest.raises(pulumi.RunError) as e:
        program("mouse", {"ssh": {**owner_key(tmp_path)["ssh"]}})
    line = next(
        i
        for i, ln in enumerate((REPO / "Pulumi.mouse.yaml").read_text().splitlines(), 1)
        if "replace-with-your-key" in ln
    )
    msg = str(e.value)
    assert f"Pulumi.mouse.yaml:{line}: homelab:host.ssh_authorized_keys[0]: " in msg
    assert "placeholder" in msg
    # ... and the key the push would connect with is not among the keys it would write.
    assert "/home/core/.ssh/authorized_keys.d/ignition would no longer hold that key" in msg


def test_bad_config_stops_before_any_resource(program):
    with pytest.raises(pulumi.RunError) as e:
        program("mouse", {"containers": {"rustfs": {"imagetag": "1"}}})
    assert "Pulumi.mouse.yaml" in str(e.value) and "did you mean 'image_tag'?" in str(e.value)


def test_missing_secret_names_the_command(program):
    with pytest.raises(pulumi.RunError) as e:
        program("mouse", secrets={})
    assert "`pulumi config set --secret -s mouse rustfsAccessKey` (it prompts" in str(e.value)


def test_plain_secret_is_refused(program):
    with pytest.raises(pulumi.RunError, match="is set in plain text"):
        program("mouse", extra={"rustfsSecretKey": "oops"}, secrets={})
