"""systemd unit-file syntax, read exactly as podman's quadlet reads it (pkg/systemd/parser).

Line handling follows podman's `UnitFile.Parse`: every physical line is trimmed; a trailing
backslash joins the next line (concatenated as trimmed, no separator added); comment and
blank lines inside a continuation are dropped; repeated `[Group]` headers merge into one
group; comments before a header belong to that group (an empty first one is dropped, as
podman's writer re-adds it). Word splitting and C unescaping are podman's `split.go`.

Stricter than podman where podman silently accepts a broken file: a continuation at end of
file, an unterminated quote in a value podman splits, and an unknown section raise
`QuadletError` with file, line and key.
"""

from __future__ import annotations

from homelab.quadlet.keys import (
    KEYVAL_KEYS,
    SPLIT_ARGS_KEYS,
    SPLIT_STRV_KEYS,
    SYSTEMD_ARGS_KEYS,
    UNIT_DEPENDENCY_KEYS,
    valid_sections,
)
from homelab.quadlet.model import QuadletError, QuadletUnit
from homelab.quadlet.render import Line, Section
from homelab.quadlet.split import (
    CUNESCAPE,
    RETAIN_ESCAPE,
    UNESCAPE_RELAX,
    UNQUOTE,
    SplitError,
    split_words,
)

_TRIM = " \t\n\r\v\f\x85\xa0"  # Go's unicode.IsSpace for the characters that matter here


def check_value(key: str, value: str, section: str) -> str | None:
    """The reason podman would mangle or drop `value` when it splits it, or None."""
    if (section == "Unit" and key in UNIT_DEPENDENCY_KEYS) or key in SPLIT_STRV_KEYS:
        flags = UNQUOTE | RETAIN_ESCAPE
    elif key in SPLIT_ARGS_KEYS or key in KEYVAL_KEYS or key in SYSTEMD_ARGS_KEYS:
        flags = UNQUOTE | CUNESCAPE
    else:
        return None
    try:
        # Unknown escapes are lint's business (podman warns); only quoting is checked here.
        split_words(value, flags | UNESCAPE_RELAX)
    except SplitError as exc:
        if "quote" in str(exc):
            return "unterminated quote"
    return None


# --- file parsing ---


def parse_unit(
    text: str, filename: str, soft_errors: list[QuadletError] | None = None
) -> QuadletUnit:
    """Parse unit-file text; raises QuadletError (str: FILE:LINE: key: message).

    With `soft_errors`, the errors podman itself lets through (continuation at end of file,
    unterminated quote, unknown section) are appended there instead, and parsing goes on
    as podman's does, so a linter can report everything that is wrong at once.
    """
    unit = QuadletUnit(filename=filename)
    kind = unit.kind
    allowed = valid_sections(kind)
    by_name: dict[str, Section] = {}
    current: Section | None = None
    pending: list[Line] = []

    def fail(line: int, key: str, msg: str) -> QuadletError:
        return QuadletError(filename, line, key, msg)

    def soft(line: int, key: str, msg: str) -> None:
        if soft_errors is None:
            raise fail(line, key, msg)
        soft_errors.append(fail(line, key, msg))

    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    last = len(lines) - 1
    remaining: str | None = None
    start = 0
    for nr, raw in enumerate(lines):
        line = raw.strip(_TRIM)
        if not line or line[0] in "#;":
            if remaining is not None:
                if nr == last:  # podman drops the unfinished line
                    soft(start, _key_of(remaining), "line continuation at end of file")
                continue  # podman drops comments inside a continuation
            pending.append(Line(key=None, value=line, line=nr + 1))
            continue
        if remaining is None:
            start = nr + 1
        if line.endswith("\\"):
            line = line[:-1]
            if nr != last:
                remaining = (remaining or "") + line
                continue
            soft(start, _key_of((remaining or "") + line), "line continuation at end of file")
        if remaining is not None:
            line = remaining + line
            remaining = None
        if not line:  # a lone backslash on the last line
            continue
        if line[0] == "[" and "]" in line and not line[line.index("]") + 1 :].strip(" \t"):
            name = line[1 : line.index("]")]
            if not name or any(ch in "[]" or ord(ch) < 32 or ord(ch) == 127 for ch in name):
                raise fail(start, "", f"invalid group name: {name}")
            if name not in allowed and not name.startswith("X-"):
                soft(start, "", _unknown_section(name, kind, allowed))
            current = by_name.get(name)
            if current is None:
                current = Section(name=name, line=start)
                by_name[name] = current
                unit.sections.append(current)
            if pending and not pending[0].value:
                pending = pending[1:]
            current.comments.extend(pending)
            pending = []
            continue
        eq = line.find("=")
        if eq <= 0:
            raise fail(
                start,
                "",
                f"line {line!r} is not a key=value pair, a [Section] or a comment",
            )
        if current is None:
            raise fail(start, line[:eq].rstrip(), "key=value before any [Section]")
        key = line[:eq].rstrip(_TRIM)
        if not key or key[0] == " ":
            raise fail(start, key, f"invalid key name: {key!r}")
        value = line[eq + 1 :].lstrip(_TRIM)
        problem = check_value(key, value, current.name)
        if problem:
            soft(start, key, f"{problem} in value {value!r}")
        current.entries.extend(pending)
        pending = []
        current.entries.append(Line(key=key, value=value, line=start))
    if current is None:
        # podman keeps a comment-only file in a nameless group
        if pending:
            unit.sections.append(Section(name="", line=0, comments=pending))
    else:
        current.entries.extend(pending)
    return unit


def _key_of(line: str) -> str:
    return line.partition("=")[0].strip() if "=" in line else ""


def _unknown_section(name: str, kind: str, allowed: frozenset[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    hint = f"; did you mean [{close[0]}]?" if close else ""
    what = f"a {kind} file" if kind else "this file"
    return f"unknown section [{name}] in {what}{hint}"
