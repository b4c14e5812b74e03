"""The desired state of a host as the push sees it: the FileSet's content-free manifest (safe
for the state and logs) with the units and Quadlet dir, the exact hashes, the generation id
and the tar that carries it."""

from __future__ import annotations

import io
import json
import tarfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homelab.manifest import datasets, dirs, files, links, mode, owner, sha256
from homelab.push.errors import PushError
from homelab.push.kinds import Row
from homelab.push.places import REMOTE_DIR

if TYPE_CHECKING:
    from homelab.fileset import FileSet


# Manifest row kind of an image to pull (until the kinds live in one module of their own).
PULL_TIMEOUT = 300  # seconds; homelab:push.pull_timeout


@dataclass(frozen=True)
class Desired:
    """What the host must have: the FileSet's manifest (the one form, `homelab.manifest`),
    the units that must be active, and the directory whose unmanaged Quadlet files (by the
    extensions of homelab.quadlet's KIND_GROUP) are drift. HostPush keeps these as they are
    in its inputs."""

    manifest: Mapping[str, Any]
    units: tuple[str, ...]
    quadlet_dir: str
    quadlet_exts: tuple[str, ...]
    # (image ref as Image= names it, its units): pulled before the switch (remote/images.sh).
    images: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of(cls, fs: FileSet) -> Desired:
        # Here, not at the top: both bring pydantic, which the provider's process never needs.
        from homelab.fileset import manifest
        from homelab.quadlet.keys import KIND_GROUP

        units = tuple(sorted(set(fs.units)))
        images = tuple((i.ref, tuple(i.units)) for i in fs.images)
        d = cls(manifest(fs), units, fs.quadlet_dir, tuple(KIND_GROUP), images)
        for path in d.manifest:
            if any(c in path for c in "\t\n\r"):
                raise PushError(f"managed path contains a tab or newline: {path!r}")
        for ref, _ in images:
            if any(c in ref for c in "\t\n\r "):
                raise PushError(f"image reference contains whitespace: {ref!r}")
        return d


def plain_contents(fs: FileSet) -> dict[str, str]:
    return {f.path: f.content for f in fs.files if not f.secret}


def secret_contents(fs: FileSet, secrets: Mapping[str, str]) -> dict[str, str]:
    from homelab.fileset import render_secret_files

    return render_secret_files(fs, secrets)


def desired_hashes(
    manifest: Mapping[str, Any], contents: Mapping[str, str], secrets: Mapping[str, str]
) -> dict[str, str]:
    """path -> sha256 of the exact bytes the host must have."""
    out = {}
    for path, f in files(manifest):
        src = secrets if f["secret"] else contents
        if path not in src:
            raise PushError(f"no content for managed file {path}")
        out[path] = sha256(src[path])
    return out


def generation_id(desired: Desired, hashes: Mapping[str, str], now: float) -> str:
    """Sortable by time, unique per content: 20261128T201500Z-1a2b3c4d."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    what = [desired.manifest, list(desired.units), desired.quadlet_dir, hashes]
    return f"{stamp}-{sha256(json.dumps(what, sort_keys=True))[:8]}"


def _facts(entry: Mapping[str, Any]) -> str:
    """mode uid gid, as apply.sh reads them (the mode as `stat -c %a` prints it)."""
    uid, gid = owner(entry)
    return f"{mode(entry):o}\t{uid}\t{gid}"


def manifest_tsv(
    desired: Desired,
    hashes: Mapping[str, str],
    gen_id: str,
    health_timeout: int,
    settle: int,
    confirm: int = 0,
    pull_timeout: int = PULL_TIMEOUT,
    snapshots_keep: int = 5,
) -> str:
    """`confirm`: seconds the host waits for the client's confirmation before it reverts by
    itself (0: no confirm-or-revert)."""
    rows = [
        f"{Row.GENERATION}\t{gen_id}",
        f"{Row.QUADLET_DIR}\t{desired.quadlet_dir}",
        f"{Row.TIMEOUTS}\t{health_timeout}\t{settle}\t{confirm}",
    ]
    for path, f in files(desired.manifest):
        units = ",".join(f["units"]) or "-"
        rows.append(f"{Row.FILE}\t{path}\t{_facts(f)}\t{hashes[path]}\t{units}")
    rows += [f"{Row.DIR}\t{path}\t{_facts(d)}" for path, d in dirs(desired.manifest)]
    rows += [f"{Row.LINK}\t{path}\t{target}" for path, target in links(desired.manifest)]
    rows += [f"{Row.UNIT}\t{u}" for u in desired.units]
    # Secret files: apply.sh keeps them in the live generation only.
    rows += [f"{Row.SECRET}\t{path}" for path, f in files(desired.manifest) if f["secret"]]
    # Images: pulled before the switch, each within pull_timeout seconds (remote/images.sh).
    rows += [
        f"{Row.PULL}\t{ref}\t{','.join(units) or '-'}\t{pull_timeout}"
        for ref, units in desired.images
    ]
    # Datasets (remote/datasets.sh): name, mountpoint, PROP=VALUE,... and the units whose
    # restart snapshots it; K: how many homelab snapshots each keeps.
    for ds in datasets(desired.manifest):
        props = ",".join(f"{k}={v}" for k, v in sorted(ds["properties"].items())) or "-"
        units = ",".join(ds["units"]) or "-"
        rows.append(f"{Row.DATASET}\t{ds['dataset']}\t{ds['mountpoint']}\t{props}\t{units}")
    rows.append(f"{Row.KEEP}\tsnapshots\t{snapshots_keep}")
    return "\n".join(rows) + "\n"


def build_tar(
    desired: Desired,
    contents: Mapping[str, str],
    secrets: Mapping[str, str],
    gen_id: str,
    health_timeout: int,
    settle: int,
    confirm: int = 0,
    pull_timeout: int = PULL_TIMEOUT,
    snapshots_keep: int = 5,
) -> bytes:
    """The whole generation as one tar: apply.sh, manifest.tsv and root/<path> for each file."""
    hashes = desired_hashes(desired.manifest, contents, secrets)
    buf = io.BytesIO()
    seen_dirs: set[str] = set()

    def add(name: str, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dn = "/".join(parts[:i])
            if dn not in seen_dirs:
                seen_dirs.add(dn)
                ti = tarfile.TarInfo(dn)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
                tar.addfile(ti)
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.uid, ti.gid, ti.mtime = len(data), mode, uid, gid, 0
        tar.addfile(ti, io.BytesIO(data))

    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        add("apply.sh", (REMOTE_DIR / "apply.sh").read_bytes(), 0o700)
        # Confirm-or-revert's timer and the client's confirmation run it from the generation.
        add("revert.sh", (REMOTE_DIR / "revert.sh").read_bytes(), 0o700)
        # Steps of apply.sh's `prepare` phase, sourced by it (docs/PUSH.md).
        add("images.sh", (REMOTE_DIR / "images.sh").read_bytes(), 0o600)
        add("datasets.sh", (REMOTE_DIR / "datasets.sh").read_bytes(), 0o600)
        tsv = manifest_tsv(
            desired,
            hashes,
            gen_id,
            health_timeout,
            settle,
            confirm,
            pull_timeout,
            snapshots_keep,
        )
        add("manifest.tsv", tsv.encode(), 0o644)
        for path, f in files(desired.manifest):
            data = (secrets if f["secret"] else contents)[path].encode()
            add("root" + path, data, mode(f), *owner(f))
        add("END", gen_id.encode(), 0o644)  # last member: apply.sh refuses a cut-off stream
    return buf.getvalue()
