"""One container planned for a host: `containers/NAME.container` plus its stack settings ->
the unit file the host gets, checked. Each step below is one concern; every problem names
where its value came from (a line of the file, or a key of the stack file) and what to do.

`check_unit` is every check a unit file gets, for `build` (through `plan_container`) and for
`python -m homelab quadlet check` alike: one code path, so the two cannot disagree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from homelab.host.config import ContainerConfig, HostConfig, StackConfig
from homelab.host.problems import Problems
from homelab.host.system import ENV_DIR, QUADLET_DIR, SECRETS_HELPER
from homelab.quadlet import PublishedPort, QuadletUnit, newer_than_5_4, rules
from homelab.quadlet.lint import check_text
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
class Planned:
    """A planned container with what the host plan needs beyond the container itself."""

    container: PlannedContainer
    unit: QuadletUnit
    ports: list[PublishedPort]
    owner: tuple[int, int]  # uid, gid of its data directories


@dataclass(frozen=True)
class _Source:
    """Where a value came from: a line of the unit file, or an index in a stack list."""

    line: int | None = None
    index: int | None = None


@dataclass(frozen=True)
class Checked:
    """A unit file after every check: the unit as the host gets it (stack settings applied,
    secrets wired), and what planning needs from the checks."""

    unit: QuadletUnit
    ports: list[PublishedPort]
    data_dirs: list[str]
    env_file: str | None


def plan_container(
    problems: Problems, cfg: StackConfig, project_dir: Path, name: str
) -> Planned | None:
    """The container `name` as `cfg`'s host gets it, or None (its problems are recorded)."""
    cc = cfg.containers[name]
    before = len(problems)  # earlier containers' problems must not hide this one's
    rel = f"containers/{name}.container"
    text = _read_text(problems, project_dir, rel, name)
    if text is None:
        return None
    siblings = {f"{n}.container" for n in cfg.enabled}  # what the host's podman will see
    checked = check_unit(problems, text, rel, cfg.host, cc, siblings)
    if checked is None or len(problems) > before:
        return None
    unit, ports = checked.unit, checked.ports
    pc = PlannedContainer(
        name=name,
        source=rel,
        unit_path=f"{QUADLET_DIR}/{name}.container",
        service=f"{name}.service",
        text=unit.render(),
        image=(unit.get("Container", "Image") or [""])[-1],
        ports=tuple(p.canonical() for p in ports),
        data_dirs=tuple(dict.fromkeys(checked.data_dirs)),
        secrets=dict(cc.secrets),
        env_file=checked.env_file,
    )
    return Planned(pc, unit, ports, _owner(cc, unit))


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
    ports = _check_ports(problems, unit, src, cc)
    data_dirs = _place_volumes(problems, unit, src, cc, host, file_vols)
    _check_environment(problems, unit, src, cc, file_envs)
    env_file = wire_secrets(unit, unit.name, sorted(cc.secrets)) if cc.secrets else None
    pool_unit = host.zfs_unit if host is not None and data_dirs else None
    _check_service(problems, unit, src, pool_unit)
    if host is not None and not host.zfs_unit:
        rules.drop_pool_dependencies(unit)
    problems.sort_from(start)
    return Checked(unit, ports, data_dirs, env_file)


def _read_text(problems: Problems, project_dir: Path, rel: str, name: str) -> str | None:
    """The unit file's text (the one place a container's file is read)."""
    path = project_dir / rel
    if not path.exists():
        problems.stack(
            ("containers", name),
            f"container {name!r} is enabled but {rel} does not exist; add the Quadlet file "
            "or set enabled: false",
        )
        return None
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        problems.unit(rel, 0, "", f"cannot read: {exc}")
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
        unit.set_environment(var, value)
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


def _check_ports(
    problems: Problems, unit: QuadletUnit, rel: str, cc: ContainerConfig
) -> list[PublishedPort]:
    """Every published port fixed and numeric (`rules.fixed_host_port`)."""
    ports = []
    for i, entry in enumerate(unit.assigned("Container", "PublishPort")):
        try:
            ports.append(rules.fixed_host_port(entry.value))
        except ValueError as exc:
            if cc.ports is not None:
                problems.stack(("containers", unit.name, "ports", i), str(exc))
            else:
                problems.unit(rel, entry.line, "PublishPort", str(exc))
    return ports


def _place_volumes(
    problems: Problems,
    unit: QuadletUnit,
    rel: str,
    cc: ContainerConfig,
    host: HostConfig | None,
    file_vols: list[Line],
) -> list[str]:
    """Each volume (the file's, then the stack's) rebased to this host's volume root and
    checked; the unit gets the rebased ones. Returns the data directories. Without a host,
    only what holds on every host: absolute, plain, relabelled."""
    root, name = (host.volume_root if host else None), unit.name
    sources = [(e.value, _Source(line=e.line)) for e in file_vols]
    sources += [(spec, _Source(index=i)) for i, spec in enumerate(cc.volumes)]
    data_dirs: list[str] = []
    specs: list[str] = []
    for spec, src_of in sources:

        def bad(msg: str, src_of: _Source = src_of) -> None:
            if src_of.index is not None:
                problems.stack(("containers", name, "volumes", src_of.index), msg)
            else:
                problems.unit(rel, src_of.line, "Volume", msg)

        vol = VolumeMount.parse(spec)
        if not vol.source or vol.named:
            specs.append(spec)
            continue
        msg, placed = _place(vol, root, cc, name)
        if msg is None and (relabel := rules.relabel(placed, root)) is not None:
            msg = relabel
        if msg is not None:
            bad(msg)
            continue
        if root and placed.source and rules.under(placed.source, root):
            data_dirs.append(placed.source)
        specs.append(placed.raw)
    unit.set("Container", "Volume", specs)
    return data_dirs


def _place(
    vol: VolumeMount, root: str | None, cc: ContainerConfig, name: str
) -> tuple[str | None, VolumeMount]:
    """(what is wrong, or None; the mount rebased to `root`) for one bind mount."""
    src = vol.source or ""
    if not src.startswith("/"):
        where = root or CANONICAL_ROOT
        return f"volume source {src!r} is relative; use an absolute path under {where}", vol
    if any(p in ("..", ".") for p in src.split("/")):
        return f"volume source {src!r} contains '..' or '.'; write the plain absolute path", vol
    if root is None:
        return None, vol
    if root != CANONICAL_ROOT and rules.under(src, CANONICAL_ROOT):
        src = root + src[len(CANONICAL_ROOT) :]
    placed = VolumeMount.parse(vol.with_source(src))
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


def _check_service(problems: Problems, unit: QuadletUnit, rel: str, pool_unit: str | None) -> None:
    """Restart=on-failure, and ordering after the pool import when data lives on the pool."""
    if msg := rules.restart(unit):
        line = unit.line_of("Service", "Restart") or unit.section_line("Service")
        problems.unit(rel, line, "Restart", msg)
    if pool_unit and (missing := rules.pool_ordering(unit, pool_unit)):
        keys, msg = missing
        lines = [n for k in keys if (n := unit.line_of("Unit", k))]
        problems.unit(rel, lines[0] if lines else unit.section_line("Unit"), "/".join(keys), msg)


def _owner(cc: ContainerConfig, unit: QuadletUnit) -> tuple[int, int]:
    if cc.data_owner:
        uid, gid = cc.data_owner.split(":")
        return int(uid), int(gid)
    m = re.fullmatch(r"(\d+)(?::(\d+))?", unit.user or "")
    if m:
        return int(m.group(1)), int(m.group(2) or m.group(1))
    return 0, 0
