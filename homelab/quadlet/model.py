"""The typed Quadlet model: a unit file as ordered sections of (key, value, line) entries.

`QuadletUnit` is generic (any unit type); the accessors at its end read a `.container` the
way podman reads it (image, ports, volumes, environment, name, ...). Values are stored raw,
exactly as podman stores them after joining continuation lines, so rendering them back gives
podman the same values. The typed accessors apply podman's own reading of each key (last
value wins, quotes stripped, words split, ...).
"""

from __future__ import annotations

from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from homelab.quadlet.keys import KIND_GROUP, SERVICE_SUFFIX
from homelab.quadlet.render import Line, Section, render
from homelab.quadlet.split import (
    CUNESCAPE,
    GO_SPACE,
    RELAX,
    RETAIN_ESCAPE,
    UNQUOTE,
    SplitError,
    escape_word,
    split_words,
)
from homelab.quadlet.values import ImageRef


class QuadletError(Exception):
    """A file podman's quadlet cannot read (or would silently misread)."""

    def __init__(self, file: str, line: int, key: str, message: str):
        self.file, self.line, self.key, self.message = file, line, key, message
        super().__init__(str(self))

    def __str__(self) -> str:
        key = f"{self.key}: " if self.key else ""
        return f"{self.file}:{self.line}: {key}{self.message}"

    @property
    def problem(self) -> Problem:
        # The key leads the message, so `FILE:LINE: message` reads like str(self).
        msg = f"{self.key}: {self.message}" if self.key else self.message
        return Problem(file=self.file, line=self.line, key=self.key, message=msg)


class Problem(BaseModel):
    """One finding of the linter; str() is `FILE:LINE: message`."""

    model_config = ConfigDict(frozen=True)

    file: str
    line: int
    key: str = ""
    message: str
    severity: str = "error"  # "error" (podman refuses) or "warning" (podman warns)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class QuadletUnit(BaseModel):
    """One Quadlet unit file (any type), sections in source order, entries in order."""

    filename: str  # as given (e.g. containers/rustfs.container); used in messages
    sections: list[Section] = Field(default_factory=list)

    # --- identity -------------------------------------------------------------------

    @property
    def basename(self) -> str:
        return PurePosixPath(self.filename).name

    @property
    def kind(self) -> str:
        """The unit type: the file extension, e.g. ".container"."""
        return PurePosixPath(self.basename).suffix

    @property
    def name(self) -> str:
        return self.basename[: -len(self.kind)] if self.kind else self.basename

    @property
    def group(self) -> str | None:
        """The Quadlet group of this unit type ("Container" for .container, ...)."""
        return KIND_GROUP.get(self.kind)

    @property
    def service_name(self) -> str:
        """The systemd service podman generates (ServiceName= or NAME[-suffix].service)."""
        if self.group and (named := self.lookup(self.group, "ServiceName")) is not None:
            return f"{named}.service"
        return f"{self.name}{SERVICE_SUFFIX.get(self.kind, '')}.service"

    # --- generic access (podman's Lookup* semantics) ----------------------------------

    def section(self, name: str, create: bool = False) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        if not create:
            return None
        s = Section(name=name)
        # New sections go before [Install], so the file reads in the usual order.
        idx = next((i for i, x in enumerate(self.sections) if x.name == "Install"), None)
        self.sections.insert(len(self.sections) if idx is None else idx, s)
        return s

    def entries(self, section: str, key: str) -> list[Line]:
        """Every assignment of `key`, empty ones included, in order."""
        s = self.section(section)
        return [e for e in s.entries if e.key == key] if s else []

    def assigned(self, section: str, key: str) -> list[Line]:
        """The assignments of `key` in effect: an empty one resets the list (podman)."""
        out: list[Line] = []
        for e in self.entries(section, key):
            out = [*out, e] if e.value else []
        return out

    def get(self, section: str, key: str) -> list[str]:
        """All values of `key` in order (raw), after podman's reset on an empty value."""
        return [e.value for e in self.assigned(section, key)]

    def get_raw(self, section: str, key: str) -> list[str]:
        """Every assignment of `key`, empty ones included (no reset applied)."""
        return [e.value for e in self.entries(section, key)]

    def has(self, section: str, key: str) -> bool:
        return bool(self.entries(section, key))

    def lookup(self, section: str, key: str) -> str | None:
        """The last value, trailing space and every leading and trailing double quote
        removed (podman's Lookup: strings.Trim(TrimRightFunc(v, IsSpace), `"`)); None when the
        key is absent."""
        es = self.entries(section, key)
        if not es:
            return None
        return es[-1].value.rstrip(GO_SPACE).strip('"')

    def args(self, section: str, key: str) -> list[str]:
        """All values split as a command line (podman's LookupAllArgs)."""
        out: list[str] = []
        for v in self.get(section, key):
            try:
                out.extend(split_words(v, RELAX | UNQUOTE | CUNESCAPE))
            except SplitError:
                continue  # podman drops a value it cannot split
        return out

    def last_args(self, section: str, key: str) -> list[str] | None:
        """The last value split as a command line (podman's LookupLastArgs: Exec=)."""
        es = self.entries(section, key)
        if not es:
            return None
        return split_words(es[-1].value, RELAX | UNQUOTE | CUNESCAPE)

    def strv(self, section: str, key: str) -> list[str]:
        """All values split into words, escapes kept (podman's LookupAllStrv)."""
        out: list[str] = []
        for v in self.get(section, key):
            try:
                out.extend(split_words(v, UNQUOTE | RETAIN_ESCAPE))
            except SplitError:
                continue
        return out

    def line_of(self, section: str, key: str) -> int | None:
        """Source line of the `key` in effect in `section`: the last one, whose value podman
        uses (None if absent or added in code). A list key's values each have their own
        line (`assigned`)."""
        for e in reversed(self.entries(section, key)):
            if e.line:
                return e.line
        return None

    def section_line(self, section: str) -> int:
        s = self.section(section)
        return s.line if s and s.line else 1

    # --- editing ----------------------------------------------------------------------

    def set(self, section: str, key: str, values: list[str]) -> None:
        """Replace every `key` with `values` (raw), at the position of the first one."""
        for v in values:
            _writable(key, v)
        sec = self.section(section, create=True)
        assert sec is not None
        first = next((i for i, e in enumerate(sec.entries) if e.key == key), None)
        line = sec.entries[first].line if first is not None else 0
        kept = [e for e in sec.entries if e.key != key]
        new = [Line(key=key, value=v, line=line) for v in values]
        if first is None:
            _insert_after_last_key(kept, new)
        else:
            before = sum(1 for e in sec.entries[:first] if e.key != key)
            kept[before:before] = new
        sec.entries = kept

    def add(self, section: str, key: str, value: str) -> None:
        """Append one `key=value` (raw) after the last `key`, or after the last entry."""
        _writable(key, value)
        sec = self.section(section, create=True)
        assert sec is not None
        last = max((i for i, e in enumerate(sec.entries) if e.key == key), default=None)
        if last is None:
            _insert_after_last_key(sec.entries, [Line(key=key, value=value)])
        else:
            sec.entries.insert(last + 1, Line(key=key, value=value))

    def render(self) -> str:
        """The canonical text (homelab.quadlet.render)."""
        return render(self.sections)

    # --- .container accessors and editors (podman's reading of each key) -------------------

    @property
    def image(self) -> ImageRef | None:
        v = self.lookup(self.group or "Container", "Image")
        return ImageRef.parse(v) if v else None

    def set_image(self, image: str) -> None:
        self.set(self.group or "Container", "Image", [image])

    def set_image_tag(self, tag: str) -> None:
        img = self.image
        if img is None:
            raise ValueError(f"{self.filename}: no Image= to set the tag of")
        self.set_image(img.with_tag(tag))

    @property
    def container_name(self) -> str:
        """ContainerName=, or podman's default with systemd's specifiers expanded: podman
        writes `systemd-%N` (the service's name, so ServiceName= counts), `systemd-%p_%i` for
        a template (%i stays when the file names no instance)."""
        v = self.lookup("Container", "ContainerName")
        if v:
            return v
        stem = self.service_name.removesuffix(".service")
        if "@" in stem:
            prefix, _, instance = stem.partition("@")
            return f"systemd-{prefix}_{instance or '%i'}"
        return f"systemd-{stem}"

    def set_environment(self, name: str, value: str) -> None:
        """NAME=value (quoted as podman needs), replacing lines that only assign NAME."""
        group = self.group or "Container"
        kept = [v for v in self.get(group, "Environment") if list(keyvals(v)) != [name]]
        self.set(group, "Environment", [*kept, escape_word(f"{name}={value}")])

    @property
    def user(self) -> str | None:
        """User= (podman's last value), e.g. "1000" or "1000:1000"."""
        return self.lookup("Container", "User")

    def unit_deps(self, key: str) -> list[str]:
        """[Unit] dependency words (After=, Requires=, ...), as podman splits them."""
        return self.strv("Unit", key)

    @property
    def restart(self) -> str | None:
        return self.lookup("Service", "Restart")


def keyvals(value: str) -> dict[str, str | None]:
    """The KEY=VALUE words of one Environment=/Label=-style value, as podman reads them
    (LookupAllKeyVal): a bare word -> None; nothing when podman cannot split the value."""
    try:
        words = split_words(value, RELAX | UNQUOTE | CUNESCAPE)
    except SplitError:
        return {}
    return {k: (v if eq else None) for k, eq, v in (w.partition("=") for w in words)}


def _writable(key: str, value: str) -> None:
    """A value must fit on one unit-file line: no newline, no trailing backslash."""
    if not key or "=" in key or key != key.strip():
        raise ValueError(f"invalid key name {key!r}")
    if "\n" in value or value.endswith("\\"):
        raise ValueError(f"{key}={value!r}: a value cannot span lines or end with a backslash")


def _insert_after_last_key(entries: list[Line], new: list[Line]) -> None:
    """Insert after the last key=value, ahead of trailing comments."""
    last = max((i for i, e in enumerate(entries) if e.key), default=-1)
    entries[last + 1 : last + 1] = new
