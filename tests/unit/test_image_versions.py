"""Which tags count as newer (homelab/host/images.py version_key), as `homelab images` offers
them: one sorted list of tags in the order a person expects versions to go."""

from __future__ import annotations

import random

import pytest

from homelab.host.images import FIX, ImageLock, LockError, newer_tags, version_key

# Oldest first. Missing parts count as 0 (1.2 == 1.2.0.0); a pre-release comes before its
# release; numeric pre-release parts compare as numbers, and before text ones (semver).
ORDER = [
    "0.9",
    "1.0.0-1",
    "1.0.0-2",
    "1.0.0-10",
    "1.0.0-Beta",  # text parts compare as ASCII, as semver says: upper case first
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.2",
    "1.0.0-alpha.10",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-rc.1",
    "1",
    "1.0.0.1",
    "v1.2-rc.1",
    "1.2.0.0",
    "1.10",
    "2.7.1",
    "v2.10.0",
    "10.0",
]


def test_tags_sort_as_versions() -> None:
    shuffled = ORDER[:]
    random.Random(21).shuffle(shuffled)
    assert sorted(shuffled, key=lambda t: version_key(t)) == ORDER  # type: ignore[arg-type,return-value]


def test_equal_versions_and_what_is_no_version() -> None:
    assert version_key("1.2") == version_key("v1.2.0.0") == version_key("1.2.0")
    assert version_key("1.2") != version_key("1.2-0")
    for tag in ("latest", "main", "1.2.x", "v", "1.2-", "-1", "1..2", "stable-1.2"):
        assert version_key(tag) is None, tag


def test_newer_tags_offers_stable_releases_to_a_stable_image() -> None:
    tags = ["1.0.0", "1.1.0-rc.1", "1.1.0", "1.2.0", "latest", "0.9"]
    assert newer_tags("1.0.0", tags) == ["1.1.0", "1.2.0"]
    assert newer_tags("1.1.0-rc.1", tags) == ["1.1.0", "1.2.0"]
    assert newer_tags("latest", tags) == []


def test_every_bad_lock_line_is_reported_at_its_line() -> None:
    d1, d2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    long_ref = "r.example/" + "x" * 130
    text = "\n".join(
        [
            "# images.lock",
            f"r.example/a:1 {d1}",  # two fields
            f"r.example/a:1 {d1} linux/amd64",
            f"r.example/a:1 {d2} linux/amd64",  # twice
            f"r.example/b:1 {d1} linux/amd64 extra",
            long_ref,
            f"r.example/c:1 {d1} linux/amd64",
        ]
    )
    with pytest.raises(LockError) as exc:
        ImageLock.parse(text, "images.lock")
    shape = "expected `REGISTRY/PATH:TAG sha256:HEX OS/ARCH`, got"
    assert exc.value.problems == [
        f"images.lock:2: {shape} 'r.example/a:1 {d1}'; {FIX}",
        f"images.lock:4: r.example/a:1 is listed twice; {FIX}",
        f"images.lock:5: {shape} 'r.example/b:1 {d1} linux/amd64 extra'; {FIX}",
        f"images.lock:6: {shape} {long_ref[:120]!r}; {FIX}",
    ]
    assert str(exc.value) == "\n".join(exc.value.problems)
    ok = ImageLock.parse(f"r.example/c:1 {d1} linux/amd64\n")
    assert [(e.ref, e.digest, e.platform) for e in ok.entries.values()] == [
        ("r.example/c:1", d1, "linux/amd64")
    ]
