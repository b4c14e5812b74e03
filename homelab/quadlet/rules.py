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


# systemd.service(5): the values Restart= takes; anything else is ignored with a warning in
# the journal, and the service then gets the default, Restart=no.
RESTART_VALUES = (
    "no",
    "on-success",
    "on-failure",
    "on-abnormal",
    "on-watchdog",
    "on-abort",
    "always",
)
# Those that restart a service whose main process exits non-zero (systemd.service(5)'s table).
RESTARTS_ON_FAILURE = ("on-failure", "always")


def restart(unit: QuadletUnit) -> str | None:
    """A container restarts when it fails: Restart=on-failure or always. An unknown value is
    `unknown_restart`'s to report."""
    if unit.restart in RESTARTS_ON_FAILURE or unknown_restart(unit):
        return None
    return (
        "set Restart=on-failure (or always) in [Service] (best practice: restart a failed "
        "container)"
    )


def unknown_restart(unit: QuadletUnit) -> str | None:
    """Restart= with a value systemd does not know (Docker's `unless-stopped`, a typo): systemd
    ignores the line and the service is never restarted."""
    value = unit.restart
    if value is None or value in RESTART_VALUES:
        return None
    return (
        f"Restart={value} is not a value systemd knows ({', '.join(RESTART_VALUES)}): systemd "
        "ignores the line and the container is never restarted; set Restart=on-failure (or "
        "always)"
    )


# --- health -------------------------------------------------------------------------------

# systemd's DefaultTimeoutStartSec: what TimeoutStartSec= is when a unit does not set it.
DEFAULT_TIMEOUT_START = 90.0
_SYSTEMD_UNITS = {
    **dict.fromkeys(("usec", "us", "µs"), 1e-6),
    **dict.fromkeys(("msec", "ms"), 1e-3),
    **dict.fromkeys(("seconds", "second", "sec", "s", ""), 1.0),
    **dict.fromkeys(("minutes", "minute", "min", "m"), 60.0),
    **dict.fromkeys(("hours", "hour", "hr", "h"), 3600.0),
    **dict.fromkeys(("days", "day", "d"), 86400.0),
    **dict.fromkeys(("weeks", "week", "w"), 7 * 86400.0),
    **dict.fromkeys(("months", "month", "M"), 30.44 * 86400),
    **dict.fromkeys(("years", "year", "y"), 365.25 * 86400),
}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_SPAN_PART = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-zA-Zµ]*)")
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def systemd_timespan(text: str) -> float | None:
    """Seconds of a systemd time span (systemd.time(7)): `90`, `1min 30s`, `2h30m`, `1.5h`;
    `infinity` (and 0 for a timeout: no limit) is math.inf. None when systemd would not read it."""
    t = text.strip()
    if t == "infinity":
        return float("inf")
    total, pos = 0.0, 0
    if not t:
        return None
    while pos < len(t):
        m = _SPAN_PART.match(t, pos)
        if not m or m.group(2) not in _SYSTEMD_UNITS:
            return None
        total += float(m.group(1)) * _SYSTEMD_UNITS[m.group(2)]
        pos = m.end()
        while pos < len(t) and t[pos].isspace():
            pos += 1
    return total


def go_duration(text: str) -> float | None:
    """Seconds of a Go duration (`--health-start-period`'s form: `30s`, `1m30s`, `1.5h`), or
    None when podman would refuse it (a bare number other than 0 included)."""
    t = text.strip()
    if t in ("0", "+0", "-0"):
        return 0.0
    total, pos = 0.0, 0
    if not t:
        return None
    while pos < len(t):
        m = _GO_PART.match(t, pos)
        if not m:
            return None
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    return total


def _notify_healthy(unit: QuadletUnit) -> bool:
    return (unit.lookup("Container", "Notify") or "").strip() == "healthy"


def notify_healthy_without_check(unit: QuadletUnit) -> str | None:
    """Notify=healthy makes systemd wait for the container's health check to pass: without
    HealthCmd= there is none to pass, and the start hangs until its timeout kills it."""
    cmd = (unit.lookup("Container", "HealthCmd") or "").strip()
    if not _notify_healthy(unit) or (cmd and cmd != "none"):
        return None
    return (
        "Notify=healthy waits for the health check to pass, and this file sets no HealthCmd=: "
        "the start hangs until TimeoutStartSec= kills it; add HealthCmd= (a command that exits "
        "0 once the service answers), or use Notify=true"
    )


def health_start_period(unit: QuadletUnit) -> str | None:
    """With Notify=healthy the start lasts until the container is healthy, which may take
    HealthStartPeriod=: a TimeoutStartSec= shorter than that kills a slow first start
    (podman #27290; systemd's default is 90 s)."""
    period_text = unit.lookup("Container", "HealthStartPeriod")
    if not _notify_healthy(unit) or period_text is None:
        return None
    period = go_duration(period_text)
    timeout_text = unit.lookup("Service", "TimeoutStartSec")
    timeout = DEFAULT_TIMEOUT_START if timeout_text is None else systemd_timespan(timeout_text)
    if period is None or timeout is None or timeout == 0 or period <= timeout:
        return None
    given = f"TimeoutStartSec={timeout_text}" if timeout_text else "systemd's default 90 s"
    return (
        f"HealthStartPeriod={period_text} is longer than {given}: with Notify=healthy systemd "
        f"stops a start that takes longer, so a slow first start is killed; set "
        f"TimeoutStartSec= in [Service] to more than {period_text} (or infinity)"
    )


def autoupdate_digest(unit: QuadletUnit) -> str | None:
    """AutoUpdate=registry looks for a newer image under the reference: one pinned by digest
    never changes, and podman auto-update fails on it (podman #21190)."""
    policy = (unit.lookup("Container", "AutoUpdate") or "").strip()
    img = unit.image
    if policy != "registry" or img is None or "@sha256:" not in img.raw:
        return None
    return (
        f"AutoUpdate=registry with {img.raw}, pinned by digest: a digest never points at a "
        "newer image, so podman auto-update fails on it; pin a tag with AutoUpdate=registry, "
        "or keep the digest and remove AutoUpdate="
    )


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
