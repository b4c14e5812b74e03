"""`build` and `secrets` subcommands of `python -m homelab` (the quadlet ones live in cli.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from homelab.build import BuildError, build, load_for_build
from homelab.config import ConfigError, stack_file
from homelab.hostplan import PlanError
from homelab.stackfile import write_private
from homelab.tools import ToolError

REPO = Path(__file__).resolve().parent.parent


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
    p = sub.add_parser(
        "stackfile", help="write the private copy of Pulumi.STACK.yaml (for --config-file)"
    )
    p.add_argument("stack")
    p.add_argument("private", type=Path)
    p.add_argument("--salt-from", type=Path, help="a stack file to take the salt from")
    p.add_argument("--project", type=Path, default=REPO, help=argparse.SUPPRESS)
    p.set_defaults(func=main_stackfile)


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
    try:
        cfg = load_for_build(args.stack, args.project)
    except (ConfigError, BuildError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for name in cfg.secret_names():
        print(name)
    return 0


def main_stackfile(args: argparse.Namespace) -> int:
    write_private(stack_file(args.project, args.stack), args.private, args.salt_from)
    return 0
