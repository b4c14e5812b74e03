"""The typed Quadlet model: a unit file as ordered sections of (key, value, line) entries.

`QuadletUnit` is generic (any unit type); the properties below it are conveniences for
`.container` files that the host planner uses (image, ports, volumes, environment, ...).
Values are stored raw, exactly as podman stores them after joining continuation lines, so
rendering them back gives podman the same values. The typed accessors apply podman's own
reading of each key (last value wins, quotes stripped, words split, ...).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from homelab.quadlet.keys import KIND_GROUP, SERVICE_SUFFIX
from homelab.quadlet.split import (
    CUNESCAPE,
    RELAX,
    RETAIN_ESCAPE,
    UNQUOTE,
    SplitError,
    escape_word,
    split_words,
)


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


class Line(BaseModel):
    """A key=value entry (key set) or a comment / blank line (key None)."""

    key: str | None = None
    value: str = ""
    line: int = 0  # 1-based source line where the entry starts; 0 when added in code


class Section(BaseModel):
    name: str
    line: int = 0  # line of the first header of this name
    comments: list[Line] = Field(default_factory=list)  # comment lines before the header
    entries: list[Line] = Field(default_factory=list)


class ImageRef(BaseModel):
    """An image reference as podman reads it: [registry/]path[:tag][@digest]."""

    model_config = ConfigDict(frozen=True)

    raw: str
    registry: str | None = None
    name: str = ""
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, raw: str) -> ImageRef:
        rest, _, digest = raw.partition("@")
        registry = None
        first, slash, remainder = rest.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, rest = first, remainder
        tag = None
        last_slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > last_slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
        return cls(raw=raw, registry=registry, name=rest, tag=tag, digest=digest or None)

    @property
    def quadlet_unit(self) -> bool:
        """Image=foo.image / foo.build: an image made by another Quadlet unit."""
        return self.raw.endswith((".image", ".build"))

    @property
    def fully_qualified(self) -> bool:
        """podman's test for its short-name warning: a registry, an image ID, or a unit."""
        if self.quadlet_unit or re.fullmatch(r"(sha256:)?[0-9a-f]{64}", self.raw):
            return True
        return self.registry is not None

    @property
    def pinned(self) -> bool:
        """A digest, or a tag other than `latest`."""
        return bool(self.digest) or (self.tag is not None and self.tag != "latest")

    def with_tag(self, tag: str) -> str:
        base = f"{self.registry}/{self.name}" if self.registry else self.name
        return f"{base}:{tag}"


class PublishedPort(BaseModel):
    """PublishPort=[[ip:][hostPort]:]containerPort[/proto]."""

    model_config = ConfigDict(frozen=True)

    raw: str
    host_ip: str | None = None
    host_port: str | None = None  # a number or a range "8000-8010"; None: podman picks
    container_port: str
    protocol: str = "tcp"

    @classmethod
    def parse(cls, raw: str) -> PublishedPort:
        spec, _, proto = raw.partition("/")
        proto = proto or "tcp"
        if spec.startswith("[") and "]" in spec:  # [ipv6]:[hostPort]:containerPort
            end = spec.index("]")
            rest = spec[end + 1 :].removeprefix(":")
            hp, _, cp = rest.rpartition(":")
            return cls(
                raw=raw,
                host_ip=spec[1:end],
                host_port=hp or None,
                container_port=cp,
                protocol=proto,
            )
        parts = spec.split(":")
        if len(parts) == 1:
            return cls(raw=raw, container_port=parts[0], protocol=proto)
        if len(parts) == 2:
            return cls(
                raw=raw,
                host_port=parts[0] or None,
                container_port=parts[1],
                protocol=proto,
            )
        return cls(
            raw=raw,
            host_ip=":".join(parts[:-2]) or None,
            host_port=parts[-2] or None,
            container_port=parts[-1],
            protocol=proto,
        )


class VolumeMount(BaseModel):
    """Volume=[source:]target[:options], split as podman splits it (SplitN(":", 3))."""

    model_config = ConfigDict(frozen=True)

    raw: str
    source: str | None = None
    target: str
    options: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> VolumeMount:
        parts = raw.split(":", 2)
        if len(parts) == 1:
            return cls(raw=raw, target=parts[0])
        opts = tuple(o for o in parts[2].split(",") if o) if len(parts) == 3 else ()
        return cls(raw=raw, source=parts[0], target=parts[1], options=opts)

    @property
    def bind(self) -> bool:
        """A host path (absolute, or relative to the unit file), not a named volume."""
        return bool(self.source) and self.source[0] in "/.%"  # type: ignore[index]

    @property
    def relabel(self) -> str | None:
        """SELinux relabel option: "Z" (private), "z" (shared) or None."""
        for o in self.options:
            if o in ("Z", "z"):
                return o
        return None

    def render(self) -> str:
        if self.source is None:
            return self.target
        opts = f":{','.join(self.options)}" if self.options else ""
        return f"{self.source}:{self.target}{opts}"


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
        s = self.section(section)
        return [e for e in s.entries if e.key == key] if s else []

    def get(self, section: str, key: str) -> list[str]:
        """All values of `key` in order (raw); an empty assignment resets the list."""
        out: list[str] = []
        for e in self.entries(section, key):
            out = [*out, e.value] if e.value else []
        return out

    def get_raw(self, section: str, key: str) -> list[str]:
        """Every assignment of `key`, empty ones included (no reset applied)."""
        return [e.value for e in self.entries(section, key)]

    def has(self, section: str, key: str) -> bool:
        return bool(self.entries(section, key))

    def lookup(self, section: str, key: str) -> str | None:
        """The last value, trailing space and one pair of surrounding double quotes
        removed (podman's Lookup); None when the key is absent."""
        es = self.entries(section, key)
        if not es:
            return None
        v = es[-1].value.rstrip()
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1]
        return v

    def lookup_bool(self, section: str, key: str) -> bool | None:
        v = self.lookup(section, key)
        return None if v is None else v.lower() in ("1", "yes", "true", "on")

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

    def keyvals(self, section: str, key: str) -> dict[str, str | None]:
        """KEY=VALUE words of all values (podman's LookupAllKeyVal); a bare word -> None."""
        out: dict[str, str | None] = {}
        for word in self.args(section, key):
            k, eq, v = word.partition("=")
            out[k] = v if eq else None
        return out

    def line_of(self, section: str, key: str) -> int | None:
        """Source line of the first `key` in `section` (None if absent or added in code)."""
        for e in self.entries(section, key):
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

    def remove(self, section: str, key: str) -> None:
        sec = self.section(section)
        if sec:
            sec.entries = [e for e in sec.entries if e.key != key]

    def render(self) -> str:
        from homelab.quadlet.render import render

        return render(self)

    # --- typed accessors for .container units -------------------------------------------

    @property
    def image(self) -> ImageRef | None:
        group = self.group or "Container"
        v = self.lookup(group, "Image")
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

    @property
    def ports(self) -> list[PublishedPort]:
        return [
            PublishedPort.parse(v.strip())
            for v in self.get(self.group or "Container", "PublishPort")
        ]

    def add_port(self, spec: str) -> None:
        PublishedPort.parse(spec)  # validates the shape
        self.add(self.group or "Container", "PublishPort", spec)

    @property
    def volumes(self) -> list[VolumeMount]:
        return [VolumeMount.parse(v) for v in self.get(self.group or "Container", "Volume")]

    def add_volume(self, source: str | None, target: str, options: tuple[str, ...] = ()) -> None:
        vm = VolumeMount(raw="", source=source, target=target, options=options)
        self.add(self.group or "Container", "Volume", vm.render())

    @property
    def environment(self) -> dict[str, str | None]:
        return self.keyvals(self.group or "Container", "Environment")

    def add_environment(self, name: str, value: str) -> None:
        self.add(self.group or "Container", "Environment", escape_word(f"{name}={value}"))

    @property
    def environment_files(self) -> list[str]:
        return self.args("Container", "EnvironmentFile")

    def add_environment_file(self, path: str) -> None:
        self.add("Container", "EnvironmentFile", escape_word(path))

    @property
    def networks(self) -> list[str]:
        return [v for v in self.get(self.group or "Container", "Network") if v]

    @property
    def devices(self) -> list[str]:
        return self.strv("Container", "AddDevice")

    @property
    def cap_add(self) -> list[str]:
        return [c.lower() for c in self.strv("Container", "AddCapability")]

    @property
    def cap_drop(self) -> list[str]:
        return [c.lower() for c in self.strv("Container", "DropCapability")]

    @property
    def secrets(self) -> list[str]:
        return self.args("Container", "Secret")

    @property
    def exec_args(self) -> list[str] | None:
        return self.last_args("Container", "Exec")

    @property
    def user(self) -> str | None:
        u, g = self.lookup("Container", "User"), self.lookup("Container", "Group")
        if not u:
            return None
        return f"{u}:{g}" if g else u

    @property
    def health(self) -> dict[str, str]:
        """Health* keys (last value each) without the prefix, e.g. {"Cmd": "..."}."""
        s = self.section("Container")
        keys = dict.fromkeys(e.key for e in s.entries if e.key) if s else {}
        return {
            k[len("Health") :]: v
            for k in keys
            if k.startswith("Health") and (v := self.lookup("Container", k))
        }

    def unit_deps(self, key: str) -> list[str]:
        """[Unit] dependency words (After=, Requires=, ...), as podman splits them."""
        return self.strv("Unit", key)

    @property
    def unit_after(self) -> list[str]:
        return self.unit_deps("After")

    @property
    def unit_requires(self) -> list[str]:
        return self.unit_deps("Requires")

    @property
    def restart(self) -> str | None:
        return self.lookup("Service", "Restart")


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
