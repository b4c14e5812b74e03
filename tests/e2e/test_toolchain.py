"""The real toolchain: pulumi engine + Python language host + dynamic providers, butane,
ignition-validate, quadlet. Asserts on the tools' own output."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tomllib

import pytest

from tests.e2e.pulumi_cli import REPO, TOOLS, new_stack, require_tools, tools_env

PINS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["homelab"]["tools"]


def _out(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, env=tools_env()).stdout


def test_versions_match_pins():
    require_tools()
    assert _out(str(TOOLS / "pulumi"), "version").strip() == f"v{PINS['pulumi']}"
    assert _out(str(TOOLS / "butane"), "--version").strip() == f"Butane v{PINS['butane']}"
    assert _out(str(TOOLS / "ignition-validate"), "--version").strip() == (
        f"Ignition v{PINS['ignition']}"
    )
    assert _out(str(TOOLS / "quadlet"), "-version").strip() == PINS["podman-deb"].split("+")[0]
    locked = tomllib.loads((REPO / "uv.lock").read_text())["package"]
    sdk = next(p["version"] for p in locked if p["name"] == "pulumi")
    assert sdk == PINS["pulumi"], "pulumi CLI and SDK must be the same version"


def test_pulumi_up_preview_destroy_with_dynamic_provider(tmp_path):
    project = tmp_path / "tiny"
    shutil.copytree(REPO / "tests" / "e2e" / "tiny_program", project)
    st = new_stack(project, tmp_path / "state", "dev")

    up = st.run("up", "--yes", "--skip-preview")
    assert "+ 2 created" in up.stdout
    outs = st.outputs()
    assert outs == {
        "sha256": hashlib.sha256(b"hello homelab").hexdigest(),
        "text": "hello homelab",
    }

    pre = st.run("preview", "--json")
    steps = json.loads(pre.stdout)["changeSummary"]
    assert steps == {"same": 2}

    st.run("config", "set", "text", "changed")
    pre = json.loads(st.run("preview", "--json").stdout)["changeSummary"]
    assert pre == {"replace": 1, "same": 1}

    down = st.run("destroy", "--yes", "--skip-preview")
    assert "- 2 deleted" in down.stdout
    assert json.loads(st.run("stack", "export").stdout)["deployment"].get("resources") in (None, [])


@pytest.mark.xfail(
    strict=True,
    reason="blocked here: the Go module proxy refuses github.com/pulumi/pulumi-command/provider "
    "and .../pulumi-libvirt/provider at every version (403); see NOTES.md. strict: once the "
    "plugins install, this xfail fails and must be removed.",
)
@pytest.mark.parametrize("plugin", ["command", "libvirt"])
def test_provider_plugins_are_installed(plugin):
    require_tools("pulumi")
    listed = _out(str(TOOLS / "pulumi"), "plugin", "ls", "--json")
    names = {(p["name"], p["version"]) for p in json.loads(listed or "[]")}
    assert (plugin, PINS[f"pulumi-{plugin}"]) in names, (
        f"plugin {plugin} {PINS[f'pulumi-{plugin}']} is not installed: run scripts/install-tools"
    )
