"""The reference of every stack option, written from the pydantic models themselves (their
types, defaults, limits and `description`s), so the README's table cannot drift from what
the program accepts. Pure: returns Markdown; `homelab docs` puts it into README.md."""

from __future__ import annotations

import json
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Le
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from homelab.host.config import (
    NAMESPACE,
    AutoRebase,
    ContainerConfig,
    HostConfig,
    PushConfig,
    SshConfig,
    StackConfig,
)
from homelab.vm.config import VmConfig

BEGIN = "<!-- BEGIN options: written by `homelab docs` from homelab/host/config.py; do not edit -->"
END = "<!-- END options -->"

# (heading key, model, prefix of its keys in `pulumi config set --path` syntax)
TABLES: tuple[tuple[str, type[BaseModel], str], ...] = (
    (f"{NAMESPACE}:", StackConfig, f"{NAMESPACE}:"),
    (f"{NAMESPACE}:host", HostConfig, ""),
    (f"{NAMESPACE}:containers.NAME", ContainerConfig, ""),
    (f"{NAMESPACE}:ssh", SshConfig, ""),
    (f"{NAMESPACE}:push", PushConfig, ""),
    (f"{NAMESPACE}:vm", VmConfig, ""),
)
# Set by the program, never written in a stack file.
INTERNAL: set[tuple[type[BaseModel], str]] = {(StackConfig, "stack")}
# Written as rows `auto_rebase.KEY` of their parent table.
NESTED: dict[tuple[type[BaseModel], str], type[BaseModel]] = {
    (HostConfig, "auto_rebase"): AutoRebase
}


def _type(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:  # a constrained string (homelab.host.config): its base type
        return _type(args[0])
    if origin in (Union, types.UnionType):
        kinds = [_type(a) for a in args if a is not type(None)]
        return " or ".join(kinds) + (" or null" if type(None) in args else "")
    if origin is Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin is list:
        return f"list of {_type(args[0])}s"
    if origin is dict:
        return f"map of {_type(args[0])} to {_type(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "map"
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation, str(annotation))


def _limits(field: FieldInfo) -> str:
    lo = next((m.ge for m in field.metadata if isinstance(m, Ge)), None)
    hi = next((m.le for m in field.metadata if isinstance(m, Le)), None)
    if lo is not None and hi is not None:
        return f" ({lo}-{hi})"
    return f" (>= {lo})" if lo is not None else (f" (<= {hi})" if hi is not None else "")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(below)"
    if value in ({}, []):
        return "empty"
    return f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(model: type[BaseModel], prefix: str) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        if (model, name) in INTERNAL:
            continue
        desc = field.description or ""
        rows.append(
            f"| `{prefix}{name}` | {_type(field.annotation)}{_limits(field)} "
            f"| {_default(field)} | {_cell(desc)} |"
        )
        if (nested := NESTED.get((model, name))) is not None:
            rows += _rows(nested, f"{prefix}{name}.")
    return rows


def options_markdown() -> str:
    """The option reference: one table per part of the stack config."""
    out = [BEGIN, ""]
    for heading, model, prefix in TABLES:
        doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
        out += [f"#### `{heading}`", ""]
        if doc:
            out += [doc, ""]
        out += ["| key | type | default | what it does |", "|---|---|---|---|"]
        out += _rows(model, prefix)
        out.append("")
    out.append(END)
    return "\n".join(out)


def undocumented() -> list[str]:
    """Options without a description, as `Model.field`."""
    models: list[type[BaseModel]] = [model for _, model, _ in TABLES] + [AutoRebase]
    return [
        f"{model.__name__}.{name}"
        for model in models
        for name, field in model.model_fields.items()
        if not field.description and (model, name) not in INTERNAL
    ]


def with_reference(readme: str) -> str:
    """`readme` with the text between the markers replaced by the current reference;
    ValueError when the markers are missing."""
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {BEGIN!r} ... {END!r} section")
    return readme[:start] + options_markdown() + readme[end + len(END) :]
