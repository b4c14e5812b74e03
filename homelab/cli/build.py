"""`python -m homelab build STACK --out DIR`: the host's files, Butane and Ignition, offline;
`python -m homelab secrets STACK`: the secret config keys a stack needs.

`build` mirrors `mise run ucore:build`: no Pulumi engine, no host touched. Everything is
validated before the first byte is written, each tool runs once, and the output appears all
at once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from homelab.fileset import FileSet, file_contents, manifest
from homelab.host.butane import has_secrets, render_butane
from homelab.host.config import NAMESPACE
from homelab.host.plan import HostPlan, plan_host
from homelab.host.problems import PlanError
from homelab.host.stack import ConfigError, StackFiles, load_stack_config, pick_secrets
from homelab.inputs import check_arg
from homelab.quadlet.rules import under
from homelab.tools import ToolError, check_units, make_ignition, tool

REPO = Path(__file__).resolve().parents[2]


class BuildError(Exception):
    pass


def stack_secrets(stack: str, project_dir: Path) -> dict[str, str]:
    """The stack's `homelab:` secret values, decrypted by the pulumi CLI."""
    proc = subprocess.run(
        [tool("pulumi"), "config", "--show-secrets", "--json", "--stack", stack],
        cwd=project_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise BuildError(
            f"cannot read the secrets of stack {stack!r} with `pulumi config`: "
            f"{proc.stderr.strip()}\nlog in to the state backend (`pulumi login`) and set "
            "PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE"
        )
    prefix = NAMESPACE + ":"
    return {
        key.removeprefix(prefix): str(entry["value"])
        for key, entry in json.loads(proc.stdout).items()
        if key.startswith(prefix) and "value" in entry
    }


def load(stack: str, project_dir: Path, files: StackFiles) -> HostPlan:
    """The stack's plan, from its stack file (read once, through `files`)."""
    sf = files[stack]
    if not sf.exists:
        raise BuildError(f"no stack file {sf.path.name} in {project_dir}")
    cfg = load_stack_config(stack, sf.values, project_dir, files)
    return plan_host(cfg, project_dir, files)


def check_out(out: Path, stack: str, project_dir: Path) -> None:
    """`--out DIR` is replaced as a whole: it may be new, empty, or an earlier build of this
    stack, never a directory holding anything else (nor the project, nor a link)."""
    msg = check_arg("--out", str(out))
    if msg:
        raise BuildError(msg)
    if out.is_symlink():
        raise BuildError(f"--out {out} is a symbolic link; give the directory itself")
    if under(str(project_dir.resolve()), str(out.resolve())):
        raise BuildError(f"--out {out} holds the project itself; give a new or empty directory")
    if not out.exists():
        return
    if not out.is_dir():
        raise BuildError(f"--out {out} exists and is not a directory; give a directory")
    ours = {"root", f"{stack}.bu", f"{stack}.ign", "manifest.json"}
    names = sorted(p.name for p in out.iterdir())
    others = [n for n in names if n not in ours]
    if others or (names and "manifest.json" not in names):
        shown = ", ".join(others[:3] or names[:3])
        raise BuildError(
            f"--out {out} holds files an earlier `build {stack}` did not write ({shown}); build "
            "replaces the directory as a whole: give a new or empty directory"
        )


def build(stack: str, out: Path, project_dir: Path) -> HostPlan:
    files = StackFiles(project_dir)
    files[stack]  # the stack name is checked before --out names a file after it
    check_out(out, stack, project_dir)
    plan = load(stack, project_dir, files)
    fs = plan.fileset
    check_units(plan)
    secrets = pick_secrets(
        plan.config, stack_secrets(stack, project_dir) if fs.secret_names else {}, files
    )
    butane = render_butane(fs, secrets if has_secrets(fs) else None)
    ignition = make_ignition(butane)
    _write_all(out, stack, fs, file_contents(fs, secrets), butane, ignition)
    return plan


def _write(path: Path, data: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    os.chmod(path, mode)  # umask must not loosen or tighten what the host gets


def _write_all(
    out: Path, stack: str, fs: FileSet, contents: dict[str, str], butane: str, ignition: str
) -> None:
    """DIR/root/... (the host's tree), STACK.bu, STACK.ign and manifest.json, all at once."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        os.chmod(tmp, 0o755)
        root = tmp / "root"
        for d in fs.dirs:
            p = root / d.path.lstrip("/")
            p.mkdir(parents=True, exist_ok=True)
            os.chmod(p, d.mode)
        for f in fs.files:
            _write(root / f.path.lstrip("/"), contents[f.path], f.mode)
        for ln in fs.links:
            p = root / ln.path.lstrip("/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.symlink_to(ln.target)
        _write(tmp / f"{stack}.bu", butane, 0o600 if has_secrets(fs) else 0o644)
        _write(tmp / f"{stack}.ign", ignition, 0o600)
        _write(
            tmp / "manifest.json", json.dumps(manifest(fs), indent=2, sort_keys=True) + "\n", 0o644
        )
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("build", help="write a stack's host files, Butane and Ignition to DIR")
    b.add_argument("stack")
    b.add_argument("--out", required=True, type=Path)
    b.add_argument("--project", type=Path, default=REPO, help=argparse.SUPPRESS)
    b.set_defaults(func=main_build)
    s = sub.add_parser("secrets", help="list the secret config keys a stack needs")
    s.add_argument("stack")
    s.add_argument("--project", type=Path, default=REPO, help=argparse.SUPPRESS)
    s.set_defaults(func=main_secrets)


def main_build(args: argparse.Namespace) -> int:
    try:
        plan = build(args.stack, args.out, args.project)
    except (ConfigError, PlanError, ToolError, BuildError) as exc:
        print(f"homelab build {args.stack}: nothing written:\n{exc}", file=sys.stderr)
        return 1
    fs = plan.fileset
    print(
        f"{args.out}: {len(fs.files)} files, {len(fs.dirs)} directories, {len(fs.links)} links; "
        f"{args.stack}.bu, {args.stack}.ign (0600)"
    )
    return 0


def main_secrets(args: argparse.Namespace) -> int:
    files = StackFiles(args.project)
    try:
        sf = files[args.stack]
        if not sf.exists:
            raise BuildError(f"no stack file {sf.path.name} in {args.project}")
        cfg = load_stack_config(args.stack, sf.values, args.project, files)
    except (ConfigError, BuildError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for name in cfg.secret_names():
        print(name)
    return 0
