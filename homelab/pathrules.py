"""The rules for host paths, each once: absolute and plain, the normal form, and which
directories belong to the system (the one list).

Every path homelab writes, chowns, relabels or hands to libvirt passes these: the file set's
managed paths, the stack's `volume_root`, container volume sources and the VM's pool folder.
A path someone typed (stack file, unit file) is normalised (`//` and a trailing `/` go); a
path homelab made itself (a managed path) must already be in normal form. `.` and `..` are
refused everywhere: `/a/./b` and `/a/../b` name a path other than the text says to a reader.
"""

from __future__ import annotations

import re

# Trees that belong to the OS or a user: homelab never chowns, relabels or hands over
# anything in them, nor a directory that contains one (`/`, `/var`, `/var/lib`).
HOME_DIRS = ("/home", "/var/home", "/root", "/var/roothome")
SYSTEM_DIRS = (
    "/etc", "/usr", "/boot", "/proc", "/sys", "/dev", "/run", "/bin", "/sbin", "/lib",
    "/lib64", "/sysroot", "/ostree", "/tmp", "/var/tmp", "/var/log", "/var/cache",
    "/var/spool", "/var/usrlocal", "/var/lib/containers", "/var/lib/systemd",
)  # fmt: skip
# Shared parents: a folder of its own may lie below one, but never be it.
SHARED_DIRS = (
    "/srv", "/opt", "/mnt", "/media", "/var/srv", "/var/opt", "/var/mnt",
    "/var/lib/libvirt", "/var/lib/libvirt/images",
)  # fmt: skip

_UNPRINTABLE = re.compile(r"[\s\x00-\x1f\x7f]")


def under(path: str, root: str) -> bool:
    """`path` is `root` or lies below it (both absolute; trailing slashes do not matter)."""
    p, r = path.rstrip("/"), root.rstrip("/")
    return p == r or p.startswith(r + "/")


def normalise(path: str) -> str:
    """One spelling of an absolute path: repeated and trailing slashes dropped."""
    return re.sub("/+", "/", path).rstrip("/") or "/"


def absolute_problem(path: str) -> str | None:
    """What keeps `path` from being a plain absolute path, or None: relative, or with a
    `.` or `..` component."""
    if not path.startswith("/"):
        return "is relative"
    if any(part in (".", "..") for part in path.split("/")):
        return "contains '.' or '..'"
    return None


def unprintable(path: str) -> bool:
    """Whitespace or a control character: never part of a path homelab hands on."""
    return bool(_UNPRINTABLE.search(path))


def is_normal(path: str) -> bool:
    """An absolute path already in its one spelling (what a managed path must be)."""
    return absolute_problem(path) is None and normalise(path) == path


def system_dir(path: str) -> tuple[str, str, bool] | None:
    """(kind, directory, inside) when `path` is no folder of its own: it is or lies in a
    home or system directory (inside=True), or contains one (inside=False). None otherwise.
    `path` absolute."""
    for kind, dirs in (("home directory", HOME_DIRS), ("system directory", SYSTEM_DIRS)):
        for d in dirs:
            if under(path, d):
                return kind, d, True
            if under(d, path):
                return kind, d, False
    return None


def own_dir_problem(path: str) -> str | None:
    """Why `path` cannot be a folder homelab owns (chowns, gives to a group), or None."""
    if normalise(path) == "/":
        return "is '/'"
    if found := system_dir(path):
        kind, d, inside = found
        return f"is or lies in the {kind} {d}" if inside else f"contains the {kind} {d}"
    if any(normalise(path) == d for d in SHARED_DIRS):
        return f"is the shared directory {normalise(path)}"
    return None
