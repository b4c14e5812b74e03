"""Base images for the test VM: fetched once, verified, decompressed, cached.

libvirt volumes cannot take Fedora CoreOS's `.qcow2.xz` (terraform-provider-libvirt#390),
so the image is verified against its published sha256 (of the file as downloaded) and
decompressed here, once; the VM's pool gets the plain qcow2 from the cache.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from homelab.vm.config import VmConfig
from homelab.vm.image_cache import ImageError, cache_dir, cached_path, download_notice

__all__ = ["ImageError", "cache_dir", "cached_path", "ensure_base_image", "preview_notice"]

CHUNK = 1 << 20


def preview_notice(cfg: VmConfig) -> str | None:
    """What a preview should tell about the base image: `up` will fetch it, or nothing."""
    return None if cached_path(cfg).is_file() else download_notice(cfg)


def _fetch(src: str, dst: Path) -> None:
    parsed = urllib.parse.urlparse(src)
    if parsed.scheme in ("http", "https", "file"):
        with urllib.request.urlopen(src, timeout=60) as resp, dst.open("wb") as out:
            shutil.copyfileobj(resp, out, CHUNK)
    elif parsed.scheme == "":
        path = Path(os.path.expanduser(src))
        if not path.is_file():
            raise ImageError(f"base image {src!r} does not exist")
        shutil.copyfile(path, dst)
    else:
        raise ImageError(f"base image {src!r}: unsupported scheme {parsed.scheme!r}")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def ensure_base_image(cfg: VmConfig) -> Path:
    """The verified, decompressed base image, fetching it on first use.

    A wrong checksum raises ImageError and leaves nothing in the cache.
    """
    final = cached_path(cfg)
    if final.is_file():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
        download = Path(tmp) / "download"
        _fetch(cfg.base_image, download)
        got = sha256_file(download)
        if got != cfg.base_image_sha256:
            raise ImageError(
                f"base image {cfg.base_image!r} has sha256 {got}, but homelab:vm."
                f"base_image_sha256 is {cfg.base_image_sha256}: fix the checksum or the image; "
                "nothing was created"
            )
        plain = Path(tmp) / "plain"
        if cfg.base_image.endswith(".xz"):
            with lzma.open(download) as src, plain.open("wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
        else:
            download.rename(plain)
        os.chmod(plain, 0o644)
        plain.rename(final)  # atomic: a half-written image never looks cached
    return final


def detect_domain_type(uri: str) -> str:
    """`kvm` when this machine can run KVM guests for a local URI, else `qemu` (TCG)."""
    if "+ssh" in uri or "+tcp" in uri or "+tls" in uri:
        return "kvm"  # a remote hypervisor: assume a real machine
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
    except OSError:
        return "qemu"
    os.close(fd)
    # /dev/kvm can exist without hardware virtualisation (nested sandboxes): check the CPU.
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return "kvm" if (" vmx" in flags or " svm" in flags) else "qemu"
