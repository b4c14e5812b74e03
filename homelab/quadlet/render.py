"""The text of a unit: its lines, its sections, and their canonical layout.

The layout is podman's own (UnitFile.Write), tidied: sections in source order (a repeated
[Group] is merged into its first occurrence, as podman merges it), one `key=value` per line
with continuation lines joined, values exactly as podman stores them (so podman reads the
same values back), comments kept in place (podman copies them into the generated unit), runs
of blank lines collapsed, and one blank line between sections.
`render(parse(render(parse(x)))) == render(parse(x))`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Line(BaseModel):
    """A key=value entry (key set) or a comment / blank line (key None)."""

    key: str | None = None
    value: str = ""
    line: int = 0  # 1-based source line where the entry starts; 0 when added in code
    # A continued entry with comments inside: its physical lines as written (trimmed, the
    # joining backslash cut, comments in place), so the comments survive formatting.
    folded: tuple[str, ...] = ()


class Section(BaseModel):
    name: str
    line: int = 0  # line of the first header of this name
    comments: list[Line] = Field(default_factory=list)  # comment lines before the header
    entries: list[Line] = Field(default_factory=list)


def _tidy(lines: list[Line]) -> list[Line]:
    out: list[Line] = []
    for ln in lines:
        blank = ln.key is None and not ln.value
        if blank and (not out or (out[-1].key is None and not out[-1].value)):
            continue
        out.append(ln)
    while out and out[-1].key is None and not out[-1].value:
        out.pop()
    return out


def render_line(ln: Line) -> str:
    if ln.key is None:
        return ln.value
    v = ln.value
    if "\n" in v or v.endswith("\\"):
        # A newline or a trailing backslash cannot be written as one unit-file line.
        raise ValueError(f"{ln.key}={v!r}: value cannot be written on one line")
    if ln.folded and "".join(p for p in ln.folded if p[:1] not in ("#", ";")) == f"{ln.key}={v}":
        # Kept as written (re-indented): podman joins the pieces into the same value and
        # drops the comments, so the generated unit is the one the joined line makes.
        *head, tail = ln.folded
        return "\n".join(
            [head[0] + "\\"]
            + ["  " + p if p[:1] in ("#", ";") else "  " + p + "\\" for p in head[1:]]
            + ["  " + tail]
        )
    return f"{ln.key}={v}"


def render(sections: list[Section]) -> str:
    """The canonical text of a unit's sections."""
    out: list[str] = []
    carry: list[Line] = []
    last = len(sections) - 1
    for i, s in enumerate(sections):
        entries = list(s.entries)
        trail: list[Line] = []
        if i < last:
            # Comments after a section's last key are read back as comments of the next
            # header (podman attaches them there), so write them there: a fixed point.
            end = max((j for j, e in enumerate(entries) if e.key is not None), default=-1)
            entries, trail = entries[: end + 1], entries[end + 1 :]
        if i:
            out.append("")
        out.extend(render_line(c) for c in _tidy(carry + s.comments))
        if s.name:
            out.append(f"[{s.name}]")
        out.extend(render_line(e) for e in _tidy(entries))
        carry = trail
    return "\n".join(out) + "\n" if out else ""
