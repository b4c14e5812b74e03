"""Stack config + `containers/*.container` -> the host's one desired FileSet. Pure.

Every check that can stop bad input runs here, before anything is generated or touched, and
every problem names a file, a line, a key and what to do (all of them at once).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from homelab.fileset import (
    FileSet,
    ManagedDataset,
    ManagedDir,
    ManagedFile,
    ManagedImage,
    ManagedLink,
)
from homelab.host.config import HostConfig, StackConfig
from homelab.host.containers import Bind, ContainerLayout, LaidOut, layout_container
from homelab.host.images import AUTH_FILE, ImageLock, LockError
from homelab.host.problems import LayoutError, Problems
from homelab.host.stack import StackFiles, chain
from homelab.host.system import (
    AUTOREBASE_UNITS,
    CORE_KEYS_FILE,
    QUADLET_DIR,
    REARM_UNIT,
    SECRETS_HELPER,
    SECRETS_HELPER_TEXT,
    autorebase_units,
    rearm_unit,
    zfs_import_unit,
)

__all__ = ["ContainerLayout", "HostLayout", "LayoutError", "layout_host"]


class HostLayout(BaseModel):
    model_config = ConfigDict(frozen=True)

    config: StackConfig
    containers: tuple[ContainerLayout, ...]
    fileset: FileSet


def layout_host(
    cfg: StackConfig,
    project_dir: Path,
    files: StackFiles | None = None,
    pin: bool = True,
) -> HostLayout:
    """The one desired file set for `cfg`'s host. Raises LayoutError listing every problem.

    `files`: the run's stack files, already read while loading `cfg` (read again if None).
    `pin`: images pinned from the project's images.lock (read here, once); False only for
    `homelab images lock`, which needs the references as written.
    """
    problems = Problems(files or StackFiles(project_dir), chain(cfg))
    try:
        lock = ImageLock.read(project_dir) if pin else None
    except LockError as exc:
        raise LayoutError(exc.problems) from None
    laid_out = [
        p for name in cfg.enabled if (p := layout_container(problems, cfg, project_dir, name, lock))
    ]
    _cross_checks(problems, laid_out, cfg.ssh.port if cfg.ssh else 22)
    datasets = _datasets(problems, cfg, laid_out)
    if problems:
        raise LayoutError(problems.lines)
    host = cfg.host
    links = [ManagedLink(path="/etc/localtime", target=f"../usr/share/zoneinfo/{host.timezone}")]
    wanted = [*(AUTOREBASE_UNITS if host.auto_rebase.enabled else ()), *_rearm(cfg)]
    links += [
        ManagedLink(
            path=f"/etc/systemd/system/multi-user.target.wants/{u}",
            target=f"/etc/systemd/system/{u}",
        )
        for u in wanted
    ]
    fs = FileSet(
        files=tuple(sorted(_files(cfg, laid_out), key=lambda f: f.path)),
        dirs=tuple(sorted(_data_dirs(host, laid_out), key=lambda d: d.path)),
        links=tuple(sorted(links, key=lambda ln: ln.path)),
        units=tuple(p.container.service for p in laid_out),
        quadlet_dir=QUADLET_DIR,
        secret_names=tuple(cfg.secret_names()),
        images=_images(laid_out),
        datasets=tuple(datasets),
    )
    return HostLayout(config=cfg, containers=tuple(p.container for p in laid_out), fileset=fs)


def _datasets(
    problems: Problems, cfg: StackConfig, laid_out: list[LaidOut]
) -> list[ManagedDataset]:
    """A dataset per container that asks for one (`dataset:`), on a host with a pool: named
    under host.datasets_parent, mounted at VOLUME_ROOT/NAME, which must hold its data."""
    parent, root = cfg.host.datasets_parent, cfg.host.volume_root
    out = []
    for p in laid_out:
        name = p.container.name
        props = cfg.containers[name].dataset if name in cfg.containers else None
        if props is None or parent is None:
            continue
        mountpoint = f"{root}/{name}"
        if not any(d.startswith(mountpoint + "/") for d in p.container.data_dirs):
            problems.stack(
                ("containers", name, "dataset"),
                f"{name!r} has a dataset at {mountpoint} but mounts no data directory under "
                f"it (its data: {', '.join(p.container.data_dirs) or 'none'}); remove "
                "`dataset` or mount its data there",
            )
            continue
        out.append(
            ManagedDataset(
                name=f"{parent}/{name}",
                mountpoint=mountpoint,
                properties=tuple(sorted(props.items())),
                units=(p.container.service,),
            )
        )
    return out


def _cross_checks(problems: Problems, laid_out: list[LaidOut], ssh_port: int) -> None:
    """No two binds of one host port that the kernel would refuse, no container name used
    twice, no data directory two containers would fight over."""
    _port_clashes(problems, laid_out, ssh_port)
    names: dict[str, str] = {}
    for p in laid_out:
        cname = p.unit.container_name
        if cname in names:
            u = p.unit  # the name is set there, or comes from ServiceName= or the file's name
            problems.unit(
                p.container.source,
                u.line_of("Container", "ContainerName")
                or u.line_of("Container", "ServiceName")
                or u.section_line("Container"),
                "ContainerName",
                f"container name {cname!r} is also used by {names[cname]!r}; names must be unique",
            )
        names[cname] = p.container.name
    _shared_data(problems, laid_out)


def _port_clashes(problems: Problems, laid_out: list[LaidOut], ssh_port: int) -> None:
    """Each bind against every earlier one, as the kernel compares them: the same protocol,
    overlapping ports, and the same address or a wildcard. Reported at the later bind."""
    seen: list[tuple[Bind, str, int, int]] = []
    for p in laid_out:
        for b in p.binds:
            lo, hi = b.port.host_range or (0, -1)
            proto = b.port.protocol
            if proto == "tcp" and lo <= ssh_port <= hi:
                b.origin.report(
                    problems,
                    "PublishPort",
                    f"host port {ssh_port}/tcp is the host's SSH port; a container there would "
                    "take SSH away from the host, or fail to start: choose another port",
                )
            for other, oname, olo, ohi in seen:
                port = max(lo, olo)
                if port > min(hi, ohi) or other.port.protocol != proto:
                    continue
                if not _addresses_clash(b.port.host_ip, other.port.host_ip):
                    continue
                by = "this container" if oname == p.container.name else repr(oname)
                b.origin.report(
                    problems,
                    "PublishPort",
                    f"host port {port}/{proto} on {_address(b.port.host_ip)} clashes with "
                    f"{port}/{proto} on {_address(other.port.host_ip)}, published by {by} at "
                    f"{other.origin.shown(problems)}; the later one would fail to start "
                    "(address already in use): change one of them",
                )
                break
            seen.append((b, p.container.name, lo, hi))


def _address(ip: str | None) -> str:
    return "every address" if ip is None else ip


def _addresses_clash(a: str | None, b: str | None) -> bool:
    """Two binds of one port conflict: the same address, or a wildcard of the other's
    family. No address is podman's every-address bind; [::] is dual-stack on Linux."""
    if a is None or b is None:
        return True
    x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    x = getattr(x, "ipv4_mapped", None) or x
    y = getattr(y, "ipv4_mapped", None) or y
    if x == y:
        return True
    for w, o in ((x, y), (y, x)):
        if w.is_unspecified and (w.version == 6 or w.version == o.version):
            return True
    return False


def _shared_data(problems: Problems, laid_out: list[LaidOut]) -> None:
    """A data directory two containers mount must get one owner and a shared label."""
    first: dict[str, tuple[LaidOut, str | None]] = {}
    for p in laid_out:
        for m in p.mounts:
            prev = first.setdefault(m.path, (p, m.relabel))
            other, relabel = prev
            if other is p:
                continue
            if other.owner != p.owner:
                msg = (
                    f"data directory {m.path} is also mounted by {other.container.name!r}, "
                    f"owned {other.owner[0]}:{other.owner[1]} there and {p.owner[0]}:"
                    f"{p.owner[1]} here; give both the same data_owner, or use a directory each"
                )
            elif "Z" in (relabel, m.relabel):
                msg = (
                    f"data directory {m.path} is also mounted by {other.container.name!r}; :Z "
                    "gives it a label private to one container: use :z on both"
                )
            else:
                continue
            m.origin.report(problems, "Volume", msg)


def _files(cfg: StackConfig, laid_out: list[LaidOut]) -> list[ManagedFile]:
    host = cfg.host
    files: list[ManagedFile] = []
    for p in laid_out:
        pc = p.container
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
    if cfg.registries:
        files.append(
            ManagedFile(
                path=AUTH_FILE,
                mode=0o600,
                secret_auth=tuple(
                    (r, a.username, a.password) for r, a in sorted(cfg.registries.items())
                ),
                in_ignition=host.secrets_in_ignition,
            )
        )
    if any(p.container.env_file for p in laid_out):
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
                path=f"/etc/systemd/system/{host.zfs_unit}", content=zfs_import_unit(host.zfs_pool)
            )
        )
    if host.auto_rebase.enabled:
        files.extend(autorebase_units(host.auto_rebase.image))
    if _rearm(cfg):
        files.append(rearm_unit())
    return files


def _rearm(cfg: StackConfig) -> tuple[str, ...]:
    """The boot-time re-arming of confirm-or-revert, on a host that is pushed to with it on."""
    return (REARM_UNIT,) if cfg.ssh is not None and cfg.push.confirm_seconds > 0 else ()


def _images(laid_out: list[LaidOut]) -> tuple[ManagedImage, ...]:
    users: dict[str, list[str]] = {}
    for p in laid_out:
        img = p.unit.image
        if img is not None and not img.quadlet_unit:
            users.setdefault(img.raw, []).append(p.container.service)
    return tuple(ManagedImage(ref=r, units=tuple(sorted(u))) for r, u in sorted(users.items()))


def _data_dirs(host: HostConfig, laid_out: list[LaidOut]) -> list[ManagedDir]:
    """Each container's data directories, owned by its user; their parents up to the volume
    root belong to root. Not in Ignition when on a pool (imported after Ignition runs)."""
    root, in_ign = host.volume_root, host.zfs_pool is None
    dirs: dict[str, ManagedDir] = {}
    for p in laid_out:
        uid, gid = p.owner
        for d in p.container.data_dirs:
            # Placed under the root by host.containers; nothing else is ever chowned.
            if not d.startswith(root + "/"):
                raise LayoutError([f"internal: data directory {d} is not under {root}"])
            parts = d[len(root) :].strip("/").split("/")
            for depth in range(1, len(parts)):
                parent = root + "/" + "/".join(parts[:depth])
                dirs.setdefault(parent, ManagedDir(path=parent, mode=0o755, in_ignition=in_ign))
            dirs[d] = ManagedDir(path=d, mode=0o750, uid=uid, gid=gid, in_ignition=in_ign)
    if dirs:
        dirs.setdefault(root, ManagedDir(path=root, mode=0o755, in_ignition=in_ign))
    return list(dirs.values())
