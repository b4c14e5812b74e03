"""systemd unit-file syntax as podman's quadlet reads it, with line numbers kept.

The host planner edits containers through this model (set the image tag, add an
EnvironmentFile=, rebase volumes) and renders canonical text back. Stricter than podman
where podman silently accepts a broken file: a line that is not `key=value`, a section or a
comment, an unterminated quote in a value podman splits, and a continuation at end of file
are errors with file and line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

# Keys whose values podman splits into words (systemd quoting rules apply to them).
SPLIT_KEYS = frozenset(
    {
        "Exec",
        "PodmanArgs",
        "GlobalArgs",
        "Environment",
        "Label",
        "Annotation",
        "Mask",
        "Unmask",
        "Entrypoint",
        "HealthCmd",
        "HealthStartupCmd",
        "ReloadCmd",
        "DNSOption",
        "ExecStart",
        "ExecStartPre",
        "ExecStartPost",
        "ExecStop",
        "ExecStopPost",
        "ExecReload",
        "ExecCondition",
        "AddCapability",
        "DropCapability",
        "Sysctl",
        "Options",
    }
)

# podman 5.4's [Container] keys (podman-systemd.unit(5)).
CONTAINER_KEYS = frozenset(
    {
        "AddCapability",
        "AddDevice",
        "AddHost",
        "AppArmor",
        "HttpProxy",
        "ServiceName",
        "VolatileTmp",
        "Annotation",
        "AutoUpdate",
        "CgroupsMode",
        "ContainerName",
        "ContainersConfModule",
        "DNS",
        "DNSOption",
        "DNSSearch",
        "DropCapability",
        "Entrypoint",
        "Environment",
        "EnvironmentFile",
        "EnvironmentHost",
        "Exec",
        "ExposeHostPort",
        "GIDMap",
        "GlobalArgs",
        "Group",
        "GroupAdd",
        "HealthCmd",
        "HealthInterval",
        "HealthLogDestination",
        "HealthMaxLogCount",
        "HealthMaxLogSize",
        "HealthOnFailure",
        "HealthRetries",
        "HealthStartPeriod",
        "HealthStartupCmd",
        "HealthStartupInterval",
        "HealthStartupRetries",
        "HealthStartupSuccess",
        "HealthStartupTimeout",
        "HealthTimeout",
        "HostName",
        "Image",
        "IP",
        "IP6",
        "Label",
        "LogDriver",
        "LogOpt",
        "Mask",
        "Memory",
        "Mount",
        "Network",
        "NetworkAlias",
        "NoNewPrivileges",
        "Notify",
        "PidsLimit",
        "Pod",
        "PodmanArgs",
        "PublishPort",
        "Pull",
        "ReadOnly",
        "ReadOnlyTmpfs",
        "ReloadCmd",
        "ReloadSignal",
        "RemapGid",
        "RemapUid",
        "RemapUidSize",
        "RemapUsers",
        "Retry",
        "RetryDelay",
        "Rootfs",
        "RunInit",
        "SeccompProfile",
        "Secret",
        "SecurityLabelDisable",
        "SecurityLabelFileType",
        "SecurityLabelLevel",
        "SecurityLabelNested",
        "SecurityLabelType",
        "ShmSize",
        "StartWithPod",
        "StopSignal",
        "StopTimeout",
        "SubGIDMap",
        "SubUIDMap",
        "Sysctl",
        "Timezone",
        "Tmpfs",
        "UIDMap",
        "Ulimit",
        "Unmask",
        "User",
        "UserNS",
        "Volume",
        "WorkingDir",
    }
)
SYSTEMD_SECTIONS = frozenset({"Unit", "Service", "Install", "Quadlet"})
QUADLET_SECTIONS = {
    ".container": "Container",
    ".volume": "Volume",
    ".network": "Network",
    ".pod": "Pod",
    ".kube": "Kube",
    ".image": "Image",
    ".build": "Build",
    ".artifact": "Artifact",
}


@dataclass
class Problem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        key = f"{self.key}: " if self.key else ""
        return f"{self.file}:{self.line}: {key}{self.message}"


class UnitError(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


@dataclass
class Entry:
    key: str  # "" for a comment
    value: str
    line: int  # 1-based line where the entry starts; 0 when added by homelab


@dataclass
class Section:
    name: str
    line: int
    entries: list[Entry] = field(default_factory=list)


@dataclass
class Unit:
    filename: str
    sections: list[Section]
    header: list[str] = field(default_factory=list)  # comments before the first section

    @property
    def kind(self) -> str:
        dot = self.filename.rfind(".")
        return self.filename[dot:] if dot >= 0 else ""

    def section(self, name: str, create: bool = False) -> Section | None:
        for s in self.sections:
            if s.name == name:
                return s
        if not create:
            return None
        s = Section(name, 0)
        # New sections go before [Install] so the file reads in the usual order.
        idx = next((i for i, x in enumerate(self.sections) if x.name == "Install"), None)
        self.sections.insert(len(self.sections) if idx is None else idx, s)
        return s

    def get(self, section: str, key: str) -> list[str]:
        """All values of `key`, in order; an empty assignment resets the list (systemd)."""
        out: list[str] = []
        for s in self.sections:
            if s.name != section:
                continue
            for e in s.entries:
                if e.key == key:
                    out = [] if e.value == "" else [*out, e.value]
        return out

    def line_of(self, section: str, key: str) -> int | None:
        for s in self.sections:
            if s.name == section:
                for e in s.entries:
                    if e.key == key and e.line:
                        return e.line
        return None

    def set(self, section: str, key: str, values: list[str]) -> None:
        """Replace every `key` with `values`, at the position of the first one."""
        sec = self.section(section, create=True)
        assert sec is not None
        first = next((i for i, e in enumerate(sec.entries) if e.key == key), None)
        line = sec.entries[first].line if first is not None else 0
        kept = [e for e in sec.entries if e.key != key]
        new = [Entry(key, v, line) for v in values]
        if first is None:
            kept.extend(new)
        else:
            before = sum(1 for e in sec.entries[:first] if e.key != key)
            kept[before:before] = new
        sec.entries = kept

    def add(self, section: str, key: str, value: str) -> None:
        sec = self.section(section, create=True)
        assert sec is not None
        last = max((i for i, e in enumerate(sec.entries) if e.key == key), default=None)
        if last is None:
            # After the last key/value, ahead of trailing comments.
            last = max((i for i, e in enumerate(sec.entries) if e.key), default=-1)
        sec.entries.insert(last + 1, Entry(key, value, 0))

    def render(self) -> str:
        out = list(self.header)
        for i, s in enumerate(self.sections):
            if i or out:
                out.append("")
            out.append(f"[{s.name}]")
            entries = list(s.entries)
            while entries and not entries[-1].key and not entries[-1].value:
                entries.pop()  # the blank line between sections is written above
            for e in entries:
                out.append(e.value if not e.key else f"{e.key}={e.value}")
        return "\n".join(out) + "\n"


def _check_quotes(value: str) -> str | None:
    """systemd word splitting: report an unterminated quote or a dangling backslash."""
    quote = ""
    i = 0
    at_word_start = True
    while i < len(value):
        c = value[i]
        if c == "\\":
            if i + 1 >= len(value):
                return "ends with a lone backslash"
            i += 2
            at_word_start = False
            continue
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'" and at_word_start:
            quote = c
        at_word_start = c in " \t" and not quote
        i += 1
    return f"unterminated {quote} quote" if quote else None


def parse(text: str, filename: str) -> Unit:
    """Parse unit-file text. Raises UnitError(file:line: message)."""
    sections: list[Section] = []
    header: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start = i + 1
        raw = lines[i].strip()
        i += 1
        if not raw:
            # One blank line is kept inside a section: it is how people group keys.
            if sections and sections[-1].entries and sections[-1].entries[-1].value:
                sections[-1].entries.append(Entry("", "", start))
            continue
        if raw[0] in "#;":
            (sections[-1].entries.append(Entry("", raw, start)) if sections else header.append(raw))
            continue
        if raw.startswith("["):
            if not raw.endswith("]") or len(raw) < 3:
                raise UnitError(Problem(filename, start, "", f"malformed section header {raw!r}"))
            sections.append(Section(raw[1:-1], start))
            continue
        # Continuations: a trailing backslash joins the next line; comment lines in
        # between are skipped, as systemd does.
        joined = raw
        while joined.endswith("\\"):
            joined = joined[:-1]
            while i < len(lines) and lines[i].strip()[:1] in ("#", ";"):
                i += 1
            if i >= len(lines):
                raise UnitError(
                    Problem(
                        filename,
                        start,
                        joined.partition("=")[0].strip(),
                        "line continuation (trailing backslash) at end of file",
                    )
                )
            # systemd: backslash-newline becomes one space.
            joined = joined.rstrip() + " " + lines[i].strip()
            i += 1
        key, eq, value = joined.partition("=")
        key = key.strip()
        if not eq or not key or " " in key:
            raise UnitError(
                Problem(
                    filename,
                    start,
                    "",
                    f"{raw!r} is not a key=value line, a [Section] or a comment",
                )
            )
        if not sections:
            raise UnitError(Problem(filename, start, key, "key=value before any [Section]"))
        value = value.strip()
        if key in SPLIT_KEYS:
            err = _check_quotes(value)
            if err:
                raise UnitError(Problem(filename, start, key, f"{err} in value"))
        sections[-1].entries.append(Entry(key, value, start))
    return Unit(filename, sections, header)


DEPENDENCY_KEYS = (
    "After",
    "Before",
    "Requires",
    "Wants",
    "BindsTo",
    "PartOf",
    "Requisite",
    "Upholds",
    "Conflicts",
)


def lint(unit: Unit, siblings: set[str] | None = None) -> list[Problem]:
    """What podman would reject or silently drop, and misspelled keys and sections.

    `siblings`: names of the Quadlet files deployed beside this one; when given, references
    to Quadlet units that are not among them are reported.
    """
    problems: list[Problem] = []
    if siblings is not None:
        problems.extend(_references(unit, siblings))
    main = QUADLET_SECTIONS.get(unit.kind)
    if main is None:
        return [Problem(unit.filename, 1, "", f"unknown Quadlet unit type {unit.kind!r}")]
    valid_sections = SYSTEMD_SECTIONS | {main}
    for s in unit.sections:
        if s.name not in valid_sections:
            close = difflib.get_close_matches(s.name, sorted(valid_sections), n=1)
            hint = f"; did you mean [{close[0]}]?" if close else ""
            problems.append(Problem(unit.filename, s.line, "", f"unknown section [{s.name}]{hint}"))
    if unit.kind == ".container":
        sec = unit.section("Container")
        for e in sec.entries if sec else []:
            if e.key and e.key not in CONTAINER_KEYS:
                close = difflib.get_close_matches(e.key, sorted(CONTAINER_KEYS), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                problems.append(
                    Problem(unit.filename, e.line, e.key, f"unknown key in [Container]{hint}")
                )
        if not unit.get("Container", "Image") and not unit.get("Container", "Rootfs"):
            line = sec.line if sec else 1
            problems.append(
                Problem(
                    unit.filename,
                    line,
                    "Image",
                    "no Image= (or Rootfs=) key: podman cannot create this container",
                )
            )
    problems.extend(_semantics(unit, main))
    svc = unit.section("Service")
    for e in svc.entries if svc else []:
        if e.key in ("User", "Group", "DynamicUser"):
            problems.append(
                Problem(
                    unit.filename,
                    e.line,
                    e.key,
                    f"{e.key}= in [Service] is not supported by Quadlet; use User= in [Container]",
                )
            )
    return problems


def best_practices(unit: Unit, zfs_unit: str | None) -> list[Problem]:
    """The seed's rules: Restart=on-failure, and ordering after the pool import."""
    problems: list[Problem] = []
    if unit.get("Service", "Restart") != ["on-failure"]:
        svc = unit.section("Service")
        problems.append(
            Problem(
                unit.filename,
                unit.line_of("Service", "Restart") or (svc.line if svc else 1),
                "Restart",
                "set Restart=on-failure in [Service]",
            )
        )
    if zfs_unit:
        words = {k: " ".join(unit.get("Unit", k)).split() for k in ("After", "Requires")}
        missing = [k for k, w in words.items() if zfs_unit not in w]
        if missing:
            sec = unit.section("Unit")
            problems.append(
                Problem(
                    unit.filename,
                    sec.line if sec else 1,
                    "/".join(missing),
                    f"data lives on the ZFS pool: add {zfs_unit} to "
                    f"{' and '.join(k + '=' for k in missing)} in [Unit]",
                )
            )
    return problems


_ESCAPES = set("abfnrtv\\\"' s01234567xuU")


def _bad_escape(value: str) -> str | None:
    i = 0
    while i < len(value):
        if value[i] == "\\":
            if i + 1 < len(value) and value[i + 1] not in _ESCAPES:
                return value[i : i + 2]
            i += 2
            continue
        i += 1
    return None


def _fully_qualified(image: str) -> bool:
    if image.endswith((".image", ".build")):
        return True
    first, slash, _ = image.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def _semantics(unit: Unit, main: str) -> list[Problem]:
    """podman's own conversion errors and warnings, found before the generator runs."""
    out: list[Problem] = []
    f = unit.filename

    def first(section: str, *keys: str) -> int:
        lines = [unit.line_of(section, k) for k in keys]
        return min((n for n in lines if n), default=1)

    for s in unit.sections:
        for e in s.entries:
            if e.key in SPLIT_KEYS and (bad := _bad_escape(e.value)):
                out.append(Problem(f, e.line, e.key, f"unsupported escape char {bad!r}"))
    image = [v.strip('"') for v in unit.get(main, "Image")]
    if main in ("Container", "Volume") and image and not _fully_qualified(image[-1]):
        out.append(
            Problem(
                f,
                first(main, "Image"),
                "Image",
                f"{image[-1]!r} is not a fully qualified image name (short names are "
                "resolved by a registry search; name the registry, e.g. docker.io/...)",
            )
        )
    remap = [k for k in ("RemapUsers", "RemapUid", "RemapGid", "RemapUidSize") if unit.get(main, k)]
    mapping = [
        k for k in ("UIDMap", "GIDMap", "SubUIDMap", "SubGIDMap", "UserNS") if unit.get(main, k)
    ]
    if remap and mapping:
        out.append(
            Problem(
                f,
                first(main, *remap),
                remap[0],
                "deprecated Remap keys are set along with explicit mapping keys "
                f"({', '.join(mapping)}); use only UserNS=/UIDMap=/GIDMap=",
            )
        )
    for m in unit.get(main, "Mount"):
        opts = dict(o.partition("=")[::2] for o in m.split(","))
        if opts.get("type") in ("image", "bind") and not (opts.get("source") or opts.get("src")):
            out.append(
                Problem(
                    f,
                    first(main, "Mount"),
                    "Mount",
                    f"source parameter is required for mount type {opts['type']}",
                )
            )
    if unit.get(main, "ReloadCmd") and unit.get(main, "ReloadSignal"):
        out.append(
            Problem(
                f,
                first(main, "ReloadCmd"),
                "ReloadCmd",
                "ReloadCmd and ReloadSignal are mutually exclusive but both are set",
            )
        )
    if main == "Network":
        subnets = len(unit.get(main, "Subnet"))
        gws, ranges = len(unit.get(main, "Gateway")), len(unit.get(main, "IPRange"))
        if (gws or ranges) and not subnets:
            out.append(
                Problem(
                    f,
                    first(main, "Gateway", "IPRange"),
                    "Gateway",
                    "cannot set gateway or range without subnet",
                )
            )
        elif gws > subnets:
            out.append(
                Problem(
                    f, first(main, "Gateway"), "Gateway", "cannot set more gateways than subnets"
                )
            )
        elif ranges > subnets:
            out.append(
                Problem(f, first(main, "IPRange"), "IPRange", "cannot set more ranges than subnets")
            )
    if main == "Volume" and unit.get(main, "Driver")[-1:] == ["image"] and not image:
        out.append(
            Problem(
                f,
                first(main, "Driver"),
                "Image",
                "the key Image is mandatory when using the image driver",
            )
        )
    if main == "Kube":
        if unit.get(main, "RemapUsers")[-1:] == ["manual"]:
            out.append(
                Problem(
                    f, first(main, "RemapUsers"), "RemapUsers", "RemapUsers=manual is not supported"
                )
            )
        if (
            unit.get(main, "SetWorkingDirectory")[-1:] == ["yaml"]
            and len(unit.get(main, "Yaml")) > 1
        ):
            out.append(
                Problem(
                    f,
                    first(main, "SetWorkingDirectory"),
                    "SetWorkingDirectory",
                    "SetWorkingDirectory=yaml is only supported when a single Yaml key is provided",
                )
            )
    return out


def _references(unit: Unit, siblings: set[str]) -> list[Problem]:
    out = []
    for key in DEPENDENCY_KEYS:
        for word in " ".join(unit.get("Unit", key)).split():
            if "." + word.rsplit(".", 1)[-1] in QUADLET_SECTIONS and word not in siblings:
                out.append(
                    Problem(
                        unit.filename,
                        unit.line_of("Unit", key) or 1,
                        key,
                        f"unable to translate dependency for {word}: no such Quadlet file "
                        "is deployed beside this one",
                    )
                )
    for pod in unit.get("Container", "Pod"):
        if pod.endswith(".pod") and pod not in siblings:
            out.append(
                Problem(
                    unit.filename,
                    unit.line_of("Container", "Pod") or 1,
                    "Pod",
                    f"quadlet pod unit {pod} does not exist beside this file",
                )
            )
    return out
