"""Base image cache: real xz, a real loopback HTTP server, checksum gate."""

from __future__ import annotations

import functools
import hashlib
import http.server
import lzma
import threading
from pathlib import Path

import pytest

from homelab.vm.config import VmConfig
from homelab.vm.image import (
    ImageError,
    cached_path,
    detect_domain_type,
    ensure_base_image,
    preview_notice,
)

IMAGE = b"QFI\xfb" + bytes(range(256)) * 64  # qcow2 magic + payload: content is what matters


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    (root / "img.qcow2.xz").write_bytes(lzma.compress(IMAGE, format=lzma.FORMAT_XZ))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root
    srv.shutdown()


def _cfg(src: str, sha: str, tmp_path) -> VmConfig:
    return VmConfig(base_image=src, base_image_sha256=sha, cache_dir=str(tmp_path / "cache"))


def test_url_xz_is_verified_decompressed_and_cached(served, tmp_path):
    url, root = served
    xz = (root / "img.qcow2.xz").read_bytes()
    cfg = _cfg(f"{url}/img.qcow2.xz", hashlib.sha256(xz).hexdigest(), tmp_path)
    path = ensure_base_image(cfg)
    assert path == cached_path(cfg) and path.read_bytes() == IMAGE
    (root / "img.qcow2.xz").unlink()  # a second call must not fetch again
    assert ensure_base_image(cfg).read_bytes() == IMAGE


def test_local_path_plain(tmp_path):
    img = tmp_path / "base.qcow2"
    img.write_bytes(IMAGE)
    cfg = _cfg(str(img), hashlib.sha256(IMAGE).hexdigest(), tmp_path)
    assert ensure_base_image(cfg).read_bytes() == IMAGE


def test_wrong_checksum_is_refused_and_nothing_cached(served, tmp_path):
    url, _ = served
    cfg = _cfg(f"{url}/img.qcow2.xz", "0" * 64, tmp_path)
    with pytest.raises(ImageError, match="base_image_sha256 is 0000") as e:
        ensure_base_image(cfg)
    assert "nothing was created" in str(e.value)
    assert not cached_path(cfg).exists()
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.parametrize(
    ("uri", "kvm_device", "cpuinfo", "expected"),
    [
        ("qemu+ssh://core@host/system", False, "", "kvm"),  # remote: a real machine
        ("qemu:///system", False, "flags : fpu vmx", "qemu"),  # no /dev/kvm
        ("qemu:///system", True, "flags : fpu sse2", "qemu"),  # /dev/kvm, no VT-x/AMD-V
        ("qemu:///system", True, "flags : fpu vmx sse2", "kvm"),
        ("qemu:///session", True, "flags : fpu svm", "kvm"),
    ],
)
def test_domain_type_detection(monkeypatch, uri, kvm_device, cpuinfo, expected):
    """The machine's facts are given (this machine has /dev/kvm without VT-x, where only TCG
    works: ../shared/reference/test-machines.md); the decision is the function's."""
    import homelab.vm.image as vmimage

    def fake_open(path, flags):
        assert path == "/dev/kvm"
        if not kvm_device:
            raise FileNotFoundError(path)
        return -1

    class FakePath(type(Path())):  # type: ignore[misc]
        def exists(self, **kw):
            return str(self) == "/proc/cpuinfo" or super().exists(**kw)

        def read_text(self, *a, **kw):
            return cpuinfo if str(self) == "/proc/cpuinfo" else super().read_text(*a, **kw)

    monkeypatch.setattr(vmimage.os, "open", fake_open)
    monkeypatch.setattr(vmimage.os, "close", lambda fd: None)
    monkeypatch.setattr(vmimage, "Path", FakePath)
    assert detect_domain_type(uri) == expected


def test_preview_notice_says_up_will_download_and_from_where_until_cached(tmp_path):
    url = "https://example.invalid/fcos.qcow2.xz"
    cfg = VmConfig(base_image=url, base_image_sha256="b" * 64, cache_dir=str(tmp_path))
    notice = preview_notice(cfg)
    assert notice is not None
    assert f"will first download the base image {url} (sha256 {'b' * 64})" in notice
    cached_path(cfg).write_bytes(b"qcow2")
    assert preview_notice(cfg) is None
