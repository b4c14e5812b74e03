"""`python -m homelab build STACK --out DIR`: the host's files, Butane and Ignition, offline;
`python -m homelab secrets STACK`: the secret config keys a stack needs.

`build` mirrors `mise run ucore:build`: no Pulumi engine, no host touched. Everything is
validated before the first byte is written, each tool runs once, and the output appears all
at once. DIR is written only when it is missing, empty, or a previous build's output (its
marker file lists what that build wrote); anything else is refused before any work.

Secret values are asked of `pulumi config` only when the stack's Ignition carries them
(vm-test), or with `--with-secrets`; mouse keeps them out of Ignition, so its build needs no
Pulumi login and writes no secret file.
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

from homelab.cli.project import add_project_arg, project_of
from homelab.fileset import FileSet, file_contents, manifest
from homelab.host.butane import has_secrets, render_butane
from homelab.host.config import NAMESPACE, StackConfig
from homelab.host.layout import HostLayout, layout_host
from homelab.host.problems import LayoutError
from homelab.host.stack import ConfigError, StackFiles, load_stack_config, pick_secrets
from homelab.inputs import check_arg
from homelab.pathrules import under
from homelab.tools import ToolError, check_units, make_ignition, owner_access_problems, tool

MARKER = ".homelab-build.json"  # what a build wrote into DIR: its proof that DIR is ours
STAGING = ".homelab-build-"  # prefix of our scratch folders (a crashed run may leave one)


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


def load(stack: str, project_dir: Path, files: StackFiles) -> HostLayout:
    """The stack's host layout, from its stack file (read once, through `files`)."""
    return layout_host(load_for_build(stack, project_dir, files), project_dir, files)


def check_out_arg(out: Path, project_dir: Path) -> None:
    """`--out DIR` as an argument: a plain path, not a link, not holding the project (what the
    folder may already hold is `out_entries`' business)."""
    msg = check_arg("--out", str(out))
    if msg:
        raise BuildError(msg)
    if out.is_symlink():
        raise BuildError(f"--out {out} is a symbolic link; give the directory itself")
    if under(str(project_dir.resolve()), str(out.resolve())):
        raise BuildError(f"--out {out} holds the project itself; give a new or empty directory")


def out_entries(out: Path) -> list[str]:
    """What a build into `out` replaces: nothing when `out` is missing or empty, else the
    entries a previous build wrote there (its marker says which). BuildError for anything
    else: a build never deletes what it did not write."""
    if out.exists() and not out.is_dir():
        raise BuildError(f"--out {out}: exists and is not a folder; choose a new folder")
    if not out.exists():
        return []
    everything = sorted(os.listdir(out))
    scratch = [n for n in everything if n.startswith(STAGING)]  # ours, from this or a crash
    names = [n for n in everything if n not in scratch]
    if not names:
        return scratch
    try:
        written = json.loads((out / MARKER).read_text())["entries"]
        assert isinstance(written, list)
        assert all(isinstance(n, str) and n.strip("./") and "/" not in n for n in written)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise BuildError(
            f"--out {out}: refusing to write there: it is neither empty nor the output of an "
            f"earlier `homelab build` (no {MARKER}); it holds {shown}. Nothing was changed. "
            "Choose a new or empty folder, e.g. --out out/STACK"
        ) from None
    ours = {*written, MARKER}
    foreign = [n for n in names if n not in ours]
    if foreign:
        raise BuildError(
            f"--out {out}: refusing to write there: it holds {', '.join(foreign)}, which no "
            "build wrote (a build replaces the whole folder). Nothing was changed. Move "
            "them away or choose another folder"
        )
    return names + scratch


def build(stack: str, out: Path, project_dir: Path, with_secrets: bool = False) -> HostLayout:
    files = StackFiles(project_dir)
    files[stack]  # the stack name is checked before --out names a file after it
    check_out_arg(out, project_dir)
    out = out.resolve()
    out_entries(out)  # refuse before any work, so a refusal touches nothing
    layout = load(stack, project_dir, files)
    fs = layout.fileset
    check_units(layout)
    # Said, not refused: the owner may install with another key, but should know.
    lockout = owner_access_problems(layout.config, fs, files, reinstall=True)
    in_ignition = has_secrets(fs)
    secrets = None
    if in_ignition or (with_secrets and fs.secret_names):
        secrets = pick_secrets(layout.config, stack_secrets(stack, project_dir), files)
    butane = render_butane(fs, secrets if in_ignition else None)
    ignition = make_ignition(butane)
    _write_all(out, stack, fs, file_contents(fs, secrets), butane, ignition)
    for msg in lockout:
        print(f"homelab build {stack}: warning: {msg}", file=sys.stderr)
    return layout


def _write(path: Path, data: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    os.chmod(path, mode)  # umask must not loosen or tighten what the host gets


def _fill(
    tmp: Path, stack: str, fs: FileSet, contents: dict[str, str], butane: str, ignition: str
) -> None:
    """root/... (the host's tree), STACK.bu, STACK.ign, manifest.json and the marker."""
    root = tmp / "root"
    root.mkdir()
    for d in fs.dirs:
        p = root / d.path.lstrip("/")
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, d.mode)
    for f in fs.files:
        if f.path in contents:  # a secret file only when its values were asked for
            _write(root / f.path.lstrip("/"), contents[f.path], f.mode)
    for ln in fs.links:
        p = root / ln.path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.symlink_to(ln.target)
    _write(tmp / f"{stack}.bu", butane, 0o600 if has_secrets(fs) else 0o644)
    _write(tmp / f"{stack}.ign", ignition, 0o600)
    _write(tmp / "manifest.json", json.dumps(manifest(fs), indent=2, sort_keys=True) + "\n", 0o644)
    entries = sorted(os.listdir(tmp))
    marker = {"written_by": "homelab build", "stack": stack, "entries": entries}
    _write(tmp / MARKER, json.dumps(marker, indent=2) + "\n", 0o644)


def _write_all(
    out: Path, stack: str, fs: FileSet, contents: dict[str, str], butane: str, ignition: str
) -> None:
    """Everything is written to a scratch folder first, then appears at once: a missing
    `out` by one rename; an existing one (empty, or an earlier output) keeps its identity
    and gets the new entries, the earlier build's entries moved out first."""
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=STAGING, dir=out.parent))
        try:
            os.chmod(tmp, 0o755)
            _fill(tmp, stack, fs, contents, butane, ignition)
            tmp.rename(out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return
    stage = Path(tempfile.mkdtemp(prefix=STAGING, dir=out))
    try:
        _fill(stage, stack, fs, contents, butane, ignition)
        old = [n for n in out_entries(out) if out / n != stage]  # again: it may have changed
        trash = Path(tempfile.mkdtemp(prefix=STAGING, dir=out))
        for name in old:
            (out / name).rename(trash / name)
        for name in os.listdir(stage):
            (stage / name).rename(out / name)
        shutil.rmtree(trash)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser(
        "build",
        help="write a stack's host files, Butane and Ignition to DIR",
        description="Write what STACK's host gets, offline: DIR/root/... (the host's files), "
        "DIR/STACK.bu, DIR/STACK.ign (0600) and DIR/manifest.json. DIR must be new, empty or "
        "an earlier build's output. Secret values are read from `pulumi config` only when "
        "the stack's Ignition carries them, or with --with-secrets.",
    )
    b.add_argument("stack")
    b.add_argument("--out", required=True, type=Path, metavar="DIR")
    b.add_argument(
        "--with-secrets",
        action="store_true",
        help="also write the secret env files (0600), asking `pulumi config` for the values",
    )
    add_project_arg(b)
    b.set_defaults(func=main_build)
    s = sub.add_parser("secrets", help="list the secret config keys a stack needs")
    s.add_argument("stack")
    s.add_argument(
        "--names", action="store_true", help="print the key names alone, one a line (for scripts)"
    )
    add_project_arg(s)
    s.set_defaults(func=main_secrets)


def main_build(args: argparse.Namespace) -> int:
    try:
        layout = build(args.stack, args.out, project_of(args), args.with_secrets)
    except (ConfigError, LayoutError, ToolError, BuildError) as exc:
        print(f"homelab build {args.stack}: nothing written:\n{exc}", file=sys.stderr)
        return 1
    fs = layout.fileset
    secret = [f.path for f in fs.files if f.secret]
    left_out = secret if not (has_secrets(fs) or args.with_secrets) else []
    print(
        f"{args.out}: {len(fs.files) - len(left_out)} files, {len(fs.dirs)} directories, "
        f"{len(fs.links)} links under root/; {args.stack}.bu, {args.stack}.ign (0600), "
        "manifest.json"
    )
    off = not_enabled(layout.config, project_of(args))
    if off:
        print(
            f"left out (not enabled in {args.stack}): {', '.join(off)}; enable one with "
            f"`pulumi config set -s {args.stack} --path containers.NAME.enabled true`"
        )
    if left_out:
        print(
            f"not written: {', '.join(left_out)} (secret values, kept out of this stack's "
            f"Ignition; `pulumi up -s {args.stack}` delivers them; --with-secrets writes them)"
        )
    elif secret:
        print(f"secret values written, 0600: {', '.join(secret)}")
    return 0


def not_enabled(cfg: StackConfig, project_dir: Path) -> list[str]:
    """Containers the stack knows (its config, or a file in containers/) but does not deploy."""
    files = {p.stem for p in (project_dir / "containers").glob("*.container")}
    return sorted((files | set(cfg.containers)) - set(cfg.enabled))


def load_for_build(stack: str, project_dir: Path, files: StackFiles | None = None) -> StackConfig:
    """A stack's config as its stack file states it (no Pulumi engine involved)."""
    files = files or StackFiles(project_dir)
    sf = files[stack]
    if not sf.exists:
        raise BuildError(f"no stack file {sf.path.name} in {project_dir}")
    return load_stack_config(stack, sf.values, project_dir, files)


def main_secrets(args: argparse.Namespace) -> int:
    try:
        files = StackFiles(project_of(args))
        cfg = load_for_build(args.stack, project_of(args), files)
    except (ConfigError, BuildError) as exc:
        print(exc, file=sys.stderr)
        return 1
    # Set = the stack file holds an encrypted value for it (read without decrypting it).
    config = files[args.stack].config
    names = cfg.secret_names()
    if args.names:
        for name in names:
            print(name)
        return 0
    w = max((len(n) for n in names), default=0)
    for name in names:
        entry = config.get(f"{NAMESPACE}:{name}")
        is_set = isinstance(entry, dict) and "secure" in entry
        how = "set" if is_set else f"NOT SET: pulumi config set --secret -s {args.stack} {name}"
        print(f"{name:<{w}}  {how}")
    return 0
