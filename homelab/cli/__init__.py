"""`homelab` (or `python -m homelab`): the command line, an edge (it reads and writes files
and runs the tools). `quadlet check|fmt` (quadlet.py); `build`, `secrets` (build.py);
`docs` (docs.py); `stackfile` (stackfile.py); `status`, `logs`, `generations`,
`rollback` (day2.py); `images lock|outdated|update` (images.py). `uv run homelab ...`
works from any folder of the checkout: the project is installed editable, and commands find
the project by walking up to Pulumi.yaml."""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata

from homelab.cli import build, day2, docs, images, quadlet, stackfile


def version() -> str:
    try:
        return metadata.version("homelab")
    except metadata.PackageNotFoundError:  # run from a copy the venv does not install
        return "unknown (not installed: run `uv sync`)"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="homelab",
        description="Quadlet containers on uCore: check and format unit files, build a "
        "stack's files offline, keep the README's option reference current; status, logs, "
        "generations and rollback of a pushed host.",
    )
    ap.add_argument("--version", action="version", version=f"homelab {version()}")
    sub = ap.add_subparsers(dest="command", required=True)
    quadlet.add_subcommands(sub)
    build.add_subcommands(sub)
    docs.add_subcommands(sub)
    stackfile.add_subcommands(sub)
    day2.add_subcommands(sub)
    images.add_subcommands(sub)
    args = ap.parse_args(argv)
    try:
        rc = int(args.func(args))
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader left (`homelab status mouse | head -1`): that is not an error of ours.
        # Point stdout at /dev/null so the interpreter's final flush cannot raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return rc
