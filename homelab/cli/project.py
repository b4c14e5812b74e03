"""Which project a command works on (so `homelab ...` runs from any folder of the checkout),
and rewriting one of its files safely."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

# The checkout this program runs from (an editable install points here).
CHECKOUT = Path(__file__).resolve().parents[2]


def find_project(start: Path | None = None) -> Path:
    """The nearest folder from `start` (default: the current one) upward that holds
    Pulumi.yaml; else the checkout the program runs from."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Pulumi.yaml").is_file():
            return folder
    return CHECKOUT


def add_project_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project",
        type=Path,
        default=None,
        help="the project folder (default: the nearest one upward holding Pulumi.yaml)",
    )


def project_of(args: argparse.Namespace) -> Path:
    return args.project if args.project is not None else find_project()


def write_in_place(path: Path, text: str) -> None:
    """Replace `path`'s content with `text` at once: a scratch file beside it (same folder,
    same file system) with its mode, fsynced, then renamed over it. A failure leaves the
    file as it was. A symlink stays and its target is replaced."""
    target = path.resolve()
    st = target.stat()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, st.st_mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
