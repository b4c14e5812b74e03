"""One container laid out for a host: `containers/NAME.container` plus its stack settings ->
the unit file the host gets, checked. Each step below is one concern; every problem names
where its value came from (a line of the file, or a key of the stack file) and what to do.

`check_unit` is every check a unit file gets, for `build` (through `layout_container`) and for
`python -m homelab quadlet check` alike: one code path, so the two cannot disagree.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from homelab.host.config import ContainerConfig, HostConfig, StackConfig
from homelab.host.ids import RANGE, numeric_ids, out_of_range
from homelab.host.images import ImageLock, pin_problem, pinned
from homelab.host.problems import Problems
from homelab.host.stack import Keys
from homelab.host.system import ENV_DIR, QUADLET_DIR, SECRETS_HELPER
from homelab.inputs import (
    UNIT_FILE_MAX,
    UNIT_LINE_MAX,
    InputError,
    read_file,
    unit_crlf_fix,
)
from homelab.pathrules import absolute_problem, normalise, under
from homelab.quadlet import PublishedPort, QuadletUnit, newer_than_5_4, rules
from homelab.quadlet.lint import check_text
from homelab.quadlet.model import keyvals
from homelab.quadlet.render import Line
from homelab.quadlet.values import VolumeMount

CANONICAL_ROOT = "/var/tank/services"  # the volume root the files in containers/ are written for


class ContainerLayout(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    source: str  # containers/NAME.container
    unit_path: str
    service: str
    text: str  # the Quadlet file exactly as it lands on the host
    image: str
    ports: tuple[str, ...]
    data_dirs: tuple[str, ...]
    secrets: dict[str, str]  # ENV_VAR -> secret config key
    env_file: str | None


@dataclass(frozen=True)
class Origin:
    """Where a value came from: a line of the unit file `rel`, or a key of the stack file."""

    rel: str
    line: int | None = None
    keys: Keys | None = None

    def report(self, problems: Problems, key: str, msg: str) -> None:
        if self.keys is not None:
            problems.stack(self.keys, msg)
        else:
            problems.unit(self.rel, self.line, key, msg)

    def shown(self, problems: Problems) -> str:
        """Where it is, for a message about another value: FILE:LINE."""
        if self.keys is not None and problems.files is not None:
            return problems.files.locate(problems.stacks, self.keys)
        return f"{self.rel}:{self.line or 0}"


@dataclass(frozen=True)
class Bind:
    """A host port range a container publishes, and the line that publishes it."""

    port: PublishedPort
    origin: Origin


@dataclass(frozen=True)
class DataMount:
    """A data directory a container mounts (homelab creates and chowns it)."""

    path: str
    relabel: str | None
    origin: Origin


@dataclass(frozen=True)
class LaidOut:
    """A container laid out, with what the host layout needs beyond the container itself."""

    container: ContainerLayout
    unit: QuadletUnit
    binds: list[Bind]
    mounts: list[DataMount]
    owner: tuple[int, int]  # uid, gid of its data directories


@dataclass(frozen=True)
class Checked:
    """A unit file after every check: the unit as the host gets it (stack settings applied,
    secrets wired), and what the layout needs from the checks."""

    unit: QuadletUnit
    binds: list[Bind]
    mounts: list[DataMount]
    env_file: str | None


def layout_container(
    problems: Problems, cfg: StackConfig, project_dir: Path, name: str, lock: ImageLock | None
) -> LaidOut | None:
    """The container `name` as `cfg`'s host gets it, or None (its problems are recorded).
    `lock`: its image pinned from it (None: as written, for `homelab images lock` itself)."""
    cc = cfg.containers[name]
    before = len(problems)  # earlier containers' problems must not hide this one's
    rel = f"containers/{name}.container"
    text = _read_text(problems, project_dir, rel, name)
    if text is None:
        return None
    siblings = {f"{n}.container" for n in cfg.enabled}  # what the host's podman will see
    checked = check_unit(problems, text, rel, cfg.host, cc, siblings)
    if checked is not None and lock is not None:
        _pin_image(problems, checked.unit, rel, cc, lock, cfg.host.production)
    owner = _owner(problems, cc, checked.unit, rel) if checked is not None else None
    # The image's and the owner's problems come after check_unit sorted its own: one order.
    problems.sort_from(before)
    if checked is None or owner is None or len(problems) > before:
        return None
    unit = checked.unit
    pc = ContainerLayout(
        name=name,
        source=rel,
        unit_path=f"{QUADLET_DIR}/{name}.container",
        service=f"{name}.service",
        text=unit.render(),
        image=(unit.get("Container", "Image") or [""])[-1],
        ports=tuple(b.port.canonical() for b in checked.binds),
        data_dirs=tuple(dict.fromkeys(m.path for m in checked.mounts)),
        secrets=dict(cc.secrets),
        env_file=checked.env_file,
    )
    return LaidOut(pc, unit, checked.binds, checked.mounts, owner)


def check_unit(
    problems: Problems,
    text: str,
    src: str,
    host: HostConfig | None = None,
    cc: ContainerConfig | None = None,
    siblings: set[str] | None = None,
) -> Checked | None:
    """Every check of one unit file, each problem recorded at the line of its value (or
    the stack key that set it), sorted by line: all parse errors, podman's rules, what
    podman 5.4 refuses, and for a `.container` the house rules with the stack's settings
    applied. `host` None: the checks that need no stack (no pinning, no volume root, no
    pool). Returns None for a unit that is not a `.container`."""
    cc = cc or ContainerConfig()
    start = len(problems)
    unit, found = check_text(text, src, siblings)
    for p in [*found, *newer_than_5_4(unit)]:
        problems.add(str(p), line=p.line)
    if unit.kind != ".container":
        problems.sort_from(start)
        return None
    file_envs = unit.assigned("Container", "Environment")
    file_vols = unit.assigned("Container", "Volume")
    _apply_overrides(unit, cc)
    _check_image(problems, unit, src, cc, host is not None and host.production)
    binds = _check_ports(problems, unit, src, cc)
    mounts = _place_volumes(problems, unit, src, cc, host, file_vols)
    _check_environment(problems, unit, src, cc, file_envs)
    env_file = wire_secrets(unit, unit.name, sorted(cc.secrets)) if cc.secrets else None
    pool_unit = host.zfs_unit if host is not None and mounts else None
    _check_service(problems, unit, src, pool_unit)
    if host is not None and not host.zfs_unit:
        rules.drop_pool_dependencies(unit)
    problems.sort_from(start)
    return Checked(unit, binds, mounts, env_file)


def _read_text(problems: Problems, project_dir: Path, rel: str, name: str) -> str | None:
    """The unit file's text (the one place a container's file is read): a regular file inside
    containers/, its bytes checked at the edge (`homelab.inputs`)."""
    path = project_dir / rel
    if not (path.exists() or path.is_symlink()):
        problems.stack(
            ("containers", name),
            f"container {name!r} is enabled but {rel} does not exist; add the Quadlet file "
            "or set enabled: false",
        )
        return None
    if path.parent.is_symlink():
        problems.add(
            f"{rel}:1: containers/ is a symbolic link; container files must be in the "
            "project's own containers/ directory: make it a directory"
        )
        return None
    try:
        return read_file(
            path,
            rel,
            UNIT_FILE_MAX,
            symlink=False,
            line_limit=UNIT_LINE_MAX,
            crlf=unit_crlf_fix(rel),
        )
    except InputError as exc:
        for p in exc.problems:
            problems.add(p)
        return None


def _apply_overrides(unit: QuadletUnit, cc: ContainerConfig) -> None:
    """The stack's settings, applied to the parsed unit (volumes are added when placed)."""
    if cc.image:
        unit.set_image(cc.image)
    elif cc.image_tag:
        unit.set_image_tag(cc.image_tag)
    if cc.ports is not None:
        unit.set("Container", "PublishPort", list(cc.ports))
    for var, value in cc.environment.items():
        # A stack value is data: '%' would be a systemd specifier in the unit, '%%' is '%'.
        unit.set_environment(var, value.replace("%", "%%"))
    if cc.memory_max:
        unit.set("Service", "MemoryMax", [cc.memory_max])
    if cc.cpu_quota:
        unit.set("Service", "CPUQuota", [cc.cpu_quota])


def _check_image(
    problems: Problems, unit: QuadletUnit, rel: str, cc: ContainerConfig, production: bool
) -> None:
    """A fully qualified name (the file's own is lint's), pinned on a production host."""
    img = unit.image
    if img is None:
        return
    msgs = [rules.short_name(img) if cc.image else None]
    msgs.append(rules.unpinned(img) if production else None)
    for msg in filter(None, msgs):
        if cc.image or cc.image_tag:
            problems.stack(("containers", unit.name, "image" if cc.image else "image_tag"), msg)
        else:
            problems.unit(rel, unit.line_of("Container", "Image"), "Image", msg)  # in effect


def _pin_image(
    problems: Problems,
    unit: QuadletUnit,
    rel: str,
    cc: ContainerConfig,
    lock: ImageLock,
    production: bool,
) -> None:
    """`Image=REF:TAG@sha256:DIGEST` from the lock. A production host runs locked images only;
    elsewhere (vm-test) an unlocked image keeps its tag. Next to a locked digest,
    `AutoUpdate=registry` would fight the lock (podman would move the container off the
    digest the push checks): the lock is the update path (`homelab images update`)."""
    img = unit.image
    if img is None or img.quadlet_unit or not (img.pinned and img.fully_qualified):
        return  # nothing to lock (a production host's rules already refuse such an image)
    line = unit.line_of("Container", "Image")
    msg = pin_problem(lock, img.raw)
    if msg is not None and production:
        if cc.image or cc.image_tag:
            problems.stack(("containers", unit.name, "image" if cc.image else "image_tag"), msg)
        else:
            problems.unit(rel, line, "Image", msg)
        return
    new = pinned(lock, img.raw)
    if new == img.raw:
        return
    unit.set_image(new)
    if (unit.lookup("Container", "AutoUpdate") or "").strip() == "registry":
        problems.unit(
            rel,
            unit.line_of("Container", "AutoUpdate"),
            "AutoUpdate",
            "AutoUpdate=registry would replace the image images.lock pins; remove it and "
            "update with `homelab images outdated` / `homelab images update NAME`",
        )


def _check_ports(
    problems: Problems, unit: QuadletUnit, rel: str, cc: ContainerConfig
) -> list[Bind]:
    """Every published port fixed and numeric (`rules.fixed_host_port`), on an IP address."""
    binds = []
    for i, entry in enumerate(unit.assigned("Container", "PublishPort")):
        origin = (
            Origin(rel, keys=("containers", unit.name, "ports", i))
            if cc.ports is not None
            else Origin(rel, line=entry.line)
        )
        try:
            port = rules.fixed_host_port(entry.value)
            _host_address(port.host_ip)
        except ValueError as exc:
            origin.report(problems, "PublishPort", str(exc))
            continue
        binds.append(Bind(port, origin))
    return binds


def _host_address(ip: str | None) -> None:
    if ip is None:
        return
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise ValueError(
            f"host address {ip!r} is not an IP address; write e.g. 127.0.0.1:8080:80"
        ) from None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        raise ValueError(
            f"host address {ip!r} has a zone (%{addr.scope_id}), which systemd would read as "
            "a specifier; publish on an address without one"
        )


def _place_volumes(
    problems: Problems,
    unit: QuadletUnit,
    rel: str,
    cc: ContainerConfig,
    host: HostConfig | None,
    file_vols: list[Line],
) -> list[DataMount]:
    """Each volume (the file's, then the stack's) rebased to this host's volume root and
    checked; the unit gets the rebased ones. Returns the data directories it mounts. Without
    a host, only what holds on every host: absolute, plain, relabelled."""
    root, name = (host.volume_root if host else None), unit.name
    sources = [(e.value, Origin(rel, line=e.line)) for e in file_vols]
    sources += [
        (spec, Origin(rel, keys=("containers", name, "volumes", i)))
        for i, spec in enumerate(cc.volumes)
    ]
    mounts: list[DataMount] = []
    specs: list[str] = []
    for spec, origin in sources:
        vol = VolumeMount.parse(spec)
        if not vol.source or vol.named:
            specs.append(spec)
            continue
        msg, placed = _place(vol, root, cc, name)
        if msg is None and (relabel := rules.relabel(placed, root)) is not None:
            msg = relabel
        if msg is not None:
            origin.report(problems, "Volume", msg)
            continue
        if root and placed.source and under(placed.source, root):
            mounts.append(DataMount(placed.source, placed.relabel, origin))
        specs.append(placed.raw)
    unit.set("Container", "Volume", specs)
    return mounts


def _place(
    vol: VolumeMount, root: str | None, cc: ContainerConfig, name: str
) -> tuple[str | None, VolumeMount]:
    """(what is wrong, or None; the mount rebased to `root`) for one bind mount. Without a
    root (no stack given), only what holds on every host."""
    src = vol.source or ""
    where = root or CANONICAL_ROOT
    if src.startswith("%"):
        return (
            f"volume source {src!r} starts with a systemd specifier; homelab creates the data "
            f"directories, so write the path out under {where}"
        ), vol
    if (why := absolute_problem(src)) == "is relative":
        return f"volume source {src!r} is relative; use an absolute path under {where}", vol
    if why:
        return f"volume source {src!r} contains '..' or '.'; write the plain absolute path", vol
    if "%" in src:
        return (
            f"volume source {src!r} holds '%', a systemd specifier; homelab creates the data "
            "directories, so use a path without it"
        ), vol
    if root is None:
        return None, vol
    src = normalise(src)
    if root != CANONICAL_ROOT and under(src, CANONICAL_ROOT):
        src = root + src[len(CANONICAL_ROOT) :]
    placed = VolumeMount.parse(vol.with_source(src))
    if src == root:
        return (
            f"volume source {src!r} is the volume root itself; mount a directory of its own "
            f"under it, e.g. {root}/{name}/data"
        ), placed
    if under(src, root):
        return None, placed
    if any(under(src, h) for h in cc.host_paths):
        if "ro" not in vol.options:
            return f"host path {src!r} must be mounted read-only (:ro)", placed
        return None, placed
    return (
        f"volume source {src!r} lies outside the volume root {root}; move the data under "
        f"it, or allow it read-only with homelab:containers.{name}.host_paths"
    ), placed


def _check_environment(
    problems: Problems, unit: QuadletUnit, rel: str, cc: ContainerConfig, file_envs: list[Line]
) -> None:
    """No secret-looking value written inline, in the file or in the stack."""
    name = unit.name
    for entry in file_envs:
        for var, value in keyvals(entry.value).items():
            if msg := rules.inline_secret(var, value, name):
                problems.unit(rel, entry.line, "Environment", msg)
    for var, value in cc.environment.items():
        if msg := rules.inline_secret(var, value, name):
            problems.stack(("containers", name, "environment", var), msg)


def wire_secrets(unit: QuadletUnit, name: str, variables: list[str]) -> str:
    """Make `unit` take `variables` as podman secrets; returns the env file that feeds them.

    The helper runs before every start, so a restart after a changed env file (rotation)
    always sees the new values.
    """
    for var in variables:
        unit.add("Container", "Secret", f"{name}-{var},type=env,target={var}")
    unit.add("Service", "ExecStartPre", f"{SECRETS_HELPER} {name}")
    return f"{ENV_DIR}/{name}.env"


def _check_service(problems: Problems, unit: QuadletUnit, rel: str, pool_unit: str | None) -> None:
    """Restart= that restarts a failed container, health settings that cannot hang or kill
    the start, auto-update that can work, and ordering after the pool import when data lives
    on the pool."""
    for rule in (rules.restart, rules.unknown_restart):
        if msg := rule(unit):
            line = unit.line_of("Service", "Restart") or unit.section_line("Service")
            problems.unit(rel, line, "Restart", msg)
    checks = (
        (rules.notify_healthy_without_check, "Container", "Notify"),
        (rules.health_start_period, "Container", "HealthStartPeriod"),
        (rules.autoupdate_digest, "Container", "AutoUpdate"),
    )
    for check, section, key in checks:
        if msg := check(unit):
            problems.unit(rel, unit.line_of(section, key) or unit.section_line(section), key, msg)
    if pool_unit and (missing := rules.pool_ordering(unit, pool_unit)):
        keys, msg = missing
        lines = [n for k in keys if (n := unit.line_of("Unit", k))]
        problems.unit(rel, lines[0] if lines else unit.section_line("Unit"), "/".join(keys), msg)


def _owner(
    problems: Problems, cc: ContainerConfig, unit: QuadletUnit, rel: str
) -> tuple[int, int] | None:
    """uid, gid of the container's data directories: data_owner, else a numeric User=."""
    if cc.data_owner and (ids := numeric_ids(cc.data_owner)):
        return ids
    ids = numeric_ids(unit.user or "")
    if ids is None:
        return 0, 0
    if out_of_range(ids):
        problems.unit(rel, unit.line_of("Container", "User"), "User", RANGE)
        return None
    return ids
