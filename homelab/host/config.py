"""The typed stack configuration: everything under `homelab:` in `Pulumi.<stack>.yaml`.

Models only; `homelab.host.stack` reads the files and turns validation errors into
`file:line: key: message`. Each option's `description` is its documentation: `homelab docs`
writes the README's option reference from these models.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from homelab.host.ids import MAX_ID, RANGE, numeric_ids, out_of_range
from homelab.inputs import string_problem
from homelab.pathrules import absolute_problem, normalise, own_dir_problem
from homelab.vm.config import VmConfig

NAMESPACE = "homelab"
SECRET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONTAINER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _single_line(v: str) -> str:
    # The stack reader checks every value first (homelab.inputs); this holds the models to
    # it when they are built some other way.
    msg = string_problem(v)
    if msg:
        raise ValueError(msg)
    return v


Line = Annotated[str, AfterValidator(_single_line)]


def _abs_path(v: str) -> str:
    _single_line(v)
    if absolute_problem(v) == "is relative":
        raise ValueError(f"{v!r} must be an absolute path")
    if absolute_problem(v):
        raise ValueError(f"{v!r} must not contain '.' or '..' components")
    if "%" in v or ":" in v:
        raise ValueError(
            f"{v!r} holds '%' (a systemd specifier) or ':' (it separates a volume's parts); "
            "use a path without them"
        )
    return normalise(v)


AbsPath = Annotated[str, AfterValidator(_abs_path)]


def _volume_root(v: str) -> str:
    # The volume root is chowned to root 0755 and every data directory under it to a
    # container's user: it must be a directory of its own (homelab.pathrules).
    fix = (
        "homelab chowns the volume root and every data directory under it, so it must be a "
        "directory of its own, e.g. /var/tank/services or /srv/homelab"
    )
    if v == "/":
        raise ValueError(f"'/' cannot be the volume root: {fix}")
    if why := own_dir_problem(v):
        raise ValueError(f"{v!r} {why}: {fix}")
    return v


VolumeRoot = Annotated[AbsPath, AfterValidator(_volume_root)]


def _shaped(pattern: str, what: str) -> AfterValidator:
    """A value matching `pattern` whole; `what` says what is wrong with a value {v!r}."""

    def check(v: str) -> str:
        if not re.fullmatch(pattern, v):
            raise ValueError(what.format(v=v))
        return v

    return AfterValidator(check)


Hostname = Annotated[
    Line,
    _shaped(
        r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?",
        "{v!r} is not a valid host name (lowercase letters, digits, '-')",
    ),
]
Timezone = Annotated[
    Line,
    _shaped(
        r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*",
        "{v!r} is not a timezone name such as 'Europe/Berlin' or 'UTC'",
    ),
]
ImageTag = Annotated[
    Line, _shaped(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", "{v!r} is not a valid image tag")
]
Owner = Annotated[
    Line,
    _shaped(
        r"(0|[1-9][0-9]{0,9}):(0|[1-9][0-9]{0,9})",
        "data_owner {v!r} must be numeric 'uid:gid', e.g. '1000:1000'",
    ),
]
MemoryMax = Annotated[
    Line,
    _shaped(r"\d+[KMGT]?|infinity", "memory_max {v!r} must be bytes with K/M/G/T, e.g. '2G'"),
]
CpuQuota = Annotated[
    Line, _shaped(r"[1-9][0-9]{0,5}%", "cpu_quota {v!r} must be a percentage, e.g. '150%'")
]
# An image reference as podman reads it: [registry[:port]/]path[:tag][@digest], lowercase path.
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = rf"{_LABEL}(?:\.{_LABEL})*"
ImageName = Annotated[
    Line,
    _shaped(
        rf"(?:{_DOMAIN}(?::[0-9]{{1,5}})?/)?{_PATH}(?:/{_PATH})*"
        r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-f]{32,})?",
        "{v!r} is not an image reference such as docker.io/library/nginx:1.27",
    ),
]
PoolName = Annotated[
    Line,
    _shaped(
        r"(?!(mirror|raidz|draid|spare|log)|c[0-9])[A-Za-z][A-Za-z0-9_.-]{0,63}",
        "zfs_pool {v!r} must be a ZFS pool name: a letter, then letters, digits, '_', '.' or "
        "'-' (it goes into a unit name and a shell command); not mirror, raidz, draid, spare, "
        "log or c0...c9",
    ),
]
SshHost = Annotated[
    Line,
    _shaped(
        rf"{_LABEL}(?:\.{_LABEL})*|[0-9a-fA-F:.]+",
        "ssh host {v!r} must be a host name or an IP address (it is an argument of ssh)",
    ),
]
UserName = Annotated[
    Line, _shaped(r"[a-z_][a-z0-9_-]{0,31}", "ssh user {v!r} must be a plain user name")
]


# Dataset properties a stack may set: ones OpenZFS 2.x and zfs-fuse (pool version 23, the
# simulated host) both accept. homelab sets mountpoint and canmount itself.
DATASET_PROPERTIES = (
    "atime", "checksum", "compression", "copies", "exec", "logbias", "primarycache",
    "quota", "readonly", "recordsize", "refquota", "refreservation", "reservation",
    "secondarycache", "setuid", "snapdir", "xattr",
)  # fmt: skip
PropValue = Annotated[
    Line,
    _shaped(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "{v!r} is not a ZFS property value such as lz4"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshConfig(Strict):
    """How `pulumi up -s mouse` reaches the running host."""

    host: SshHost = Field(description="Host name or address to connect to.")
    port: int = Field(22, ge=1, le=65535, description="SSH port.")
    user: UserName = Field("core", description="Login user.")
    host_key: Line = Field(
        description="The host's pinned public key as in known_hosts without the host name "
        "(`ssh-ed25519 AAAA...`; `ssh-keyscan -t ed25519 HOST`). Any other key is refused."
    )
    private_key_path: Line | None = Field(
        None, description="Private key file (`~` allowed); null: use the ssh-agent."
    )
    sudo: bool | None = Field(
        None, description="Run the host side with sudo; null: sudo unless `user` is root."
    )

    @field_validator("host_key")
    @classmethod
    def _key_shape(cls, v: str) -> str:
        parts = v.split()
        if (
            len(parts) < 2
            or not re.fullmatch(r"(ssh|ecdsa|sk)-[a-z0-9@.-]+", parts[0])
            or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", parts[1])
        ):
            raise ValueError(
                "host_key must look like 'ssh-ed25519 AAAA...'; get it with "
                "`ssh-keyscan -t ed25519 HOST` or from /etc/ssh/ssh_host_ed25519_key.pub"
            )
        return " ".join(parts[:2])


class PushConfig(Strict):
    """Behaviour of the SSH push to a running host."""

    health_timeout: int = Field(
        90,
        ge=1,
        le=3600,
        description="Seconds a restarted unit has to become active; else the push rolls back.",
    )
    settle: int = Field(
        5, ge=0, le=600, description="Seconds a restarted unit must then stay active."
    )
    confirm: bool = Field(
        True,
        description="Confirm-or-revert: after a push the host goes back to the previous "
        "generation by itself unless the client confirms over a new SSH connection within "
        "`confirm_timeout` seconds (a push that cut the way in undoes itself).",
    )
    confirm_timeout: int = Field(
        60,
        ge=0,
        le=3600,
        description="Seconds the host waits for the confirmation before it reverts; 0 turns "
        "confirm-or-revert off, like `confirm: false`.",
    )

    @property
    def confirm_seconds(self) -> int:
        """The host's wait for the confirmation; 0 when confirm-or-revert is off."""
        return self.confirm_timeout if self.confirm else 0

    pull_timeout: int = Field(
        300,
        ge=5,
        le=7200,
        description="Seconds each new image may take to pull, before any unit stops; a "
        "pull that fails or takes longer aborts the push with the host unchanged.",
    )
    snapshots_keep: int = Field(
        5,
        ge=1,
        le=1000,
        description="Homelab snapshots (`@homelab-<generation>`) kept per dataset; older "
        "ones are destroyed after a healthy push. Other snapshots are never touched.",
    )


class AutoRebase(Strict):
    """uCore's two-step rebase from stock Fedora CoreOS on first boot."""

    enabled: bool = Field(
        False,
        description="On first boot, rebase stock Fedora CoreOS to `image` (unsigned, then "
        "signed), with the two systemd units uCore documents.",
    )
    image: ImageName = Field("ghcr.io/ublue-os/ucore:stable", description="The image to rebase to.")


class HostConfig(Strict):
    """The machine: its name, its rules and where its container data lives."""

    hostname: Hostname = Field(description="The host's name (`/etc/hostname`).")
    production: bool = Field(
        True,
        description="Production rules: only pinned images (no `:latest`, no missing tag).",
    )
    timezone: Timezone = Field(
        "UTC", description="Timezone name; `/etc/localtime` links to its zoneinfo file."
    )
    volume_root: VolumeRoot = Field(
        "/var/tank/services",
        description="Where container data lives. Bind mounts written for /var/tank/services "
        "in `containers/` are moved here; any other host path needs `host_paths`.",
    )
    zfs_pool: PoolName | None = Field(
        "tank",
        description="ZFS pool holding the volume root: homelab imports it "
        "(`zfs-import-POOL.service`) and containers with data there must start after it. "
        "null on a host without ZFS (their `zfs-import-*` dependencies are then dropped).",
    )
    ssh_authorized_keys: list[Line] = Field(
        default_factory=list, description="Public keys that may log in as `core`."
    )
    core_uid: int = Field(1000, ge=0, le=MAX_ID, description="uid (and gid) of the `core` user.")
    auto_rebase: AutoRebase = Field(
        AutoRebase(), description="uCore's rebase on first boot (keys below)."
    )
    secrets_in_ignition: bool = Field(
        False,
        description="Put secret env files in the Ignition (a secret output, 0600 in "
        "`build`). false: Ignition carries none; `pulumi up` delivers them over SSH, and "
        "`build` needs no Pulumi login.",
    )

    @property
    def zfs_unit(self) -> str | None:
        return f"zfs-import-{self.zfs_pool}.service" if self.zfs_pool else None

    @property
    def datasets_parent(self) -> str | None:
        """Containers' datasets are its children: POOL/<last part of volume_root>."""
        return f"{self.zfs_pool}/{self.volume_root.rsplit('/', 1)[-1]}" if self.zfs_pool else None


class ContainerConfig(Strict):
    """Per-stack choices for one `containers/NAME.container` file."""

    enabled: bool = Field(True, description="Deploy this container on this stack's host.")
    image: ImageName | None = Field(
        None, description="Full image reference; replaces the file's `Image=`."
    )
    image_tag: ImageTag | None = Field(
        None, description="Replaces only the tag of the file's `Image=` (not with `image`)."
    )
    ports: list[Line] | None = Field(
        None,
        description="Replaces every `PublishPort=`: `HOST:CONTAINER[/PROTO]`, a fixed "
        "numeric host port, unique on the host.",
    )
    environment: dict[str, Line] = Field(
        default_factory=dict,
        description="`Environment=` values set or replaced (`NAME: value`); never secrets.",
    )
    volumes: list[Line] = Field(
        default_factory=list,
        description="`Volume=` lines added (`/abs/source:/target[:options]`), under the "
        "volume root, with `:Z`.",
    )
    secrets: dict[str, Line] = Field(
        default_factory=dict,
        description="`ENV_VAR: configKey`: the container gets ENV_VAR from the Pulumi "
        "secret `homelab:configKey` (`pulumi config set --secret configKey`), as a podman "
        "secret.",
    )
    host_paths: list[AbsPath] = Field(
        default_factory=list,
        description="Host paths outside the volume root it may mount, read-only (`:ro`).",
    )
    data_owner: Owner | None = Field(
        None,
        description="`UID:GID` owning its data directories; default: the file's `User=`, "
        "else root.",
    )
    dataset: dict[str, PropValue] | None = Field(
        None,
        description="Its data gets its own ZFS dataset `POOL/<volume_root's last part>/NAME` "
        "mounted at `<volume_root>/NAME`, with these properties (`compression: lz4`; `{}`: "
        "the pool's defaults), snapshotted before every push that restarts it. Ignored "
        "without `host.zfs_pool`. Allowed: " + ", ".join(DATASET_PROPERTIES) + ".",
    )
    memory_max: MemoryMax | None = Field(
        None, description="systemd `MemoryMax=` of its service, e.g. `2G`."
    )
    cpu_quota: CpuQuota | None = Field(
        None, description="systemd `CPUQuota=` of its service, e.g. `200%`."
    )

    @field_validator("environment", "secrets")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not ENV_NAME.fullmatch(k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        return v

    @field_validator("dataset")
    @classmethod
    def _dataset_props(cls, v: dict[str, str] | None) -> dict[str, str] | None:
        for k in v or {}:
            if k not in DATASET_PROPERTIES:
                raise ValueError(
                    f"dataset property {k!r} is not one homelab sets; allowed: "
                    + ", ".join(DATASET_PROPERTIES)
                )
        return v

    @field_validator("data_owner")
    @classmethod
    def _owner_range(cls, v: str | None) -> str | None:
        if v and (ids := numeric_ids(v)) and out_of_range(ids):
            raise ValueError(f"data_owner {v!r}: {RANGE}")
        return v

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, v: dict[str, str]) -> dict[str, str]:
        for var, name in v.items():
            if not SECRET_NAME.fullmatch(name):
                raise ValueError(f"secret config key {name!r} for {var} is not a valid key name")
        return v

    @model_validator(mode="after")
    def _image_xor_tag(self) -> ContainerConfig:
        if self.image and self.image_tag:
            raise ValueError("set either image or image_tag, not both")
        return self


RegistryHost = Annotated[
    Line,
    _shaped(
        rf"{_DOMAIN}(?::[0-9]{{1,5}})?",
        "registry {v!r} must be a registry host as an image names it, e.g. ghcr.io",
    ),
]


class RegistryAuth(Strict):
    """Credentials for one private registry; the password stays a Pulumi secret."""

    username: Line = Field(description="The user (or token name) to log in as.")
    password: Line = Field(
        description="The secret config key holding the password or token "
        "(`pulumi config set --secret KEY`); it reaches the host only inside "
        "/etc/homelab/images/auth.json (root, 0600), used by every pull."
    )

    @field_validator("password")
    @classmethod
    def _key(cls, v: str) -> str:
        if not SECRET_NAME.fullmatch(v):
            raise ValueError(f"password must name a secret config key, not {v[:0]!r}a value")
        return v


class StackConfig(Strict):
    """Everything under `homelab:` for one stack, validated."""

    stack: str = Field(description="The stack's name (set by the program, not in the file).")
    host: HostConfig = Field(description="The machine (keys below).")
    containers: dict[str, ContainerConfig] = Field(
        default_factory=dict,
        description="`NAME: {options}` for each `containers/NAME.container` this stack knows "
        "(keys below); `NAME: {}` deploys the file as it is.",
    )
    ssh: SshConfig | None = Field(
        None, description="Push to a running host over SSH (`pulumi up -s mouse`; keys below)."
    )
    push: PushConfig = Field(PushConfig(), description="How the SSH push checks health.")
    registries: dict[RegistryHost, RegistryAuth] = Field(
        default_factory=dict,
        description="`REGISTRY: {username, password}` for private registries (keys below); "
        "`password` names a secret config key.",
    )
    vm: VmConfig | None = Field(
        None, description="Boot a local libvirt VM from the Ignition instead (keys below)."
    )
    base_stack: str | None = Field(
        None,
        description="Inherit that stack's `host`, `containers` and `push`, then override them "
        "here (vm-test: `mouse`); `ssh` and `vm` are never inherited.",
    )

    @field_validator("containers")
    @classmethod
    def _names(cls, v: dict[str, ContainerConfig]) -> dict[str, ContainerConfig]:
        for name in v:
            if not CONTAINER_NAME.fullmatch(name):
                raise ValueError(
                    f"container name {name!r} must be lowercase letters, digits, '-' or '_'"
                )
        return v

    @field_validator("vm")
    @classmethod
    def _closed_pool(cls, vm: VmConfig | None, info: ValidationInfo) -> VmConfig | None:
        host, containers = info.data.get("host"), info.data.get("containers") or {}
        secrets = any(c.enabled and c.secrets for c in containers.values())
        if vm and vm.pool and host is not None and host.secrets_in_ignition and secrets:
            # homelab's own pool is closed to qemu's group; a pool of the user's is not ours
            # to close, and the Ignition volume in it would be readable with the secrets in it.
            raise ValueError(
                f"pool {vm.pool!r} with host.secrets_in_ignition: the Ignition volume would "
                "carry the secrets in a pool homelab cannot close; remove vm.pool (homelab "
                "then makes a pool only qemu's group can read) or set "
                "host.secrets_in_ignition: false"
            )
        return vm

    @model_validator(mode="after")
    def _one_target(self) -> StackConfig:
        if self.vm is not None and self.ssh is not None:
            raise ValueError("a stack targets either a VM (vm:) or a running host (ssh:), not both")
        return self

    @property
    def enabled(self) -> list[str]:
        return sorted(n for n, c in self.containers.items() if c.enabled)

    @property
    def mode(self) -> Literal["vm", "push", "ignition"]:
        if self.vm is not None:
            return "vm"
        return "push" if self.ssh is not None else "ignition"

    def secret_names(self) -> list[str]:
        names = {s for n in self.enabled for s in self.containers[n].secrets.values()}
        return sorted(names | {r.password for r in self.registries.values()})
