"""What podman's quadlet generator refuses or warns about, found before it runs.

`lint_unit` mirrors the checks of podman's Convert* functions (pkg/systemd/quadlet), plus
unknown keys with a did-you-mean; `check` is `python -m homelab quadlet check`. One concern,
podman's rules, hence one module (a port of one Go file); the house rules are in `rules`.
Returns `Problem`s and never prints.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path, PurePosixPath

from homelab.inputs import (
    UNIT_FILE_MAX,
    UNIT_LINE_MAX,
    InputError,
    printable,
    read_file,
    unit_crlf_fix,
)
from homelab.inputs import (
    check_text as check_input_text,
)
from homelab.quadlet.keys import (
    KEYVAL_KEYS,
    KIND_GROUP,
    KINDS_NEWER_THAN_5_4,
    NEWER_THAN_5_4,
    QUADLET_GROUP,
    QUADLET_KEYS,
    SERVICE_UNSUPPORTED,
    SPLIT_ARGS_KEYS,
    SUPPORTED_KEYS,
    UNIT_DEPENDENCY_KEYS,
)
from homelab.quadlet.model import Problem, QuadletError, QuadletUnit
from homelab.quadlet.parser import parse_unit
from homelab.quadlet.rules import short_name
from homelab.quadlet.split import (
    CUNESCAPE,
    RELAX,
    RETAIN_ESCAPE,
    UNQUOTE,
    SplitError,
    split_words,
)
from homelab.quadlet.systemd_keys import INSTALL_KEYS, SERVICE_KEYS, UNIT_KEYS
from homelab.quadlet.values import VolumeMount

_PORT_RANGE = re.compile(r"\d+(-\d+)?(/udp|/tcp)?$")
_URL = re.compile(r"^((https?)|(git)://)|(github\.com/).+$")
_REMAP = ("RemapUid", "RemapGid", "RemapUsers")


class _Lint:
    def __init__(self, unit: QuadletUnit, siblings: set[str] | None):
        self.u = unit
        self.siblings = siblings
        self.out: list[Problem] = []

    def add(self, line: int | None, key: str, msg: str, severity: str = "error") -> None:
        self.out.append(
            Problem(file=self.u.filename, line=line or 1, key=key, message=msg, severity=severity)
        )

    def line(self, section: str, *keys: str) -> int:
        """The line of the value in effect (the last) of the first of `keys` set, else the
        section's header."""
        lines = [n for k in keys if (n := self.u.line_of(section, k))]
        return lines[0] if lines else self.u.section_line(section)

    def missing(self, name: str) -> bool:
        """A Quadlet unit named here is not deployed beside this one (when we know)."""
        return self.siblings is not None and name not in self.siblings


def lint_unit(unit: QuadletUnit, siblings: set[str] | None = None) -> list[Problem]:
    """podman's errors and warnings for `unit`.

    `siblings`: names of the unit files deployed beside it (podman loads a whole directory);
    when given, references to Quadlet units that are not among them are reported.
    """
    lt = _Lint(unit, siblings)
    g = unit.group
    if g is None:
        lt.add(
            1,
            "",
            f"unknown Quadlet unit type {unit.kind!r} (expected one of {', '.join(KIND_GROUP)})",
        )
        return lt.out
    _unknown_keys(lt, g, SUPPORTED_KEYS[g])
    _unknown_keys(lt, QUADLET_GROUP, QUADLET_KEYS)
    for section in SYSTEMD_KEYS:
        _misplaced_in_systemd(lt, section, g)
    for e in ((s := unit.section("Service")) and s.entries) or []:
        if e.key in SERVICE_UNSUPPORTED:
            lt.add(
                e.line,
                e.key,
                f"using key {e.key} in the Service group is not supported "
                "(Quadlet sets the user itself; use User= in the Quadlet group)",
                "warning",
            )
    _escapes(lt, g)
    _dependencies(lt)
    _unit_names(lt, g)
    {
        "Container": _container,
        "Volume": _volume,
        "Network": _network,
        "Kube": _kube,
        "Image": _image,
        "Build": _build,
        "Pod": _pod,
        "Artifact": _artifact,
    }[g](lt, g)
    return lt.out


SYSTEMD_KEYS = {"Unit": UNIT_KEYS, "Service": SERVICE_KEYS, "Install": INSTALL_KEYS}


def _home(key: str, group: str) -> str | None:
    """The section a key misplaced in a `group` unit belongs in, if any."""
    for section, keys in (*SYSTEMD_KEYS.items(), (group, SUPPORTED_KEYS[group])):
        if key in keys:
            return section
    return QUADLET_GROUP if key in QUADLET_KEYS else None


def _unknown_keys(lt: _Lint, group: str, supported: frozenset[str]) -> None:
    """Each key podman does not know in `group`, at its line: where it belongs when it is
    another section's key, else the closest known key."""
    s = lt.u.section(group)
    unit_group = lt.u.group or group
    for e in s.entries if s else []:
        if e.key is None or e.key in supported:
            continue
        home = _home(e.key, unit_group)
        if home is not None and home != group:
            lt.add(e.line, e.key, f"{e.key}= belongs in [{home}], not in [{group}]; move it there")
            continue
        close = difflib.get_close_matches(e.key, sorted(supported), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        lt.add(e.line, e.key, f"unknown key '{e.key}' in [{group}]{hint}")


def _misplaced_in_systemd(lt: _Lint, section: str, group: str) -> None:
    """A key systemd does not read in [Unit]/[Service]/[Install] (it ignores it there) that
    belongs in another section of this unit (`Image=` in [Service]). Other keys unknown to
    systemd 257 are left alone: a newer systemd may know them."""
    s = lt.u.section(section)
    for e in s.entries if s else []:
        if e.key is None or e.key in SYSTEMD_KEYS[section]:
            continue
        home = _home(e.key, group)
        if home is not None:
            lt.add(
                e.line,
                e.key,
                f"{e.key}= belongs in [{home}], not in [{section}] (systemd ignores it "
                "there); move it",
            )


_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?")


def _unit_names(lt: _Lint, g: str) -> None:
    """The file's name and ServiceName= must make a valid systemd unit name: podman 5.4 takes
    them as they are, and writes ServiceName=../x to a file outside its output directory."""
    name = lt.u.service_name.removesuffix(".service")
    if not _UNIT_NAME.fullmatch(name) or len(lt.u.service_name) > 255:
        named = lt.u.lookup(g, "ServiceName") is not None
        what = f"ServiceName={name}" if named else f"the file name {lt.u.basename!r}"
        lt.add(
            lt.u.line_of(g, "ServiceName") if named else 1,
            "ServiceName" if named else "",
            f"{what} does not make a valid systemd unit name (letters, digits, ':', '-', '_', "
            "'.', '\\', one '@'; up to 255 characters): podman's generator would write "
            "that name as a file path; rename it",
        )


def _escapes(lt: _Lint, g: str) -> None:
    s = lt.u.section(g)
    for e in s.entries if s else []:
        if e.key in SPLIT_ARGS_KEYS or e.key in KEYVAL_KEYS:
            try:
                words = split_words(e.value, UNQUOTE | CUNESCAPE)
            except SplitError as exc:
                words = []
                if "escape char" in str(exc):
                    lt.add(
                        e.line,
                        e.key,
                        f"unsupported escape char in {e.key}={e.value} "
                        r"(write a literal backslash as \\)",
                        "warning",
                    )
            if e.key in ("Label", "Annotation"):
                # Not Environment=: a bare NAME there passes the host's variable through.
                _unquoted_space(lt, e.key, e.line, words)


def _unquoted_space(lt: _Lint, key: str, line: int, words: list[str]) -> None:
    """KEY=VALUE words: a bare word after an assignment is a value that lost its quotes
    (newer podman warns: `Label=a=Host(x) && B` sets a, "&&" and "B")."""
    seen_assignment = False
    for w in words:
        if "=" in w:
            seen_assignment = True
        elif seen_assignment:
            lt.add(
                line,
                key,
                f"{key}=: token {w!r} has no '=' and follows a KEY=VALUE: a value "
                f'with spaces must be quoted, e.g. {key}="KEY=value with spaces"',
                "warning",
            )
            return


def _words(value: str, flags: int) -> list[str]:
    try:
        return split_words(value, flags)
    except SplitError:
        return []  # podman drops a value it cannot split


def _dependencies(lt: _Lint) -> None:
    for key in sorted(UNIT_DEPENDENCY_KEYS):
        for e in lt.u.assigned("Unit", key):
            for dep in _words(e.value, UNQUOTE | RETAIN_ESCAPE):
                ext = PurePosixPath(dep).suffix
                if ext in KIND_GROUP and lt.missing(dep):
                    lt.add(
                        e.line,
                        key,
                        f"unable to translate dependency for {dep}: "
                        "no such Quadlet unit beside this one",
                    )


def _image_source(lt: _Lint, g: str, image: str) -> None:
    if image.endswith((".image", ".build")) and lt.missing(image):
        lt.add(lt.line(g, "Image"), "Image", f"requested Quadlet image {image} was not found")


def _storage_source(lt: _Lint, key: str, line: int, source: str, check_image: bool) -> None:
    quadlet = source.endswith(".volume") or (check_image and source.endswith(".image"))
    if quadlet and lt.missing(source):
        lt.add(line, key, f"requested Quadlet source {source} was not found")


def _service_type(lt: _Lint) -> None:
    u = lt.u
    kill = u.lookup("Service", "KillMode")
    if kill is not None and kill not in ("mixed", "control-group"):
        lt.add(lt.line("Service", "KillMode"), "KillMode", f"invalid KillMode '{kill}'")
    typ = u.lookup("Service", "Type")
    if typ is not None and typ not in ("notify", "oneshot"):
        lt.add(lt.line("Service", "Type"), "Type", f"invalid service Type '{typ}'")


def _user_mappings(lt: _Lint, g: str, support_manual: bool) -> None:
    u = lt.u
    explicit = [
        k
        for k, present in (
            ("UserNS", bool(u.lookup(g, "UserNS"))),
            ("UIDMap", bool(u.strv(g, "UIDMap"))),
            ("GIDMap", bool(u.strv(g, "GIDMap"))),
            ("SubUIDMap", bool(u.lookup(g, "SubUIDMap"))),
            ("SubGIDMap", bool(u.lookup(g, "SubGIDMap"))),
        )
        if present
    ]
    remap = [k for k in _REMAP if u.has(g, k)]
    if explicit:
        if remap:
            lt.add(
                lt.line(g, *remap),
                remap[0],
                "deprecated Remap keys are set along with "
                f"explicit mapping keys ({', '.join(explicit)}): use only UserNS=/UIDMap=/"
                "GIDMap=",
            )
        return
    uid, gid = u.strv(g, "RemapUid"), u.strv(g, "RemapGid")
    users = u.get_raw(g, "RemapUsers")
    mode = users[-1] if users else ""
    if mode == "":
        if uid or gid:
            key = "RemapUid" if uid else "RemapGid"
            lt.add(lt.line(g, key), key, f"{'UidMap' if uid else 'GidMap'} set without RemapUsers")
    elif mode == "manual":
        if not support_manual:
            lt.add(lt.line(g, "RemapUsers"), "RemapUsers", "RemapUsers=manual is not supported")
    elif mode == "keep-id":
        # podman checks the UIDs first and stops at the first error.
        what = "UID" if len(uid) > 1 else "GID" if len(gid) > 1 else None
        if what:
            lt.add(
                lt.line(g, "RemapUsers"),
                "RemapUsers",
                f"RemapUsers=keep-id supports only a single value for {what} mapping",
            )
    elif mode != "auto":
        lt.add(lt.line(g, "RemapUsers"), "RemapUsers", f"unsupported RemapUsers option '{mode}'")


def _networks(lt: _Lint, g: str) -> None:
    for e in lt.u.assigned(g, "Network"):
        name, colon, _ = e.value.partition(":")
        if name.endswith((".network", ".container")):
            if lt.missing(name):
                lt.add(e.line, "Network", f"requested Quadlet unit {name} was not found")
            if colon and name.endswith(".container"):
                lt.add(
                    e.line,
                    "Network",
                    "extra options are not supported when joining another container's network",
                )


def _volumes(lt: _Lint, g: str) -> None:
    for e in lt.u.assigned(g, "Volume"):
        v = VolumeMount.parse(e.value)
        if v.source:
            _storage_source(lt, "Volume", e.line, v.source, False)


def _shortname(lt: _Lint, g: str) -> None:
    img = lt.u.image
    msg = short_name(img) if img is not None else None
    if msg:
        lt.add(lt.line(g, "Image"), "Image", msg, "warning")


def _container(lt: _Lint, g: str) -> None:
    u = lt.u
    image, rootfs = u.lookup(g, "Image"), u.lookup(g, "Rootfs")
    if not image and not rootfs:
        lt.add(
            u.section_line(g),
            "Image",
            "no Image or Rootfs key specified: podman cannot create this container",
        )
    elif image and rootfs:
        lt.add(
            lt.line(g, "Rootfs"),
            "Rootfs",
            "the Image And Rootfs keys conflict can not be specified together",
        )
    if image:
        _image_source(lt, g, image)
        _shortname(lt, g)
    _service_type(lt)
    if u.lookup(g, "ReloadSignal") and (u.last_args(g, "ReloadCmd") or []):
        lt.add(
            lt.line(g, "ReloadCmd"),
            "ReloadCmd",
            "ReloadCmd and ReloadSignal are mutually exclusive but both are set",
        )
    _networks(lt, g)
    if not u.lookup(g, "User") and u.lookup(g, "Group"):
        lt.add(lt.line(g, "Group"), "Group", "invalid Group set without User")
    _user_mappings(lt, g, True)
    _volumes(lt, g)
    for e in u.assigned(g, "ExposeHostPort"):
        if not _PORT_RANGE.search(e.value.strip()):
            lt.add(e.line, "ExposeHostPort", f"invalid port format '{e.value.strip()}'")
    for e in u.assigned(g, "Mount"):
        for mount in _words(e.value, RELAX | UNQUOTE | CUNESCAPE):
            _mount(lt, e.line, mount)
    pod = u.lookup(g, "Pod")
    if pod:
        if not pod.endswith(".pod"):
            lt.add(lt.line(g, "Pod"), "Pod", f"pod {pod} is not Quadlet based")
        elif lt.missing(pod):
            lt.add(lt.line(g, "Pod"), "Pod", f"quadlet pod unit {pod} does not exist")


def _mount(lt: _Lint, line: int, mount: str) -> None:
    fields = [f.strip() for f in mount.split(",")]
    opts = {k: v for k, eq, v in (f.partition("=") for f in fields) if eq}
    mtype = opts.get("type")
    if mtype is None:
        lt.add(line, "Mount", f"Mount={mount}: no type= given")
        return
    if mtype not in ("volume", "bind", "glob", "image"):
        return
    required = mtype != "volume"  # type=volume without a source is an anonymous volume
    bare = [f for f in fields if f in ("source", "src")]
    if bare:
        lt.add(line, "Mount", "source parameter does not include a value")
        return
    src = opts.get("source", opts.get("src"))
    if not src:
        if not required:
            return
        lt.add(line, "Mount", f"source parameter is required for mount type {mtype}")
        return
    _storage_source(lt, "Mount", line, src, True)


def _volume(lt: _Lint, g: str) -> None:
    u = lt.u
    driver = u.lookup(g, "Driver")
    if driver == "image":
        image = u.lookup(g, "Image")
        if image is None:
            lt.add(
                lt.line(g, "Driver"),
                "Image",
                "the key Image is mandatory when using the image driver",
            )
        else:
            _image_source(lt, g, image)
        return
    if not u.lookup(g, "Device") and u.lookup(g, "Type"):
        lt.add(lt.line(g, "Type"), "Type", "key Type can't be used without Device")


def _network(lt: _Lint, g: str) -> None:
    u = lt.u
    subnets, gws, ranges = (len(u.get(g, k)) for k in ("Subnet", "Gateway", "IPRange"))
    if subnets:
        # At the first value beyond the subnets: the one without a subnet of its own.
        if gws > subnets:
            line = u.assigned(g, "Gateway")[subnets].line
            lt.add(line, "Gateway", "cannot set more gateways than subnets")
        if ranges > subnets:
            line = u.assigned(g, "IPRange")[subnets].line
            lt.add(line, "IPRange", "cannot set more ranges than subnets")
    elif gws or ranges:
        key = "Gateway" if gws else "IPRange"
        lt.add(lt.line(g, key), key, "cannot set gateway or range without subnet")


def _working_dir(lt: _Lint, g: str) -> tuple[str, bool]:
    """podman's handleSetWorkingDirectory: (build context, sets WorkingDirectory=)."""
    u = lt.u
    swd = u.lookup(g, "SetWorkingDirectory")
    if not swd:
        return "", False
    low, line = swd.lower(), lt.line(g, "SetWorkingDirectory")
    if low == "yaml":
        if g != "Kube":
            lt.add(
                line,
                "SetWorkingDirectory",
                f"SetWorkingDirectory={swd} is only supported in .kube files",
            )
        elif len(u.get(g, "Yaml")) > 1:
            lt.add(
                line,
                "SetWorkingDirectory",
                "SetWorkingDirectory=yaml is only supported when a single Yaml key is provided",
            )
        return "", True
    if low == "file":
        if g != "Build":
            lt.add(
                line,
                "SetWorkingDirectory",
                f"SetWorkingDirectory={swd} is only supported in .build files",
            )
        elif u.lookup(g, "File") is None:
            lt.add(line, "File", "no File key specified")
        return "", True
    if low == "unit":
        return "", True
    if g != "Build":
        lt.add(line, "SetWorkingDirectory", f"unsupported value for WorkingDirectory: {swd}")
        return "", False
    return swd, not swd.startswith("/") and not _URL.search(swd)


def _require(lt: _Lint, g: str, key: str) -> None:
    if not lt.u.lookup(g, key):
        lt.add(lt.u.section_line(g), key, f"no {key} key specified")


def _kube(lt: _Lint, g: str) -> None:
    _require(lt, g, "Yaml")
    _service_type(lt)
    _user_mappings(lt, g, False)
    _networks(lt, g)
    _working_dir(lt, g)


def _image(lt: _Lint, g: str) -> None:
    _require(lt, g, "Image")


def _build(lt: _Lint, g: str) -> None:
    u = lt.u
    if not u.get(g, "ImageTag"):
        lt.add(u.section_line(g), "ImageTag", "no ImageTag key specified")
        return
    _networks(lt, g)
    _volumes(lt, g)
    context, sets_wd = _working_dir(lt, g)
    wd = u.lookup("Service", "WorkingDirectory") or ("set" if sets_wd else "")
    file = u.lookup(g, "File") or ""
    if not wd and not file and not context:
        lt.add(
            u.section_line(g),
            "SetWorkingDirectory",
            "neither SetWorkingDirectory, nor File key specified",
        )
    elif not context and not _absolute(file) and not _URL.search(file) and not wd:
        lt.add(
            lt.line(g, "File"),
            "File",
            "relative path in File key requires SetWorkingDirectory key to be set",
        )


def _absolute(path: str) -> bool:
    """Absolute, or starting with a systemd specifier (%h/...), which podman leaves alone."""
    return path.startswith("/") or (path.startswith("%") and not path.startswith("%%"))


def _pod(lt: _Lint, g: str) -> None:
    _user_mappings(lt, g, True)
    _networks(lt, g)
    _volumes(lt, g)


def _artifact(lt: _Lint, g: str) -> None:
    _require(lt, g, "Artifact")


def newer_than_5_4(unit: QuadletUnit) -> list[Problem]:
    """Keys (and unit types) that podman 5.4's generator refuses: a host running podman
    5.4 (Debian 13, uCore of early 2025) fails to generate this unit."""
    lt = _Lint(unit, None)
    if unit.kind in KINDS_NEWER_THAN_5_4:
        lt.add(1, "", f"{unit.kind} units need podman newer than 5.4 (5.4 ignores the file)")
        return lt.out
    g = unit.group
    s = unit.section(g) if g else None
    for e in s.entries if s else []:
        if (g, e.key) in NEWER_THAN_5_4:
            lt.add(
                e.line,
                e.key or "",
                f"key {e.key} in [{g}] needs podman newer than 5.4 "
                f"(5.4 refuses the unit: unsupported key '{e.key}')",
            )
    return lt.out


# --- entry points -----------------------------------------------------------------------


def check_text(
    text: str, filename: str, siblings: set[str] | None = None
) -> tuple[QuadletUnit, list[Problem]]:
    """The unit as parsed, and every problem podman's rules find in it: all parse errors
    (the lines podman would refuse left out), then podman's errors and warnings."""
    errors: list[QuadletError] = []
    unit = parse_unit(text, filename, errors)
    return unit, [e.problem for e in errors] + lint_unit(unit, siblings)


def check(
    path_or_text: str | Path, filename: str | None = None, siblings: set[str] | None = None
) -> list[Problem]:
    """Parse errors and podman's errors/warnings for one file (a path, or text + filename).

    For a path, the unit files in its directory are its siblings (podman reads them all).
    """
    looks_like_path = (
        isinstance(path_or_text, str)
        and filename is None
        and "\n" not in path_or_text
        and PurePosixPath(path_or_text).suffix in KIND_GROUP
    )
    if isinstance(path_or_text, Path) or looks_like_path:
        path = Path(path_or_text)
        filename = printable(filename or str(path))
        try:
            text = read_file(
                path,
                filename,
                UNIT_FILE_MAX,
                line_limit=UNIT_LINE_MAX,
                crlf=unit_crlf_fix(filename),
            )
        except InputError as exc:
            return [Problem(file=f.file, line=f.line, message=f.message) for f in exc.found]
        if siblings is None:
            siblings = {p.name for p in path.parent.iterdir() if p.suffix in KIND_GROUP}
    else:
        text = str(path_or_text)
        filename = filename or "unit.container"
        found = check_input_text(text, filename, UNIT_LINE_MAX, unit_crlf_fix(filename))
        if found:
            return [Problem(file=f.file, line=f.line, message=f.message) for f in found]
    return check_text(text, filename, siblings)[1]
