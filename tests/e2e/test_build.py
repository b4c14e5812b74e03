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

from homelab.host.layout import layout_host
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
    plan = layout_host(load_stack_config(stack, files[stack].values, project, files), project)
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
        if f.secret and stack == "mouse":
            continue
        assert stat.S_IMODE(on_disk.stat().st_mode) == f.mode
        if f.path.endswith("authorized_keys.d/ignition"):
            keys = ign["passwd"]["users"][0]["sshAuthorizedKeys"]
            assert on_disk.read_text() == "".join(k + "\n" for k in keys)
        elif f.in_ignition:
            assert in_ign[f.path] == on_disk.read_text(), f.path
        else:
            assert f.path not in in_ign

    env_file = out / "root/etc/homelab/env/rustfs.env"
    if stack == "vm-test":  # its Ignition carries the values, so its tree does too
        assert f"RUSTFS_SECRET_KEY={CANARY}-rustfsSecretKey" in env_file.read_text()
    else:  # mouse keeps them out of Ignition: not asked for, not written
        assert not env_file.exists()
        assert "/etc/homelab/env/rustfs.env (secret values" in proc.stdout
        assert json.loads((out / "manifest.json").read_text())["/etc/homelab/env/rustfs.env"][
            "secret"
        ]
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
    st = new_stack(project, tmp_path / "state", "vm-test")  # its Ignition carries secrets
    proc = _build(project, "vm-test", tmp_path / "out", st.env)
    assert proc.returncode == 1
    # The fix the README gives: the value is prompted for, never put on a command line.
    assert "`pulumi config set --secret -s vm-test rustfsAccessKey` (it prompts" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_mouse_builds_without_pulumi_or_secrets(tmp_path):
    """mouse keeps secrets out of its Ignition, so its build asks pulumi nothing: no login,
    no passphrase, no stack, and no file with a secret value written."""
    require_tools("butane", "ignition-validate", "quadlet")
    project = _project(tmp_path)
    env = tools_env(PULUMI_HOME=str(tmp_path / "empty-pulumi-home"))
    for var in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_ACCESS_TOKEN"):
        env.pop(var, None)
    out = tmp_path / "out"
    proc = _build(project, "mouse", out, env)
    assert proc.returncode == 0, proc.stderr
    assert not (out / "root/etc/homelab/env").exists()
    assert "RUSTFS_SECRET_KEY=" not in (out / "mouse.ign").read_text()
    assert (out / "root/etc/containers/systemd/rustfs.container").is_file()
    assert not (tmp_path / "empty-pulumi-home").exists()  # pulumi never ran


def test_mouse_with_secrets_writes_them_0600(stacks, tmp_path):
    project, st = stacks
    out = tmp_path / "out"
    proc = _homelab(
        "build",
        "mouse",
        "--out",
        str(out),
        "--with-secrets",
        "--project",
        str(project),
        env=st["mouse"].env,
    )
    assert proc.returncode == 0, proc.stderr
    env_file = out / "root/etc/homelab/env/rustfs.env"
    assert f"RUSTFS_SECRET_KEY={CANARY}-rustfsSecretKey" in env_file.read_text()
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert CANARY not in (out / "mouse.ign").read_text() + proc.stdout + proc.stderr


def _snapshot(folder: Path) -> dict[str, tuple[int, int, bytes | None]]:
    """Every entry under `folder`: (mode, mtime_ns, content of a file)."""
    out = {}
    for p in [folder, *sorted(folder.rglob("*"))]:
        st = p.lstat()
        data = p.read_bytes() if p.is_file() and not p.is_symlink() else None
        out[str(p.relative_to(folder))] = (st.st_mode, st.st_mtime_ns, data)
    return out


def _build_in(cwd: Path, out: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m homelab build mouse --out OUT` run from `cwd` (a project copy: found by
    walking up from there, as a user's `homelab` finds it)."""
    return subprocess.run(
        [sys.executable, "-m", "homelab", "build", "mouse", "--out", out],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_out_dot_in_the_project_is_refused_and_nothing_touched(tmp_path):
    project = _project(tmp_path)
    before = _snapshot(project)
    proc = _build_in(project, ".", tools_env())
    assert proc.returncode == 1
    assert proc.stderr == (
        "homelab build mouse: nothing written:\n"
        "--out . holds the project itself; give a new or empty directory\n"
    )
    assert _snapshot(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no scratch left


def test_out_onto_a_folder_with_a_users_file_is_refused(tmp_path):
    project = _project(tmp_path)
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("my notes\n")
    before = _snapshot(notes)
    proc = _build_in(project, str(notes), tools_env())
    assert proc.returncode == 1
    assert f"--out {notes}: refusing to write there" in proc.stderr
    assert "todo.txt" in proc.stderr
    assert _snapshot(notes) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "project"]


def test_out_onto_a_previous_output_replaces_it_and_only_it(tmp_path):
    require_tools("butane", "ignition-validate", "quadlet")
    project = _project(tmp_path)
    out = tmp_path / "out"
    first = _build_in(project, str(out), tools_env())
    assert first.returncode == 0, first.stderr
    hostname = out / "root/etc/hostname"
    assert hostname.read_text() == "mouse\n"
    stack = project / "Pulumi.mouse.yaml"
    stack.write_text(stack.read_text().replace("hostname: mouse", "hostname: mouse2"))
    again = _build_in(project, str(out), tools_env())
    assert again.returncode == 0, again.stderr
    assert hostname.read_text() == "mouse2\n"
    assert sorted(p.name for p in out.iterdir()) == [
        ".homelab-build.json",
        "manifest.json",
        "mouse.bu",
        "mouse.ign",
        "root",
    ]
    # A file of the user's beside the output: the next build refuses and keeps it.
    (out / "mine.txt").write_text("keep me\n")
    before = _snapshot(out)
    third = _build_in(project, str(out), tools_env())
    assert third.returncode == 1 and "mine.txt, which no build wrote" in third.stderr
    assert _snapshot(out) == before
    # An empty folder is fine too, and keeps its identity (it may be the shell's cwd).
    empty = tmp_path / "empty"
    empty.mkdir()
    ino = empty.stat().st_ino
    assert _build_in(project, str(empty), tools_env()).returncode == 0
    assert empty.stat().st_ino == ino and (empty / "mouse.ign").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "out", "project"]


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
