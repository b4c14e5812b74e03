"""A stack file's YAML, read as both PyYAML and pulumi (Go YAML) read it, or refused at the
line that differs: no anchors, aliases or tags, string keys without duplicates, unambiguous
plain scalars, bounded nesting. The bytes were checked before (`homelab.inputs`)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from homelab.inputs import YAML_DEPTH_MAX, Found, InputError

_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true", "True", "TRUE", "false", "False", "FALSE"}
_INT = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_FLOAT = re.compile(r"-?(0|[1-9][0-9]{0,17})\.[0-9]{1,17}")
# Text to pulumi (Go YAML, 1.2), booleans or base-60 numbers to YAML 1.1 (PyYAML): read as
# pulumi reads them, since the program gets pulumi's reading.
_TEXT_TO_PULUMI = re.compile(
    r"y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF"
    r"|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?"
)
# What Go's YAML (pulumi) reads as a number besides the plain forms above.
_GO_NUMBER = re.compile(
    r"[-+]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*"
    r"|(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt \t].*)?")
_YAML11 = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"


def plain_scalar_tag(value: str) -> str:
    """The tag of an unquoted scalar as pulumi reads it, which the program gets. ValueError
    (with the fix) for one that YAML readers read differently: a number other than a plain
    decimal (010: 8 or 10?), a date (pulumi turns it into a Go time), a merge key."""
    if value in _NULLS:
        return "tag:yaml.org,2002:null"
    if value in _BOOLS:
        return "tag:yaml.org,2002:bool"
    if _INT.fullmatch(value):
        return "tag:yaml.org,2002:int"
    if _FLOAT.fullmatch(value):
        return "tag:yaml.org,2002:float"
    if _TEXT_TO_PULUMI.fullmatch(value) and not _GO_NUMBER.fullmatch(value):
        return _STR
    if value in ("<<", "="):
        raise ValueError(f"{value} is a special YAML key (merge/value); write the keys out")
    if (
        _YAML11.resolve(yaml.ScalarNode, value, (True, False)) != _STR
        or _GO_NUMBER.fullmatch(value)
        or _DATE.fullmatch(value)
    ):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(
            f"{shown} is read as a number or a date, differently by different YAML readers "
            "(octal, hex, digit groups, more than 18 digits, dates); write a plain decimal, or "
            "quote it if it is text"
        )
    return _STR


class _Refused(Exception):
    def __init__(self, mark: Any, msg: str):
        self.line = mark.line + 1 if mark is not None else 1
        self.msg = msg


class _StackLoader(yaml.SafeLoader):
    """PyYAML's safe loader, held to what both it and pulumi read the same way: no anchors,
    aliases or tags, string keys without duplicates, unambiguous plain scalars, bounded
    nesting."""

    def __init__(self, text: str):
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        ev = self.peek_event()
        if isinstance(ev, yaml.AliasEvent):
            raise _Refused(ev.start_mark, "YAML aliases (*name) are not allowed; write it out")
        if ev.anchor is not None:
            raise _Refused(
                ev.start_mark, f"YAML anchors (&{ev.anchor}) are not allowed; write the value out"
            )
        if getattr(ev, "tag", None) is not None:
            raise _Refused(
                ev.start_mark,
                f"YAML tags ({ev.tag}) are not allowed (pulumi ignores them); remove it, and "
                "quote the value if it is text",
            )
        nested = isinstance(ev, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
        if nested:
            self.depth += 1
            if self.depth > YAML_DEPTH_MAX:
                raise _Refused(
                    ev.start_mark, f"nested deeper than {YAML_DEPTH_MAX} levels; flatten it"
                )
        try:
            node = super().compose_node(parent, index)
        except ValueError as exc:  # from resolve(): an ambiguous plain scalar
            raise _Refused(ev.start_mark, str(exc)) from None
        if nested:
            self.depth -= 1
        if isinstance(node, yaml.MappingNode):
            _check_keys(node)
        return node

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return plain_scalar_tag(value)
        return super().resolve(kind, value, implicit)


def _check_keys(node: yaml.MappingNode) -> None:
    seen: dict[str, int] = {}
    for key, _value in node.value:
        line = key.start_mark.line + 1
        if not isinstance(key, yaml.ScalarNode) or key.tag != _STR:
            shown = key.value if isinstance(key, yaml.ScalarNode) else "a list or mapping"
            raise _Refused(
                key.start_mark, f"key {shown} is not a string; keys must be text: quote it"
            )
        if key.value in seen:
            raise _Refused(
                key.start_mark,
                f"duplicate key {key.value!r} (first at line {seen[key.value]}); YAML keeps only "
                "the last one: merge the two into one",
            )
        seen[key.value] = line


def load_yaml(text: str, shown: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, data) of one YAML document, refused with `FILE:LINE: what, how to fix`."""
    try:
        loader = _StackLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (inputs refuses it first)
        line = text.count("\n", 0, exc.position) + 1
        msg = f"not valid YAML: {exc.reason} (U+{exc.character:04X}); remove it"
        raise InputError([Found(shown, line, msg)]) from None
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise InputError([Found(shown, exc.line, exc.msg)]) from None
    except yaml.MarkedYAMLError as exc:
        raise InputError([_yaml_problem(exc, shown)]) from None
    except yaml.YAMLError as exc:  # none known unmarked today; still one line, no traceback
        raise InputError([Found(shown, 1, f"not valid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    return node, data


def _yaml_problem(exc: yaml.MarkedYAMLError, shown: str) -> Found:
    # The context (an opened bracket or quote) is where the fix goes, when there is one.
    mark = exc.context_mark or exc.problem_mark
    line = mark.line + 1 if mark is not None else 1
    what = exc.problem or "syntax error"
    if exc.context and exc.context_mark is not None and exc.problem_mark is not None:
        what += f" ({exc.context} opened here, error found at line {exc.problem_mark.line + 1})"
    return Found(shown, line, f"not valid YAML: {what}; fix the syntax")
