"""The real toolchain: pulumi engine + Python language host + dynamic providers + provider
plugins, butane, ignition-validate, quadlet. Asserts on the tools' own output."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from pulumi import automation as auto

from tests.e2e.pulumi_cli import (
    REPO,
    TOOLS,
    automation_stack,
    new_stack,
    program_copy,
    require_tools,
    tools_env,
)

PINS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["homelab"]["tools"]
TEXT = "hello homelab"


def _run(*cmd: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=check, env=tools_env(**env))


def _plugins() -> dict[str, set[str]]:
    """`pulumi plugin ls --json`: name -> versions registered (resource plugins)."""
    listed = json.loads(_run(str(TOOLS / "pulumi"), "plugin", "ls", "--json").stdout or "[]")
    out: dict[str, set[str]] = {}
    for p in listed:
        if p["kind"] == "resource":
            out.setdefault(p["name"], set()).add(p["version"])
    return out


def _require_plugin(name: str) -> None:
    """Fails (never skips, never xfails) with the install command when the plugin is missing."""
    require_tools("pulumi")
    version = PINS[f"pulumi-{name}"]
    if version not in _plugins().get(name, set()):
        pytest.fail(
            f"provider plugin {name} {version} is not registered: run scripts/install-tools"
        )


def test_versions_match_pins():
    require_tools()
    locked = tomllib.loads((REPO / "uv.lock").read_text())["package"]
    sdk = next(p["version"] for p in locked if p["name"] == "pulumi")
    assert sdk == PINS["pulumi"], "pulumi CLI pin and SDK in uv.lock must be the same version"
    assert _run(str(TOOLS / "pulumi"), "version").stdout.strip() == f"v{PINS['pulumi']}"
    assert _run(str(TOOLS / "butane"), "--version").stdout.strip() == f"Butane v{PINS['butane']}"
    assert _run(str(TOOLS / "ignition-validate"), "--version").stdout.strip() == (
        f"Ignition v{PINS['ignition']}"
    )
    # The Ignition binary itself (scripts/sim-host firstboot), at the same pin.
    require_tools("ignition")
    assert _run(str(TOOLS / "ignition"), "--version").stdout.strip() == (
        f"Ignition v{PINS['ignition']}"
    )
    quadlet = _run(str(TOOLS / "quadlet"), "-version").stdout.strip()
    assert quadlet == PINS["podman-deb"].split("+")[0]


def test_install_tools_rejects_a_cli_pin_that_differs_from_the_sdk(tmp_path):
    # A copy of the repo's pins with a wrong CLI version: the script must refuse loudly
    # before building anything.
    clone = tmp_path / "clone"
    (clone / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "install-tools", clone / "scripts")
    shutil.copy(REPO / "uv.lock", clone)
    pyproject = (REPO / "pyproject.toml").read_text()
    wrong = pyproject.replace(f'pulumi = "{PINS["pulumi"]}"', 'pulumi = "3.1.0"')
    assert wrong != pyproject
    (clone / "pyproject.toml").write_text(wrong)
    proc = subprocess.run(
        ["bash", str(clone / "scripts" / "install-tools"), "pulumi"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOMELAB_CACHE": str(tmp_path / "cache")},
    )
    assert proc.returncode != 0
    assert f"pulumi CLI pin 3.1.0 differs from the pulumi SDK {PINS['pulumi']}" in proc.stderr
    assert not (clone / ".tools" / "bin" / "pulumi").exists()


def test_pulumi_up_preview_destroy_with_dynamic_provider(tmp_path):
    # Through pulumi.automation (shipped with the SDK): the same CLI and engine, structured
    # results. The project's own stacks stay on the CLI runner, which users' commands match.
    project = program_copy(REPO / "tests" / "e2e" / "tiny_program", tmp_path / "tiny")
    st = automation_stack(project, tmp_path / "state", "dev")

    up = st.up()
    assert up.summary.result == "succeeded"
    assert up.summary.resource_changes == {"create": 2}
    outputs = {k: v.value for k, v in up.outputs.items()}
    assert outputs == {"sha256": hashlib.sha256(TEXT.encode()).hexdigest(), "text": TEXT}

    assert st.preview().change_summary == {auto.OpType.SAME: 2}

    st.set_config("text", auto.ConfigValue("changed"))
    assert st.preview().change_summary == {auto.OpType.REPLACE: 1, auto.OpType.SAME: 1}

    down = st.destroy()
    assert down.summary.resource_changes == {"delete": 2}
    assert not st.export_stack().deployment.get("resources")


def test_command_provider_runs_for_real_through_the_engine(tmp_path):
    _require_plugin("command")
    project = program_copy(REPO / "tests" / "e2e" / "tiny_program", tmp_path / "tiny")
    marker = tmp_path / "created-by-command"
    st = new_stack(project, tmp_path / "state", "cmd")
    st.run("config", "set", "commandMarker", str(marker))

    up = st.run("up", "--yes", "--skip-preview")
    assert "+ 3 created" in up.stdout
    assert marker.read_text() == TEXT  # the provider ran the command on this machine
    assert st.outputs()["echoed"] == TEXT  # and captured its stdout

    pre = st.run("preview", "--json")
    assert json.loads(pre.stdout)["changeSummary"] == {"same": 3}

    down = st.run("destroy", "--yes", "--skip-preview")
    assert "- 3 deleted" in down.stdout
    assert not marker.exists()  # the command's delete ran too


def test_plugin_ls_lists_exactly_the_pinned_provider_plugins():
    require_tools("pulumi")
    assert _plugins() == {
        "command": {PINS["pulumi-command"]},
        "libvirt": {PINS["pulumi-libvirt"]},
    }


def test_install_tools_refuses_third_party_sources_that_fail_their_checksums(tmp_path):
    tp = tmp_path / "third_party"
    shutil.copytree(REPO.parent / "shared" / "third_party", tp)
    tp.chmod(0o755)
    for f in tp.iterdir():
        f.chmod(0o644)
    damaged = tp / "pulumi-command-1.2.1.tar.gz"
    damaged.write_bytes(damaged.read_bytes() + b"tampered")
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "install-tools"), "plugins"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOMELAB_THIRD_PARTY": str(tp), "HOMELAB_CACHE": str(tmp_path / "c")},
    )
    assert proc.returncode == 1
    assert "pulumi-command-1.2.1.tar.gz: FAILED" in proc.stderr
    assert f"{tp} does not match its SHA256SUMS" in proc.stderr
    assert not (tmp_path / "c" / "bin" / "pulumi-resource-command-1.2.1").exists()


def test_quadlet_dryrun_generates_a_service_and_reports_a_broken_unit(tmp_path: Path):
    require_tools("quadlet")
    (tmp_path / "web.container").write_text("[Container]\nImage=localhost/tiny:1\nExec=httpd\n")
    ok = _run(str(TOOLS / "quadlet"), "-dryrun", QUADLET_UNIT_DIRS=str(tmp_path))
    assert "---web.service---" in ok.stdout
    assert "ExecStart=/usr/bin/podman run --name systemd-%N" in ok.stdout
    assert ok.stdout.rstrip().endswith("localhost/tiny:1 httpd")

    (tmp_path / "bad.container").write_text("[Container]\nExec=true\n")
    bad = _run(str(TOOLS / "quadlet"), "-dryrun", check=False, QUADLET_UNIT_DIRS=str(tmp_path))
    assert bad.returncode != 0
    assert 'converting "bad.container": no Image or Rootfs key specified' in bad.stderr
    assert "---bad.service---" not in bad.stdout


def test_butane_output_passes_ignition_validate_and_a_broken_one_does_not(tmp_path: Path):
    require_tools("butane", "ignition-validate")
    bu = "variant: fcos\nversion: 1.5.0\nstorage:\n  files:\n    - path: /etc/hello\n" + (
        "      mode: 0644\n      contents:\n        inline: hi\n"
    )
    ign = subprocess.run(
        [str(TOOLS / "butane"), "--strict"], input=bu, capture_output=True, text=True, check=True
    ).stdout
    doc = json.loads(ign)
    assert doc["ignition"]["version"] == "3.4.0"
    assert doc["storage"]["files"][0] == {
        "path": "/etc/hello",
        "contents": {"compression": "", "source": "data:,hi"},
        "mode": 0o644,
    }
    good = tmp_path / "good.ign"
    good.write_text(ign)
    assert _run(str(TOOLS / "ignition-validate"), str(good)).returncode == 0

    doc["storage"]["files"][0]["path"] = "etc/hello"
    bad = tmp_path / "bad.ign"
    bad.write_text(json.dumps(doc))
    res = _run(str(TOOLS / "ignition-validate"), str(bad), check=False)
    assert res.returncode != 0
    assert "path not absolute" in res.stdout + res.stderr


def test_mise_toml_pins_the_same_versions():
    # mise.toml is the route for machines with internet; it must not drift from the pins.
    tools = tomllib.loads((REPO / "mise.toml").read_text())["tools"]
    assert tools["pulumi"] == PINS["pulumi"]
    assert tools["butane"] == PINS["butane"]
    assert tools["github:coreos/ignition"]["version"] == PINS["ignition"]
    setup = "\n".join(tomllib.loads((REPO / "mise.toml").read_text())["tasks"]["setup"]["run"])
    assert f"resource command {PINS['pulumi-command']}" in setup
    assert f"resource libvirt {PINS['pulumi-libvirt']}" in setup


def test_env_sh_works_from_any_directory(tmp_path: Path):
    out = subprocess.run(
        ["bash", "-c", "source ../../scripts/env.sh && command -v pulumi && echo $PULUMI_HOME"],
        cwd=REPO / "tests" / "e2e",
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    ).stdout.split()
    assert out == [str(TOOLS / "pulumi"), str(REPO / ".tools" / "pulumi-home")]
