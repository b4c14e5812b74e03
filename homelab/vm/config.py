"""Config of the libvirt test VM (`homelab:vm` in Pulumi.vm-test.yaml).

Owned by the vm-test component; the stack config embeds it under the key `vm`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


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
        None, description="an existing libvirt storage pool to use; null: create one"
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

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: str) -> str:
        if not re.fullmatch(r"(qemu|qemu\+ssh|qemu\+tcp|qemu\+tls)://[^\s]*/(system|session)", v):
            raise ValueError("uri must be a qemu libvirt URI such as qemu:///system")
        return v
