"""Unit tests plan stacks without a registry: unless a test asks for the real file
(`real_images_lock`), images.lock is a stand-in that locks every reference to a digest made
from its name (a mock, like the Pulumi ones; the e2e tests lock against a real registry)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from homelab.host import images
from homelab.host.images import ImageLock, LockEntry, lockable


def fake_digest(ref: str) -> str:
    return "sha256:" + hashlib.sha256(ref.encode()).hexdigest()


class AnyLock(ImageLock):
    """A lock with an entry for every lockable reference."""

    def get(self, ref: str) -> LockEntry | None:
        return LockEntry(ref, fake_digest(ref)) if lockable(ref) else None


@pytest.fixture(autouse=True)
def images_lock(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    if "real_images_lock" not in request.keywords:
        monkeypatch.setattr(images.ImageLock, "read", classmethod(lambda cls, _d: AnyLock({})))
    yield


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "real_images_lock: read images.lock from the project")


__all__ = ["AnyLock", "Path", "fake_digest"]
