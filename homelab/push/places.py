"""Where the push's things are: its directories on the host, and its POSIX sh here."""

from __future__ import annotations

from pathlib import Path

BASE = "/etc/homelab"
CURRENT = f"{BASE}/current"
# The POSIX sh run on the host (Fedora CoreOS has no python).
REMOTE_DIR = Path(__file__).resolve().parent / "remote"
# The generation the first push saves the host's own files in (apply.sh): kept for good.
PRE_HOMELAB = "000000-empty"
