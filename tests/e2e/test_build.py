"""`python -m homelab build` with the real butane, ignition-validate and quadlet generator,
and secrets decrypted by the real pulumi CLI from a file backend."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from homelab.host.plan import plan_host
from homelab.host.stack import StackFiles, load_stack_config
from tests import ignition
from tests.e2e.pulumi_cli import REPO, new_stack, project_copy, require_tools, tools_env

CANARY = "canary-7f3a9c1e-never-in-plain-text"


def _project(tmp: Path) -> Path:
    return project_copy(tmp / "project")


def _homelab(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m homelab ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "homelab", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _build(project: Path, stack: str, out: Path, env: dict[str, str]):
    return _homelab("build", stack, "--out", str(out), "--project", str(project), env=env)


@pytest.fixture
def stacks(tmp_path):
    require_tools()
    project = _project(tmp_path)
    st = {}
    for name in ("vm-test", "mouse"):
        s = new_stack(project, tmp_path / "state", name)
        for key in ("rustfsAccessKey", "rustfsSecretKey", "tailscaleAuthKey"):
            s.set_secret(key, f"{CANARY}-{key}")
        st[name] = s
    return project, st


@pytest.mark.parametrize("stack", ["vm-test", "mouse"])
def test_build_writes_the_exact_tree(stacks, tmp_path, stack):
    project, st = stacks
    out = tmp_path / "out"
    proc = _build(project, stack, out, st[stack].env)
    assert proc.returncode == 0, proc.stderr
    assert CANARY not in proc.stdout + proc.stderr

    files = StackFiles(project)
    plan = plan_host(load_stack_config(stack, files[stack].values, project, files), project)
    for c in plan.containers:
        assert (out / "root" / c.unit_path.lstrip("/")).read_text() == c.text
        assert CANARY not in c.text
    ign_path = out / f"{stack}.ign"
    assert stat.S_IMODE(ign_path.stat().st_mode) == 0o600
    ign = json.loads(ign_path.read_text())
    assert ign["ignition"]["version"] == "3.4.0"
    in_ign = {p: content for p, (content, _mode) in ignition.files(ign).items()}

    # Every file of the tree that Ignition carries is byte-identical in both.
    for f in plan.fileset.files:
        on_disk = out / "root" / f.path.lstrip("/")
        assert stat.S_IMODE(on_disk.stat().st_mode) == f.mode
        if f.path.endswith("authorized_keys.d/ignition"):
            keys = ign["passwd"]["users"][0]["sshAuthorizedKeys"]
            assert on_disk.read_text() == "".join(k + "\n" for k in keys)
        elif f.in_ignition:
            assert in_ign[f.path] == on_disk.read_text(), f.path
        else:
            assert f.path not in in_ign

    env = (out / "root/etc/homelab/env/rustfs.env").read_text()
    assert f"RUSTFS_SECRET_KEY={CANARY}-rustfsSecretKey" in env
    # Canary: only 0600 files may hold it; mouse's Ignition never does.
    for path in out.rglob("*"):
        if path.is_file() and not path.is_symlink() and CANARY in path.read_text():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert (CANARY in ign_path.read_text()) is (stack == "vm-test")
    assert os.readlink(out / "root/etc/localtime") == "../usr/share/zoneinfo/UTC"


def test_bad_input_writes_nothing(stacks, tmp_path):
    project, st = stacks
    unit = project / "containers" / "rustfs.container"
    unit.write_text(unit.read_text().replace("Image=", "Imagee="))
    out = tmp_path / "out"
    proc = _build(project, "mouse", out, st["mouse"].env)
    assert proc.returncode == 1
    assert "nothing written" in proc.stderr
    assert (
        "containers/rustfs.container:11: unknown key 'Imagee' in [Container]; did you mean 'Image'?"
        in proc.stderr
    )
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))


def test_missing_secret_names_the_fix(tmp_path):
    require_tools()
    project = _project(tmp_path)
    st = new_stack(project, tmp_path / "state", "mouse")
    proc = _build(project, "mouse", tmp_path / "out", st.env)
    assert proc.returncode == 1
    assert "pulumi config set --secret -s mouse rustfsAccessKey <value>" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_quadlet_check_and_fmt_cli(tmp_path):
    require_tools("quadlet")
    env = tools_env()
    files = map(str, sorted((REPO / "containers").glob("*.container")))
    ok = _homelab("quadlet", "check", *files, env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = tmp_path / "web.container"
    bad.write_text("[Container]\nImgae=docker.io/x/y:1\n\n[Servcie]\nRestart=no\n")
    proc = _homelab("quadlet", "check", str(bad), env=env)
    assert proc.returncode == 1
    assert f"{bad}:2: unknown key 'Imgae' in [Container]; did you mean 'Image'?" in proc.stdout
    assert f"{bad}:4: unknown section [Servcie]" in proc.stdout
    fmt = _homelab("quadlet", "fmt", str(REPO / "containers" / "netdata.container"), env=env)
    assert fmt.returncode == 0, fmt.stderr
    again = tmp_path / "netdata.container"
    again.write_text(fmt.stdout)
    refmt = _homelab("quadlet", "fmt", str(again), env=env)
    assert refmt.stdout == fmt.stdout  # idempotent
