"""systemd unit-file syntax, read exactly as podman's quadlet reads it (pkg/systemd/parser).

Line handling follows podman's `UnitFile.Parse`: every physical line is trimmed; a trailing
backslash joins the next line (concatenated as trimmed, no separator added); comment and
blank lines inside a continuation are dropped from the value (podman drops them; the entry
keeps the comments in `Line.folded`, so the canonical text can keep them too); repeated
`[Group]` headers merge into one group; comments before a header belong to that group (an
empty first one is dropped, as podman's writer re-adds it). Word splitting and C unescaping
are podman's `split.go`.

Stricter than podman where podman silently accepts a broken file: a continuation at end of
file, an unterminated quote in a value podman splits, and an unknown section raise
`QuadletError` with file, line and key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

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
    GO_SPACE,
    RETAIN_ESCAPE,
    UNESCAPE_RELAX,
    UNQUOTE,
    SplitError,
    split_words,
)

# podman trims every line with Go's strings.TrimSpace (unicode.IsSpace), but a key's end and
# a value's start byte by byte, which in UTF-8 text only ever matches ASCII space.
_TRIM = GO_SPACE
_ASCII_TRIM = " \t\n\r\v\f"


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

    With `soft_errors`, every error is appended there instead and parsing goes on, so a
    linter reports everything that is wrong at once: the ones podman itself lets through
    (continuation at end of file, unterminated quote, unknown section) are parsed as podman
    parses them; a line podman would refuse the file for is left out.
    """
    unit = QuadletUnit(filename=filename)

    def soft(line: int, key: str, msg: str) -> None:
        if soft_errors is None:
            raise QuadletError(filename, line, key, msg)
        soft_errors.append(QuadletError(filename, line, key, msg))

    builder = _Builder(unit, soft)
    for start, line, comment, folded in _logical_lines(text, soft):
        if comment:
            builder.pending.append(Line(key=None, value=line, line=start))
        elif not builder.header(start, line):
            builder.entry(start, line, folded)
    builder.finish()
    return unit


Soft = Callable[[int, str, str], None]


def _logical_lines(text: str, soft: Soft) -> Iterator[tuple[int, str, bool, tuple[str, ...]]]:
    """(line number, trimmed text, is a comment or blank, folded) per logical line:
    continuation lines joined as podman joins them, comments and blanks inside one dropped.
    `folded`: the physical pieces (comments included) of a continued line that had a
    comment inside, else ()."""
    lines = text[:-1].split("\n") if text.endswith("\n") else text.split("\n")
    last = len(lines) - 1
    remaining: str | None = None
    pieces: list[str] = []
    start = 0
    for nr, raw in enumerate(lines):
        line = raw.strip(_TRIM)
        if not line or line[0] in "#;":
            if remaining is None:
                yield nr + 1, line, True, ()
            elif nr == last:  # podman drops the unfinished line
                soft(start, _key_of(remaining), "line continuation at end of file")
            elif line:
                pieces.append(line)
            continue
        if remaining is None:
            start, pieces = nr + 1, []
        if line.endswith("\\"):
            line = line[:-1]
            if nr != last:
                remaining = (remaining or "") + line
                pieces.append(line)
                continue
            soft(start, _key_of((remaining or "") + line), "line continuation at end of file")
        pieces.append(line)
        if remaining is not None:
            line, remaining = remaining + line, None
        if line:  # not a lone backslash on the last line
            commented = any(p[:1] in ("#", ";") for p in pieces)
            yield start, line, False, tuple(pieces) if commented else ()


class _Builder:
    """Sections and entries from logical lines, as podman's UnitFile.Parse builds groups."""

    def __init__(self, unit: QuadletUnit, soft: Soft):
        self.unit, self.soft = unit, soft
        self.allowed = valid_sections(unit.kind)
        self.by_name: dict[str, Section] = {}
        self.current: Section | None = None
        self.pending: list[Line] = []  # comments not yet placed

    def header(self, start: int, line: str) -> bool:
        """A [Section] line (True), repeated ones merged into the first; else False."""
        if not (line[0] == "[" and "]" in line and not line[line.index("]") + 1 :].strip(" \t")):
            return False
        name = line[1 : line.index("]")]
        # podman: no brackets and no control character (Go's unicode.IsControl: C0, DEL, C1)
        if not name or any(ch in "[]" or ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in name):
            self.soft(start, "", f"invalid group name: {name}")
            self.current = Section(name=name, line=start)  # its entries go nowhere
            return True
        if name not in self.allowed and not name.startswith("X-"):
            self.soft(start, "", _unknown_section(name, self.unit.kind, self.allowed))
        self.current = self.by_name.get(name)
        if self.current is None:
            self.current = Section(name=name, line=start)
            self.by_name[name] = self.current
            self.unit.sections.append(self.current)
        if self.pending and not self.pending[0].value:
            self.pending = self.pending[1:]
        self.current.comments.extend(self.pending)
        self.pending = []
        return True

    def entry(self, start: int, line: str, folded: tuple[str, ...] = ()) -> None:
        eq = line.find("=")
        if eq <= 0:
            msg = f"line {line!r} is not a key=value pair, a [Section] or a comment"
            return self.soft(start, "", msg)
        if self.current is None:
            return self.soft(start, line[:eq].rstrip(), "key=value before any [Section]")
        key = line[:eq].rstrip(_ASCII_TRIM)
        if not key or key[0] == " ":
            return self.soft(start, key, f"invalid key name: {key!r}")
        value = line[eq + 1 :].lstrip(_ASCII_TRIM)
        problem = check_value(key, value, self.current.name)
        if problem:
            self.soft(start, key, f"{problem} in value {value!r}")
        self.current.entries.extend(self.pending)
        self.pending = []
        if folded:  # the first piece written as the canonical `key=` start
            head = folded[0].partition("=")
            folded = (f"{key}={head[2].lstrip(_ASCII_TRIM)}", *folded[1:])
        self.current.entries.append(Line(key=key, value=value, line=start, folded=folded))

    def finish(self) -> None:
        if self.current is not None:
            self.current.entries.extend(self.pending)
        elif self.pending:  # podman keeps a comment-only file in a nameless group
            self.unit.sections.append(Section(name="", line=0, comments=self.pending))


def _key_of(line: str) -> str:
    return line.partition("=")[0].strip() if "=" in line else ""


def _unknown_section(name: str, kind: str, allowed: frozenset[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, sorted(allowed), n=1)
    hint = f"; did you mean [{close[0]}]?" if close else ""
    what = f"a {kind} file" if kind else "this file"
    return f"unknown section [{name}] in {what}{hint}"
