"""Reading the stack files. Each `Pulumi.<stack>.yaml` is read and parsed at most once per
run (one `StackFiles`): for the values a stack inherits (`homelab:base_stack`), for `build`'s
values, and for the line of every key a problem names.

The program takes its own values from the Pulumi runtime instead (so `pulumi config set` and
`--config` work); a stack named in `homelab:base_stack` has its non-secret `host` and
`containers` (and `push`) merged under this stack's (vm-test mirrors mouse this way).
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
    RegistryAuth,
    SshConfig,
    StackConfig,
)
from homelab.inputs import (
    STACK_FILE_MAX,
    InputError,
    read_file,
    stack_name_problem,
    string_problem,
    value_problems,
)
from homelab.stackyaml import load_yaml
from homelab.vm.config import VmConfig

# What a stack takes from its base_stack: what the host IS (and how its pushes are judged);
# never where it is deployed (`ssh`, `vm`), its credentials (`registries`: secrets are per
# stack) nor `base_stack` itself (no chains).
INHERITED = ("host", "containers", "push")
NOT_INHERITED = ("ssh", "vm", "base_stack", "registries")
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
    """One stack file, parsed once: its data, and the line where each key is written. Its
    bytes and YAML are checked at the edge (`homelab.inputs`): a problem is a ConfigError."""

    def __init__(self, path: Path):
        self.path = path
        self.exists = path.exists() or path.is_symlink()
        self.node: yaml.Node | None = None
        self.data: dict[str, Any] = {}
        if self.exists:
            try:
                text = read_file(path, path.name, STACK_FILE_MAX)
                self.node, data = load_yaml(text, path.name)
            except InputError as exc:
                raise ConfigError(exc.problems) from None
            self.data = self._shaped(data)

    def _shaped(self, data: Any) -> dict[str, Any]:
        """The document, held to a stack file's shape: a mapping, its `config:` a mapping."""
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigError(
                [f"{self.path.name}:1: a stack file is a mapping (config: ...), not a list or text"]
            )
        config = data.get("config")
        if config is not None and not isinstance(config, dict):
            line = self.line_of(()) or 1
            raise ConfigError(
                [
                    f"{self.path.name}:{line}: config: must be a mapping of keys such as "
                    f"{NAMESPACE}:host, not a list or text"
                ]
            )
        return data

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

    def find(self, keys: Keys) -> tuple[int, int] | None:
        """(line, how many of `keys` exist) of the deepest node along `keys` under config:
        (the `config:` line itself for no keys)."""
        node, best = self.node, None
        path: list[str | int] = ["config"]
        if keys:
            path += [f"{NAMESPACE}:{keys[0]}", *keys[1:]]
        for depth, key in enumerate(path):
            nxt = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if k.value == str(key):
                        best, nxt = (k.start_mark.line + 1, depth), v
                        break
            elif (
                isinstance(node, yaml.SequenceNode)
                and isinstance(key, int)
                and key < len(node.value)
            ):
                nxt = node.value[key]
                best = (nxt.start_mark.line + 1, depth)
            if nxt is None:
                break
            node = nxt
        return best

    def line_of(self, keys: Keys) -> int | None:
        """Line (1-based) of the deepest node that exists along `keys` under config:."""
        found = self.find(keys)
        return found[0] if found else None


class StackFiles:
    """The project's stack files, each read at most once: make one per run and pass it on."""

    def __init__(self, project_dir: Path):
        self.project_dir = project_dir
        self._files: dict[str, StackFile] = {}

    def __getitem__(self, stack: str) -> StackFile:
        if stack not in self._files:
            msg = stack_name_problem(stack)
            if msg:
                raise ConfigError([msg])
            self._files[stack] = StackFile(stack_file(self.project_dir, stack))
        return self._files[stack]

    def locate(self, stacks: list[str], keys: Keys) -> str:
        """'Pulumi.mouse.yaml:12' for the stack file that sets `keys`: the one that writes
        the most of them, the most specific on a tie."""
        best: tuple[int, str] | None = None
        for stack in stacks:
            sf = self[stack]
            if not sf.exists or (keys and not sf.sets(keys[0])):
                continue
            found = sf.find(keys)
            if found and (best is None or found[1] > best[0]):
                best = (found[1], f"{sf.path.name}:{found[0]}")
        if best:
            return best[1]
        # Not written anywhere (a missing key): the stack file's `config:` line.
        sf = self[stacks[0]]
        return f"{sf.path.name}:{(sf.line_of(()) if sf.exists else None) or 1}"

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

    `config` comes from the Pulumi runtime (the program) or from the stack file (`build`):
    the same checks either way. Raises ConfigError with `file:line: key: message` for every
    problem.
    """
    files = files or StackFiles(project_dir)
    raw = dict(config)
    stacks = [stack]
    _check_values(files, stacks, raw)
    base = raw.get("base_stack")
    if base is not None:
        msg = stack_name_problem(base)
        if msg is None and base == stack:
            msg = "a stack cannot inherit from itself; remove base_stack"
        if msg is None and not files[base].exists:
            msg = f"no stack file Pulumi.{base}.yaml to inherit"
        if msg:
            raise ConfigError([files.problem(stacks, ("base_stack",), msg)])
        # The host's description and push settings are inherited; where it is deployed is not.
        inherited = {k: v for k, v in files[base].values.items() if k in INHERITED}
        stacks.append(base)
        _check_values(files, stacks, inherited)
        raw = _merge(inherited, raw)
    _check_secret_keys(files, stacks, raw)
    raw["stack"] = stack
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_problem(files, stacks, err) for err in exc.errors()]) from None


def _check_values(files: StackFiles, stacks: list[str], raw: Mapping[str, Any]) -> None:
    """Every key and string one plain line within the size limit (`homelab.inputs`)."""
    problems = [files.problem(stacks, keys, msg) for keys, msg in value_problems(dict(raw))]
    if problems:
        raise ConfigError(problems)


def _check_secret_keys(files: StackFiles, stacks: list[str], raw: Mapping[str, Any]) -> None:
    """A key the stack names as a secret is neither a plain value nor a homelab setting."""
    problems = []
    containers = raw.get("containers")
    for name, c in (containers or {}).items() if isinstance(containers, dict) else ():
        secrets = c.get("secrets") if isinstance(c, dict) else None
        for var, key in (secrets or {}).items() if isinstance(secrets, dict) else ():
            if not isinstance(key, str):
                continue  # the model says what is wrong with it
            if key in StackConfig.model_fields:
                problems.append(
                    files.problem(
                        stacks,
                        ("containers", name, "secrets", var),
                        f"secret config key {key!r} is also a homelab setting "
                        f"({NAMESPACE}:{key}); choose another name",
                    )
                )
            elif key in raw:
                problems.append(
                    files.problem(
                        stacks,
                        (key,),
                        f"is a secret (containers.{name}.secrets.{var}) but is set in plain "
                        f"text; remove it and set it with --secret: `pulumi config rm -s "
                        f"{stacks[0]} {key} && pulumi config set --secret -s {stacks[0]} {key} "
                        "<value>`",
                    )
                )
    if problems:
        raise ConfigError(sorted(set(problems)))


def _problem(files: StackFiles, stacks: list[str], err: Any) -> str:
    # pydantic appends validator names for unions ("str", "function-after[...]").
    keys = tuple(k for k in err["loc"] if isinstance(k, int) or not _is_pydantic_tag(str(k)))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = f"unknown key; {_suggest(keys)}"
    elif err["type"] == "missing":
        msg = "required key is missing; set it with `pulumi config set`"
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
    RegistryAuth,
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


def pick_secrets(
    cfg: StackConfig, available: Mapping[str, str], files: StackFiles | None = None
) -> dict[str, str]:
    """The values of the secrets `cfg` needs, from `available` (name -> value); a
    ConfigError naming the command that sets each missing or unusable one (never its value)."""
    problems = []
    for name in cfg.secret_names():
        loc = (
            files.locate([cfg.stack], (name,)) if files is not None else f"Pulumi.{cfg.stack}.yaml"
        )
        if name not in available:
            problems.append(
                f"{loc}: {NAMESPACE}:{name}: required secret is not set; set it with "
                f"`pulumi config set --secret -s {cfg.stack} {name}` (it prompts for the "
                "value, which so stays out of your shell history)"
            )
        elif msg := string_problem(str(available[name]), "secret", position=False):
            problems.append(
                f"{loc}: {NAMESPACE}:{name}: {msg}; set it again with `pulumi config set "
                f"--secret -s {cfg.stack} {name}` (value on stdin: pulumi drops one final newline)"
            )
    if problems:
        raise ConfigError(problems)
    return {n: available[n] for n in cfg.secret_names()}
