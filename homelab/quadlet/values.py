"""Typed values of .container keys, split exactly as podman splits them: Image=,
PublishPort=, Volume=. The one place each of these shapes is read."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict


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


def port_range(text: str, what: str) -> tuple[int, int]:
    """ "8080" or "8000-8010" as an inclusive numeric range; ValueError saying what is wrong."""
    m = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text)
    if not m:
        raise ValueError(f"{what} port {text!r} is not a number (1-65535)")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    for p in (lo, hi):
        if not 1 <= p <= 65535:
            raise ValueError(f"{what} port {p} is outside 1-65535")
    if hi < lo:
        raise ValueError(f"{what} port range {text!r} is reversed")
    return lo, hi


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

    @property
    def host_range(self) -> tuple[int, int] | None:
        """The host ports, numeric (ValueError when not numbers); None when podman picks."""
        return None if self.host_port is None else port_range(self.host_port, "host")

    @property
    def container_range(self) -> tuple[int, int]:
        return port_range(self.container_port, "container")

    def canonical(self) -> str:
        """One spelling per meaning: numbers without padding, protocol always written."""

        def rng(r: tuple[int, int] | None) -> str:
            if r is None:
                return ""
            return str(r[0]) if r[0] == r[1] else f"{r[0]}-{r[1]}"

        ip = self.host_ip or ""
        ip = f"[{ip}]:" if ":" in ip else (f"{ip}:" if ip else "")
        return f"{ip}{rng(self.host_range)}:{rng(self.container_range)}/{self.protocol}"


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
    def named(self) -> bool:
        """A podman named volume (`data:/x`) or a Quadlet .volume unit (`data.volume:/x`)."""
        src = self.source or ""
        return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", src)) or src.endswith(".volume")

    @property
    def relabel(self) -> str | None:
        """SELinux relabel option: "Z" (private), "z" (shared) or None."""
        for o in self.options:
            if o in ("Z", "z"):
                return o
        return None

    def with_source(self, source: str) -> str:
        """This mount's spec with another source (e.g. rebased to a host's volume root)."""
        opts = ":" + ",".join(self.options) if self.options else ""
        return f"{source}:{self.target}{opts}"
