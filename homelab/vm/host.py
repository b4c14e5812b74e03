"""What a libvirt host says about itself (`virsh capabilities`) and clearing what a killed
`pulumi up` left behind: the virsh calls. What the answers mean is homelab.vm.libvirt_facts."""

from __future__ import annotations

import grp
import os
import posixpath
import pwd
import shutil
import subprocess

from homelab.vm.config import DirFacts, unreachable_pool
from homelab.vm.libvirt_facts import (
    LIBVIRT_KINDS,
    VmHostError,
    owned,
    qemu_gid,
    qemu_ids,
    stale_commands,
)

__all__ = ["LIBVIRT_KINDS", "VmHostError", "clear_stale", "qemu_gid", "read_capabilities"]


def read_capabilities(uri: str) -> str:
    virsh = shutil.which("virsh")
    if virsh is None:
        raise VmHostError(
            "virsh not found: install libvirt's client (Debian: apt-get install "
            "libvirt-clients; Fedora: dnf install libvirt-client)"
        )
    proc = subprocess.run(
        [virsh, "-c", uri, "capabilities"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise VmHostError(
            f"`virsh -c {uri} capabilities` failed: {proc.stderr.strip()}\n"
            "is libvirtd running? (here: scripts/libvirt-up)"
        )
    return proc.stdout


def clear_stale(uri: str, kind: str, name: str, pool: str | None, prefix: str) -> bool:
    """Remove the libvirt `kind` called `name` if it exists; True if there was one.

    Called right before the engine creates that object: the engine does not track it, so
    it is the leftover of an interrupted create. Only names of this stack are touched.
    """
    if not owned(name, prefix):
        raise VmHostError(f"refusing to clear libvirt {kind} {name!r}: not named {prefix}*")
    prepare, find, remove = stale_commands(kind, name, pool)
    for cmd in prepare:
        _virsh(uri, cmd)
    if _virsh(uri, find).returncode != 0:
        return False
    for cmd in remove:
        _virsh(uri, cmd)
    if _virsh(uri, find).returncode == 0:
        raise VmHostError(f"could not remove the stale libvirt {kind} {name!r}")
    return True


def _virsh(uri: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["virsh", "-c", uri, *args], capture_output=True, text=True, check=False, timeout=120
    )


def check_pool_path(pool_path: str, capabilities_xml: str, domain_type: str) -> None:
    """VmHostError when qemu's user cannot reach `pool_path` (the stat of each existing
    parent folder here; the judgement in homelab.vm.config.unreachable_pool)."""
    ids = qemu_ids(capabilities_xml, domain_type)
    if ids is None:
        return  # qemu runs as the daemon's own user (root): it reaches everything
    uid, gid = ids
    try:
        name = pwd.getpwuid(uid).pw_name
        gids = {gid, *(g.gr_gid for g in grp.getgrall() if name in g.gr_mem)}
    except KeyError:
        name, gids = str(uid), {gid}
    folders, path = [], "/"
    for part in [p for p in pool_path.split("/") if p]:
        st = os.stat(path) if os.path.isdir(path) else None
        if st is None:
            break
        folders.append(DirFacts(path, st.st_mode, st.st_uid, st.st_gid))
        path = posixpath.join(path, part)
    if msg := unreachable_pool(pool_path, folders, uid, frozenset(gids), f"{name} (uid {uid})"):
        raise VmHostError(msg)
