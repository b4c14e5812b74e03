"""Where the test VM's verified base image is cached, and what a preview says about it
(pure; homelab.vm.image fetches and verifies)."""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from homelab.vm.config import VmConfig


class ImageError(Exception):
    pass


def cache_dir(cfg: VmConfig) -> Path:
    return Path(os.path.expanduser(cfg.cache_dir))


def cached_path(cfg: VmConfig) -> Path:
    """Where the verified, decompressed image lives; named by the checksum it was checked with."""
    name = Path(urllib.parse.urlparse(cfg.base_image).path).name.removesuffix(".xz")
    return cache_dir(cfg) / f"{cfg.base_image_sha256[:16]}-{name}"


def download_notice(cfg: VmConfig) -> str:
    """What a preview tells when the base image is not cached yet: `up` will fetch it."""
    cached = cached_path(cfg)
    verb = "copy" if urllib.parse.urlparse(cfg.base_image).scheme in ("", "file") else "download"
    return (
        f"`pulumi up` will first {verb} the base image {cfg.base_image} (sha256 "
        f"{cfg.base_image_sha256}), verify it, and cache it as {cached}"
    )
