"""The desired state of a host as the push sees it: a content-free manifest of the FileSet
(safe for the state and logs), the exact hashes, the generation id and the tar that carries it."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from homelab.push.errors import REMOTE_DIR, PushError

if TYPE_CHECKING:
    from homelab.fileset import FileSet


def _check_path(p: str) -> str:
    if any(c in p for c in "\t\n\r"):
        raise PushError(f"managed path contains a tab or newline: {p!r}")
    return p


def build_manifest(fs: FileSet) -> dict[str, Any]:
    """JSON-able description of `fs` without any content (safe for state and logs).

    Secret files carry no hash here: it is computed from the secret input at push time.
    """
    files = {}
    for f in fs.files:
        files[_check_path(f.path)] = {
            "sha256": None if f.secret else _sha(f.content.encode()),
            "mode": f.mode,
            "uid": f.uid,
            "gid": f.gid,
            "units": list(f.units),
            "secret": f.secret,
        }
    return {
        "files": files,
        "dirs": {
            _check_path(d.path): {"mode": d.mode, "uid": d.uid, "gid": d.gid} for d in fs.dirs
        },
        "links": {_check_path(lk.path): lk.target for lk in fs.links},
        "units": sorted(set(fs.units)),
        "quadlet_dir": fs.quadlet_dir,
    }


def normalize_manifest(m: Mapping[str, Any]) -> dict[str, Any]:
    """Numbers come back from the Pulumi engine as floats (protobuf Struct): make them ints."""

    def ints(d: Mapping[str, Any]) -> dict[str, Any]:
        return {k: int(v) if k in ("mode", "uid", "gid") else v for k, v in d.items()}

    return {
        "files": {p: dict(ints(f), units=list(f["units"])) for p, f in m["files"].items()},
        "dirs": {p: ints(d) for p, d in m["dirs"].items()},
        "links": dict(m["links"]),
        "units": list(m["units"]),
        "quadlet_dir": m["quadlet_dir"],
    }


def plain_contents(fs: FileSet) -> dict[str, str]:
    return {f.path: f.content for f in fs.files if not f.secret}


def secret_contents(fs: FileSet, secrets: Mapping[str, str]) -> dict[str, str]:
    from homelab.fileset import render_secret_files

    return render_secret_files(fs, secrets)


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def desired_hashes(
    manifest: Mapping[str, Any], contents: Mapping[str, str], secrets: Mapping[str, str]
) -> dict[str, str]:
    """path -> sha256 of the exact bytes the host must have."""
    out = {}
    for path, f in manifest["files"].items():
        src = secrets if f["secret"] else contents
        if path not in src:
            raise PushError(f"no content for managed file {path}")
        out[path] = _sha(src[path].encode())
    return out


def generation_id(manifest: Mapping[str, Any], hashes: Mapping[str, str], now: float) -> str:
    """Sortable by time, unique per content: 20261128T201500Z-1a2b3c4d."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    digest = _sha(json.dumps([manifest, hashes], sort_keys=True).encode())[:8]
    return f"{stamp}-{digest}"


def manifest_tsv(
    manifest: Mapping[str, Any],
    hashes: Mapping[str, str],
    gen_id: str,
    health_timeout: int,
    settle: int,
) -> str:
    rows = [f"I\t{gen_id}", f"Q\t{manifest['quadlet_dir']}", f"T\t{health_timeout}\t{settle}"]
    for path, f in sorted(manifest["files"].items()):
        units = ",".join(f["units"]) or "-"
        rows.append(f"F\t{path}\t{f['mode']:o}\t{f['uid']}\t{f['gid']}\t{hashes[path]}\t{units}")
    for path, d in sorted(manifest["dirs"].items()):
        rows.append(f"D\t{path}\t{d['mode']:o}\t{d['uid']}\t{d['gid']}")
    for path, target in sorted(manifest["links"].items()):
        rows.append(f"L\t{path}\t{target}")
    rows += [f"U\t{u}" for u in manifest["units"]]
    # Secret files: apply.sh keeps them in the live generation only.
    rows += [f"S\t{p}" for p, f in sorted(manifest["files"].items()) if f["secret"]]
    return "\n".join(rows) + "\n"


def build_tar(
    manifest: Mapping[str, Any],
    contents: Mapping[str, str],
    secrets: Mapping[str, str],
    gen_id: str,
    health_timeout: int,
    settle: int,
) -> bytes:
    """The whole generation as one tar: apply.sh, manifest.tsv and root/<path> for each file."""
    hashes = desired_hashes(manifest, contents, secrets)
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
        tsv = manifest_tsv(manifest, hashes, gen_id, health_timeout, settle)
        add("manifest.tsv", tsv.encode(), 0o644)
        for path, f in sorted(manifest["files"].items()):
            data = (secrets if f["secret"] else contents)[path].encode()
            add("root" + path, data, f["mode"], f["uid"], f["gid"])
        add("END", gen_id.encode(), 0o644)  # last member: apply.sh refuses a cut-off stream
    return buf.getvalue()
