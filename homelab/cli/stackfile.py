"""`python -m homelab stackfile STACK PRIVATE`: a private copy of a stack file, for
`pulumi --config-file`.

`pulumi stack init` and `pulumi config set --secret` write a per-user encryption salt and
encrypted values into `Pulumi.<stack>.yaml`. For a stack whose secrets are throwaway (vm-test),
those belong to the user, not to the repository: they live in a private file outside the
clone, which is the tracked file's settings plus the user's salt and `secure:` values.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from homelab.cli.project import add_project_arg, project_of
from homelab.host.stack import ConfigError, StackFile, StackFiles, stack_file

PRIVATE_TOP_KEYS = ("encryptionsalt", "secretsprovider", "encryptedkey")


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def merge_private(tracked: dict[str, Any], private: dict[str, Any]) -> dict[str, Any]:
    """The tracked settings, with the private file's salt and secure values kept.

    A tracked key always wins, so an edit to the tracked file reaches the next run; a secure
    value the tracked file does not set is kept from the private file.
    """
    out: dict[str, Any] = {k: private[k] for k in PRIVATE_TOP_KEYS if private.get(k)}
    config = dict(tracked.get("config") or {})
    for key, value in (private.get("config") or {}).items():
        if _is_secure(value) and key not in config:
            config[key] = value
    out.update({k: v for k, v in tracked.items() if k != "config"})
    out["config"] = config
    return out


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """A stack file without anyone's salt or encrypted values: what the repository shares."""
    out = {k: v for k, v in doc.items() if k not in PRIVATE_TOP_KEYS}
    out["config"] = {k: v for k, v in (doc.get("config") or {}).items() if not _is_secure(v)}
    return out


def _load(path: Path | None) -> dict[str, Any]:
    """A stack file's document, read through the checked edge (`homelab.inputs`)."""
    return StackFile(path).data if path and path.exists() else {}


def write_private(tracked_path: Path, private_path: Path, salt_from: Path | None = None) -> None:
    """(Re)write the private file; a salt pulumi just wrote into `salt_from` is taken."""
    private = _load(private_path)
    salted = _load(salt_from)
    private.update({k: salted[k] for k in PRIVATE_TOP_KEYS if salted.get(k)})
    merged = merge_private(_load(tracked_path), private)
    private_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = private_path.with_suffix(".tmp")
    tmp.touch(mode=0o600)
    tmp.write_text(
        f"# Private copy of {tracked_path.name} (made by scripts/preview): the tracked settings\n"
        "# plus this user's encryption salt and secrets. Edit the tracked file, not this one.\n"
        + yaml.safe_dump(merged, sort_keys=False)
    )
    tmp.replace(private_path)


def add_subcommands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stackfile", help="write the private copy of Pulumi.STACK.yaml (for --config-file)"
    )
    p.add_argument("stack")
    p.add_argument("private", type=Path)
    p.add_argument("--salt-from", type=Path, help="a stack file to take the salt from")
    add_project_arg(p)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        StackFiles(project_of(args))[args.stack]
        write_private(stack_file(project_of(args), args.stack), args.private, args.salt_from)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0
