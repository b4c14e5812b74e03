"""Reading the stack files. Each `Pulumi.<stack>.yaml` is read and parsed at most once per
run (one `StackFiles`): for the values a stack inherits (`homelab:base_stack`), for `build`'s
values, and for the line of every key a problem names.

The program takes its own values from the Pulumi runtime instead (so `pulumi config set` and
`--config` work); a stack named in `homelab:base_stack` has its non-secret `host` and
`containers` merged under this stack's (vm-test mirrors mouse this way).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from homelab.host.config import (
    NAMESPACE,
    AutoRebase,
    ContainerConfig,
    HostConfig,
    PushConfig,
    SshConfig,
    StackConfig,
)
from homelab.vmconfig import VmConfig

INHERITED = ("host", "containers")
Keys = tuple[str | int, ...]


class ConfigError(Exception):
    """An actionable config problem: where (file:line), which key, what to do."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def stack_file(project_dir: Path, stack: str) -> Path:
    return project_dir / f"Pulumi.{stack}.yaml"


def dotted(keys: Keys) -> str:
    """How problems name a key: `pulumi config set --path`'s syntax, e.g.
    homelab:containers.rustfs.ports[0]."""
    out = NAMESPACE + ":"
    for i, k in enumerate(keys):
        out += f"[{k}]" if isinstance(k, int) else (k if i == 0 else f".{k}")
    return out


class StackFile:
    """One stack file, parsed once: its data, and the line where each key is written."""

    def __init__(self, path: Path):
        self.path = path
        self.exists = path.exists()
        self.node: yaml.Node | None = None
        self.data: dict[str, Any] = {}
        if self.exists:
            try:
                self.node = yaml.compose(path.read_text())
            except yaml.YAMLError as exc:
                raise ConfigError([f"{path.name}: not valid YAML: {exc}"]) from None
            if self.node is not None:
                self.data = yaml.SafeLoader("").construct_document(self.node) or {}

    @property
    def config(self) -> dict[str, Any]:
        return self.data.get("config") or {}

    @property
    def values(self) -> dict[str, Any]:
        """The `homelab:` keys without namespace; encrypted (secure) values left out."""
        out: dict[str, Any] = {}
        for key, value in self.config.items():
            ns, _, short = key.partition(":")
            if ns == NAMESPACE and short and not (isinstance(value, dict) and "secure" in value):
                out[short] = value
        return out

    def sets(self, top: str | int) -> bool:
        return f"{NAMESPACE}:{top}" in self.config

    def line_of(self, keys: Keys) -> int | None:
        """Line (1-based) of the deepest node that exists along `keys` under config:."""
        node, best = self.node, None
        for key in ["config", f"{NAMESPACE}:{keys[0]}", *keys[1:]] if keys else []:
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(key):
                        best, nxt = k.start_mark.line + 1, v
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(key, int)
                and key < len(node.value)
            ):
                nxt = node.value[key]
                best = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return best


class StackFiles:
    """The project's stack files, each read at most once: make one per run and pass it on."""

    def __init__(self, project_dir: Path):
        self.project_dir = project_dir
        self._files: dict[str, StackFile] = {}

    def __getitem__(self, stack: str) -> StackFile:
        if stack not in self._files:
            self._files[stack] = StackFile(stack_file(self.project_dir, stack))
        return self._files[stack]

    def locate(self, stacks: list[str], keys: Keys) -> str:
        """'Pulumi.mouse.yaml:12' for the stack file that sets `keys`, most specific first."""
        for stack in stacks:
            sf = self[stack]
            line = sf.line_of(keys) if sf.exists else None
            if line is not None and (not keys or sf.sets(keys[0])):
                return f"{sf.path.name}:{line}"
        return self[stacks[0]].path.name

    def problem(self, stacks: list[str], keys: Keys, msg: str) -> str:
        return f"{self.locate(stacks, keys)}: {dotted(keys)}: {msg}"


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `homelab:` part of one stack file's config, without namespace; secure values dropped."""
    return StackFile(path).values


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base else v
        return out
    return over


def chain(cfg: StackConfig) -> list[str]:
    """The stacks `cfg` was read from, most specific first."""
    return [cfg.stack] + ([cfg.base_stack] if cfg.base_stack else [])


def load_stack_config(
    stack: str,
    config: Mapping[str, Any],
    project_dir: Path,
    files: StackFiles | None = None,
) -> StackConfig:
    """Validate `homelab:` config (namespace-stripped keys) for `stack`.

    `config` comes from the Pulumi runtime (the program) or from the stack file (`build`).
    Raises ConfigError with `file:line: key: message` for every problem.
    """
    files = files or StackFiles(project_dir)
    raw = dict(config)
    stacks = [stack]
    base = raw.get("base_stack")
    if base:
        if not isinstance(base, str) or not files[base].exists:
            raise ConfigError(
                [
                    files.problem(
                        stacks, ("base_stack",), f"no stack file Pulumi.{base}.yaml to inherit"
                    )
                ]
            )
        # Only the host's description is inherited; where it is deployed (ssh, vm) is not.
        inherited = {k: v for k, v in files[base].values.items() if k in INHERITED}
        raw = _merge(inherited, raw)
        stacks.append(base)
    raw["stack"] = stack
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_problem(files, stacks, err) for err in exc.errors()]) from None


def _problem(files: StackFiles, stacks: list[str], err: Any) -> str:
    # pydantic appends validator names for unions ("str", "function-after[...]").
    keys = tuple(k for k in err["loc"] if isinstance(k, int) or not _is_pydantic_tag(str(k)))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key; {_suggest(keys)}"
    elif err["type"] == "missing":
        msg = "required key is missing; set it with `pulumi config set`"
    if not keys:
        return f"{files[stacks[0]].path.name}: {dotted(keys)}: {msg}"
    return files.problem(stacks, keys, msg)


def _is_pydantic_tag(k: str) -> bool:
    return k in {"str", "int", "bool", "none", "list", "dict"} or "[" in k


_MODELS: tuple[type[BaseModel], ...] = (
    HostConfig,
    ContainerConfig,
    SshConfig,
    PushConfig,
    VmConfig,
    AutoRebase,
)


def _suggest(keys: Keys) -> str:
    model: type[BaseModel] = StackConfig
    for k in keys[:-1]:
        field = model.model_fields.get(k) if isinstance(k, str) else None
        if field is not None:  # else a list index or a container's name: same model
            model = next((m for m in _MODELS if m.__name__ in str(field.annotation)), model)
    valid = list(model.model_fields)
    close = difflib.get_close_matches(str(keys[-1]), valid, n=1) if keys else []
    return f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(valid)}"


def pick_secrets(cfg: StackConfig, available: Mapping[str, str]) -> dict[str, str]:
    """The values of the secrets `cfg` needs, from `available` (name -> value); a
    ConfigError naming the command that sets each missing one."""
    missing = [n for n in cfg.secret_names() if n not in available]
    if missing:
        raise ConfigError(
            [
                f"Pulumi.{cfg.stack}.yaml: {NAMESPACE}:{name}: required secret is not set; set "
                f"it with `pulumi config set --secret -s {cfg.stack} {name}` (it prompts for the "
                "value, which so stays out of your shell history)"
                for name in missing
            ]
        )
    return {n: available[n] for n in cfg.secret_names()}
