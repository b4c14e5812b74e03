"""Everything the vm-test stack needs from this machine before any resource is registered:
the base image (a preview never downloads; `up` verifies or fetches it), the domain type and
the group qemu runs as. The decision lives here; `__main__.py` only wires it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from homelab.vm import host, image
from homelab.vm.config import VmConfig
from homelab.vm.libvirt_facts import qemu_gid


@dataclass(frozen=True)
class PreparedVm:
    base_image: Path
    domain_type: str
    qemu_gid: int | None
    notice: str | None  # what a preview tells (the image `up` will fetch), or None


def prepare_vm(cfg: VmConfig, dry_run: bool) -> PreparedVm:
    """Raises ImageError / VmHostError with the whole story."""
    if dry_run:
        base_image, notice = image.cached_path(cfg), image.preview_notice(cfg)
    else:
        base_image, notice = image.ensure_base_image(cfg), None
    domain_type = cfg.domain_type or image.detect_domain_type(cfg.uri)
    capabilities = host.read_capabilities(cfg.uri)
    if cfg.pool is None:
        # homelab makes the pool folder: qemu's user must be able to reach it (libvirt's
        # "Cannot access storage file" at `up` otherwise).
        host.check_pool_path(cfg.pool_path, capabilities, domain_type)
    return PreparedVm(base_image, domain_type, qemu_gid(capabilities, domain_type), notice)
