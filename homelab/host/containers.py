"""One container planned for a host: `containers/NAME.container` plus its stack settings ->
the unit file the host gets, checked. Each step below is one concern; every problem names
where its value came from (a line of the file, or a key of the stack file) and what to do."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from homelab.host.config import MAX_ID, ContainerConfig, HostConfig, StackConfig
from homelab.host.problems import Problems
from homelab.host.stack import Keys
from homelab.host.system import ENV_DIR, QUADLET_DIR, SECRETS_HELPER
from homelab.inputs import UNIT_FILE_MAX, UNIT_LINE_MAX, InputError, read_file
from homelab.quadlet import PublishedPort, QuadletError, QuadletUnit, lint_unit, parse_unit, rules
from homelab.quadlet.model import keyvals
from homelab.quadlet.render import Line
from homelab.quadlet.values import VolumeMount

CANONICAL_ROOT = "/var/tank/services"  # the volume root the files in containers/ are written for


class PlannedContainer(BaseModel):
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
        if self.keys is not None:
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
class Planned:
    """A planned container with what the host plan needs beyond the container itself."""

    container: PlannedContainer
    unit: QuadletUnit
    binds: list[Bind]
    mounts: list[DataMount]
    owner: tuple[int, int]  # uid, gid of its data directories


def plan_container(
    problems: Problems, cfg: StackConfig, project_dir: Path, name: str
) -> Planned | None:
    """The container `name` as `cfg`'s host gets it, or None (its problems are recorded)."""
    cc, host = cfg.containers[name], cfg.host
    before = len(problems)  # earlier containers' problems must not hide this one's
    rel = f"containers/{name}.container"
    unit = _read_unit(problems, project_dir, rel, name)
    if unit is None:
        return None
    file_envs = unit.assigned("Container", "Environment")
    file_vols = unit.assigned("Container", "Volume")
    _apply_overrides(unit, cc)
    _check_image(problems, unit, rel, cc, host.production)
    binds = _check_ports(problems, unit, rel, cc)
    mounts = _place_volumes(problems, unit, rel, cc, host, file_vols)
    data_dirs = [m.path for m in mounts]
    _check_environment(problems, unit, rel, cc, file_envs)
    env_file = wire_secrets(unit, name, sorted(cc.secrets)) if cc.secrets else None
    _check_unit(problems, unit, rel, host.zfs_unit if data_dirs else None)
    if not host.zfs_unit:
        rules.drop_pool_dependencies(unit)
    owner = _owner(problems, cc, unit, rel)
    if len(problems) > before or owner is None:
        return None
    pc = PlannedContainer(
        name=name,
        source=rel,
        unit_path=f"{QUADLET_DIR}/{name}.container",
        service=f"{name}.service",
        text=unit.render(),
        image=(unit.get("Container", "Image") or [""])[-1],
        ports=tuple(b.port.canonical() for b in binds),
        data_dirs=tuple(dict.fromkeys(data_dirs)),
        secrets=dict(cc.secrets),
        env_file=env_file,
    )
    return Planned(pc, unit, binds, mounts, owner)


def _read_unit(problems: Problems, project_dir: Path, rel: str, name: str) -> QuadletUnit | None:
    """The unit file: a regular file inside containers/, its bytes checked at the edge
    (`homelab.inputs`), parsed and held to podman's own rules."""
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
        text = read_file(path, rel, UNIT_FILE_MAX, symlink=False, line_limit=UNIT_LINE_MAX)
    except InputError as exc:
        for p in exc.problems:
            problems.add(p)
        return None
    try:
        unit = parse_unit(text, rel)
    except QuadletError as exc:
        problems.add(str(exc))
        return None
    found = [str(p) for p in lint_unit(unit)]
    for p in found:
        problems.add(p)
    return None if found else unit


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
            problems.unit(rel, unit.line_of("Container", "Image"), "Image", msg)


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
    host: HostConfig,
    file_vols: list[Line],
) -> list[DataMount]:
    """Each volume (the file's, then the stack's) rebased to this host's volume root and
    checked; the unit gets the rebased ones. Returns the data directories it mounts."""
    root, name = host.volume_root, unit.name
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
        if placed.source and rules.under(placed.source, root):
            mounts.append(DataMount(placed.source, placed.relabel, origin))
        specs.append(placed.raw)
    unit.set("Container", "Volume", specs)
    return mounts


def _place(
    vol: VolumeMount, root: str, cc: ContainerConfig, name: str
) -> tuple[str | None, VolumeMount]:
    """(what is wrong, or None; the mount rebased to `root`) for one bind mount."""
    src = vol.source or ""
    if src.startswith("%"):
        return (
            f"volume source {src!r} starts with a systemd specifier; homelab creates the data "
            f"directories, so write the path out under {root}"
        ), vol
    if not src.startswith("/"):
        return f"volume source {src!r} is relative; use an absolute path under {root}", vol
    if any(p in ("..", ".") for p in src.split("/")):
        return f"volume source {src!r} contains '..' or '.'; write the plain absolute path", vol
    if "%" in src:
        return (
            f"volume source {src!r} holds '%', a systemd specifier; homelab creates the data "
            "directories, so use a path without it"
        ), vol
    src = re.sub("/+", "/", src).rstrip("/") or "/"
    if root != CANONICAL_ROOT and rules.under(src, CANONICAL_ROOT):
        src = root + src[len(CANONICAL_ROOT) :]
    placed = VolumeMount.parse(vol.with_source(src))
    if src == root:
        return (
            f"volume source {src!r} is the volume root itself; mount a directory of its own "
            f"under it, e.g. {root}/{name}/data"
        ), placed
    if rules.under(src, root):
        return None, placed
    if any(rules.under(src, h) for h in cc.host_paths):
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


def _check_unit(problems: Problems, unit: QuadletUnit, rel: str, pool_unit: str | None) -> None:
    """Restart=on-failure, and ordering after the pool import when data lives on the pool."""
    if msg := rules.restart(unit):
        line = unit.line_of("Service", "Restart") or unit.section_line("Service")
        problems.unit(rel, line, "Restart", msg)
    if pool_unit and (missing := rules.pool_ordering(unit, pool_unit)):
        keys, msg = missing
        lines = [n for k in keys if (n := unit.line_of("Unit", k))]
        problems.unit(rel, min(lines) if lines else unit.section_line("Unit"), "/".join(keys), msg)


def _owner(
    problems: Problems, cc: ContainerConfig, unit: QuadletUnit, rel: str
) -> tuple[int, int] | None:
    """uid, gid of the container's data directories: data_owner, else a numeric User=."""
    if cc.data_owner:
        u, g = cc.data_owner.split(":")
        return int(u), int(g)
    m = re.fullmatch(r"(\d{1,20})(?::(\d{1,20}))?", unit.user or "")
    if not m:
        return 0, 0
    uid, gid = int(m.group(1)), int(m.group(2) or m.group(1))
    if max(uid, gid) > MAX_ID:
        line = unit.line_of("Container", "User")
        problems.unit(rel, line, "User", f"uid and gid must be at most {MAX_ID}")
        return None
    return uid, gid
