"""Reading THE content-free description of a FileSet (`homelab.fileset.manifest` writes it;
the form is described there), and the one sha256 of file contents.

Light on purpose (no pydantic, no FileSet): the push's dynamic provider reads manifests on
every preview.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from typing import Any


def sha256(data: str | bytes) -> str:
    """Hex sha256 of `data` (text as UTF-8): the one digest of file contents."""
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# Datasets share the manifest with paths under this prefix (no path starts with it).
DATASET_KEY = "zfs:"


def files(m: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, entry) of every regular file, sorted by path."""
    return (
        (p, e)
        for p, e in sorted(m.items())
        if not e.get("dir") and "link" not in e and "dataset" not in e
    )


def dirs(m: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path without the trailing '/', entry) of every directory, sorted by path."""
    found = [(p.removesuffix("/"), e) for p, e in m.items() if e.get("dir")]
    return iter(sorted(found, key=lambda pe: pe[0]))


def links(m: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(path, target) of every symlink, sorted by path."""
    return ((p, e["link"]) for p, e in sorted(m.items()) if "link" in e)


def datasets(m: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every dataset entry ({dataset, mountpoint, properties, units}), sorted by name."""
    return (e for _, e in sorted(m.items()) if "dataset" in e)


def mode(entry: Mapping[str, Any]) -> int:
    return int(entry["mode"], 8)


def owner(entry: Mapping[str, Any]) -> tuple[int, int]:
    uid, _, gid = entry["owner"].partition(":")
    return int(uid), int(gid)
