"""`python -m homelab quadlet check|fmt`: lint or format any Quadlet file."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from homelab.inputs import UNIT_FILE_MAX, UNIT_LINE_MAX, InputError, read_file
from homelab.quadlet import KIND_GROUP, QuadletError, check, parse_unit
from homelab.tools import ToolError, quadlet_dryrun


def quadlet_check(files: list[Path], generator: bool) -> int:
    """Lint each file; with `generator`, also run podman's generator over each file's folder.

    podman loads every unit in a folder together, so `Network=app.network` in a checked file
    resolves against `app.network` beside it: the generator sees the same folder here.
    """
    bad = 0
    clean: list[Path] = []
    for path in files:
        problems = check(path)
        for p in problems:
            print(p)
        bad += len(problems)
        if not problems:
            clean.append(path)
    if generator:
        for folder in sorted({p.parent for p in clean}):
            bad += _generator_stage(folder, [p for p in clean if p.parent == folder])
    return 1 if bad else 0


def _generator_stage(folder: Path, named: list[Path]) -> int:
    """podman's generator over `folder`'s units; its messages attributed to the named files."""
    units: dict[str, str] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix in KIND_GROUP and p.is_file():
            try:
                units[p.name] = p.read_text()
            except (OSError, UnicodeDecodeError):
                if p in named:
                    raise
    try:
        quadlet_dryrun(units, shown_dir=str(folder))
    except ToolError as exc:
        msgs = str(exc).removeprefix("quadlet generator: ").splitlines()
        shown = 0
        for msg in msgs:
            owner = next((p for p in named if f'"{p.name}"' in msg or str(p) in msg), None)
            if owner is None and len(named) == 1:
                owner = named[0]
            if owner is not None:
                print(f"{owner}:{_line_of(owner, msg)}: {msg}")
                shown += 1
        return shown
    return 0


def _line_of(path: Path, msg: str) -> int:
    """The line of the key a generator message names, or 0 (the message is about the file)."""
    m = re.search(r"\b([A-Z][A-Za-z]+)(?:=| key)", msg)
    if m:
        for n, ln in enumerate(path.read_text().splitlines(), 1):
            if ln.lstrip().startswith(m.group(1) + "="):
                return n
    return 0


def quadlet_fmt(path: Path) -> int:
    try:
        text = read_file(path, str(path), UNIT_FILE_MAX, line_limit=UNIT_LINE_MAX)
        unit = parse_unit(text, str(path))
    except InputError as exc:
        print(exc, file=sys.stderr)
        return 1
    except QuadletError as exc:
        print(exc, file=sys.stderr)
        return 1
    sys.stdout.write(unit.render())
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
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
    q.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.action == "check":
        return quadlet_check(args.files, not args.no_generator)
    return quadlet_fmt(args.file)
