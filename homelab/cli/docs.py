"""`homelab docs [--check]`: the README's reference of every stack option, rewritten from
the config models (homelab.host.reference)."""

from __future__ import annotations

import argparse
import sys

from homelab.cli.project import add_project_arg, project_of, write_in_place
from homelab.host.reference import with_reference


def main(args: argparse.Namespace) -> int:
    readme = project_of(args) / "README.md"
    text = readme.read_text()
    try:
        new = with_reference(text)
    except ValueError as exc:
        print(f"{readme}: {exc}", file=sys.stderr)
        return 1
    if new == text:
        return 0
    if args.check:
        print(f"{readme}: the option reference is out of date: run `homelab docs`")
        return 1
    write_in_place(readme, new)
    print(f"{readme}: option reference rewritten", file=sys.stderr)
    return 0


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("docs", help="rewrite README.md's option reference from the models")
    d.add_argument("--check", action="store_true", help="exit 1 if it is out of date")
    add_project_arg(d)
    d.set_defaults(func=main)
