"""`images.lock`: the manifest digest of every image the stacks use, and how a unit's `Image=`
is pinned from it. Pure: parsing, rendering, lookups and the version order of tags. Resolving
digests (skopeo, through the registry's own API) is the CLI's edge (`homelab.cli.images`).

The file is plain text, one line per image reference, sorted:

    docker.io/deluan/navidrome:0.58.0 sha256:HEX linux/amd64

(the reference as `Image=` names it, with its tag; the digest of the manifest the registry
serves for it, a manifest list's own digest when it is one, so every platform pulls the same
bytes; the platform the entry was checked for). Every stack reads the same file, so vm-test
and mouse run identical bytes, and `Image=REF:TAG@sha256:DIGEST` is what the host gets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from homelab.quadlet.values import ImageRef

LOCK_FILE = "images.lock"
# Registry credentials on the host (root, 0600), passed to every pull (remote/images.sh).
AUTH_FILE = "/etc/homelab/images/auth.json"
PLATFORM = "linux/amd64"  # mouse's; `homelab images lock` asks the registry for this one
HEADER = (
    "# images.lock: the manifest digest of every image the stacks use. Written by\n"
    "# `homelab images lock` (update a tag with `homelab images update NAME`); commit it.\n"
    "# REFERENCE DIGEST PLATFORM\n"
)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
FIX = "run `homelab images lock` (it asks the registry) and commit images.lock"


class LockError(Exception):
    """A malformed images.lock: `problems` name FILE:LINE."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True, order=True)
class LockEntry:
    ref: str  # registry/path:tag, as Image= names it
    digest: str  # sha256:HEX
    platform: str = PLATFORM

    @property
    def pinned(self) -> str:
        """What the unit file gets: the tag stays for people, the digest decides."""
        return f"{self.ref}@{self.digest}"


@dataclass(frozen=True)
class ImageLock:
    entries: Mapping[str, LockEntry]
    exists: bool = True

    @classmethod
    def parse(cls, text: str, src: str = LOCK_FILE) -> ImageLock:
        entries: dict[str, LockEntry] = {}
        problems = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 3 or not DIGEST.fullmatch(parts[1]) or not lockable(parts[0]):
                problems.append(
                    f"{src}:{n}: expected `REGISTRY/PATH:TAG sha256:HEX OS/ARCH`, got "
                    f"{line[:120]!r}; {FIX}"
                )
                continue
            if parts[0] in entries:
                problems.append(f"{src}:{n}: {parts[0]} is listed twice; {FIX}")
            entries[parts[0]] = LockEntry(*parts)
        if problems:
            raise LockError(problems)
        return cls(entries)

    @classmethod
    def read(cls, project_dir: Path) -> ImageLock:
        """The project's lock (the one read of the file per plan); empty when there is none."""
        path = project_dir / LOCK_FILE
        if not path.exists():
            return cls({}, exists=False)
        return cls.parse(path.read_text(encoding="utf-8"))

    def render(self) -> str:
        rows = sorted(self.entries.values())
        return HEADER + "".join(f"{e.ref} {e.digest} {e.platform}\n" for e in rows)

    def get(self, ref: str) -> LockEntry | None:
        return self.entries.get(ref)

    def same_repository(self, ref: str) -> list[LockEntry]:
        """Entries for the same image under another tag (a tag bumped without re-locking)."""
        repo = _repository(ref)
        return [e for e in self.entries.values() if _repository(e.ref) == repo and e.ref != ref]

    def merged(self, found: Iterable[LockEntry]) -> ImageLock:
        return ImageLock({**self.entries, **{e.ref: e for e in found}})


def lockable(ref: str) -> bool:
    """A reference the lock holds: a registry, a path and a tag, no digest."""
    img = ImageRef.parse(ref)
    return bool(img.registry and img.name and img.tag and not img.digest and " " not in ref)


def _repository(ref: str) -> str:
    img = ImageRef.parse(ref)
    return f"{img.registry}/{img.name}"


def pin_problem(lock: ImageLock, ref: str) -> str | None:
    """Why `ref` cannot be pinned from `lock` (None: it can, or it is pinned already)."""
    img = ImageRef.parse(ref)
    if img.digest or img.quadlet_unit:
        return None
    if lock.get(ref) is not None:
        return None
    if not lock.exists:
        return f"image {ref} is not locked: there is no images.lock; {FIX}"
    others = lock.same_repository(ref)
    if others:
        shown = ", ".join(e.ref for e in others)
        return f"image {ref} is not locked: images.lock has {shown} (another tag); {FIX}"
    return f"image {ref} has no entry in images.lock; {FIX}"


def pinned(lock: ImageLock, ref: str) -> str:
    """`ref` with its locked digest; unchanged when unlocked or already pinned by digest."""
    entry = lock.get(ref)
    return entry.pinned if entry is not None and "@" not in ref else ref


def version_key(tag: str) -> tuple[tuple[int, int | str], ...] | None:
    """A tag as a version, for sorting (`v2.7.1` < `v2.10.0`; `1.0.0-alpha.69` <
    `1.0.0-alpha.70` < `1.0.0`); None for a tag that is no version (`latest`, a branch)."""
    m = re.fullmatch(r"v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?", tag)
    if not m:
        return None
    nums: list[tuple[int, int | str]] = [(0, int(n)) for n in m.group(1).split(".")]
    nums += [(0, 0)] * (4 - len(nums))
    if m.group(2) is None:
        return (*nums, (2, 0))  # a release sorts after its pre-releases
    pre: list[tuple[int, int | str]] = [
        (0, int(p)) if p.isdigit() else (1, p) for p in m.group(2).split(".")
    ]
    return (*nums, (1, 0), *pre)


def newer_tags(current: str, tags: Iterable[str]) -> list[str]:
    """The tags newer than `current`, as versions, oldest first; pre-releases only when
    `current` is one (a stable image is not offered an alpha)."""
    now = version_key(current)
    if now is None:
        return []
    pre = "-" in current
    out = []
    for t in tags:
        k = version_key(t)
        if k is None or k <= now or (not pre and "-" in t):
            continue
        if t.startswith("v") != current.startswith("v"):
            continue
        out.append(t)
    return sorted(out, key=lambda t: version_key(t) or ())
