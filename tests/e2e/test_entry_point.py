"""`uv run homelab ...` as a user types it, from a folder below the project's root."""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest

from tests.e2e.pulumi_cli import REPO, tools_env

VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


def _uv(*args: str, cwd=REPO / "containers") -> subprocess.CompletedProcess[str]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.fail('uv is not on PATH: python3 -m pip install "uv==0.13.9" (as scripts/test)')
    # PATH without the venv: the `homelab` that runs is the one `uv run` itself finds.
    env = tools_env()
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if not p.startswith(str(REPO)))
    env["PATH"] = f"{REPO / '.tools' / 'bin'}:{env['PATH']}"
    return subprocess.run(
        [uv, "run", "--quiet", *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_version_from_a_subfolder():
    proc = _uv("homelab", "--version")
    assert (proc.returncode, proc.stdout) == (0, f"homelab {VERSION}\n"), proc.stderr


def test_commands_find_the_project_from_a_subfolder():
    # From containers/: the files are relative to it, the stack file is found upward.
    files = sorted(p.name for p in (REPO / "containers").glob("*.container"))
    proc = _uv("homelab", "quadlet", "check", "--stack", "mouse", *files)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stderr
    assert proc.stderr.splitlines()[-1] == f"{len(files)} files OK", proc.stderr
    secrets = _uv("homelab", "secrets", "mouse", cwd=REPO / "docs")
    names = [ln.split()[0] for ln in secrets.stdout.splitlines()]
    assert names == ["rustfsAccessKey", "rustfsSecretKey"], secrets.stderr
