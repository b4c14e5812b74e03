"""Typed stack configuration, validated once at the edge.

The program reads `homelab:*` keys from Pulumi config (so `pulumi config set` and `--config`
work), and errors point back at `Pulumi.<stack>.yaml`, line and key, found by re-reading that
file with line marks. A stack may name `homelab:base_stack`: its non-secret config is merged
under this stack's (vm-test mirrors mouse this way).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from homelab.vmconfig import VmConfig

NAMESPACE = "homelab"
INHERITED = ("host", "containers")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
SECRET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
CONTAINER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _single_line(v: str) -> str:
    if _CONTROL.search(v):
        raise ValueError(
            "contains a newline or control character; a value must be one plain line "
            "(it would otherwise inject extra lines into a unit file)"
        )
    return v


Line = Annotated[str, AfterValidator(_single_line)]


def _abs_path(v: str) -> str:
    _single_line(v)
    if not v.startswith("/"):
        raise ValueError(f"{v!r} must be an absolute path")
    if any(part in ("..", ".") for part in v.split("/")):
        raise ValueError(f"{v!r} must not contain '.' or '..' components")
    return v.rstrip("/") or "/"


AbsPath = Annotated[str, AfterValidator(_abs_path)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SshConfig(Strict):
    """How `pulumi up -s mouse` reaches the running host."""

    host: Line
    port: int = Field(22, ge=1, le=65535)
    user: Line = "core"
    # Pinned host key, as in known_hosts without the host name: "ssh-ed25519 AAAA...".
    host_key: Line
    private_key_path: Line | None = None  # None: use the ssh-agent
    sudo: bool | None = None  # default: sudo unless user is root

    @field_validator("host_key")
    @classmethod
    def _key_shape(cls, v: str) -> str:
        parts = v.split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
            raise ValueError(
                "host_key must look like 'ssh-ed25519 AAAA...'; get it with "
                "`ssh-keyscan -t ed25519 HOST` or from /etc/ssh/ssh_host_ed25519_key.pub"
            )
        return " ".join(parts[:2])


class PushConfig(Strict):
    """Behaviour of the SSH push to a running host."""

    health_timeout: int = Field(90, ge=1, le=3600)  # seconds for a changed unit to be active
    settle: int = Field(5, ge=0, le=600)  # seconds it must then stay active


class AutoRebase(Strict):
    """uCore's two-step rebase from stock Fedora CoreOS on first boot."""

    enabled: bool = False
    image: Line = "ghcr.io/ublue-os/ucore:stable"


class HostConfig(Strict):
    hostname: Line
    production: bool = True
    timezone: Line = "UTC"
    volume_root: AbsPath = "/var/tank/services"
    # Pool whose import must precede containers with data on it; None on hosts without ZFS.
    zfs_pool: Line | None = "tank"
    ssh_authorized_keys: list[Line] = Field(default_factory=list)
    core_uid: int = Field(1000, ge=0)
    auto_rebase: AutoRebase = AutoRebase()
    # False: secrets are left out of Ignition and delivered by the push after first boot.
    secrets_in_ignition: bool = False

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", v):
            raise ValueError(f"{v!r} is not a valid host name (lowercase letters, digits, '-')")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*", v):
            raise ValueError(f"{v!r} is not a timezone name such as 'Europe/Berlin' or 'UTC'")
        return v

    @property
    def zfs_unit(self) -> str | None:
        return f"zfs-import-{self.zfs_pool}.service" if self.zfs_pool else None


class ContainerConfig(Strict):
    """Per-stack choices for one `containers/NAME.container` file."""

    enabled: bool = True
    image: Line | None = None  # full reference, replaces Image=
    image_tag: Line | None = None  # replaces only the tag of Image=
    ports: list[Line] | None = None  # replaces every PublishPort=
    environment: dict[str, Line] = Field(default_factory=dict)
    volumes: list[Line] = Field(default_factory=list)  # added Volume= lines
    # ENV_VAR -> name of a Pulumi secret config key (homelab:<name>).
    secrets: dict[str, Line] = Field(default_factory=dict)
    # Host paths outside the volume root this container may mount (read-only).
    host_paths: list[AbsPath] = Field(default_factory=list)
    data_owner: Line | None = None  # "uid:gid" of its data directories
    memory_max: Line | None = None  # systemd MemoryMax=, e.g. "2G"
    cpu_quota: Line | None = None  # systemd CPUQuota=, e.g. "200%"

    @field_validator("image_tag")
    @classmethod
    def _tag(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", v):
            raise ValueError(f"{v!r} is not a valid image tag")
        return v

    @field_validator("environment", "secrets")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for k in v:
            if not ENV_NAME.fullmatch(k):
                raise ValueError(f"{k!r} is not a valid environment variable name")
        return v

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, v: dict[str, str]) -> dict[str, str]:
        for var, name in v.items():
            if not SECRET_NAME.fullmatch(name):
                raise ValueError(f"secret config key {name!r} for {var} is not a valid key name")
        return v

    @field_validator("data_owner")
    @classmethod
    def _owner(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d+:\d+", v):
            raise ValueError(f"data_owner {v!r} must be numeric 'uid:gid', e.g. '1000:1000'")
        return v

    @field_validator("memory_max")
    @classmethod
    def _mem(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d+[KMGT]?|infinity", v):
            raise ValueError(f"memory_max {v!r} must be bytes with K/M/G/T, e.g. '2G'")
        return v

    @field_validator("cpu_quota")
    @classmethod
    def _cpu(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\d+%", v):
            raise ValueError(f"cpu_quota {v!r} must be a percentage, e.g. '150%'")
        return v

    @model_validator(mode="after")
    def _image_xor_tag(self) -> ContainerConfig:
        if self.image and self.image_tag:
            raise ValueError("set either image or image_tag, not both")
        return self


class StackConfig(Strict):
    """Everything under `homelab:` for one stack, validated."""

    stack: str
    host: HostConfig
    containers: dict[str, ContainerConfig] = Field(default_factory=dict)
    ssh: SshConfig | None = None
    push: PushConfig = PushConfig()
    vm: VmConfig | None = None
    base_stack: str | None = None

    @field_validator("containers")
    @classmethod
    def _names(cls, v: dict[str, ContainerConfig]) -> dict[str, ContainerConfig]:
        for name in v:
            if not CONTAINER_NAME.fullmatch(name):
                raise ValueError(
                    f"container name {name!r} must be lowercase letters, digits, '-' or '_'"
                )
        return v

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
        return sorted({s for n in self.enabled for s in self.containers[n].secrets.values()})


class ConfigError(Exception):
    """An actionable config problem: where (file:line), which key, what to do."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


# ---------------------------------------------------------------- loading


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def _strip_ns(config: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        ns, _, short = key.partition(":")
        if ns == NAMESPACE and short:
            out[short] = value
    return out


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `homelab:` part of a stack file's config, without namespace; secure values dropped."""
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    raw = _strip_ns(data.get("config") or {})
    return {k: v for k, v in raw.items() if not (isinstance(v, dict) and "secure" in v)}


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else v
        return out
    return over


def _line_of(path: Path, keys: tuple[str | int, ...]) -> int | None:
    """Line (1-based) of the deepest existing node along `keys` under config: in a stack file."""
    try:
        node = yaml.compose(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    if node is None:
        return None
    best: int | None = None
    want: list[str | int] = ["config", f"{NAMESPACE}:{keys[0]}", *keys[1:]] if keys else []
    for key in want:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == str(key):
                    best = k.start_mark.line + 1
                    nxt = v
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            nxt = node.value[key]
            best = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return best


def locate(project_dir: Path, stacks: list[str], keys: tuple[str | int, ...]) -> str:
    """'Pulumi.mouse.yaml:12' for the stack file that sets `keys`, most specific stack first."""
    for stack in stacks:
        path = stack_file(project_dir, stack)
        if path.exists():
            line = _line_of(path, keys)
            if line is not None and (len(keys) == 0 or _sets(path, keys[0])):
                return f"{path.name}:{line}"
    return stack_file(project_dir, stacks[0]).name


def _sets(path: Path, top: str | int) -> bool:
    raw = yaml.safe_load(path.read_text()) or {}
    return f"{NAMESPACE}:{top}" in (raw.get("config") or {})


def _dotted(keys: tuple[str | int, ...]) -> str:
    out = NAMESPACE + ":"
    for i, k in enumerate(keys):
        out += f"[{k}]" if isinstance(k, int) else (k if i == 0 else f".{k}")
    return out


def load_stack_config(
    stack: str,
    config: Mapping[str, Any],
    project_dir: Path,
) -> StackConfig:
    """Validate `homelab:` config (namespace-stripped keys) for `stack`.

    `config` comes from Pulumi (`pulumi.Config`) or, for `build`, from the stack file.
    Raises ConfigError with `file:line: key: message` for every problem.
    """
    raw = dict(config)
    chain = [stack]
    base = raw.get("base_stack")
    if base:
        if not isinstance(base, str) or not stack_file(project_dir, base).exists():
            where = locate(project_dir, chain, ("base_stack",))
            raise ConfigError(
                [f"{where}: {NAMESPACE}:base_stack: no stack file Pulumi.{base}.yaml to inherit"]
            )
        # Only the host's description is inherited; where it is deployed (ssh, vm) is not.
        inherited = {
            k: v
            for k, v in read_stack_file(stack_file(project_dir, base)).items()
            if k in INHERITED
        }
        raw = _merge(inherited, raw)
        chain.append(base)
    raw["stack"] = stack
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            # pydantic appends validator names for unions ("str", "function-after[...]").
            keys = tuple(k for k in loc if isinstance(k, int) or not _is_pydantic_tag(str(k)))
            where = (
                locate(project_dir, chain, keys) if keys else stack_file(project_dir, stack).name
            )
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = f"unknown key; {_suggest(keys)}"
            elif err["type"] == "missing":
                msg = "required key is missing; set it with `pulumi config set`"
            problems.append(f"{where}: {_dotted(keys)}: {msg}")
        raise ConfigError(problems) from None


def _is_pydantic_tag(k: str) -> bool:
    return k in {"str", "int", "bool", "none", "list", "dict"} or "[" in k


def _suggest(keys: tuple[str | int, ...]) -> str:
    import difflib

    model: Any = StackConfig
    for k in keys[:-1]:
        if isinstance(k, int):
            continue
        field = getattr(model, "model_fields", {}).get(k)
        if field is None:
            if model is StackConfig or k not in ("containers",):
                pass
            model = ContainerConfig if model is dict else model
            continue
        ann = field.annotation
        for cand in (HostConfig, ContainerConfig, SshConfig, PushConfig, VmConfig, AutoRebase):
            if ann is cand or cand.__name__ in str(ann):
                model = cand
                break
        else:
            model = ContainerConfig if k == "containers" else model
    valid = list(getattr(model, "model_fields", {}))
    close = difflib.get_close_matches(str(keys[-1]), valid, n=1) if keys else []
    hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"
    return hint
