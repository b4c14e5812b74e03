"""`python -m homelab build STACK --out DIR`: the host's files, Butane and Ignition, offline.

It mirrors `mise run ucore:build`: no Pulumi engine, no host touched. Everything is
validated before the first byte is written, and the output appears all at once.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from homelab.butane import has_secrets, render_butane
from homelab.config import StackConfig, load_stack_config, read_stack_file, stack_file
from homelab.fileset import file_contents
from homelab.hostplan import HostPlan, file_summary, plan_host
from homelab.tools import ToolError, run_butane, tool, validate_ignition
from homelab.validate import validate_plan


class BuildError(Exception):
    pass


def stack_secrets(stack: str, names: list[str], project_dir: Path) -> dict[str, str]:
    """Secret values from the stack's own config, decrypted by the pulumi CLI."""
    if not names:
        return {}
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
    data = json.loads(proc.stdout)
    out, missing = {}, []
    for name in names:
        entry = data.get(f"homelab:{name}")
        if entry is None:
            missing.append(
                f"Pulumi.{stack}.yaml: homelab:{name}: required secret is not set; set it with "
                f"`pulumi config set --secret -s {stack} {name} <value>`"
            )
        else:
            out[name] = str(entry["value"])
    if missing:
        raise BuildError("\n".join(missing))
    return out


def load_for_build(stack: str, project_dir: Path) -> StackConfig:
    path = stack_file(project_dir, stack)
    if not path.exists():
        raise BuildError(f"no stack file {path.name} in {project_dir}")
    return load_stack_config(stack, read_stack_file(path), project_dir)


def _write(path: Path, data: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(data)
    os.chmod(path, mode)  # umask must not loosen or tighten what the host gets


def build(stack: str, out: Path, project_dir: Path) -> HostPlan:
    cfg = load_for_build(stack, project_dir)
    plan = plan_host(cfg, project_dir)
    validate_plan(plan)
    fs = plan.fileset
    secrets = stack_secrets(stack, list(fs.secret_names), project_dir)
    butane = render_butane(fs, secrets if has_secrets(fs) else None)
    # Byte for byte the engine's `ignition` output: pulumi-command drops the one trailing
    # newline of butane's stdout, so the offline build drops it too.
    ignition = run_butane(butane).removesuffix("\n")
    validate_ignition(ignition)
    contents = file_contents(fs, secrets)

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
            tmp / "manifest.json",
            json.dumps(file_summary(fs), indent=2, sort_keys=True) + "\n",
            0o644,
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
    return plan


__all__ = ["BuildError", "ToolError", "build"]
