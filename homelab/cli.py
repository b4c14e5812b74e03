"""`python -m homelab`: quadlet check|fmt, build, secrets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from homelab import commands
from homelab.quadlet import QuadletError, check, parse_unit
from homelab.tools import ToolError, quadlet_dryrun


def quadlet_check(files: list[Path], generator: bool) -> int:
    """Lint each file; with `generator`, also run podman's generator over them together."""
    bad = 0
    texts: dict[str, str] = {}
    for path in files:
        problems = check(path)
        for p in problems:
            print(p)
        bad += len(problems)
        if not problems:
            texts[path.name] = path.read_text()
    if generator and texts and not bad:
        try:
            quadlet_dryrun(texts)
        except ToolError as exc:
            for line in str(exc).splitlines():
                print(f"{files[0] if len(files) == 1 else 'quadlet'}:0: {line}")
            bad += 1
    return 1 if bad else 0


def quadlet_fmt(path: Path) -> int:
    try:
        unit = parse_unit(path.read_text(), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{path}:0: cannot read: {exc}", file=sys.stderr)
        return 1
    except QuadletError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(unit.render())
    return 0


def add_quadlet_parser(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("quadlet", help="lint or format Quadlet files")
    qsub = q.add_subparsers(dest="action", required=True)
    c = qsub.add_parser("check", help="FILE:LINE: message per problem; non-zero on any")
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument(
        "--no-generator",
        action="store_true",
        help="skip podman's quadlet generator (syntax and key checks only)",
    )
    f = qsub.add_parser("fmt", help="print the canonical text")
    f.add_argument("file", type=Path)
    q.set_defaults(func=main_quadlet)


def main_quadlet(args: argparse.Namespace) -> int:
    if args.action == "check":
        return quadlet_check(args.files, not args.no_generator)
    return quadlet_fmt(args.file)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m homelab")
    sub = ap.add_subparsers(dest="command", required=True)
    add_quadlet_parser(sub)
    commands.add_subcommands(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))
