"""homelab.quadlet.systemd_keys is systemd 257's own list: the one in the simulated host's
root file system (Debian 13, beside podman 5.4), asked with --dump-configuration-items."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from homelab.quadlet.systemd_keys import INSTALL_KEYS, SERVICE_KEYS, UNIT_KEYS

ROOTFS = Path(os.environ.get("HOMELAB_SIM_CACHE", "/var/cache/homelab/simhost")) / "rootfs"


def _dump() -> dict[str, set[str]]:
    systemd = ROOTFS / "usr/lib/systemd/systemd"
    if not systemd.exists():
        pytest.fail(f"no {systemd}: run `scripts/sim-host build` (scripts/test does)")
    out = subprocess.run(
        ["chroot", str(ROOTFS), "/usr/lib/systemd/systemd", "--dump-configuration-items"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys: dict[str, set[str]] = {}
    section = ""
    for line in out.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line:
            keys.setdefault(section, set()).add(line.split("=", 1)[0])
    return keys


def test_the_tables_are_systemds_own():
    dump = _dump()
    version = subprocess.run(
        ["chroot", str(ROOTFS), "/usr/lib/systemd/systemd", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert version.startswith("systemd 257 ")
    assert dump["Unit"] == UNIT_KEYS
    assert dump["Service"] == SERVICE_KEYS
    assert dump["Install"] == INSTALL_KEYS
