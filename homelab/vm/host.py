"""What a libvirt host says about itself (`virsh capabilities`), for the vm-test stack.

The VM's Ignition carries vm-test's secrets, and terraform-provider-libvirt writes every
volume 0644 (a fixed mode in its volume definition), with qemu reading the Ignition by a
path that anyone sees in `ps`. So the pool directory itself is closed: only its owner (the
daemon) and the group qemu runs as may enter it. That group is the host's own business
(Debian: libvirt-qemu, Fedora: qemu, or root); libvirt reports it as the DAC base label.
"""

from __future__ import annotations

import grp
import os
import posixpath
import pwd
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

from homelab.vm.config import DirFacts, unreachable_pool


class VmHostError(Exception):
    pass


def qemu_gid(capabilities_xml: str, domain_type: str) -> int | None:
    """The group id libvirt runs `domain_type` guests as, or None without a DAC model
    (qemu then runs as the daemon's own user, which owns the pool anyway)."""
    ids = qemu_ids(capabilities_xml, domain_type)
    return ids[1] if ids else None


def qemu_ids(capabilities_xml: str, domain_type: str) -> tuple[int, int] | None:
    """(uid, gid) libvirt runs `domain_type` guests as (its DAC base label), or None."""
    root = ET.fromstring(capabilities_xml)
    for model in root.iterfind("./host/secmodel"):
        if model.findtext("model") != "dac":
            continue
        for label in model.iterfind("baselabel"):
            if label.get("type") == domain_type:
                m = re.fullmatch(r"\+?(\d+):\+?(\d+)", (label.text or "").strip())
                if not m:
                    raise VmHostError(f"unexpected libvirt DAC label {label.text!r}")
                return int(m.group(1)), int(m.group(2))
    return None


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


def stale_commands(
    kind: str, name: str, pool: str | None
) -> tuple[list[list[str]], list[str], list[list[str]]]:
    """virsh commands to clear `name`: (prepare, find it, remove it); prepare and remove may
    fail (a stopped domain cannot be destroyed, only undefined).

    Pools are stopped and forgotten, but their directory and files stay: the volumes that
    follow clear themselves one by one, and nothing else of the user's is touched.
    """
    if kind == "domain":
        return [], ["dominfo", name], [["destroy", name], ["undefine", name]]
    if kind == "network":
        return [], ["net-info", name], [["net-destroy", name], ["net-undefine", name]]
    if kind == "pool":
        return [], ["pool-info", name], [["pool-destroy", name], ["pool-undefine", name]]
    if kind == "volume" and pool:
        # The pool may not have scanned a file the killed run wrote: refresh it first.
        return (
            [["pool-refresh", pool]],
            ["vol-info", "--pool", pool, name],
            [["vol-delete", "--pool", pool, name]],
        )
    raise VmHostError(f"cannot clear a libvirt {kind} {name!r} (pool {pool!r})")


def owned(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith((f"{prefix}-", f"{prefix}."))


# The libvirt object each resource type of the provider creates (what clear_stale removes).
LIBVIRT_KINDS = {
    "libvirt:index/pool:Pool": "pool",
    "libvirt:index/network:Network": "network",
    "libvirt:index/volume:Volume": "volume",
    "libvirt:index/ignition:Ignition": "volume",
    "libvirt:index/domain:Domain": "domain",
}


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
