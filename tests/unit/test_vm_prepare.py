"""What vm-test needs from this machine before anything is registered (homelab.vm.prepare):
a preview never fetches the base image and says that `up` will; `up` verifies it first."""

from __future__ import annotations

import hashlib
import lzma

from homelab.vm.config import VmConfig
from homelab.vm.prepare import prepare_vm
from tests.unit.test_program import CAPABILITIES

IMAGE = b"QFI\xfb" + bytes(range(256)) * 16


def _cfg(tmp_path) -> VmConfig:
    src = tmp_path / "img.qcow2.xz"
    src.write_bytes(lzma.compress(IMAGE, format=lzma.FORMAT_XZ))
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    return VmConfig(
        base_image=str(src),
        base_image_sha256=sha,
        cache_dir=str(tmp_path / "cache"),
        domain_type="qemu",
    )


def test_a_preview_never_fetches_and_says_up_will(tmp_path, monkeypatch):
    monkeypatch.setattr("homelab.vm.host.read_capabilities", lambda uri: CAPABILITIES)
    cfg = _cfg(tmp_path)
    vm = prepare_vm(cfg, dry_run=True)
    assert not vm.base_image.exists()
    assert vm.notice is not None and vm.notice.startswith("`pulumi up` will first copy")
    assert (vm.domain_type, vm.qemu_gid) == ("qemu", 64055)


def test_up_verifies_the_image_first(tmp_path, monkeypatch):
    monkeypatch.setattr("homelab.vm.host.read_capabilities", lambda uri: CAPABILITIES)
    cfg = _cfg(tmp_path)
    vm = prepare_vm(cfg, dry_run=False)
    assert vm.base_image.read_bytes() == IMAGE and vm.notice is None
    again = prepare_vm(cfg, dry_run=True)  # cached now: a preview has nothing to tell
    assert again.notice is None and again.base_image == vm.base_image
