"""Config of the libvirt test VM (`homelab:vm` in Pulumi.vm-test.yaml).

Owned by the vm-test component; the stack config embeds it under the key `vm`.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class VmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = "qemu:///system"
    domain_type: Literal["kvm", "qemu"] | None = None  # None: detect
    # Local path or http(s)/file URL of a Fedora CoreOS / uCore qcow2 (may end in .xz).
    base_image: str
    base_image_sha256: str  # of the file as downloaded (the .xz when compressed)
    pool: str | None = None  # existing storage pool to use; None: create one
    pool_path: str = "/var/lib/libvirt/images/homelab"
    disk_size_gib: int = Field(20, ge=1, le=4096)
    memory_mib: int = Field(4096, ge=256)
    vcpus: int = Field(2, ge=1, le=64)
    network_cidr: str = "192.168.127.0/24"
    cache_dir: str = "~/.cache/homelab/images"
    # Wait for a DHCP lease to report the VM's IP (needs a guest that boots and asks).
    wait_for_lease: bool = False
    # libvirt's AppArmor/SELinux drivers do not label the fw_cfg Ignition file
    # (terraform-provider-libvirt#142); a throwaway test VM runs unconfined instead.
    unconfined: bool = True

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
