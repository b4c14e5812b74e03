"""Config of the libvirt test VM (`homelab:vm` in Pulumi.vm-test.yaml).

Owned by the vm-test component; the stack config embeds it under the key `vm`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from homelab.pathrules import absolute_problem, normalise, own_dir_problem, unprintable


class VmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field("qemu:///system", description="libvirt connection URI")
    domain_type: Literal["kvm", "qemu"] | None = Field(
        None, description="`kvm`, `qemu` (TCG, no hardware virtualisation) or null to detect"
    )
    base_image: str = Field(
        description="path or http(s)/file URL of a Fedora CoreOS / uCore qcow2 (may end in "
        "`.xz`); `up` fetches it once into `cache_dir`"
    )
    base_image_sha256: str = Field(
        description="sha256 of the file as downloaded (of the `.xz` when compressed)"
    )
    pool: str | None = Field(
        None,
        description="an existing libvirt storage pool to use (refused while the Ignition "
        "carries secrets: homelab can close only its own pool); null: create one",
    )
    pool_path: str = Field(
        "/var/lib/libvirt/images/homelab", description="folder of the pool homelab creates"
    )
    disk_size_gib: int = Field(20, ge=1, le=4096, description="root disk size, GiB")
    memory_mib: int = Field(4096, ge=256, description="memory, MiB")
    vcpus: int = Field(2, ge=1, le=64, description="virtual CPUs")
    network_cidr: str = Field(
        "192.168.127.0/24", description="the VM's NAT network; must not overlap the host's"
    )
    cache_dir: str = Field(
        "~/.cache/homelab/images", description="where verified base images are kept"
    )
    wait_for_lease: bool = Field(
        False, description="wait for a DHCP lease to report the VM's IP (needs a booting guest)"
    )
    # libvirt's AppArmor/SELinux drivers do not label the fw_cfg Ignition file
    # (terraform-provider-libvirt#142); a throwaway test VM runs unconfined instead.
    unconfined: bool = Field(
        True,
        description="run without libvirt's security driver, which cannot label the "
        "fw_cfg Ignition file",
    )

    @field_validator("base_image_sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", v.lower()):
            raise ValueError("base_image_sha256 must be 64 hex digits (sha256sum of the image)")
        return v.lower()

    @field_validator("pool")
    @classmethod
    def _pool(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", v):
            raise ValueError("pool must be a libvirt pool name: letters, digits, '_', '.', '-'")
        return v

    @field_validator("pool_path")
    @classmethod
    def _pool_path(cls, v: str) -> str:
        # homelab creates this folder and gives it to qemu's group: never a system folder.
        if not v or unprintable(v) or absolute_problem(v):
            raise ValueError("pool_path must be an absolute path without '..', '.' or spaces")
        if own_dir_problem(v):
            raise ValueError(f"pool_path {v} is a system folder; use a folder of its own")
        return normalise(v)

    @field_validator("cache_dir")
    @classmethod
    def _cache_dir(cls, v: str) -> str:
        home = v == "~" or v.startswith("~/")
        if not v or unprintable(v) or absolute_problem("/" + v[1:] if home else v):
            raise ValueError(
                "cache_dir must be an absolute path or start with '~/', without '..' or spaces"
            )
        return v

    @field_validator("network_cidr")
    @classmethod
    def _network(cls, v: str) -> str:
        try:
            net = ipaddress.IPv4Network(v, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"network_cidr must be an IPv4 network such as 192.168.127.0/24 ({exc})"
            ) from None
        if not net.is_private or not 8 <= net.prefixlen <= 29:
            raise ValueError(
                "network_cidr must be a private IPv4 network with a prefix from /8 to /29 "
                "(libvirt's NAT network serves DHCP on it)"
            )
        return str(net)

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if not re.fullmatch(r"(qemu|qemu\+ssh|qemu\+tcp|qemu\+tls)://[^\s]*/(system|session)", v):
            raise ValueError("uri must be a qemu libvirt URI such as qemu:///system")
        return v


@dataclass(frozen=True)
class DirFacts:
    """What `stat` says of one folder on the way to a path (read at the edge)."""

    path: str
    mode: int
    uid: int
    gid: int


def can_enter(d: DirFacts, uid: int, gids: frozenset[int]) -> bool:
    """Search (x) permission on `d` for a process of `uid` in `gids`, as the kernel decides:
    owner bits for the owner, else group bits for a member, else the others' bits."""
    if uid == 0:
        return True
    if d.uid == uid:
        return bool(d.mode & 0o100)
    if d.gid in gids:
        return bool(d.mode & 0o010)
    return bool(d.mode & 0o001)


def unreachable_pool(
    pool_path: str, folders: list[DirFacts], uid: int, gids: frozenset[int], who: str
) -> str | None:
    """What is wrong when qemu's user (`who`: uid `uid`, groups `gids`) cannot reach
    `pool_path` through `folders` (its existing parent folders, from `/` down), else None.
    The pool folder itself is homelab's: it opens it to qemu's group when it creates it."""
    for d in folders:
        if d.path == pool_path or can_enter(d, uid, gids):
            continue
        return (
            f"homelab:vm.pool_path {pool_path}: qemu runs as {who} and cannot enter {d.path} "
            f"(mode {d.mode & 0o7777:04o}, owner {d.uid}:{d.gid}), so libvirt would fail at `up` "
            f'with "Cannot access storage file ... Permission denied"; let it through with '
            f"`chmod o+x {d.path}` (search only, nothing listed), or choose a pool_path it can "
            "reach, such as the default /var/lib/libvirt/images/homelab"
        )
    return None
