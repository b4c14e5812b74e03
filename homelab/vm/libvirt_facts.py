"""What libvirt's answers mean, for the vm-test stack (pure; homelab.vm.host asks virsh).

The VM's Ignition carries vm-test's secrets, and terraform-provider-libvirt writes every
volume 0644 (a fixed mode in its volume definition), with qemu reading the Ignition by a
path that anyone sees in `ps`. So the pool directory itself is closed: only its owner (the
daemon) and the group qemu runs as may enter it. That group is the host's own business
(Debian: libvirt-qemu, Fedora: qemu, or root); libvirt reports it as the DAC base label.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET


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
