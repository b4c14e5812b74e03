"""`python -m homelab`: the command line, an edge (it reads and writes files and runs the
tools). `quadlet check|fmt` (quadlet.py); `build`, `secrets` (build.py); `stackfile`
(stackfile.py)."""

from __future__ import annotations

import argparse

from homelab.cli import build, quadlet, stackfile


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m homelab")
    sub = ap.add_subparsers(dest="command", required=True)
    quadlet.add_subcommands(sub)
    build.add_subcommands(sub)
    stackfile.add_subcommands(sub)
    args = ap.parse_args(argv)
    return int(args.func(args))
