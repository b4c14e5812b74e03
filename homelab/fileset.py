"""The desired file set of a host: the one source of truth for Ignition, the SSH push and drift.

Everything here is plain data. Secret file contents never live in a FileSet; a secret file
carries only the names of the secrets it needs, and `render_secret_files` fills them in at
the edge (Pulumi apply, or the `build` command), so the FileSet itself is safe to log,
diff and store.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

# The one content digest; it lives in the light module that reads manifests back (the push
# imports that without pydantic), and is part of this contract all the same.
from homelab.manifest import DATASET_KEY
from homelab.manifest import sha256 as sha256
from homelab.pathrules import is_normal


def _normal(v: str) -> str:
    # homelab makes these paths itself: they are manifest keys, so one spelling only.
    if not is_normal(v):
        raise ValueError(f"managed path must be absolute and normalised: {v!r}")
    return v


HostPath = Annotated[str, AfterValidator(_normal)]


class ManagedFile(BaseModel):
    """One regular file the host must have, byte for byte."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: HostPath
    content: str = ""  # ignored when `secret_env` is set
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    # Units to restart when this file changes (e.g. "rustfs.service").
    units: tuple[str, ...] = ()
    # Set for files that hold secrets: {ENV_VAR: secret_name}. Rendered as an env file.
    secret_env: tuple[tuple[str, str], ...] = ()
    # Set for a registry auth file (containers-auth.json): (registry, user, secret_name).
    secret_auth: tuple[tuple[str, str, str], ...] = ()
    # False: left out of Ignition (delivered over SSH after first boot instead).
    in_ignition: bool = True

    @property
    def secret(self) -> bool:
        return bool(self.secret_env or self.secret_auth)


class ManagedDir(BaseModel):
    """A directory that must exist. Never deleted by homelab: container data lives here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: HostPath
    mode: int = 0o755
    uid: int = 0
    gid: int = 0
    # False for data directories on a ZFS pool: Ignition runs before the pool is imported,
    # and a directory created on the root fs there would shadow the pool's mountpoint.
    in_ignition: bool = True


class ManagedLink(BaseModel):
    """A symbolic link the host must have (e.g. /etc/localtime, a unit's .wants link)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: HostPath
    target: str


class ManagedImage(BaseModel):
    """A container image the host must hold before its units (re)start: pulled before the
    switch, kept while a kept generation uses it (docs/PUSH.md)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ref: str  # as the unit's Image= names it: REF:TAG@sha256:DIGEST when locked
    units: tuple[str, ...] = ()


class ManagedDataset(BaseModel):
    """A ZFS dataset holding a container's data: created when missing, never destroyed;
    snapshotted (`@homelab-<generation>`) before a push restarts one of its units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # tank/services/rustfs
    mountpoint: HostPath
    properties: tuple[tuple[str, str], ...] = ()
    units: tuple[str, ...] = ()


class FileSet(BaseModel):
    """Everything homelab manages on one host."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    files: tuple[ManagedFile, ...] = ()
    dirs: tuple[ManagedDir, ...] = ()
    links: tuple[ManagedLink, ...] = ()
    # Services that must be active once the set is applied (e.g. "rustfs.service").
    units: tuple[str, ...] = ()
    # Directories whose *.container/.volume/... files homelab owns; extras there are drift.
    quadlet_dir: str = "/etc/containers/systemd"
    secret_names: tuple[str, ...] = Field(default=())
    images: tuple[ManagedImage, ...] = ()
    # Containers' datasets on the host's ZFS pool (none without a pool).
    datasets: tuple[ManagedDataset, ...] = ()


def render_env_file(pairs: tuple[tuple[str, str], ...], secrets: Mapping[str, str]) -> str:
    """Render a systemd/podman env file; values are single-line by validation upstream."""
    lines = []
    for var, name in pairs:
        value = secrets[name]
        if "\n" in value or "\r" in value or "\0" in value:
            raise ValueError(f"secret {name!r} contains a newline or NUL; env files cannot hold it")
        lines.append(f"{var}={value}")
    return "\n".join(lines) + "\n"


def render_auth_file(entries: tuple[tuple[str, str, str], ...], secrets: Mapping[str, str]) -> str:
    """A containers-auth.json (what `podman login` writes): registry -> base64(user:password)."""
    auths = {
        reg: {"auth": base64.b64encode(f"{user}:{secrets[name]}".encode()).decode()}
        for reg, user, name in entries
    }
    return json.dumps({"auths": auths}, indent=2, sort_keys=True) + "\n"


def render_secret_files(fs: FileSet, secrets: Mapping[str, str]) -> dict[str, str]:
    """Contents of the secret files of `fs`, keyed by path. Raises KeyError on a missing secret."""
    return {
        f.path: render_auth_file(f.secret_auth, secrets)
        if f.secret_auth
        else render_env_file(f.secret_env, secrets)
        for f in fs.files
        if f.secret
    }


def file_contents(fs: FileSet, secrets: Mapping[str, str] | None = None) -> dict[str, str]:
    """Path -> exact content for every file; secret files only when `secrets` is given."""
    out = {f.path: f.content for f in fs.files if not f.secret}
    if secrets is not None:
        out.update(render_secret_files(fs, secrets))
    return out


def manifest(fs: FileSet) -> dict[str, Any]:
    """THE description of a FileSet without any content: safe to show, log and store.

    One entry per path (as `build` writes it to manifest.json, the Host component exports
    it as `files` and HostPush keeps it in its inputs):
    - a file:      {"mode": "0644", "owner": "UID:GID", "sha256": HEX | None,
                    "secret": bool, "units": [SERVICE, ...]}   (sha256 None for secrets:
                    a digest of a secret would leak it; the push hashes those at push time)
    - a directory: "PATH/" -> {"mode": "0750", "owner": "UID:GID", "dir": True}
    - a link:      {"link": TARGET}
    - a dataset:   "zfs:NAME" -> {"dataset": NAME, "mountpoint": PATH,
                    "properties": {PROP: VALUE}, "units": [SERVICE, ...]}
    Modes are octal strings, as people write them, and no value is a number: the engine's
    protobuf Struct would hand a number back as a float. `homelab.manifest` reads it back
    (by kind, modes and owners as numbers). The set's own `units` and `quadlet_dir` are
    fields of the FileSet.
    """
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
    for ds in fs.datasets:
        out[DATASET_KEY + ds.name] = {
            "dataset": ds.name,
            "mountpoint": ds.mountpoint,
            "properties": dict(ds.properties),
            "units": list(ds.units),
        }
    return out
