"""What every part of the push raises, and where it lives on the host."""

from __future__ import annotations

from pathlib import Path

BASE = "/etc/homelab"
CURRENT = f"{BASE}/current"
# The generation the first push saves the host's own files in (apply.sh): kept for good.
PRE_HOMELAB = "000000-empty"
# The POSIX sh run on the host (Fedora CoreOS has no python).
REMOTE_DIR = Path(__file__).resolve().parent / "remote"


class PushError(RuntimeError):
    """The push failed; the message is meant for the person running `pulumi up`."""
