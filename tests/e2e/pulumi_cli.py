"""Running the real pulumi CLI from tests: local file backend, passphrase, offline plugins."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pulumi import automation as auto

from homelab.cli.stackfile import public

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / ".tools" / "bin"
TEST_PASSPHRASE = "homelab-test-passphrase"
NEEDED = (
    "pulumi",
    "pulumi-language-python",
    "pulumi-language-python-exec",
    "pulumi-resource-pulumi-python",
    "butane",
    "ignition-validate",
    "quadlet",
)


PROJECT_FILES = ("Pulumi.yaml", "pyproject.toml", "uv.lock", "__main__.py")
PROJECT_DIRS = ("containers", "components", "homelab")


def _unpackaged(dest: Path) -> None:
    """pyproject.toml and uv.lock at `dest`, with the project itself not installed.

    A copy shares the checkout's .venv (a symlink), and `toolchain: uv` runs `uv sync` in
    the program's folder before every run: were the copy a package, that sync would repoint
    the shared venv's editable `homelab` (its `homelab` command) at the copy, or fail to
    build it where the copy has no homelab/ (tests/e2e/tiny_program). The copy's own code
    still runs: pulumi puts the program's folder first on sys.path."""
    pyproject = (REPO / "pyproject.toml").read_text()
    marker = "[tool.uv.build-backend]"
    assert marker in pyproject, "pyproject.toml: the uv build backend table moved"
    (dest / "pyproject.toml").write_text(
        pyproject.replace(marker, "[tool.uv]\npackage = false\n\n" + marker)
    )
    lock = (REPO / "uv.lock").read_text()
    editable = 'name = "homelab"\nversion = "0.1.0"\nsource = { editable = "." }'
    assert editable in lock, "uv.lock: the project's own entry changed"
    (dest / "uv.lock").write_text(lock.replace(editable, editable.replace("editable", "virtual")))


def project_copy(dest: Path, images_lock: bool = True) -> Path:
    """A copy of the project as a user runs it, at `dest`. Its stack files keep the tracked
    settings but drop whatever salt or secrets the developer's own stacks put there, so a test
    never depends on the state of the working stack files. `images_lock`: the copy's
    images.lock made by `homelab images lock` against the test registry (tests/e2e/registry.py;
    the real images' digests cannot be resolved from here)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in PROJECT_FILES:
        shutil.copy(REPO / f, dest / f)
    _unpackaged(dest)
    for d in PROJECT_DIRS:
        shutil.copytree(REPO / d, dest / d, ignore=shutil.ignore_patterns("__pycache__"))
    for f in REPO.glob("Pulumi.*.yaml"):
        doc = public(yaml.safe_load(f.read_text()) or {})
        (dest / f.name).write_text(yaml.safe_dump(doc, sort_keys=False))
    (dest / ".venv").symlink_to(REPO / ".venv")
    if images_lock:
        from tests.e2e.registry import lock_images

        lock_images(dest)
    return dest


def program_copy(src: Path, dest: Path) -> Path:
    """A test program at `dest`, run on the project's own lock and venv (`toolchain: uv`
    needs pyproject.toml and uv.lock beside Pulumi.yaml)."""
    shutil.copytree(src, dest)
    _unpackaged(dest)
    (dest / ".venv").symlink_to(REPO / ".venv")
    return dest


def require_tools(*names: str) -> None:
    """Fail (never skip) with the install command when a tool is missing."""
    missing = [n for n in (names or NEEDED) if not (TOOLS / n).exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)} in {TOOLS}: run scripts/install-tools")


def tools_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH=f"{TOOLS}:{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}",
        PULUMI_HOME=str(REPO / ".tools" / "pulumi-home"),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_AUTOMATION_API_SKIP_VERSION_CHECK="true",
        PULUMI_CONFIG_PASSPHRASE=TEST_PASSPHRASE,
        NO_COLOR="1",
    )
    env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
    env.update(extra)
    return env


@dataclass
class Stack:
    project: Path
    name: str
    env: dict[str, str]

    def run(
        self, *args: str, check: bool = True, timeout: int = 600, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["pulumi", *args, "--stack", self.name, "--non-interactive"],
            cwd=self.project,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            input=stdin,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {proc.returncode}\n"
                f"--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
            )
        return proc

    def popen(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        """Start pulumi in a session of its own, output to `log`: a test can then kill it
        together with the plugins it started (they run in process groups of their own)."""
        with log.open("wb") as out:
            return subprocess.Popen(
                ["pulumi", *args, "--stack", self.name, "--non-interactive"],
                cwd=self.project,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def last_update(self) -> dict:
        """The engine's own record of the latest operation: result and resourceChanges."""
        return json.loads(self.run("stack", "history", "--json").stdout)[0]

    def outputs(self, show_secrets: bool = False) -> dict:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if show_secrets else [])
        return json.loads(self.run(*args).stdout)

    def up(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """`pulumi up --yes`: the preview, then the update, as a user runs it."""
        return self.run("up", "--yes", *extra, check=check)

    def preview(self, *extra: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("preview", "--diff", *extra, check=check)

    def set_secret(self, key: str, value: str) -> None:
        # Value on stdin, so it never appears in a process list.
        self.run("config", "set", "--secret", key, stdin=value)

    def set(self, key: str, value: str, *, path: bool = True) -> None:
        """`pulumi config set [--path] KEY VALUE` (keys with a namespace, e.g. homelab:ssh.port)."""
        self.run("config", "set", *(["--path"] if path else []), key, value)

    def get(self, key: str, *, path: bool = True) -> str:
        return self.run("config", "get", *(["--path"] if path else []), key).stdout.strip()

    def rm(self, key: str, *, path: bool = True) -> None:
        self.run("config", "rm", *(["--path"] if path else []), key)

    def export(self) -> str:
        return self.run("stack", "export").stdout

    def urn(self, type_token: str) -> str:
        """URN of the one resource of `type_token` in the stack's state."""
        resources = json.loads(self.export())["deployment"].get("resources") or []
        urns = [r["urn"] for r in resources if r["type"] == type_token]
        assert len(urns) == 1, f"{len(urns)} resources of type {type_token}"
        return str(urns[0])


def new_stack(project: Path, state: Path, name: str, **env: str) -> Stack:
    """Log in to a file:// backend in `state` and create `name` for `project`."""
    require_tools("pulumi", "pulumi-language-python", "pulumi-language-python-exec")
    state.mkdir(parents=True, exist_ok=True)
    e = tools_env(PULUMI_BACKEND_URL=f"file://{state}", **env)
    venv = project / ".venv"
    if not venv.exists():
        venv.symlink_to(REPO / ".venv")
    st = Stack(project, name, e)
    subprocess.run(
        ["pulumi", "stack", "init", name, "--non-interactive"],
        cwd=project,
        env=e,
        capture_output=True,
        text=True,
        check=True,
    )
    return st


def automation_stack(project: Path, state: Path, name: str, **env: str) -> auto.Stack:
    """`name` for `project` through pulumi.automation, on the same CLI, plugins and file://
    backend as `new_stack`."""
    require_tools("pulumi", "pulumi-language-python", "pulumi-language-python-exec")
    state.mkdir(parents=True, exist_ok=True)
    e = tools_env(PULUMI_BACKEND_URL=f"file://{state}", **env)
    ws = auto.LocalWorkspace(
        work_dir=str(project),
        env_vars=e,
        pulumi_command=auto.PulumiCommand(root=str(TOOLS.parent), skip_version_check=True),
    )
    return auto.Stack.create(name, ws)
