"""Reading an Ignition config back: what a machine would get from it."""

from __future__ import annotations

import base64
import gzip
import urllib.parse
from typing import Any


def decode(contents: dict[str, Any]) -> str:
    """The bytes an Ignition `contents` entry (a data URL, maybe gzipped) writes, as text."""
    head, _, data = contents["source"].partition(",")
    raw = (
        base64.b64decode(data) if head.endswith(";base64") else urllib.parse.unquote_to_bytes(data)
    )
    if contents.get("compression") == "gzip":
        raw = gzip.decompress(raw)
    return raw.decode()


def files(ign: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """path -> (content, mode) of every file the Ignition config writes."""
    return {f["path"]: (decode(f["contents"]), f["mode"]) for f in ign["storage"]["files"]}
