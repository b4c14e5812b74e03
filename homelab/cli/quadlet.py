"""`python -m homelab quadlet check|fmt`: lint or format Quadlet files.

`check` runs `homelab.host.containers.check_unit`, the very checks `build` runs on a unit
file; `--stack STACK` adds that stack's settings and rules (pinned images on production,
the volume root, the pool). Then podman's own generator reads each clean file's folder.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from pathlib import Path

from homelab.cli.project import add_project_arg, project_of, write_in_place
from homelab.host.config import ContainerConfig, StackConfig
from homelab.host.containers import check_unit
from homelab.host.problems import Problems
from homelab.host.stack import ConfigError, StackFiles, chain, load_stack_config
from homelab.inputs import (
    ACCEPT_CRLF,
    UNIT_FILE_MAX,
    UNIT_LINE_MAX,
    InputError,
    read_file,
    unit_crlf_fix,
)
from homelab.quadlet import KIND_GROUP, QuadletError, QuadletUnit, parse_unit
from homelab.tools import ToolError, quadlet_dryrun


def quadlet_check(
    files: list[Path], generator: bool, stack: str | None = None, project: Path | None = None
) -> int:
    """Every problem of each file, `FILE:LINE: message` in line order; non-zero on any.

    podman loads every unit in a folder together, so `Network=app.network` in a checked file
    resolves against `app.network` beside it: the checks and the generator see that folder.
    """
    cfg, sfiles = None, None
    if stack is not None:
        try:
            cfg, sfiles = _stack(stack, project or Path.cwd())
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return 1
    bad = 0
    clean: list[Path] = []
    for path in files:
        problems = Problems(sfiles, chain(cfg) if cfg else [])
        try:
            text = read_file(
                path,
                str(path),
                UNIT_FILE_MAX,
                line_limit=UNIT_LINE_MAX,
                crlf=unit_crlf_fix(str(path)),
            )
        except InputError as exc:
            for f in exc.found:
                problems.unit(f.file, f.line, "", f.message)
        else:
            siblings = {p.name for p in path.parent.iterdir() if p.suffix in KIND_GROUP}
            name = path.name.removesuffix(".container")
            cc = cfg.containers.get(name, ContainerConfig()) if cfg else None
            check_unit(problems, text, str(path), cfg.host if cfg else None, cc, siblings)
        for line in problems.lines:
            print(line)
        bad += len(problems)
        if not problems:
            clean.append(path)
        if cfg is not None and path.suffix == ".container":
            name = path.name.removesuffix(".container")
            if name not in cfg.enabled:
                how = "enabled: false" if name in cfg.containers else "not in it"
                print(
                    f"{path}: note: container {name!r} is not enabled in stack {cfg.stack} "
                    f"(homelab:containers.{name}: {how}): `build`/`up` leave it out",
                    file=sys.stderr,
                )
    if generator:
        for folder in sorted({p.parent for p in clean}):
            bad += _generator_stage(folder, [p for p in clean if p.parent == folder])
    if not bad:
        print(f"{_count(files)} OK", file=sys.stderr)
    return 1 if bad else 0


def _count(files: list[Path]) -> str:
    return f"{len(files)} file{'' if len(files) == 1 else 's'}"


def _stack(stack: str, project: Path) -> tuple[StackConfig, StackFiles]:
    files = StackFiles(project)
    sf = files[stack]
    if not sf.exists:
        raise ConfigError([f"--stack {stack}: no stack file {sf.path.name} in {project}"])
    return load_stack_config(stack, sf.values, project, files), files


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
                print(f"{owner}:{_line_of(units[owner.name], owner.name, msg)}: {msg}")
                shown += 1
        return shown
    return 0


def _line_of(text: str, name: str, msg: str) -> int:
    """The line of the value a generator message names (the last of its key: the one in
    effect), or 0 when the message is about the whole file."""
    unit = parse_unit(text, name, [])
    m = re.search(r"key '([A-Za-z]+)' in group '([A-Za-z-]+)'", msg)
    if m:
        return unit.line_of(m.group(2), m.group(1)) or 0
    m = re.search(r"\b([A-Z][A-Za-z]+)(?:=| key)", msg)
    if m:
        lines = [n for s in unit.sections if (n := unit.line_of(s.name, m.group(1)))]
        return lines[0] if lines else 0
    return 0


# --- fmt ----------------------------------------------------------------------------------


def quadlet_fmt(files: list[Path], write: bool, check: bool, diff: bool) -> int:
    """Canonical text: printed, listed (--check), shown as a diff (--diff) or written in
    place (-w). A file with any parse error is reported (every error) and never written."""
    status = 0
    changed = 0
    for path in files:
        try:
            raw = read_file(
                path, str(path), UNIT_FILE_MAX, line_limit=UNIT_LINE_MAX, crlf=ACCEPT_CRLF
            )
        except InputError as exc:
            print(exc, file=sys.stderr)
            status = 1
            continue
        # podman's generator reads CR LF files; the canonical text ends lines in LF.
        text = raw.replace("\r\n", "\n")
        errors: list[QuadletError] = []
        unit = parse_unit(text, str(path), errors)
        if errors:
            for e in errors:
                print(e, file=sys.stderr)
            print(f"{path}: not formatted: fix the errors above first", file=sys.stderr)
            status = 1
            continue
        new = _render(unit)
        if diff and new != raw:
            sys.stdout.writelines(
                difflib.unified_diff(
                    raw.splitlines(keepends=True),
                    new.splitlines(keepends=True),
                    f"{path}\t(original)",
                    f"{path}\t(formatted)",
                )
            )
        if check:
            if new != raw:
                if not diff:
                    print(path)
                status = 1
        elif write:
            if new != raw:
                try:
                    write_in_place(path, new)
                except OSError as exc:
                    print(f"{path}: not written, left as it was: {exc}", file=sys.stderr)
                    status = 1
                    continue
                print(f"formatted {path}", file=sys.stderr)
                changed += 1
        elif not diff:
            if _is_stdout(path):
                print(
                    f"{path}: is also the standard output (`fmt {path} > {path}`): the shell "
                    "emptied it before fmt could read it; restore it (e.g. `git checkout -- "
                    f"{path}`) and use `fmt -w {path}`",
                    file=sys.stderr,
                )
                return 2
            sys.stdout.write(new)
    if write and status == 0:
        print(f"{_count(files)} OK ({changed} reformatted)", file=sys.stderr)
    return status


def _render(unit: QuadletUnit) -> str:
    return unit.render()


def _is_stdout(path: Path) -> bool:
    try:
        out, st = os.fstat(sys.stdout.fileno()), path.stat()
    except (OSError, ValueError):
        return False
    return (out.st_dev, out.st_ino) == (st.st_dev, st.st_ino)


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser("quadlet", help="lint or format Quadlet files")
    qsub = q.add_subparsers(dest="action", required=True)
    c = qsub.add_parser(
        "check",
        help="FILE:LINE: message per problem; non-zero on any",
        description="Every check `build` runs on a unit file, and podman's generator. "
        "With --stack, also that stack's settings and rules (e.g. production refuses "
        ":latest; volumes under its volume root).",
    )
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--stack", help="add this stack's settings and rules (e.g. mouse)")
    add_project_arg(c)
    c.add_argument(
        "--no-generator",
        action="store_true",
        help="skip podman's quadlet generator (syntax and key checks only)",
    )
    f = qsub.add_parser(
        "fmt",
        help="canonical text: print it, check it, diff it or write it in place",
        description="The canonical text of each file (podman's generator makes the same "
        "systemd unit from it). Without options, printed to standard output.",
    )
    f.add_argument("files", nargs="+", type=Path)
    mode = f.add_mutually_exclusive_group()
    mode.add_argument("-w", "--write", action="store_true", help="rewrite the files in place")
    mode.add_argument(
        "--check", action="store_true", help="list the files that would change; exit 1 if any"
    )
    f.add_argument("--diff", action="store_true", help="show the changes as a unified diff")
    q.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    if args.action == "check":
        project = project_of(args) if args.stack else None
        return quadlet_check(args.files, not args.no_generator, args.stack, project)
    return quadlet_fmt(args.files, args.write, args.check, args.diff)
