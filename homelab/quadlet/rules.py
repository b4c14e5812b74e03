"""The house rules for a `.container`, each written once.

Each rule reads one typed value (an image, a port, a volume, an environment variable, the
unit) and returns what is wrong with it, or None. It does not know where the value came
from: the host planner says that (a line of `containers/NAME.container`, or a key of the
stack file), and podman's own checks (lint) reuse `short_name`.
"""

from __future__ import annotations

import re

from homelab.pathrules import system_dir, under
from homelab.quadlet.model import QuadletUnit
from homelab.quadlet.values import ImageRef, PublishedPort, VolumeMount

# Environment variable names that hold secrets (checked on names only; values never shown).
SECRETISH = re.compile(r"KEY|SECRET|PASSWORD|PASSWD|TOKEN", re.IGNORECASE)
PORT_PROTOCOLS = ("tcp", "udp", "sctp")


def system_path(path: str) -> bool:
    """A host path a container may read but must never relabel (podman refuses some
    outright): a home or system directory, in one, or one that contains one (`/`, `/var`)."""
    return system_dir(path) is not None


# --- images -------------------------------------------------------------------------------


def short_name(img: ImageRef) -> str | None:
    """podman's short-name warning (its own words first), with the fix."""
    if img.fully_qualified:
        return None
    return (
        f'specifies the image "{img.raw}" which not a fully qualified image name '
        "(short names are resolved by a registry search; name the registry, "
        f"e.g. docker.io/{img.raw})"
    )


def unpinned(img: ImageRef) -> str | None:
    """Production runs only pinned images: a version tag or a digest."""
    if img.quadlet_unit or img.pinned:
        return None
    return (
        f"image {img.raw} is not pinned: production rejects :latest or no tag; "
        "pin a version tag or a digest"
    )


# --- ports --------------------------------------------------------------------------------


def fixed_host_port(spec: str) -> PublishedPort:
    """PublishPort= held to what a home server needs: a fixed, numeric host port (so two
    containers cannot silently fight over one), in range. ValueError says what to fix."""
    pp = PublishedPort.parse(spec)
    if pp.protocol not in PORT_PROTOCOLS:
        raise ValueError(f"protocol {pp.protocol!r} must be tcp, udp or sctp")
    cont = pp.container_range
    host = pp.host_range
    if host is None:
        if ":" not in spec:
            raise ValueError(
                f"{spec!r} publishes no fixed host port; write HOST:CONTAINER, e.g. 8080:80"
            )
        raise ValueError(f"{spec!r} publishes a random host port; give one, e.g. 8080:80")
    if host[1] - host[0] != cont[1] - cont[0]:
        raise ValueError(f"{spec!r}: host and container ranges differ in length")
    return pp


# --- volumes ------------------------------------------------------------------------------


def relabel(vol: VolumeMount, data_root: str | None = None) -> str | None:
    """Bind mounts of data need :Z (or :z) for SELinux; host system paths must not have it.
    With `data_root`, only mounts under it count as data."""
    if not vol.bind or not vol.source:
        return None
    src = vol.source
    if system_path(src):
        if vol.relabel:
            return (
                f"bind mount {src} is a host system path: :{vol.relabel} "
                "would relabel the host's own files; drop it"
            )
        return None
    if vol.relabel is None and (data_root is None or under(src, data_root)):
        return (
            f"bind mount {src} has no :Z (or :z) option: SELinux will deny the container "
            "access; add :Z (private) or :z (shared)"
        )
    return None


# --- secrets ------------------------------------------------------------------------------


def inline_secret(var: str, value: str | None, container: str) -> str | None:
    """A secret-looking variable with a literal value; the message never repeats the value."""
    if not (SECRETISH.search(var) and value):
        return None
    key = secret_key_name(container, var)
    return (
        f"{var}=... looks like a secret written inline; remove it, add it to "
        f"homelab:containers.{container}.secrets in the stack file ({var}: {key}) and set the "
        f"value with `pulumi config set --secret {key}` (it prompts for it): the container "
        "then gets it as a podman secret, kept out of podman's stored container config"
    )


def secret_key_name(container: str, var: str) -> str:
    """A config key for `var` of `container`, as the stack files name them: rustfs +
    RUSTFS_SECRET_KEY -> rustfsSecretKey."""
    words = [w for w in re.split(r"[-_]", container) if w]
    rest = var.split("_")
    if [w.lower() for w in rest[: len(words)]] == [w.lower() for w in words]:
        rest = rest[len(words) :]
    parts = [w.lower() for w in words] + [w.capitalize() for w in rest if w]
    key = parts[0] + "".join(p.capitalize() for p in parts[1:])
    return key if key[:1].isalpha() else "c" + key


# --- the unit -----------------------------------------------------------------------------


def restart(unit: QuadletUnit) -> str | None:
    if unit.restart == "on-failure":
        return None
    return "set Restart=on-failure in [Service] (best practice: restart a failed container)"


POOL_KEYS = ("After", "Requires")


def pool_ordering(unit: QuadletUnit, pool_unit: str) -> tuple[list[str], str] | None:
    """A container with data on the ZFS pool starts after the pool is imported and only
    with it: (the missing [Unit] keys, what to add), or None."""
    missing = [k for k in POOL_KEYS if pool_unit not in unit.unit_deps(k)]
    if not missing:
        return None
    keys = " and ".join(k + "=" for k in missing)
    return missing, f"data lives on the ZFS pool: add {pool_unit} to {keys} in [Unit]"


def drop_pool_dependencies(unit: QuadletUnit) -> None:
    """For a host without a pool (e.g. the VM): remove every zfs-import-* dependency, which
    would otherwise keep the unit from starting."""
    for key in ("After", "Requires", "Wants", "BindsTo"):
        vals = unit.get("Unit", key)
        kept = [" ".join(w for w in v.split() if not w.startswith("zfs-import-")) for v in vals]
        if vals != kept:
            unit.set("Unit", key, [v for v in kept if v])
