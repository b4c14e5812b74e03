"""Stack config + `containers/*.container` -> the host's desired FileSet. Pure.

Every check that can stop bad input runs here, before anything is generated or touched,
and every problem names a file, a line, a key and what to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from homelab.config import NAMESPACE, ContainerConfig, StackConfig, locate
from homelab.fileset import FileSet, ManagedDir, ManagedFile, ManagedLink, sha256
from homelab.quadlet import QuadletError, QuadletUnit, best_practices, lint_unit, parse_unit
from homelab.quadlet.model import ImageRef, PublishedPort, VolumeMount

QUADLET_DIR = "/etc/containers/systemd"
ENV_DIR = "/etc/homelab/env"
CANONICAL_ROOT = "/var/tank/services"  # the volume root the files in containers/ are written for
SECRETISH = re.compile(r"KEY|SECRET|PASSWORD|PASSWD|TOKEN", re.IGNORECASE)
CORE_KEYS_FILE = "/home/core/.ssh/authorized_keys.d/ignition"


class PlanError(Exception):
    """Bad input; `problems` are `where: key: message` lines a person can act on."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


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


class HostPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    config: StackConfig
    containers: tuple[PlannedContainer, ...]
    fileset: FileSet


# ------------------------------------------------------------------ value parsing


@dataclass(frozen=True)
class Port:
    """A validated PublishPort=: fixed host port(s), numeric, in range."""

    host_ip: str
    host: tuple[int, int]  # range, inclusive
    container: tuple[int, int]
    proto: str

    def canonical(self) -> str:
        def rng(r: tuple[int, int]) -> str:
            return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"

        ip = (
            f"[{self.host_ip}]:"
            if ":" in self.host_ip
            else (f"{self.host_ip}:" if self.host_ip else "")
        )
        return f"{ip}{rng(self.host)}:{rng(self.container)}/{self.proto}"


def _port_range(text: str, what: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text)
    if not m:
        raise ValueError(f"{what} port {text!r} is not a number (1-65535)")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    for p in (lo, hi):
        if not 1 <= p <= 65535:
            raise ValueError(f"{what} port {p} is outside 1-65535")
    if hi < lo:
        raise ValueError(f"{what} port range {text!r} is reversed")
    return lo, hi


def parse_port(spec: str) -> Port:
    """PublishPort= as podman splits it, then held to what a home server needs: a fixed,
    numeric host port, so two containers cannot silently fight over one."""
    pp = PublishedPort.parse(spec)
    if pp.protocol not in ("tcp", "udp", "sctp"):
        raise ValueError(f"protocol {pp.protocol!r} must be tcp, udp or sctp")
    if pp.host_port is None:
        if ":" not in spec:
            raise ValueError(
                f"{spec!r} publishes no fixed host port; write HOST:CONTAINER, e.g. 8080:80"
            )
        raise ValueError(f"{spec!r} publishes a random host port; give one, e.g. 8080:80")
    hr = _port_range(pp.host_port, "host")
    cr = _port_range(pp.container_port, "container")
    if hr[1] - hr[0] != cr[1] - cr[0]:
        raise ValueError(f"{spec!r}: host and container ranges differ in length")
    return Port(pp.host_ip or "", hr, cr, pp.protocol)


def _named_volume(src: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", src))


# ------------------------------------------------------------------ planning


def _rebase(path: str, root: str) -> str:
    if root != CANONICAL_ROOT and (path == CANONICAL_ROOT or path.startswith(CANONICAL_ROOT + "/")):
        return root + path[len(CANONICAL_ROOT) :]
    return path


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _owner(cfg: ContainerConfig, unit: QuadletUnit) -> tuple[int, int]:
    if cfg.data_owner:
        uid, gid = cfg.data_owner.split(":")
        return int(uid), int(gid)
    user = (unit.get("Container", "User") or [""])[-1]
    m = re.fullmatch(r"(\d+)(?::(\d+))?", user)
    if m:
        return int(m.group(1)), int(m.group(2) or m.group(1))
    return 0, 0


SECRETS_HELPER = "/etc/homelab/bin/podman-secrets"
SECRETS_HELPER_TEXT = """#!/bin/sh
# Managed by homelab. Loads container NAME's secrets from its root 0600 env file into
# podman's secret store. As podman secrets (Secret=...,type=env) the values never enter the
# container's stored config (podman's world-readable db.sql), as EnvironmentFile= would.
set -eu
name=$1
env=/etc/homelab/env/$name.env
if [ ! -f "$env" ]; then
  # First boot from an Ignition without secrets (mouse): the push delivers them later.
  echo "homelab: $name waits for its secrets: $env is not here yet (pulumi up delivers it)" >&2
  exit 1
fi
while IFS= read -r line || [ -n "$line" ]; do
  [ -n "$line" ] || continue
  printf '%s' "${line#*=}" | podman secret create --replace "$name-${line%%=*}" - >/dev/null
done < "$env"
"""


def wire_secrets(unit: QuadletUnit, name: str, variables: list[str]) -> str:
    """Make `unit` take `variables` as podman secrets; returns the env file that feeds them.

    The helper runs before every start, so a restart after a changed env file (rotation)
    always sees the new values.
    """
    for var in variables:
        unit.add("Container", "Secret", f"{name}-{var},type=env,target={var}")
    unit.add("Service", "ExecStartPre", f"{SECRETS_HELPER} {name}")
    return f"{ENV_DIR}/{name}.env"


class _Ctx:
    def __init__(self, cfg: StackConfig, project_dir: Path):
        self.cfg = cfg
        self.project_dir = project_dir
        self.problems: list[str] = []
        self.chain = [cfg.stack] + ([cfg.base_stack] if cfg.base_stack else [])

    def stack(self, keys: tuple[str | int, ...], msg: str) -> None:
        where = locate(self.project_dir, self.chain, keys)
        dotted = NAMESPACE + ":" + ".".join(str(k) for k in keys)
        self.problems.append(f"{where}: {dotted}: {msg}")

    def unit(self, src: str, line: int | None, key: str, msg: str) -> None:
        self.problems.append(f"{src}:{line or 0}: {key}: {msg}")


def _plan_container(ctx: _Ctx, name: str, cc: ContainerConfig) -> PlannedContainer | None:
    host = ctx.cfg.host
    before = len(ctx.problems)  # earlier containers' problems must not hide this one's
    rel = f"containers/{name}.container"
    path = ctx.project_dir / rel
    if not path.exists():
        ctx.stack(
            ("containers", name),
            f"container {name!r} is enabled but {rel} does not exist; add the Quadlet file "
            "or set enabled: false",
        )
        return None
    text = path.read_text()
    try:
        unit = parse_unit(text, rel)
    except QuadletError as exc:
        ctx.problems.append(str(exc))
        return None
    for p in lint_unit(unit):
        ctx.problems.append(str(p))
    if len(ctx.problems) > before:
        return None

    def line(section: str, key: str) -> int | None:
        return unit.line_of(section, key)

    # --- overrides from the stack, applied to the parsed unit
    if cc.image:
        unit.set("Container", "Image", [cc.image])
    elif cc.image_tag:
        current = (unit.get("Container", "Image") or [""])[-1]
        unit.set("Container", "Image", [ImageRef.parse(current).with_tag(cc.image_tag)])
    if cc.ports is not None:
        unit.set("Container", "PublishPort", list(cc.ports))
    for var, value in cc.environment.items():
        env = [e for e in unit.get("Container", "Environment") if not e.startswith(var + "=")]
        unit.set("Container", "Environment", [*env, f"{var}={value}"])
    for extra in cc.volumes:
        unit.add("Container", "Volume", extra)
    if cc.memory_max:
        unit.set("Service", "MemoryMax", [cc.memory_max])
    if cc.cpu_quota:
        unit.set("Service", "CPUQuota", [cc.cpu_quota])

    # --- image
    images = unit.get("Container", "Image")
    image_ref = images[-1] if images else ""
    img = ImageRef.parse(image_ref)
    img_where = ("containers", name, "image" if cc.image else "image_tag")
    if not img.fully_qualified:
        ctx.unit(
            rel,
            line("Container", "Image"),
            "Image",
            f"{image_ref!r} is a short name; use a fully qualified name such as "
            f"docker.io/{img.name}:TAG (short names are resolved by a registry search)",
        )
    if host.production and not img.pinned:
        msg = (
            f"{image_ref!r} is not pinned; stack {ctx.cfg.stack!r} is production and rejects "
            ":latest or untagged images: pin a version"
        )
        if cc.image or cc.image_tag:
            ctx.stack(img_where, msg)
        else:
            ctx.unit(rel, line("Container", "Image"), "Image", msg + " in the file")

    # --- ports
    ports: list[Port] = []
    for i, spec in enumerate(unit.get("Container", "PublishPort")):
        try:
            ports.append(parse_port(spec))
        except ValueError as exc:
            if cc.ports is not None:
                ctx.stack(("containers", name, "ports", i), str(exc))
            else:
                ctx.unit(rel, line("Container", "PublishPort"), "PublishPort", str(exc))

    # --- volumes: rebased to this host's root, checked, data dirs collected
    data_dirs: list[str] = []
    new_vols: list[str] = []
    n_file_vols = len(unit.get("Container", "Volume")) - len(cc.volumes)
    for i, spec in enumerate(unit.get("Container", "Volume")):
        from_stack = i >= n_file_vols

        def bad(msg: str, i: int = i, from_stack: bool = from_stack) -> None:
            if from_stack:
                ctx.stack(("containers", name, "volumes", i - n_file_vols), msg)
            else:
                ctx.unit(rel, line("Container", "Volume"), "Volume", msg)

        vol = VolumeMount.parse(spec)
        src = vol.source or ""
        if not src or _named_volume(src) or src.endswith(".volume"):
            new_vols.append(spec)
            continue
        if not src.startswith("/"):
            bad(f"volume source {src!r} is relative; use an absolute path under {host.volume_root}")
            continue
        if any(p in ("..", ".") for p in src.split("/")):
            bad(f"volume source {src!r} contains '..' or '.'; write the plain absolute path")
            continue
        src = _rebase(src, host.volume_root)
        if _under(src, host.volume_root):
            # The file's own volumes are checked by the shared best practices below.
            if from_stack and not ({"Z", "z"} & set(vol.options)):
                bad(
                    f"bind mount {src!r} lacks :Z; add :Z (private) or :z (shared) so SELinux "
                    "lets the container use it"
                )
            data_dirs.append(src)
        elif src in cc.host_paths or any(_under(src, h) for h in cc.host_paths):
            if "ro" not in vol.options:
                bad(f"host path {src!r} must be mounted read-only (:ro)")
        else:
            bad(
                f"volume source {src!r} lies outside the volume root {host.volume_root}; "
                f"move the data under it, or allow it read-only with "
                f"homelab:containers.{name}.host_paths"
            )
        opts = ":" + ",".join(vol.options) if vol.options else ""
        new_vols.append(f"{src}:{vol.target}{opts}")
    unit.set("Container", "Volume", new_vols)

    # --- secrets: never inline; podman secrets loaded from a root 0600 env file
    env_file = None
    for var, value in cc.environment.items():  # the file's own: best practices below
        if SECRETISH.search(var) and value and host.production:
            ctx.stack(("containers", name, "environment", var), _inline_secret(var, name))
    if cc.secrets:
        env_file = wire_secrets(unit, name, sorted(cc.secrets))

    # --- best practices of the seed (Restart=, ZFS ordering) as errors with fixes
    zfs = host.zfs_unit
    # The seed's rules (Restart=, :Z, no inline secrets, pool ordering); pinning is checked
    # above, where it is known whether the file or the stack chose the image.
    for p in best_practices(unit, zfs_unit=zfs if data_dirs else None, data_root=host.volume_root):
        ctx.problems.append(str(p))
    if not zfs:
        # No pool on this host (e.g. the VM): drop the pool dependency so units can start.
        for key in ("After", "Requires", "Wants", "BindsTo"):
            vals = unit.get("Unit", key)
            kept = [" ".join(w for w in v.split() if not w.startswith("zfs-import-")) for v in vals]
            if vals != kept:
                unit.set("Unit", key, [v for v in kept if v])

    if len(ctx.problems) > before:
        return None
    return PlannedContainer(
        name=name,
        source=rel,
        unit_path=f"{QUADLET_DIR}/{name}.container",
        service=f"{name}.service",
        text=unit.render(),
        image=(unit.get("Container", "Image") or [""])[-1],
        ports=tuple(p.canonical() for p in ports),
        data_dirs=tuple(dict.fromkeys(data_dirs)),
        secrets=dict(cc.secrets),
        env_file=env_file,
    )


def _inline_secret(var: str, name: str) -> str:
    return (
        f"{var} looks like a secret written inline; move it to "
        f"homelab:containers.{name}.secrets ({var}: <configKey>) and set the value with "
        f"`pulumi config set --secret <configKey> <value>`"
    )


def _cross_checks(
    ctx: _Ctx, planned: list[PlannedContainer], units: dict[str, QuadletUnit]
) -> None:
    seen_ports: dict[tuple[str, str, int], str] = {}
    for pc in planned:
        for spec in pc.ports:
            p = parse_port(spec)
            for hp in range(p.host[0], p.host[1] + 1):
                key = (p.host_ip, p.proto, hp)
                other = seen_ports.get(key)
                if other and other != pc.name:
                    ctx.stack(
                        ("containers", pc.name),
                        f"host port {hp}/{p.proto} is published by both {other!r} and "
                        f"{pc.name!r}; change one of them (ports: override) or disable one",
                    )
                seen_ports[key] = pc.name
    names: dict[str, str] = {}
    for pc in planned:
        cname = (units[pc.name].get("Container", "ContainerName") or [f"systemd-{pc.name}"])[-1]
        if cname in names:
            ctx.unit(
                pc.source,
                units[pc.name].line_of("Container", "ContainerName"),
                "ContainerName",
                f"container name {cname!r} is also used by {names[cname]!r}; names must be unique",
            )
        names[cname] = pc.name


def plan_host(cfg: StackConfig, project_dir: Path) -> HostPlan:
    """The one desired file set for `cfg`'s host. Raises PlanError listing every problem."""
    ctx = _Ctx(cfg, project_dir)
    host = cfg.host
    planned: list[PlannedContainer] = []
    units: dict[str, QuadletUnit] = {}
    for name in cfg.enabled:
        pc = _plan_container(ctx, name, cfg.containers[name])
        if pc is not None:
            planned.append(pc)
            units[name] = parse_unit(pc.text, pc.source)
    _cross_checks(ctx, planned, units)
    if ctx.problems:
        raise PlanError(ctx.problems)

    files: list[ManagedFile] = []
    dirs: dict[str, ManagedDir] = {}
    on_pool = host.zfs_pool is not None
    for pc in planned:
        files.append(
            ManagedFile(path=pc.unit_path, content=pc.text, mode=0o644, units=(pc.service,))
        )
        if pc.env_file:
            files.append(
                ManagedFile(
                    path=pc.env_file,
                    mode=0o600,
                    units=(pc.service,),
                    secret_env=tuple(sorted(pc.secrets.items())),
                    in_ignition=host.secrets_in_ignition,
                )
            )
        uid, gid = _owner(cfg.containers[pc.name], units[pc.name])
        for d in pc.data_dirs:
            # Parents up to the volume root belong to root; the leaf to the container's user.
            parts = d[len(host.volume_root) :].strip("/").split("/")
            for depth in range(1, len(parts)):
                parent = host.volume_root + "/" + "/".join(parts[:depth])
                dirs.setdefault(
                    parent, ManagedDir(path=parent, mode=0o755, in_ignition=not on_pool)
                )
            dirs[d] = ManagedDir(path=d, mode=0o750, uid=uid, gid=gid, in_ignition=not on_pool)
    if dirs:
        dirs.setdefault(
            host.volume_root, ManagedDir(path=host.volume_root, mode=0o755, in_ignition=not on_pool)
        )

    if any(pc.env_file for pc in planned):
        files.append(ManagedFile(path=SECRETS_HELPER, content=SECRETS_HELPER_TEXT, mode=0o755))
    files.append(ManagedFile(path="/etc/hostname", content=host.hostname + "\n"))
    if host.ssh_authorized_keys:
        files.append(
            ManagedFile(
                path=CORE_KEYS_FILE,
                content="".join(k + "\n" for k in host.ssh_authorized_keys),
                mode=0o600,
                uid=host.core_uid,
                gid=host.core_uid,
            )
        )
    if host.zfs_unit and host.zfs_pool:
        files.append(
            ManagedFile(
                path=f"/etc/systemd/system/{host.zfs_unit}", content=_zfs_unit(host.zfs_pool)
            )
        )
    links = [ManagedLink(path="/etc/localtime", target=f"../usr/share/zoneinfo/{host.timezone}")]
    if host.auto_rebase.enabled:
        files.extend(_autorebase_units(host.auto_rebase.image))
        links.extend(
            ManagedLink(
                path=f"/etc/systemd/system/multi-user.target.wants/{u}",
                target=f"/etc/systemd/system/{u}",
            )
            for u in ("ucore-unsigned-autorebase.service", "ucore-signed-autorebase.service")
        )

    fs = FileSet(
        files=tuple(sorted(files, key=lambda f: f.path)),
        dirs=tuple(sorted(dirs.values(), key=lambda d: d.path)),
        links=tuple(sorted(links, key=lambda ln: ln.path)),
        units=tuple(pc.service for pc in planned),
        quadlet_dir=QUADLET_DIR,
        secret_names=tuple(cfg.secret_names()),
    )
    return HostPlan(config=cfg, containers=tuple(planned), fileset=fs)


def _zfs_unit(pool: str) -> str:
    # Containers Require= this unit, so it is pulled in by them and needs no [Install].
    return f"""# Managed by homelab: imports the ZFS pool that holds the containers' data.
[Unit]
Description=Import ZFS pool {pool}
DefaultDependencies=no
After=systemd-udev-settle.service
Before=local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecCondition=/bin/sh -c '! /usr/sbin/zpool list {pool} >/dev/null 2>&1'
ExecStart=/usr/sbin/zpool import -N {pool}
ExecStart=/usr/sbin/zfs mount -a
"""


def _autorebase_units(image: str) -> list[ManagedFile]:
    # uCore's documented two-step rebase: unverified first (no signing policy yet), then signed.
    unsigned = f"""[Unit]
Description=uCore autorebase to unsigned OCI and reboot
ConditionPathExists=!/etc/ucore-autorebase/unverified
ConditionPathExists=!/etc/ucore-autorebase/signed
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/usr/bin/rpm-ostree rebase --bypass-driver ostree-unverified-registry:{image}
ExecStart=/usr/bin/mkdir -p /etc/ucore-autorebase/
ExecStart=/usr/bin/touch /etc/ucore-autorebase/unverified
ExecStart=/usr/bin/systemctl disable ucore-unsigned-autorebase.service
ExecStart=/usr/bin/systemctl reboot

[Install]
WantedBy=multi-user.target
"""
    signed = f"""[Unit]
Description=uCore autorebase to signed OCI and reboot
ConditionPathExists=/etc/ucore-autorebase/unverified
ConditionPathExists=!/etc/ucore-autorebase/signed
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
StandardOutput=journal+console
ExecStart=/usr/bin/rpm-ostree rebase --bypass-driver ostree-image-signed:docker://{image}
ExecStart=/usr/bin/touch /etc/ucore-autorebase/signed
ExecStart=/usr/bin/systemctl disable ucore-signed-autorebase.service
ExecStart=/usr/bin/systemctl reboot

[Install]
WantedBy=multi-user.target
"""
    return [
        ManagedFile(path="/etc/systemd/system/ucore-unsigned-autorebase.service", content=unsigned),
        ManagedFile(path="/etc/systemd/system/ucore-signed-autorebase.service", content=signed),
    ]


def file_summary(fs: FileSet) -> dict[str, Any]:
    """Per-path facts safe to show and store: hashes of non-secret files, never secret content."""
    out: dict[str, Any] = {}
    for f in fs.files:
        out[f.path] = {
            "mode": f"{f.mode:04o}",
            "owner": f"{f.uid}:{f.gid}",
            "sha256": None if f.secret else sha256(f.content),
            "secret": f.secret,
            "units": list(f.units),
        }
    for d in fs.dirs:
        out[d.path + "/"] = {"mode": f"{d.mode:04o}", "owner": f"{d.uid}:{d.gid}", "dir": True}
    for ln in fs.links:
        out[ln.path] = {"link": ln.target}
    return out
